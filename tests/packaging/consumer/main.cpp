// Packaging test consumer: swat::forward<float> on small random data (sigmoid, window,
// balanced ALiBi, RoPE, grouped kv heads) against swat::reference::forward, on every path
// this build has and this CPU runs. Exit code 0 only if all agree within 2e-5 (relative to
// max(1, max|ref|)) and the dispatch macros match the target that was linked.
#include <swat/reference.hpp>
#include <swat/swat.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

[[maybe_unused]] bool contains(const std::vector<swat::Isa>& isas, swat::Isa isa) {
  return std::find(isas.begin(), isas.end(), isa) != isas.end();
}

}  // namespace

int main() {
#if defined(CONSUMER_EXPECTS_DISPATCH) != defined(SWAT_RUNTIME_DISPATCH)
  std::printf("FAIL: SWAT_RUNTIME_DISPATCH is %s, but this consumer %s swat::dispatch\n",
#if defined(SWAT_RUNTIME_DISPATCH)
              "defined", "does not link"
#else
              "undefined", "links"
#endif
  );
  return 1;
#endif

  const int64_t B = 2, Sq = 29, Sk = 37, H = 4, Hkv = 2, D = 32;
  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  auto random = [&](std::size_t n) {
    std::vector<float> x(n);
    for (float& e : x) e = uniform(rng);
    return x;
  };
  const std::vector<float> q = random(B * Sq * H * D), k = random(B * Sk * Hkv * D), v = random(B * Sk * Hkv * D);

  swat::Options opt;
  opt.window = 11;
  opt.activation = swat::Activation::sigmoid;
  opt.sigmoid_bias = -1.5f;
  opt.alibi_slopes = swat::balanced_alibi_slopes(static_cast<int>(H));
  opt.rope = swat::RopeLayout::half;
  opt.rope_dim = 24;
  opt.k_pos0 = 5;
  opt.threads = 2;

  const auto qv = swat::bshd(q.data(), B, Sq, H, D);
  const auto kv = swat::bshd(k.data(), B, Sk, Hkv, D);
  const auto vv = swat::bshd(v.data(), B, Sk, Hkv, D);

  std::vector<double> ref(B * Sq * H * D);
  swat::reference::forward(qv, kv, vv, swat::bshd(ref.data(), B, Sq, H, D), opt);
  double ref_max = 0.0;
  for (double r : ref) ref_max = std::max(ref_max, std::abs(r));
  const double denominator = std::max(1.0, ref_max);

  const std::vector<swat::Isa> isas = swat::available_isas();
  const swat::Isa best = swat::best_isa();
  std::printf("swat best isa: %s (available:", swat::isa_name(best));
  for (swat::Isa isa : isas) std::printf(" %s", swat::isa_name(isa));
  std::printf(")%s\n",
#if defined(SWAT_RUNTIME_DISPATCH)
              " [run-time dispatch]"
#else
              " [compile-time flags]"
#endif
  );

  bool ok = true;
  if (isas.empty() || isas.back() != swat::Isa::portable) {
    std::printf("FAIL: portable must be the last available path\n");
    ok = false;
  }
#if defined(SWAT_RUNTIME_DISPATCH) && defined(SWAT_DISPATCH_HAS_AVX2)
  // Dispatch exists for this: a baseline build must still reach AVX2 on a CPU that has it.
  const auto cpu = xsimd::available_architectures();
  if (cpu.avx2 && cpu.fma3_avx2 && !contains(isas, swat::Isa::avx2)) {
    std::printf("FAIL: the CPU runs AVX2+FMA but dispatch does not offer the avx2 path\n");
    ok = false;
  }
#endif

  // Automatic first (what users get), then every path explicitly.
  std::vector<swat::Isa> paths = {swat::Isa::automatic};
  paths.insert(paths.end(), isas.begin(), isas.end());
  for (swat::Isa isa : paths) {
    std::vector<float> o(B * Sq * H * D, std::nanf(""));
    swat::forward<float>(qv, kv, vv, swat::bshd(o.data(), B, Sq, H, D), opt, isa);
    double error = 0.0;
    for (std::size_t i = 0; i < o.size(); ++i) {
      const double e = std::abs(static_cast<double>(o[i]) - ref[i]);
      error = std::isnan(e) ? INFINITY : std::max(error, e);
    }
    const double relative = error / denominator;
    const bool pass = relative <= 2e-5;
    std::printf("  %-9s max|o - ref| / max(1, max|ref|) = %.3g  %s\n", swat::isa_name(isa), relative,
                pass ? "ok" : "FAIL (> 2e-5)");
    ok = ok && pass;
  }
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
