// Shared by the fuzz target's operations: decoding bytes into a case (shapes, layouts,
// options, one injected fault), tensors that sit in allocations ending at their last element
// (so AddressSanitizer sees a read one past any edge), and the checks every operation applies.
// Tensors, SPEC 4's error and bounds and the rejection checks come from tests/support, which
// the Catch2 tests share; nothing here may include Catch2.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <swat/reference.hpp>
#include <swat/swat.hpp>

#include "support/accuracy.hpp"
#include "support/rejection.hpp"
#include "support/tensor.hpp"

namespace swat_fuzz {

using swat_test::for_each_element;
using swat_test::Layout;
using swat_test::layout_name;
using swat_test::Operation;
using swat_test::operation_name;
using swat_test::Shape;
using swat_test::Snapshot;
using swat_test::Tensor;

// Faults: each makes the call invalid for sure (apply_fault() declines when it cannot).
enum class Fault {
  none, batch, seq, heads_dim, group, negative_extent, window, rope_dim, rope_base, slopes, scale, bias,
  null_data, alias, count_overflow, stride_overflow, positions, threads, isa, enums, self_overlap, softcap, sinks,
  rope_freqs, count
};
inline const char* fault_name(Fault f) {
  static const char* names[] = {"none", "batch", "seq", "heads_dim", "group", "negative_extent", "window",
                                "rope_dim", "rope_base", "slopes", "scale", "bias", "null_data", "alias",
                                "count_overflow", "stride_overflow", "positions", "threads", "isa", "enums",
                                "self_overlap", "softcap", "sinks", "rope_freqs"};
  return names[static_cast<int>(f)];
}

// What a layout leaves open, from the input: Layout::padded's padding after each head, row and
// batch, or the axis Layout::broadcast shares. Nothing for the other layouts.
inline swat_test::LayoutDetail decode_layout_detail(Layout layout, FuzzedDataProvider& in) {
  swat_test::LayoutDetail detail;
  if (layout == Layout::padded) {
    detail.head_pad = in.ConsumeIntegralInRange<int64_t>(0, 3);
    detail.row_pad = in.ConsumeIntegralInRange<int64_t>(0, 5);
    detail.batch_pad = in.ConsumeIntegralInRange<int64_t>(0, 7);
  } else if (layout == Layout::broadcast) {  // inputs only: one axis shared by all its indices
    detail.broadcast_axis = in.ConsumeIntegralInRange<int>(0, 3);
  }
  return detail;
}

// One tensor in an allocation of exactly the elements its view reaches, the rest of which hold
// the NaN sentinel (swat_test::nan_value); an empty one has null data.
template <class T>
Tensor<T> decode_tensor(Layout layout, const Shape& shape, FuzzedDataProvider& in) {
  swat_test::Slack exact;
  exact.null_when_empty = true;
  return swat_test::make_tensor<T>(layout, shape, decode_layout_detail(layout, in), swat_test::nan_value<T>(), exact);
}

// The storage type of q, k, v and o.
enum class Storage { f32, f64, bf16, f16 };
inline const char* storage_name(Storage s) {
  switch (s) {
    case Storage::f32: return swat_test::type_name<float>();
    case Storage::f64: return swat_test::type_name<double>();
    case Storage::bf16: return swat_test::type_name<swat::bf16>();
    case Storage::f16: return swat_test::type_name<swat::f16>();
  }
  return "?";
}

struct Case {
  Operation operation = Operation::forward;
  Storage storage = Storage::f32;
  bool wild = false;
  swat::Isa isa = swat::Isa::automatic;
  int64_t B = 1, Sq = 1, Sk = 1, H = 1, Hkv = 1, D = 1;
  Layout layout[4] = {};  // q, k, v, o
  swat::Options opt;
  int values = 0;  // 0 uniform, 1 sparse, 2 {-1, 0, 1}, 3 constant; wild: 4 large, 5 with NaN/inf
  uint64_t seed = 0;
  Fault fault = Fault::none;
  std::string fault_detail;

  std::string describe() const {
    std::ostringstream s;
    s.precision(9);
    s << operation_name(operation) << " " << storage_name(storage) << " isa=" << swat::isa_name(isa) << (wild ? " WILD" : "")
      << " B=" << B << " Sq=" << Sq << " Sk=" << Sk << " H=" << H << " Hkv=" << Hkv << " D=" << D
      << " layouts q=" << layout_name(layout[0]) << " k=" << layout_name(layout[1])
      << " v=" << layout_name(layout[2]) << " o=" << layout_name(layout[3]) << " window=" << opt.window
      << " activation=" << (opt.activation == swat::Activation::softmax ? "softmax" : "sigmoid")
      << " scale=" << opt.scale << " sigmoid_bias=" << opt.sigmoid_bias << " slopes=[";
    for (std::size_t h = 0; h < opt.alibi_slopes.size(); ++h) s << (h ? "," : "") << opt.alibi_slopes[h];
    s << "] softcap=" << opt.softcap << " sinks=[";
    for (std::size_t h = 0; h < opt.sinks.size(); ++h) s << (h ? "," : "") << opt.sinks[h];
    s << "] rope_freqs=[";
    for (std::size_t k = 0; k < opt.rope_freqs.size(); ++k) s << (k ? "," : "") << opt.rope_freqs[k];
    s << "] rope=" << static_cast<int>(opt.rope) << " rope_dim=" << opt.rope_dim << " rope_base=" << opt.rope_base
      << " k_pos0=" << opt.k_pos0 << " q_pos0=";
    if (opt.q_pos0)
      s << *opt.q_pos0;
    else
      s << "default";
    s << " threads=" << opt.threads << " values=" << values << " seed=" << seed << " fault=" << fault_name(fault)
      << (fault_detail.empty() ? "" : " (" + fault_detail + ")");
    return s.str();
  }
};

// What the run did, per operation, printed at exit (scripts/test shows it in the CI log).
struct Tally {
  unsigned long long valid[3] = {}, invalid[3] = {}, wild[3] = {};
  ~Tally() {
    unsigned long long total = 0;
    for (int op = 0; op < 3; ++op) total += valid[op] + invalid[op] + wild[op];
    if (total <= 1) return;
    std::fprintf(stderr, "swat_fuzz:");
    for (int op = 0; op < 3; ++op)
      std::fprintf(stderr, "%s %s %llu matched the reference, %llu threw swat::Error, %llu wild ran clean",
                   op ? ";" : "", operation_name(static_cast<Operation>(op)), valid[op], invalid[op], wild[op]);
    std::fprintf(stderr, "\n");
  }
};
inline Tally tally;

[[noreturn]] inline void die(const Case& c, const std::string& why) {
  std::fprintf(stderr, "\nswat_fuzz: %s\ncase: %s\n", why.c_str(), c.describe().c_str());
  std::abort();
}

inline float float_in(FuzzedDataProvider& in, float lo, float hi) {
  return lo + (hi - lo) * static_cast<float>(in.ConsumeIntegral<uint16_t>()) / 65535.f;
}

// Options of a valid call; the wild ones leave the unit scale of SPEC section 4.
inline void decode_options(Case& c, FuzzedDataProvider& in) {
  swat::Options& o = c.opt;
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: case 1: o.window = 0; break;
    case 2: o.window = std::numeric_limits<int64_t>::max(); break;
    case 3: o.window = c.Sk + 1 + in.ConsumeIntegralInRange<int64_t>(0, int64_t(1) << 40); break;
    default: o.window = in.ConsumeIntegralInRange<int64_t>(1, c.Sk + 2); break;
  }
  o.activation = in.ConsumeBool() ? swat::Activation::softmax : swat::Activation::sigmoid;
  o.scale = in.ConsumeIntegralInRange<int>(0, 2) == 0 ? 0.f : float_in(in, -1.f, 1.f);
  o.sigmoid_bias = in.ConsumeBool() ? float_in(in, -6.f, 6.f) : 0.f;
  switch (c.H > 0 ? in.ConsumeIntegralInRange<int>(0, 5) : 0) {  // the helpers need H > 0
    case 3: o.alibi_slopes = swat::alibi_slopes(static_cast<int>(c.H)); break;
    case 4:
      o.alibi_slopes = swat::balanced_alibi_slopes(
          static_cast<int>(c.H), in.ConsumeBool() ? swat::SlopeScheme::paper : swat::SlopeScheme::released_code);
      break;
    case 5:
      for (int64_t h = 0; h < c.H; ++h) o.alibi_slopes.push_back(float_in(in, -8.f, 8.f));
      break;
    default: break;  // none
  }
  const int rope = in.ConsumeIntegralInRange<int>(0, 2);
  if (rope != 0 && c.D >= 2) {
    o.rope = rope == 1 ? swat::RopeLayout::half : swat::RopeLayout::interleaved;
    const int64_t pairs = c.D / 2;
    o.rope_dim = in.ConsumeBool() && c.D % 2 == 0 ? 0 : static_cast<int>(2 * in.ConsumeIntegralInRange<int64_t>(1, pairs));
    static const float bases[] = {10000.f, 500000.f, 10.f, 2.f, 1.f, 0.5f, 1e6f, 123.456f};
    o.rope_base = bases[in.ConsumeIntegralInRange<int>(0, 7)];
  }
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 4: o.k_pos0 = in.ConsumeIntegralInRange<int64_t>(-100, 100); break;
    case 5: o.k_pos0 = in.ConsumeIntegralInRange<int64_t>(-(int64_t(1) << 40), int64_t(1) << 40); break;
    default: o.k_pos0 = 0; break;
  }
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 4: o.q_pos0 = o.k_pos0 + c.Sk - c.Sq + in.ConsumeIntegralInRange<int64_t>(-80, 80); break;
    case 5: o.q_pos0 = in.ConsumeIntegralInRange<int64_t>(-(int64_t(1) << 40), int64_t(1) << 40); break;
    default: break;  // default: the last Sq positions
  }
  o.threads = in.ConsumeIntegralInRange<int>(0, 3);
  // SPEC 8's modifiers: soft-capping (tight to loose), sinks (softmax), a RoPE frequency table.
  if (in.ConsumeIntegralInRange<int>(0, 2) == 0) o.softcap = float_in(in, 0.05f, 60.f);
  if (o.activation == swat::Activation::softmax && in.ConsumeBool())
    for (int64_t h = 0; h < c.H; ++h) o.sinks.push_back(float_in(in, -8.f, 8.f));
  if (o.rope != swat::RopeLayout::none && in.ConsumeBool())
    for (int64_t k = 0; k < (o.rope_dim != 0 ? o.rope_dim : c.D) / 2; ++k) o.rope_freqs.push_back(float_in(in, 0.f, 1.5f));

  if (!c.wild) return;
  // Far from unit scale: only "no crash, no stray write" is checked.
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 0: o.scale = float_in(in, -1.f, 1.f) * 3e38f; break;
    case 1: o.sigmoid_bias = float_in(in, -1.f, 1.f) * 3e38f; break;
    case 2:
      o.alibi_slopes.assign(static_cast<std::size_t>(c.H), 0.f);
      for (float& s : o.alibi_slopes) s = float_in(in, -1.f, 1.f) * 3e38f;
      break;
    case 3:
      if (o.rope != swat::RopeLayout::none) o.rope_base = in.ConsumeBool() ? 1e-38f : 3e38f;
      break;
    case 4: {
      const int64_t edge = (int64_t(1) << 62) - 200;
      o.k_pos0 = in.ConsumeBool() ? edge : -edge;
      o.q_pos0 = in.ConsumeBool() ? edge : -edge;
      break;
    }
    default: break;
  }
}

// Breaks the call in one way that the library must reject. Returns false when this case has
// no room for the fault (e.g. null data on an empty tensor is valid).
template <class T>
bool apply_fault(Case& c, Tensor<T>* t[4], FuzzedDataProvider& in) {
  swat::Options& o = c.opt;
  const int which = in.ConsumeIntegralInRange<int>(0, 3);  // tensor it targets, when it targets one
  swat::View4<T>& view = t[which]->view;
  auto count = [](const swat::View4<T>& v) { return v.shape[0] * v.shape[1] * v.shape[2] * v.shape[3]; };
  constexpr int64_t big = int64_t(1) << 62;
  switch (c.fault) {
    case Fault::batch: view.shape[0] += 1; return true;
    case Fault::seq:
      if (which == 1 || which == 0) t[2]->view.shape[1] += 1;  // v against k
      else view.shape[1] += 1;                                   // v or o
      return true;
    case Fault::heads_dim: view.shape[in.ConsumeBool() ? 2 : 3] += 1; return true;
    case Fault::group:  // kv heads that do not divide the query heads, or none at all
      if (c.H == 0) return false;
      t[1]->view.shape[2] = t[2]->view.shape[2] = in.ConsumeBool() ? c.H + 1 : 0;
      return true;
    case Fault::negative_extent: view.shape[in.ConsumeIntegralInRange<int>(0, 3)] = -in.ConsumeIntegralInRange<int64_t>(1, big); return true;
    case Fault::window: o.window = -in.ConsumeIntegralInRange<int64_t>(1, big); return true;
    case Fault::rope_dim: {
      o.rope = in.ConsumeBool() ? swat::RopeLayout::half : swat::RopeLayout::interleaved;
      switch (in.ConsumeIntegralInRange<int>(0, 2)) {
        case 0: o.rope_dim = 2 * in.ConsumeIntegralInRange<int>(0, 40) + 1; break;  // odd
        case 1: o.rope_dim = static_cast<int>(c.D) + 1 + in.ConsumeIntegralInRange<int>(0, 40); break;
        default: o.rope_dim = -in.ConsumeIntegralInRange<int>(1, 1 << 30); break;
      }
      return true;
    }
    case Fault::rope_base: {
      if (c.D < 2) return false;
      o.rope = in.ConsumeBool() ? swat::RopeLayout::half : swat::RopeLayout::interleaved;
      if (c.D % 2 != 0) o.rope_dim = static_cast<int>(c.D - 1);
      static const float bad[] = {0.f, -0.f, -1.f, -10000.f, std::numeric_limits<float>::quiet_NaN(),
                                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
      o.rope_base = bad[in.ConsumeIntegralInRange<int>(0, 6)];
      return true;
    }
    case Fault::slopes:
      if (in.ConsumeBool() && c.H > 0) {
        o.alibi_slopes.assign(static_cast<std::size_t>(c.H), 0.25f);
        o.alibi_slopes[in.ConsumeIntegralInRange<std::size_t>(0, c.H - 1)] =
            in.ConsumeBool() ? std::numeric_limits<float>::quiet_NaN() : -std::numeric_limits<float>::infinity();
      } else {
        const int64_t n = c.H + (in.ConsumeBool() ? 1 : -1) * in.ConsumeIntegralInRange<int64_t>(1, 3);
        if (n <= 0) return false;  // none is valid
        o.alibi_slopes.assign(static_cast<std::size_t>(n), 0.5f);
      }
      return true;
    case Fault::scale:
      o.scale = in.ConsumeBool() ? std::numeric_limits<float>::quiet_NaN()
                                 : (in.ConsumeBool() ? 1.f : -1.f) * std::numeric_limits<float>::infinity();
      return true;
    case Fault::bias:
      o.sigmoid_bias = in.ConsumeBool() ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
      return true;
    case Fault::softcap:
      o.softcap = in.ConsumeBool() ? -float_in(in, 1e-3f, 100.f)
                                   : (in.ConsumeBool() ? std::numeric_limits<float>::quiet_NaN()
                                                       : std::numeric_limits<float>::infinity());
      return true;
    case Fault::sinks:
      switch (in.ConsumeIntegralInRange<int>(0, 2)) {
        case 0:  // with sigmoid
          if (c.H == 0) return false;
          o.activation = swat::Activation::sigmoid;
          o.sinks.assign(static_cast<std::size_t>(c.H), 1.f);
          return true;
        case 1:  // a non-finite one
          if (c.H == 0) return false;
          o.activation = swat::Activation::softmax;
          o.sinks.assign(static_cast<std::size_t>(c.H), 1.f);
          o.sinks[in.ConsumeIntegralInRange<std::size_t>(0, c.H - 1)] =
              in.ConsumeBool() ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
          return true;
        default: {  // the wrong count
          const int64_t n = c.H + (in.ConsumeBool() ? 1 : -1) * in.ConsumeIntegralInRange<int64_t>(1, 3);
          if (n <= 0) return false;
          o.activation = swat::Activation::softmax;
          o.sinks.assign(static_cast<std::size_t>(n), 0.5f);
          return true;
        }
      }
    case Fault::rope_freqs: {
      const int64_t pairs = o.rope == swat::RopeLayout::none ? 0 : (o.rope_dim != 0 ? o.rope_dim : c.D) / 2;
      if (pairs == 0) {  // a table without rope
        o.rope_freqs.assign(1 + in.ConsumeIntegralInRange<std::size_t>(0, 3), 1.f);
        return true;
      }
      if (in.ConsumeBool()) {
        o.rope_freqs.assign(static_cast<std::size_t>(pairs), 0.5f);
        o.rope_freqs[in.ConsumeIntegralInRange<std::size_t>(0, pairs - 1)] = std::numeric_limits<float>::quiet_NaN();
      } else {
        o.rope_freqs.assign(static_cast<std::size_t>(pairs + in.ConsumeIntegralInRange<int64_t>(1, 3)), 0.5f);
      }
      return true;
    }
    case Fault::null_data:
      if (count(view) == 0) return false;
      view.data = nullptr;
      return true;
    case Fault::alias: {
      if (which == 3 || count(view) == 0 || count(t[3]->view) == 0) return false;
      // o moved to start somewhere inside an input's memory, keeping its own strides.
      const std::size_t n = t[which]->memory.size();
      t[3]->view.data = t[which]->memory.data() + in.ConsumeIntegralInRange<std::size_t>(0, n - 1);
      // o's lowest element must land inside the input's memory: undo a negative reach.
      if (t[3]->layout == Layout::reversed) t[3]->view.data += count(t[3]->view) - 1;
      return true;
    }
    case Fault::count_overflow: {
      const int a = in.ConsumeIntegralInRange<int>(0, 3);
      view.shape[a] = int64_t(1) << in.ConsumeIntegralInRange<int>(32, 62);
      view.shape[(a + 1) % 4] = int64_t(1) << in.ConsumeIntegralInRange<int>(32, 62);
      return true;
    }
    case Fault::stride_overflow: {  // (extent - 1) * stride, or its bytes, beyond 64 bits
      if (count(view) == 0) return false;
      int a = in.ConsumeIntegralInRange<int>(0, 3), tries = 0;
      while (view.shape[a] < 2 && tries++ < 4) a = (a + 1) % 4;
      if (view.shape[a] < 2) return false;
      switch (in.ConsumeIntegralInRange<int>(0, 2)) {
        case 0: view.stride[a] = std::numeric_limits<int64_t>::max(); break;
        case 1: view.stride[a] = std::numeric_limits<int64_t>::min(); break;
        default: view.stride[a] = (in.ConsumeBool() ? 1 : -1) * (big + in.ConsumeIntegralInRange<int64_t>(0, big - 1)); break;
      }
      return true;
    }
    case Fault::positions: {
      const int64_t edge = in.ConsumeIntegralInRange<int64_t>(big, std::numeric_limits<int64_t>::max());
      if (in.ConsumeBool()) {
        o.k_pos0 = in.ConsumeBool() ? edge : -edge;
      } else {
        o.q_pos0 = in.ConsumeBool() ? edge : (edge == std::numeric_limits<int64_t>::max() ? std::numeric_limits<int64_t>::min() : -edge);
      }
      return true;
    }
    case Fault::threads: o.threads = -in.ConsumeIntegralInRange<int>(1, std::numeric_limits<int>::max()); return true;
    case Fault::isa: {
      const std::vector<swat::Isa> have = swat::available_isas();
      for (swat::Isa isa : {swat::Isa::avx512, swat::Isa::neon, static_cast<swat::Isa>(77)})
        if (std::find(have.begin(), have.end(), isa) == have.end()) {
          c.isa = isa;
          return true;
        }
      return false;
    }
    case Fault::enums:
      if (in.ConsumeBool())
        o.activation = static_cast<swat::Activation>(in.ConsumeIntegralInRange<int>(2, 255));
      else
        o.rope = static_cast<swat::RopeLayout>(in.ConsumeIntegralInRange<int>(3, 255));
      return true;
    case Fault::self_overlap: {
      swat::View4<T>& out = t[3]->view;
      int axes = 0;
      for (int a = 0; a < 4; ++a) axes += out.shape[a] > 1;
      if (axes == 0 || count(out) == 0) return false;  // no two elements to share memory
      int a = in.ConsumeIntegralInRange<int>(0, 3);
      while (out.shape[a] <= 1) a = (a + 1) % 4;
      // stride 0, or a head step shorter than a row of D (kept inside the allocation).
      if (a == 2 && out.shape[3] > 1 && out.stride[3] == 1 && out.stride[2] > 0 && in.ConsumeBool())
        out.stride[2] = out.shape[3] - 1;
      else
        out.stride[a] = 0;
      return true;
    }
    case Fault::none: case Fault::count: break;
  }
  return false;
}

// Fills every element of the view with the case's kind of values.
template <class T>
void fill_values(const Case& c, std::mt19937_64& rng, const swat::View4<T>& view) {
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  const T constant = static_cast<T>(unit(rng));
  for_each_element(view, [&](T& x) {
    switch (c.values) {
      case 1: x = rng() % 4 == 0 ? static_cast<T>(unit(rng)) : T(0); break;
      case 2: x = static_cast<T>(static_cast<int>(rng() % 3) - 1); break;
      case 3: x = constant; break;
      case 4: x = static_cast<T>(unit(rng) * 1e30); break;
      case 5: {
        const uint64_t r = rng() % 16;
        // Through double: std::numeric_limits has no bf16 or f16 (it would give zeros).
        constexpr double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
        x = static_cast<T>(r == 0 ? nan : r == 1 ? inf : r == 2 ? -inf : unit(rng));
        break;
      }
      default: x = static_cast<T>(unit(rng)); break;
    }
  });
}

// An output: every element of its view written, every other element of its memory untouched
// (all of it held the sentinel before the call).
template <class T>
void check_written(const Case& c, const Tensor<T>& t, const char* name) {
  const swat_test::Writes w = swat_test::writes_of(t, std::vector<T>(t.memory.size(), swat_test::nan_value<T>()));
  if (w.outside) die(c, std::string(name) + " written outside its view at element " + std::to_string(w.first_outside));
  if (w.unwritten && !c.wild) die(c, std::string(name) + " element " + std::to_string(w.first_unwritten) + " not written");
}

// SPEC 4's error of a view against a reference in bshd order, within SPEC 4's bound for the
// case's type and operation, every value finite.
//
// `term_scale`, when given, joins max(1, max|ref|) in the measure: the size of the terms an
// output sums when that sum cancels far below them (see backward_term_scale in swat_fuzz.cpp).
template <class T>
void check_close(const Case& c, const swat::View4<T>& view, const std::vector<double>& ref, const char* name,
                 double term_scale = 0.0) {
  swat_test::Comparison r = swat_test::compare(swat_test::logical(view), ref);
  const double bound = swat_test::error_bound<T>(c.operation);
  if (term_scale > std::max(1.0, r.largest) && std::isfinite(r.err)) {
    r.err = std::fabs(r.got - r.expected) / term_scale;
    if (std::getenv("SWAT_FUZZ_PRINT"))
      std::fprintf(stderr, "%s: measured against the term scale %g (max|ref| %g)\n", name, term_scale, r.largest);
  }
  if (r.err <= bound) return;  // err is infinite when a value is not finite
  std::ostringstream s;
  s << name << " differs from the reference (bound " << bound << "): "
    << swat_test::report(r, view.shape[1], view.shape[2], view.shape[3], "reference");
  if (term_scale > 0.0) s << " (term scale " << term_scale << ")";
  die(c, s.str());
}

}  // namespace swat_fuzz
