// One half of the mixed-modes test (main.cpp). This file is compiled into two static libraries
// of one program: one linking swat::dispatch, one using the plain header. Both instantiate the
// same entry points (swat::forward<float>, SlidingKVCache<float>, available_isas); had they one
// name in both, the linker would keep one copy and one half would run the other's kernels and
// see the other's list of paths. Each half checks that it sees its own, and that forward and
// the cache on each of its paths match swat::reference.
#include <swat/reference.hpp>
#include <swat/swat.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#ifndef PART_FUNCTION
#error "compile with -DPART_FUNCTION=<name of this half's entry point>"
#endif

namespace {

using swat::Isa;

constexpr int64_t B = 2, S = 37, H = 4, Hkv = 2, D = 24;

std::vector<float> random_values(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  std::vector<float> x(n);
  for (float& e : x) e = uniform(rng);
  return x;
}

// max |out - ref| / max(1, max |ref|); NaN counts as infinite.
double relative_error(const std::vector<float>& out, const std::vector<double>& ref) {
  double error = 0.0, top = 1.0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double e = std::abs(static_cast<double>(out[i]) - ref[i]);
    error = std::isnan(e) ? INFINITY : std::max(error, e);
    top = std::max(top, std::abs(ref[i]));
  }
  return error / top;
}

struct Case {
  std::vector<float> q = random_values(B * S * H * D, 1), k = random_values(B * S * Hkv * D, 2),
                     v = random_values(B * S * Hkv * D, 3);
  swat::Options opt;
  std::vector<double> ref = std::vector<double>(B * S * H * D);

  explicit Case(swat::Activation activation) {
    opt.window = 11;
    opt.activation = activation;
    opt.alibi_slopes = swat::balanced_alibi_slopes(static_cast<int>(H));
    opt.rope = swat::RopeLayout::half;
    opt.threads = 2;
    swat::reference::forward(view(q, H), view(k, Hkv), view(v, Hkv), swat::bshd(ref.data(), B, S, H, D), opt);
  }
  static swat::View4<const float> view(const std::vector<float>& x, int64_t heads) {
    return swat::bshd(x.data(), B, S, heads, D);
  }
};

double forward_error(const Case& c, Isa isa) {
  std::vector<float> o(c.ref.size(), std::nanf(""));
  swat::forward<float>(Case::view(c.q, H), Case::view(c.k, Hkv), Case::view(c.v, Hkv),
                       swat::bshd(o.data(), B, S, H, D), c.opt, isa);
  return relative_error(o, c.ref);
}

// The same sequence streamed through the cache in chunks of 1, 2, 3, ... tokens.
double cache_error(const Case& c, Isa isa) {
  swat::SlidingKVCache<float> cache(B, Hkv, D, c.opt, isa);
  std::vector<float> o(c.ref.size(), std::nanf(""));
  const swat::View4<float> out = swat::bshd(o.data(), B, S, H, D);
  for (int64_t first = 0, chunk = 1; first < S; first += chunk, ++chunk) {
    const int64_t t = std::min(chunk, S - first);
    cache.step(swat::detail::rows_of(Case::view(c.q, H), first, t), swat::detail::rows_of(Case::view(c.k, Hkv), first, t),
               swat::detail::rows_of(Case::view(c.v, Hkv), first, t), swat::detail::rows_of(out, first, t));
  }
  return relative_error(o, c.ref);
}

bool has(const std::vector<Isa>& isas, Isa isa) { return std::find(isas.begin(), isas.end(), isa) != isas.end(); }

}  // namespace

int PART_FUNCTION(const char* label) {
  int failures = 0;
  const std::vector<Isa> isas = swat::available_isas();
  std::printf("%s: best %s, available:", label, swat::isa_name(swat::best_isa()));
  for (Isa isa : isas) std::printf(" %s", swat::isa_name(isa));
  std::printf("\n");

  // The paths only this half's mode has.
#if defined(SWAT_RUNTIME_DISPATCH)
#if defined(SWAT_DISPATCH_HAS_EMULATED)
  const bool own_paths = has(isas, Isa::emulated16) && has(isas, Isa::emulated8);
#else
#error "build the dispatched half with SWAT_DISPATCH_EMULATED on: the emulated paths tell the halves apart"
#endif
#else
  // The plain header compiles the best path its flags allow, and portable.
  std::vector<Isa> expected;
  if (swat::detail::flags_best_isa != Isa::portable && swat::detail::cpu_runs(swat::detail::flags_best_isa))
    expected.push_back(swat::detail::flags_best_isa);
  expected.push_back(Isa::portable);
  const bool own_paths = isas == expected;
#endif
  if (!own_paths) {
    std::printf("  FAIL: %s sees the paths of the other half\n", label);
    ++failures;
  }

  std::vector<Isa> paths = {Isa::automatic};
  paths.insert(paths.end(), isas.begin(), isas.end());
  for (swat::Activation activation : {swat::Activation::sigmoid, swat::Activation::softmax}) {
    const Case c(activation);
    for (Isa isa : paths) {
      const double forward = forward_error(c, isa), cache = cache_error(c, isa);
      const bool pass = forward <= 2e-5 && cache <= 2e-5;
      std::printf("  %-10s %-7s forward %.3g, cache %.3g %s\n", swat::isa_name(isa),
                  activation == swat::Activation::sigmoid ? "sigmoid" : "softmax", forward, cache,
                  pass ? "ok" : "FAIL (> 2e-5)");
      failures += pass ? 0 : 1;
    }
  }
  return failures;
}
