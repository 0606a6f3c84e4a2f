// The floating-point environment of the kernels (detail/fp_env.hpp): on x86 every task flushes
// subnormal results to zero (Intel cores take an assist of a hundred cycles or more for each
// one otherwise) and gives the thread back the mode it found. Other architectures have no such
// mode in the kernels, and this file no tests.
#include "tester.hpp"

#include <cmath>
#include <vector>

#if defined(__SSE__) || defined(_M_X64)
#include <xmmintrin.h>

namespace {

constexpr unsigned kFtz = _MM_FLUSH_ZERO_ON, kDaz = 0x0040;  // MXCSR bits 15 and 6

// One query, one key at distance 0; q = k = 0 so the logit is the bias: p = sigmoid(-80) =
// 1.8e-35, a normal float, and p * v for v = 1e-5 is 1.8e-40, below 2^-126 (1.2e-38).
swat::Options tiny_weight_options(int threads) {
  swat::Options opt;
  opt.sigmoid_bias = -80.f;
  opt.threads = threads;
  return opt;
}
const double kWeight = 1.0 / (1.0 + std::exp(80.0));

// Runs f with MXCSR set to `mode` and returns the control bits of the MXCSR f left (the
// exception flags, bits 0-5, are the arithmetic's to raise).
template <class F>
unsigned mxcsr_after(unsigned mode, F&& f) {
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(mode);
  f();
  const unsigned after = _mm_getcsr() & ~0x3fu;
  _mm_setcsr(saved);
  return after;
}

}  // namespace

TEST_CASE("forward, backward and step flush results below 2^-126 to zero on every path", "[fp-env]") {
  const swat::Isa isa = GENERATE(swat_test::isas());
  INFO("isa=" << swat::isa_name(isa));
  const int64_t D = 8;
  const swat::Options opt = tiny_weight_options(1);
  std::vector<float> q(D, 0.f), k(D, 0.f), o(D, -1.f);
  for (const float value : {1e-5f, 1.f}) {
    INFO("v=" << value);
    std::vector<float> v(D, value);
    swat::forward(swat::bshd(q, 1, 1, 1, D), swat::bshd(k, 1, 1, 1, D), swat::bshd(v, 1, 1, 1, D),
                  swat::bshd(o, 1, 1, 1, D), opt, isa);
    swat::SlidingKVCache<float> cache(1, 1, D, opt, isa);
    std::vector<float> step_o(D, -1.f);
    cache.step(swat::bshd(q, 1, 1, 1, D), swat::bshd(k, 1, 1, 1, D), swat::bshd(v, 1, 1, 1, D),
               swat::bshd(step_o, 1, 1, 1, D));
    // dV = p * dO for the one pair; dO = v.
    std::vector<float> dq(D), dk(D), dv(D, -1.f);
    swat::backward(swat::bshd(q, 1, 1, 1, D), swat::bshd(k, 1, 1, 1, D), swat::bshd(v, 1, 1, 1, D),
                   swat::bshd(o, 1, 1, 1, D), swat::bshd(v, 1, 1, 1, D), swat::bshd(dq, 1, 1, 1, D),
                   swat::bshd(dk, 1, 1, 1, D), swat::bshd(dv, 1, 1, 1, D), opt, nullptr, nullptr, isa);
    const double expected = value < 1e-3f ? 0.0 : kWeight * value;  // 1.8e-40 flushed; 1.8e-35 kept
    for (int64_t d = 0; d < D; ++d) {
      CHECK(std::abs(o[d] - expected) <= 1e-6 * kWeight);
      CHECK(std::abs(step_o[d] - expected) <= 1e-6 * kWeight);
      CHECK(std::abs(dv[d] - expected) <= 1e-6 * kWeight);
    }
  }
}

TEST_CASE("forward, backward and step leave the caller's MXCSR as they found it", "[fp-env]") {
  const swat::Isa isa = GENERATE(swat_test::isas());
  const int threads = GENERATE(1, 2);
  INFO("isa=" << swat::isa_name(isa) << " threads=" << threads);
  // Enough rows for tasks on both threads.
  const int64_t B = 2, n = 96, H = 4, D = 24;
  swat::Options opt = tiny_weight_options(threads);
  opt.window = 32;
  std::vector<float> q(B * n * H * D), k(q.size()), v(q.size()), o(q.size()), dq(q.size()), dk(q.size()),
      dv(q.size());
  for (std::size_t i = 0; i < q.size(); ++i) {
    q[i] = std::sin(0.37f * static_cast<float>(i));
    k[i] = std::cos(0.23f * static_cast<float>(i));
    v[i] = 1e-6f * std::sin(0.11f * static_cast<float>(i));
  }
  const auto view = [&](std::vector<float>& t) { return swat::bshd(t, B, n, H, D); };
  const unsigned base = _mm_getcsr() & ~(kFtz | kDaz | 0x3fu);
  for (const unsigned mode : {base, base | kFtz | kDaz, base | kDaz}) {
    INFO("mxcsr=" << std::hex << mode);
    CHECK(mxcsr_after(mode, [&] { swat::forward(view(q), view(k), view(v), view(o), opt, isa); }) == mode);
    CHECK(mxcsr_after(mode, [&] {
            swat::backward(view(q), view(k), view(v), view(o), view(v), view(dq), view(dk), view(dv), opt, nullptr,
                           nullptr, isa);
          }) == mode);
    swat::SlidingKVCache<float> cache(B, H, D, opt, isa);
    CHECK(mxcsr_after(mode, [&] { cache.step(view(q), view(k), view(v), view(o)); }) == mode);
  }
}

#endif  // elsewhere the kernels leave the floating-point environment alone: nothing to test
