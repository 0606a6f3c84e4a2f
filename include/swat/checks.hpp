// Argument checks shared by every entry point, and the resolved problem they produce.
// Everything a kernel needs is decided here, once, before any output is touched.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <utility>

#include "error.hpp"
#include "options.hpp"
#include "view.hpp"

namespace swat {

// The call after defaults are applied: sizes, positions, scale, slopes.
struct Problem {
  int64_t batch = 0, q_len = 0, k_len = 0, heads = 0, kv_heads = 0, dim = 0;
  int64_t window = 0;  // 0 = unlimited
  Activation activation = Activation::sigmoid;
  double scale = 1.0;
  double sigmoid_bias = 0.0;
  const float* slopes = nullptr;  // heads values, or nullptr
  RopeLayout rope = RopeLayout::none;
  int64_t rope_dim = 0;
  double rope_base = 10000.0;
  const float* rope_freqs = nullptr;  // rope_dim / 2 inverse frequencies, or nullptr (rope_base)
  double softcap = 0.0;               // c > 0 caps the content term; 0 = off (SPEC 8)
  const float* sinks = nullptr;       // heads sink logits (softmax only), or nullptr
  int64_t k_pos0 = 0, q_pos0 = 0;
  int threads = 1;
  bool bf16_products = true;  // forward<bf16> may multiply in bf16 pairs (Options::bf16_products)

  int64_t group() const { return heads / kv_heads; }  // query heads per kv head
  bool empty() const { return batch == 0 || q_len == 0 || heads == 0 || dim == 0; }
};

namespace detail {

// How kernels run their tasks: parallel(threads, tasks, task, context) calls task(context, t)
// once for every t in [0, tasks), on up to `threads` threads.
using Parallel = void (*)(int threads, int64_t tasks, void (*task)(void*, int64_t), void* context);

// The tensors of one forward call, after checking.
template <class T>
struct ForwardInputs {
  View4<const T> q, k, v;
  View4<T> o;
};

// The tensors of one backward call, after checking.
template <class T>
struct BackwardInputs {
  View4<const T> q, k, v, o, dout;
  View4<T> dq, dk, dv;
};

inline const char* axis_name(int axis) {
  static const char* names[4] = {"batch", "seq", "heads", "dim"};
  return names[axis];
}

// Multiplication that reports overflow instead of wrapping.
inline bool mul_overflows(int64_t a, int64_t b, int64_t* out) { return __builtin_mul_overflow(a, b, out); }
inline bool add_overflows(int64_t a, int64_t b, int64_t* out) { return __builtin_add_overflow(a, b, out); }

// The byte range [lo, hi) a view can touch, as addresses; empty when any extent is 0.
// Addresses are integers so that an absurd view is reported, not formed as a wild pointer.
struct Span {
  std::uintptr_t lo = 0, hi = 0;
  bool empty() const { return lo == hi; }
};

inline std::string shape_string(const std::array<int64_t, 4>& a) {
  return std::to_string(a[0]) + "x" + std::to_string(a[1]) + "x" + std::to_string(a[2]) + "x" + std::to_string(a[3]);
}

template <class T>
Span checked_span(const View4<T>& view, const char* name) {
  int64_t count = 1;
  for (int axis = 0; axis < 4; ++axis) {
    if (view.shape[axis] < 0)
      fail(name, ".shape[", axis, "] (", axis_name(axis), "): expected >= 0, got ", view.shape[axis]);
    if (mul_overflows(count, view.shape[axis], &count))
      fail(name, ".shape: expected an element count below 2^63, got ", shape_string(view.shape),
           " (the product overflows 64 bits)");
  }
  if (count == 0) return {};
  if (view.data == nullptr) fail(name, ".data: expected non-null for ", count, " elements, got nullptr");
  int64_t low = 0, high = 0;  // element offsets of the first and last element reachable
  for (int axis = 0; axis < 4; ++axis) {
    int64_t reach = 0;
    if (mul_overflows(view.shape[axis] - 1, view.stride[axis], &reach) ||
        add_overflows(reach < 0 ? low : high, reach, reach < 0 ? &low : &high))
      fail(name, ".stride: expected element offsets within 64 bits, got strides ", shape_string(view.stride),
           " over shape ", shape_string(view.shape));
  }
  int64_t low_bytes = 0, high_bytes = 0, end = 0;
  if (add_overflows(high, 1, &end) || mul_overflows(low, static_cast<int64_t>(sizeof(T)), &low_bytes) ||
      mul_overflows(end, static_cast<int64_t>(sizeof(T)), &high_bytes))
    fail(name, ".stride: expected byte offsets within 64 bits, got strides ", shape_string(view.stride),
         " over shape ", shape_string(view.shape));
  // low_bytes <= 0 < high_bytes; the range must not wrap around the address space.
  const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(view.data);
  const std::uintptr_t down = static_cast<std::uintptr_t>(0) - static_cast<std::uintptr_t>(low_bytes);
  const std::uintptr_t up = static_cast<std::uintptr_t>(high_bytes);
  if (down > base || up > std::numeric_limits<std::uintptr_t>::max() - base)
    fail(name, ".stride: expected offsets inside the address space, got strides ", shape_string(view.stride),
         " over shape ", shape_string(view.shape), " from address ", static_cast<const void*>(view.data));
  return {base - down, base + up};
}

// An output whose elements share memory would be written twice (by different threads, too).
// Sufficient test: sorted by stride, each axis steps past everything the smaller ones reach.
// It accepts every layout built from nested, padded or permuted axes.
template <class T>
void check_distinct_elements(const View4<T>& view, const char* name) {
  std::uint64_t magnitude[4] = {}, extent[4] = {};
  int n = 0;
  for (int axis = 0; axis < 4; ++axis)
    if (view.shape[axis] == 0) return;  // no elements
  for (int axis = 0; axis < 4; ++axis) {
    if (view.shape[axis] <= 1) continue;
    const int64_t s = view.stride[axis];
    magnitude[n] = s < 0 ? static_cast<std::uint64_t>(0) - static_cast<std::uint64_t>(s) : static_cast<std::uint64_t>(s);
    extent[n++] = static_cast<std::uint64_t>(view.shape[axis]);
  }
  for (int i = 1; i < n; ++i)  // insertion sort of at most 4 axes by stride
    for (int j = i; j > 0 && magnitude[j] < magnitude[j - 1]; --j) {
      std::swap(magnitude[j], magnitude[j - 1]);
      std::swap(extent[j], extent[j - 1]);
    }
  std::uint64_t reach = 0;  // largest offset the axes so far reach
  for (int i = 0; i < n; ++i) {
    std::uint64_t step = 0;
    if (magnitude[i] <= reach || __builtin_mul_overflow(extent[i] - 1, magnitude[i], &step) ||
        __builtin_add_overflow(reach, step, &reach))
      fail(name, ".stride: expected strides that give every element its own memory, got strides ",
           shape_string(view.stride), " over shape ", shape_string(view.shape));
  }
}

inline void check_no_overlap(Span out, const char* out_name, Span in, const char* in_name) {
  if (out.empty() || in.empty()) return;
  if (out.lo < in.hi && in.lo < out.hi)
    fail(out_name, ": expected memory disjoint from ", in_name, ", got overlapping ranges");
}

inline void check_equal(int64_t actual, int64_t expected, const char* what, const char* against) {
  if (actual != expected) fail(what, ": expected ", expected, " (", against, "), got ", actual);
}

// The same for the field `field` of argument `name` ("dq", ".shape[1] (seq)"): the message is
// put together only when it fails, so a good call allocates nothing here.
inline void check_equal(int64_t actual, int64_t expected, const char* name, const char* field, const char* against) {
  if (actual != expected) fail(name, field, ": expected ", expected, " (", against, "), got ", actual);
}

inline int resolve_threads(int requested) {
  if (requested < 0) fail("options.threads: expected >= 0, got ", requested);
  if (requested > 0) return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Checks the shapes of q [B,Sq,H,D], k and v [B,Sk,Hkv,D] and the options, and resolves defaults.
// Output views are checked separately by the entry points (their count differs).
template <class Tq, class Tk>
Problem check_forward_inputs(const View4<Tq>& q, const View4<Tk>& k, const View4<Tk>& v, const Options& opt) {
  checked_span(q, "q");
  checked_span(k, "k");
  checked_span(v, "v");
  Problem p;
  p.batch = q.shape[0];
  p.q_len = q.shape[1];
  p.heads = q.shape[2];
  p.dim = q.shape[3];
  p.k_len = k.shape[1];
  p.kv_heads = k.shape[2];
  check_equal(k.shape[0], p.batch, "k.shape[0] (batch)", "q's batch");
  check_equal(v.shape[0], p.batch, "v.shape[0] (batch)", "q's batch");
  check_equal(v.shape[1], p.k_len, "v.shape[1] (seq)", "k's seq");
  check_equal(v.shape[2], p.kv_heads, "v.shape[2] (heads)", "k's heads");
  check_equal(k.shape[3], p.dim, "k.shape[3] (dim)", "q's dim");
  check_equal(v.shape[3], p.dim, "v.shape[3] (dim)", "q's dim");
  if (p.kv_heads == 0 && p.heads != 0) fail("k.shape[2] (heads): expected > 0 when q has ", p.heads, " heads, got 0");
  if (p.kv_heads != 0 && p.heads % p.kv_heads != 0)
    fail("q.shape[2] (heads): expected a multiple of the kv heads ", p.kv_heads, ", got ", p.heads);

  if (opt.window < 0) fail("options.window: expected >= 0 (0 = unlimited), got ", opt.window);
  p.window = opt.window;
  p.activation = opt.activation;
  if (opt.activation != Activation::sigmoid && opt.activation != Activation::softmax)
    fail("options.activation: expected sigmoid or softmax, got ", static_cast<int>(opt.activation));

  if (!std::isfinite(opt.scale)) fail("options.scale: expected a finite value (0 = 1/sqrt(D)), got ", opt.scale);
  p.scale = opt.scale != 0.f ? static_cast<double>(opt.scale) : (p.dim > 0 ? 1.0 / std::sqrt(double(p.dim)) : 1.0);
  if (!std::isfinite(opt.sigmoid_bias))
    fail("options.sigmoid_bias: expected a finite value, got ", opt.sigmoid_bias);
  p.sigmoid_bias = opt.sigmoid_bias;

  if (!opt.alibi_slopes.empty()) {
    if (static_cast<int64_t>(opt.alibi_slopes.size()) != p.heads)
      fail("options.alibi_slopes: expected ", p.heads, " values (one per query head) or none, got ",
           opt.alibi_slopes.size());
    for (std::size_t h = 0; h < opt.alibi_slopes.size(); ++h)
      if (!std::isfinite(opt.alibi_slopes[h]))
        fail("options.alibi_slopes[", h, "]: expected a finite value, got ", opt.alibi_slopes[h]);
    p.slopes = opt.alibi_slopes.data();
  }

  if (opt.rope != RopeLayout::none && opt.rope != RopeLayout::half && opt.rope != RopeLayout::interleaved)
    fail("options.rope: expected none, half or interleaved, got ", static_cast<int>(opt.rope));
  p.rope = opt.rope;
  if (opt.rope != RopeLayout::none) {
    const int64_t r = opt.rope_dim == 0 ? p.dim : opt.rope_dim;
    if (r < 0 || r > p.dim) fail("options.rope_dim: expected 0 (= D) or a value in [2, D = ", p.dim, "], got ", opt.rope_dim);
    if (r % 2 != 0) fail("options.rope_dim: expected an even value (rotation acts on pairs), got ", r);
    if (!(opt.rope_base > 0.f) || !std::isfinite(opt.rope_base))
      fail("options.rope_base: expected a finite value > 0, got ", opt.rope_base);
    p.rope_dim = r;
    p.rope_base = opt.rope_base;
  } else if (opt.rope_dim < 0 || opt.rope_dim > p.dim) {
    fail("options.rope_dim: expected 0 or a value in [2, D = ", p.dim, "], got ", opt.rope_dim);
  }

  // SPEC section 8: the score modifiers.
  if (!std::isfinite(opt.softcap) || opt.softcap < 0.f)
    fail("options.softcap: expected a finite value >= 0 (0 = off), got ", opt.softcap);
  p.softcap = opt.softcap;
  if (!opt.sinks.empty()) {
    if (opt.activation != Activation::softmax)
      fail("options.sinks: expected none with sigmoid (sinks join a softmax denominator), got ", opt.sinks.size(),
           " values");
    if (static_cast<int64_t>(opt.sinks.size()) != p.heads)
      fail("options.sinks: expected ", p.heads, " values (one per query head) or none, got ", opt.sinks.size());
    for (std::size_t h = 0; h < opt.sinks.size(); ++h)
      if (!std::isfinite(opt.sinks[h])) fail("options.sinks[", h, "]: expected a finite value, got ", opt.sinks[h]);
    p.sinks = opt.sinks.data();
  }
  if (!opt.rope_freqs.empty()) {
    if (opt.rope == RopeLayout::none)
      fail("options.rope_freqs: expected none without rope (options.rope = none), got ", opt.rope_freqs.size(),
           " values");
    if (static_cast<int64_t>(opt.rope_freqs.size()) != p.rope_dim / 2)
      fail("options.rope_freqs: expected ", p.rope_dim / 2, " values (rope_dim / 2) or none, got ",
           opt.rope_freqs.size());
    for (std::size_t k = 0; k < opt.rope_freqs.size(); ++k)
      if (!std::isfinite(opt.rope_freqs[k]))
        fail("options.rope_freqs[", k, "]: expected a finite value, got ", opt.rope_freqs[k]);
    p.rope_freqs = opt.rope_freqs.data();
  }

  p.bf16_products = opt.bf16_products;

  p.k_pos0 = opt.k_pos0;
  if (opt.q_pos0) {
    p.q_pos0 = *opt.q_pos0;
  } else if (add_overflows(opt.k_pos0, p.k_len - p.q_len, &p.q_pos0)) {
    fail("options.k_pos0: expected positions within +-2^62, got ", opt.k_pos0,
         " (the default q_pos0 = k_pos0 + Sk - Sq overflows 64 bits)");
  }
  // Every position p_i and p_j, and their differences, must fit in 64 bits.
  constexpr int64_t limit = int64_t(1) << 62;
  auto in_range = [&](int64_t first, int64_t count) {
    return first > -limit && first < limit && count < limit && first + count < limit;
  };
  if (!in_range(p.k_pos0, p.k_len)) fail("options.k_pos0: expected positions within +-2^62, got ", p.k_pos0);
  if (!in_range(p.q_pos0, p.q_len)) fail("options.q_pos0: expected positions within +-2^62, got ", p.q_pos0);
  // A window longer than every query-key distance of the call restricts nothing: resolved to 0
  // (unlimited), so that position - window stays inside 64 bits in the kernels.
  if (p.window > p.q_pos0 + std::max<int64_t>(p.q_len - 1, 0) - p.k_pos0) p.window = 0;
  p.threads = resolve_threads(opt.threads);
  return p;
}

template <class To>
void check_output(const View4<To>& o, const Problem& p, const char* name, int64_t seq, int64_t heads) {
  checked_span(o, name);
  check_equal(o.shape[0], p.batch, name, ".shape[0] (batch)", "q's batch");
  check_equal(o.shape[1], seq, name, ".shape[1] (seq)", "matching input's seq");
  check_equal(o.shape[2], heads, name, ".shape[2] (heads)", "matching input's heads");
  check_equal(o.shape[3], p.dim, name, ".shape[3] (dim)", "q's dim");
  check_distinct_elements(o, name);
}

// Everything a call with inputs q, k, v and output o [B,Sq,H,D] must satisfy: shapes, options,
// and an output disjoint from the inputs.
template <class T>
Problem check_attention_call(const View4<const T>& q, const View4<const T>& k, const View4<const T>& v,
                             const View4<T>& o, const Options& opt) {
  const Problem p = check_forward_inputs(q, k, v, opt);
  check_output(o, p, "o", p.q_len, p.heads);
  const Span out = checked_span(o, "o");
  check_no_overlap(out, "o", checked_span(q, "q"), "q");
  check_no_overlap(out, "o", checked_span(k, "k"), "k");
  check_no_overlap(out, "o", checked_span(v, "v"), "v");
  return p;
}

}  // namespace detail
}  // namespace swat
