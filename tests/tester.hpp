// AttentionTester: a fluent builder (XNNPACK style) that runs one swat::forward case on
// random unit-scale inputs, compares it with the double reference against the SPEC section 4
// bound, and prints the whole case and the worst coordinate when a check fails. Its tensors,
// SPEC 4's error and bounds and error_of come from tests/support (shared with the fuzz target).
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <type_traits>
#include <string>
#include <vector>

#include <swat/swat.hpp>

#include "support/accuracy.hpp"
#include "support/reference_instances.hpp"
#include "support/rejection.hpp"
#include "support/tensor.hpp"

namespace swat_test {

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
  AttentionTester& bf16_products(bool v) { bf16_products_ = v; return *this; }
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
    opt.bf16_products = bf16_products_;
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
      << " bf16_products=" << bf16_products_ << " seed=" << seed_;
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
    const std::vector<T> before = o.memory;
    swat::forward<T>(in.q.cview(), in.k.cview(), in.v.cview(), o.view, options(), isa_);
    check_writes(o, before, "o");
    return o.logical();
  }

  // Every element of an output's view written, nothing else in its memory (`before`: the
  // memory before the call).
  template <class T>
  void check_writes(const Tensor<T>& t, const std::vector<T>& before, const char* name) const {
    const Writes w = writes_of(t, before);
    INFO(describe());
    INFO(name << " elements written outside the view: " << w.outside << " (first at memory index "
              << w.first_outside << "); elements of the view not written: " << w.unwritten
              << " (first at memory index " << w.first_unwritten << ")");
    CHECK(w.outside == 0);
    CHECK(w.unwritten == 0);
  }

  // The double reference of the case, logical [B, Sq, H, D].
  template <class T>
  std::vector<double> expected_for(const Inputs<T>& in) const {
    std::vector<double> ref(static_cast<std::size_t>(batch_ * q_len_ * heads_ * dim_));
    swat::reference::forward<T, double>(in.q.cview(), in.k.cview(), in.v.cview(),
                                        swat::bshd(ref.data(), batch_, q_len_, heads_, dim_), options());
    return ref;
  }

  // expected_for(in) for in = this case's inputs<T>(), computed once per case: the reference
  // does not depend on the path, the threads or bf16_products, and the grids run each case once
  // per path (the long double reference was most of their time). Keyed by the case's whole
  // description with those three fields fixed; dropped wholesale past 16M values.
  template <class T>
  std::vector<double> expected(const Inputs<T>& in) const {
    static std::map<std::string, std::vector<double>> memo;
    static std::size_t held = 0;
    AttentionTester same = *this;
    same.isa_ = swat::Isa::automatic;
    same.threads_ = 1;
    same.bf16_products_ = true;
    const std::string key = std::string(type_name<T>()) + " " + same.describe();
    auto found = memo.find(key);
    if (found != memo.end()) return found->second;
    std::vector<double> ref = expected_for(in);
    if (held + ref.size() > (std::size_t(1) << 24)) {
      memo.clear();
      held = 0;
    }
    held += ref.size();
    return memo.emplace(key, std::move(ref)).first->second;
  }

  // forward against the reference, within the SPEC section 4 bound for T, all outputs finite.
  template <class T>
  void test() const {
    const Inputs<T> in = inputs<T>();
    const std::vector<T> got = output_for(in);
    const std::vector<double> ref = expected(in);
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
  bool bf16_products_ = true;
  uint64_t seed_ = 20250225;
  std::optional<double> constant_values_;
};

// The paths the kernel tests run: every one swat::available_isas() lists, or those named in
// SWAT_TEST_PATHS (e.g. "avx2 portable", as swat::isa_name spells them). scripts/test's
// ThreadSanitizer stage names the CPU's best path alone: the threading around the kernels is the
// same template code on every path, and the release stage runs them all. A name that is not an
// available path ends the program with an error rather than leaving a test nothing to run.
inline std::vector<swat::Isa> test_paths() {
  const std::vector<swat::Isa> all = swat::available_isas();
  const char* env = std::getenv("SWAT_TEST_PATHS");
  if (env == nullptr || *env == 0) return all;
  std::istringstream names(env);
  std::vector<swat::Isa> kept;
  for (std::string name; names >> name;) {
    const auto found = std::find_if(all.begin(), all.end(), [&](swat::Isa isa) { return name == swat::isa_name(isa); });
    if (found == all.end()) {
      // Not an exception: Catch2 2.13 crashes on one thrown while a GENERATE is being set up.
      std::fprintf(stderr, "SWAT_TEST_PATHS: '%s' is not a path this CPU runs\n", name.c_str());
      std::exit(EXIT_FAILURE);
    }
    kept.push_back(*found);
  }
  return kept;
}

// Every kernel test runs each path test_paths() gives through this one generator:
//   const swat::Isa isa = GENERATE(swat_test::isas());
// so a new path (an emulated width, a new ISA) reaches every test without editing any.
inline Catch::Generators::GeneratorWrapper<swat::Isa> isas() {
  return Catch::Generators::from_range(test_paths());
}

// The settings of Options::bf16_products that run different code on this path for storage S
// (forward<bf16> and the bf16 cache's step where has_bf16_products(isa, call)): both there, else one.
template <class S>
std::vector<bool> product_settings(swat::Isa isa, swat::Bf16Call call = swat::Bf16Call::forward) {
  if (std::is_same<S, swat::bf16>::value && swat::has_bf16_products(isa, call)) return {true, false};
  return {true};
}

// The arithmetics of the pair products (detail::PairArithmetic) that run different code for a bf16
// cache step on this path with Options::bf16_products on: on the avx512 path vdpbf16ps and the
// same in float FMAs (which of the two a step takes depends on the CPU's vendor, so both run on
// every CPU the path runs on), else the automatic one.
inline std::vector<swat::detail::PairArithmetic> pair_arithmetics(swat::Isa isa, bool products) {
  using swat::detail::PairArithmetic;
  if (products && isa == swat::Isa::avx512 && swat::has_bf16_products(isa, swat::Bf16Call::step))
    return {PairArithmetic::instruction, PairArithmetic::fma};
  return {PairArithmetic::automatic};
}

// Sets the pair arithmetic for the scope, then puts back the one it found.
class PairArithmeticScope {
 public:
  explicit PairArithmeticScope(swat::detail::PairArithmetic arithmetic)
      : previous_(swat::detail::pair_arithmetic().exchange(arithmetic)) {}
  ~PairArithmeticScope() { swat::detail::pair_arithmetic().store(previous_); }
  PairArithmeticScope(const PairArithmeticScope&) = delete;
  PairArithmeticScope& operator=(const PairArithmeticScope&) = delete;

 private:
  swat::detail::PairArithmetic previous_;
};

inline const char* arithmetic_name(swat::detail::PairArithmetic arithmetic) {
  using swat::detail::PairArithmetic;
  return arithmetic == PairArithmetic::instruction ? "vdpbf16ps" : arithmetic == PairArithmetic::fma ? "fma" : "automatic";
}

// Outputs of one bf16 call with Options::bf16_products on and off: different bits exactly where
// the path has bf16 pair products (rounding to bf16 moves some outputs by a bf16 step; float
// products give other bits), the same bits elsewhere (the option changes nothing there).
template <class T>
void check_products_change_bits(const std::vector<T>& on, const std::vector<T>& off, swat::Isa isa,
                                swat::Bf16Call call) {
  const bool pairs = swat::has_bf16_products(isa, call);
  INFO("isa=" << swat::isa_name(isa) << " has_bf16_products=" << pairs);
  CHECK(same_bits(on, off) == !pairs);
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

}  // namespace swat_test
