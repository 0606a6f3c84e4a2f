// AttentionTester: a fluent builder (XNNPACK style) that runs one swat::forward case on
// random unit-scale inputs, compares it with the double reference against the SPEC section 4
// bound, and prints the whole case and the worst coordinate when a check fails.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <swat/reference.hpp>
#include <swat/swat.hpp>

namespace swat_test {

// SPEC section 4 forward bounds.
template <class T>
constexpr double error_bound();
template <>
constexpr double error_bound<float>() { return 2e-5; }
template <>
constexpr double error_bound<double>() { return 1e-12; }
template <>
constexpr double error_bound<swat::bf16>() { return 2e-2; }
template <>
constexpr double error_bound<swat::f16>() { return 4e-3; }

template <class T>
const char* type_name();
template <>
inline const char* type_name<float>() { return "float"; }
template <>
inline const char* type_name<double>() { return "double"; }
template <>
inline const char* type_name<swat::bf16>() { return "bf16"; }
template <>
inline const char* type_name<swat::f16>() { return "f16"; }

// A quiet NaN of each storage type (std::numeric_limits knows only the built-in ones).
template <class T>
T nan_value() {
  if constexpr (std::is_same<T, swat::bf16>::value)
    return swat::bf16::from_bits(0x7fc0);
  else if constexpr (std::is_same<T, swat::f16>::value)
    return swat::f16::from_bits(0x7e00);
  else
    return std::numeric_limits<T>::quiet_NaN();
}

// Memory layouts of one tensor, all seen as logical [B, S, H, D].
enum class Layout {
  bshd,        // contiguous [B, S, H, D]
  bhsd,        // contiguous [B, H, S, D]
  padded,      // [B, S, H, D] with every stride but D's larger than needed, and a front offset
  transposed,  // memory [B, H, D, S]: the D stride is not 1, so k and v go through packing
};

inline const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::bshd: return "bshd";
    case Layout::bhsd: return "bhsd";
    case Layout::padded: return "padded";
    case Layout::transposed: return "transposed";
  }
  return "?";
}

inline const char* activation_name(swat::Activation a) {
  return a == swat::Activation::sigmoid ? "sigmoid" : "softmax";
}

inline const char* rope_name(swat::RopeLayout r) {
  switch (r) {
    case swat::RopeLayout::none: return "none";
    case swat::RopeLayout::half: return "half";
    case swat::RopeLayout::interleaved: return "interleaved";
  }
  return "?";
}

// Caller-owned storage and the view over it. Elements outside the view (padding) keep the
// fill value, so a kernel reading them turns the output into NaN and one writing them is seen.
template <class T>
struct Tensor {
  std::vector<T> storage;
  swat::View4<T> view;

  swat::View4<const T> cview() const { return view; }
  T& at(int64_t b, int64_t s, int64_t h, int64_t d) const { return view.at(b, s, h)[d * view.stride[3]]; }

  template <class F>
  void for_each(F f) const {
    for (int64_t b = 0; b < view.shape[0]; ++b)
      for (int64_t s = 0; s < view.shape[1]; ++s)
        for (int64_t h = 0; h < view.shape[2]; ++h)
          for (int64_t d = 0; d < view.shape[3]; ++d) f(b, s, h, d, at(b, s, h, d));
  }

  // The view's elements in logical [B, S, H, D] order.
  std::vector<T> logical() const {
    std::vector<T> out;
    out.reserve(static_cast<std::size_t>(view.shape[0] * view.shape[1] * view.shape[2] * view.shape[3]));
    for_each([&](int64_t, int64_t, int64_t, int64_t, T x) { out.push_back(x); });
    return out;
  }
};

template <class T>
Tensor<T> make_tensor(Layout layout, int64_t B, int64_t S, int64_t H, int64_t D, T fill) {
  Tensor<T> t;
  std::array<int64_t, 4> stride{};
  int64_t offset = 0, size = 0;
  switch (layout) {
    case Layout::bshd: stride = {S * H * D, H * D, D, 1}; size = B * S * H * D; break;
    case Layout::bhsd: stride = {H * S * D, D, S * D, 1}; size = B * S * H * D; break;
    case Layout::transposed: stride = {H * D * S, 1, D * S, S}; size = B * S * H * D; break;
    case Layout::padded: {
      const int64_t head = D + 3, row = H * head + 5, batch = S * row + 7;
      stride = {batch, row, head, 1};
      offset = 2;
      size = offset + B * batch + 2;
      break;
    }
  }
  t.storage.assign(static_cast<std::size_t>(std::max<int64_t>(size, 1)), fill);
  t.view = swat::View4<T>{t.storage.data() + offset, {B, S, H, D}, stride};
  return t;
}

template <class T>
void fill_uniform(Tensor<T>& t, std::mt19937_64& rng, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> dist(lo, hi);
  t.for_each([&](int64_t b, int64_t s, int64_t h, int64_t d, T) { t.at(b, s, h, d) = static_cast<T>(dist(rng)); });
}

template <class T>
void fill_constant(Tensor<T>& t, T value) {
  t.for_each([&](int64_t b, int64_t s, int64_t h, int64_t d, T) { t.at(b, s, h, d) = value; });
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// err = max|x - x_ref| / max(1, max|x_ref|) (SPEC section 4), with the worst flat index.
struct Comparison {
  double err = 0.0;
  std::size_t worst = 0;
  double got = 0.0, expected = 0.0;
  std::size_t nonfinite = 0, first_nonfinite = 0;
};

template <class T, class U>
Comparison compare(const std::vector<T>& got, const std::vector<U>& expected) {
  Comparison c;
  double top = 0.0, diff = -1.0;
  for (std::size_t n = 0; n < got.size(); ++n) {
    const double x = static_cast<double>(got[n]), r = static_cast<double>(expected[n]);
    top = std::max(top, std::fabs(r));
    if (!std::isfinite(x)) {
      if (c.nonfinite++ == 0) c.first_nonfinite = n;
      continue;
    }
    if (std::fabs(x - r) > diff) {
      diff = std::fabs(x - r);
      c.worst = n;
      c.got = x;
      c.expected = r;
    }
  }
  c.err = std::max(diff, 0.0) / std::max(1.0, top);
  if (c.nonfinite) c.err = std::numeric_limits<double>::infinity();
  return c;
}

// Flat index of logical [B, S, H, D] back to coordinates, for messages.
inline std::string coordinate(std::size_t n, int64_t S, int64_t H, int64_t D) {
  const int64_t i = static_cast<int64_t>(n);
  std::ostringstream s;
  s << "(b=" << i / (S * H * D) << ", i=" << i / (H * D) % S << ", h=" << i / D % H << ", d=" << i % D << ")";
  return s.str();
}

// err, the worst coordinate with both values in full precision, and the first non-finite output.
inline std::string report(const Comparison& c, int64_t S, int64_t H, int64_t D, const char* expected_name) {
  std::ostringstream s;
  s.precision(4);
  s << "err=" << c.err << " worst " << coordinate(c.worst, S, H, D);
  s.precision(17);
  s << " got=" << c.got << " " << expected_name << "=" << c.expected;
  s << "\nnon-finite outputs: " << c.nonfinite;
  if (c.nonfinite) s << ", first at " << coordinate(c.first_nonfinite, S, H, D);
  return s.str();
}

// Threads of a case that does not set them: 1, or SWAT_TEST_THREADS (ThreadSanitizer runs the
// grid with 2).
inline int default_threads() {
  const char* env = std::getenv("SWAT_TEST_THREADS");
  return env != nullptr && *env != 0 ? std::atoi(env) : 1;
}

class AttentionTester {
 public:
  AttentionTester& batch(int64_t v) { batch_ = v; return *this; }
  AttentionTester& q_len(int64_t v) { q_len_ = v; return *this; }
  AttentionTester& k_len(int64_t v) { k_len_ = v; return *this; }  // default: q_len
  AttentionTester& heads(int64_t v) { heads_ = v; return *this; }
  AttentionTester& kv_heads(int64_t v) { kv_heads_ = v; return *this; }  // default: heads
  AttentionTester& dim(int64_t v) { dim_ = v; return *this; }
  AttentionTester& window(int64_t v) { window_ = v; return *this; }
  AttentionTester& activation(swat::Activation v) { activation_ = v; return *this; }
  AttentionTester& scale(float v) { scale_ = v; return *this; }
  AttentionTester& sigmoid_bias(float v) { sigmoid_bias_ = v; return *this; }
  AttentionTester& slopes(std::vector<float> v) { slopes_ = std::move(v); return *this; }
  AttentionTester& rope(swat::RopeLayout v) { rope_ = v; return *this; }
  AttentionTester& rope_dim(int v) { rope_dim_ = v; return *this; }
  AttentionTester& rope_base(float v) { rope_base_ = v; return *this; }
  AttentionTester& k_pos0(int64_t v) { k_pos0_ = v; return *this; }
  AttentionTester& q_pos0(std::optional<int64_t> v) { q_pos0_ = v; return *this; }
  AttentionTester& layout(Layout v) { layout_ = v; return *this; }
  AttentionTester& threads(int v) { threads_ = v; return *this; }
  AttentionTester& isa(swat::Isa v) { isa_ = v; return *this; }
  AttentionTester& seed(uint64_t v) { seed_ = v; return *this; }
  // v filled with this constant instead of random values (row-sum properties).
  AttentionTester& constant_values(std::optional<double> v) { constant_values_ = v; return *this; }

  int64_t batch() const { return batch_; }
  int64_t q_len() const { return q_len_; }
  int64_t k_len() const { return k_len_ < 0 ? q_len_ : k_len_; }
  int64_t heads() const { return heads_; }
  int64_t kv_heads() const { return kv_heads_ < 0 ? heads_ : kv_heads_; }
  int64_t dim() const { return dim_; }
  Layout layout_value() const { return layout_; }
  swat::Isa isa_value() const { return isa_; }

  swat::Options options() const {
    swat::Options opt;
    opt.window = window_;
    opt.activation = activation_;
    opt.scale = scale_;
    opt.sigmoid_bias = sigmoid_bias_;
    opt.alibi_slopes = slopes_;
    opt.rope = rope_;
    opt.rope_base = rope_base_;
    opt.rope_dim = rope_dim_;
    opt.k_pos0 = k_pos0_;
    opt.q_pos0 = q_pos0_;
    opt.threads = threads_;
    return opt;
  }

  std::string describe() const {
    std::ostringstream s;
    s.precision(9);
    s << "case: batch=" << batch_ << " q_len=" << q_len_ << " k_len=" << k_len() << " heads=" << heads_
      << " kv_heads=" << kv_heads() << " dim=" << dim_ << " window=" << window_
      << " activation=" << activation_name(activation_) << " scale=" << scale_ << " sigmoid_bias=" << sigmoid_bias_
      << " slopes=[";
    for (std::size_t h = 0; h < slopes_.size(); ++h) s << (h ? ", " : "") << slopes_[h];
    s << "] rope=" << rope_name(rope_) << " rope_dim=" << rope_dim_ << " rope_base=" << rope_base_
      << " k_pos0=" << k_pos0_ << " q_pos0=";
    if (q_pos0_)
      s << *q_pos0_;
    else
      s << "default";
    s << " layout=" << layout_name(layout_) << " threads=" << threads_ << " isa=" << swat::isa_name(isa_)
      << " seed=" << seed_;
    if (constant_values_) s << " v=" << *constant_values_;
    return s.str();
  }

  // The inputs of this case: the same logical values for every layout and isa.
  template <class T>
  struct Inputs {
    Tensor<T> q, k, v;
  };

  template <class T>
  Inputs<T> inputs() const {
    const T nan = nan_value<T>();
    Inputs<T> in{make_tensor<T>(layout_, batch_, q_len_, heads_, dim_, nan),
                 make_tensor<T>(layout_, batch_, k_len(), kv_heads(), dim_, nan),
                 make_tensor<T>(layout_, batch_, k_len(), kv_heads(), dim_, nan)};
    std::mt19937_64 rng(seed_);
    fill_uniform(in.q, rng);
    fill_uniform(in.k, rng);
    if (constant_values_)
      fill_constant(in.v, static_cast<T>(*constant_values_));
    else
      fill_uniform(in.v, rng);
    return in;
  }

  // Runs swat::forward; returns o in logical [B, Sq, H, D] order. Checks that o's padding is
  // untouched on the way.
  template <class T>
  std::vector<T> output() const {
    const Inputs<T> in = inputs<T>();
    return output_for(in);
  }

  template <class T>
  std::vector<T> output_for(const Inputs<T>& in) const {
    // NaN everywhere first: an element the kernel forgets to write stays NaN.
    Tensor<T> o = make_tensor<T>(layout_, batch_, q_len_, heads_, dim_, nan_value<T>());
    const std::vector<T> before = o.storage;
    swat::forward<T>(in.q.cview(), in.k.cview(), in.v.cview(), o.view, options(), isa_);
    std::vector<char> inside(o.storage.size(), 0);
    o.for_each([&](int64_t b, int64_t s, int64_t h, int64_t d, T) { inside[&o.at(b, s, h, d) - o.storage.data()] = 1; });
    std::size_t touched = 0;
    for (std::size_t n = 0; n < inside.size(); ++n)
      if (!inside[n] && std::memcmp(&before[n], &o.storage[n], sizeof(T)) != 0) ++touched;
    INFO(describe());
    INFO("o elements written outside the view: " << touched);
    CHECK(touched == 0);
    return o.logical();
  }

  // The double reference of the case, logical [B, Sq, H, D].
  template <class T>
  std::vector<double> expected_for(const Inputs<T>& in) const {
    std::vector<double> ref(static_cast<std::size_t>(batch_ * q_len_ * heads_ * dim_));
    swat::reference::forward<T, double>(in.q.cview(), in.k.cview(), in.v.cview(),
                                        swat::bshd(ref.data(), batch_, q_len_, heads_, dim_), options());
    return ref;
  }

  // forward against the reference, within the SPEC section 4 bound for T, all outputs finite.
  template <class T>
  void test() const {
    const Inputs<T> in = inputs<T>();
    const std::vector<T> got = output_for(in);
    const std::vector<double> ref = expected_for(in);
    const Comparison c = compare(got, ref);
    INFO(describe() << " type=" << type_name<T>());
    INFO(report(c, q_len_, heads_, dim_, "expected"));
    CHECK(c.nonfinite == 0);
    CHECK(c.err <= error_bound<T>());
  }

 private:
  int64_t batch_ = 1, q_len_ = 16, k_len_ = -1, heads_ = 2, kv_heads_ = -1, dim_ = 16, window_ = 0;
  swat::Activation activation_ = swat::Activation::sigmoid;
  float scale_ = 0.f, sigmoid_bias_ = 0.f;
  std::vector<float> slopes_;
  swat::RopeLayout rope_ = swat::RopeLayout::none;
  int rope_dim_ = 0;
  float rope_base_ = 10000.f;
  int64_t k_pos0_ = 0;
  std::optional<int64_t> q_pos0_;
  Layout layout_ = Layout::bshd;
  int threads_ = default_threads();
  swat::Isa isa_ = swat::Isa::automatic;
  uint64_t seed_ = 20250225;
  std::optional<double> constant_values_;
};

// Every kernel test runs each path swat::available_isas() lists through this one generator:
//   const swat::Isa isa = GENERATE(swat_test::isas());
// so a new path (an emulated width, a new ISA) reaches every test without editing any.
inline Catch::Generators::GeneratorWrapper<swat::Isa> isas() {
  return Catch::Generators::from_range(swat::available_isas());
}

constexpr swat::Activation kActivations[] = {swat::Activation::sigmoid, swat::Activation::softmax};

// Slopes of both signs drawn uniformly from [-magnitude, magnitude], fixed seed.
inline std::vector<float> random_slopes(int64_t heads, float magnitude, uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-magnitude, magnitude);
  std::vector<float> s(static_cast<std::size_t>(heads));
  for (float& x : s) x = dist(rng);
  return s;
}

// The message of the swat::Error `f` throws ("" when it throws nothing).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const swat::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace swat_test
