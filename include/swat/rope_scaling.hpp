// RoPE frequency tables for the context-extension schemes of today's models (SPEC 8): each
// returns the rope_dim / 2 inverse frequencies to put in Options::rope_freqs (pair k turns by
// p * rope_freqs[k] at position p), computed in double from the published formulas.
//   linear (position interpolation): theta^(-2k/r) / factor;
//   Llama 3.1: high frequencies kept, low ones divided by factor, a smooth ramp between;
//   YaRN (gpt-oss, Qwen, DeepSeek): per pair, a ramp from extrapolation (kept) to interpolation
//   (divided by factor) between the pairs that turn beta_fast and beta_slow times over the
//   original context; its attention factor multiplies cos and sin, so fold its square into
//   Options::scale.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "error.hpp"

namespace swat {

// Llama 3.1's "rope_scaling" (rope_type "llama3"); defaults are Llama 3.1's published values.
struct Llama3Scaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_context = 8192;  // original_max_position_embeddings
};

// YaRN's "rope_scaling" (rope_type "yarn"), with its published defaults for beta.
struct YarnScaling {
  double factor = 1.0;
  int64_t original_context = 4096;  // original_max_position_embeddings
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  bool truncate = true;  // round the ramp's ends to whole pairs (gpt-oss sets false)
};

namespace detail {

inline void check_rope_table(int rope_dim, double base) {
  if (rope_dim < 2 || rope_dim % 2 != 0) fail("rope_dim: expected an even value >= 2, got ", rope_dim);
  if (!(base > 0.0) || !std::isfinite(base)) fail("base: expected a finite value > 0, got ", base);
}

inline void check_factor(double factor, const char* name) {
  if (!(factor > 0.0) || !std::isfinite(factor)) fail(name, ": expected a finite value > 0, got ", factor);
}

// theta^(-2k/r), k < r/2, in double.
inline std::vector<double> base_frequencies(int rope_dim, double base) {
  std::vector<double> out(static_cast<std::size_t>(rope_dim / 2));
  for (int k = 0; k < rope_dim / 2; ++k) out[k] = std::pow(base, -2.0 * k / rope_dim);
  return out;
}

inline std::vector<float> to_float(const std::vector<double>& values) {
  return std::vector<float>(values.begin(), values.end());
}

}  // namespace detail

// The unscaled table theta^(-2k/r): what an empty rope_freqs means.
inline std::vector<float> rope_frequencies(int rope_dim, double base) {
  detail::check_rope_table(rope_dim, base);
  return detail::to_float(detail::base_frequencies(rope_dim, base));
}

// Linear scaling (position interpolation): every frequency divided by factor.
inline std::vector<float> rope_frequencies_linear(int rope_dim, double base, double factor) {
  detail::check_rope_table(rope_dim, base);
  detail::check_factor(factor, "factor");
  std::vector<double> f = detail::base_frequencies(rope_dim, base);
  for (double& x : f) x /= factor;
  return detail::to_float(f);
}

// Llama 3.1: wavelengths 2 pi / f shorter than original_context / high_freq_factor keep f,
// longer than original_context / low_freq_factor take f / factor, and in between
// (1 - s) f / factor + s f with s = (original_context / wavelength - low) / (high - low).
inline std::vector<float> rope_frequencies_llama3(int rope_dim, double base, const Llama3Scaling& s) {
  detail::check_rope_table(rope_dim, base);
  detail::check_factor(s.factor, "scaling.factor");
  detail::check_factor(s.low_freq_factor, "scaling.low_freq_factor");
  detail::check_factor(s.high_freq_factor, "scaling.high_freq_factor");
  if (!(s.high_freq_factor > s.low_freq_factor))
    detail::fail("scaling.high_freq_factor: expected > low_freq_factor = ", s.low_freq_factor, ", got ",
                 s.high_freq_factor);
  if (s.original_context < 1) detail::fail("scaling.original_context: expected >= 1, got ", s.original_context);
  const double pi = 3.14159265358979323846, context = static_cast<double>(s.original_context);
  const double low_wavelength = context / s.low_freq_factor, high_wavelength = context / s.high_freq_factor;
  std::vector<double> f = detail::base_frequencies(rope_dim, base);
  for (double& x : f) {
    const double wavelength = 2 * pi / x;
    if (wavelength < high_wavelength) continue;
    if (wavelength > low_wavelength) {
      x /= s.factor;
    } else {
      const double smooth = (context / wavelength - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      x = (1 - smooth) * x / s.factor + smooth * x;
    }
  }
  return detail::to_float(f);
}

// YaRN: pair k turns original_context * f_k / (2 pi) times over the original context; the pairs
// that turn more than beta_fast times keep f_k (extrapolation), those under beta_slow take
// f_k / factor (interpolation), with a linear ramp in k between the two (fractional) pair
// indices d(beta) = r ln(original_context / (2 pi beta)) / (2 ln theta), floored and ceiled when
// truncate, clamped to [0, r - 1].
inline std::vector<float> rope_frequencies_yarn(int rope_dim, double base, const YarnScaling& s) {
  detail::check_rope_table(rope_dim, base);
  detail::check_factor(s.factor, "scaling.factor");
  detail::check_factor(s.beta_fast, "scaling.beta_fast");
  detail::check_factor(s.beta_slow, "scaling.beta_slow");
  if (s.original_context < 1) detail::fail("scaling.original_context: expected >= 1, got ", s.original_context);
  const double pi = 3.14159265358979323846, r = rope_dim;
  const auto pair_of = [&](double turns) {
    return r * std::log(static_cast<double>(s.original_context) / (turns * 2 * pi)) / (2 * std::log(base));
  };
  double low = pair_of(s.beta_fast), high = pair_of(s.beta_slow);
  if (s.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, r - 1);
  if (low == high) high += 0.001;  // the published code's guard against a zero-width ramp
  std::vector<double> f = detail::base_frequencies(rope_dim, base);
  for (int k = 0; k < rope_dim / 2; ++k) {
    const double ramp = std::min(std::max((k - low) / (high - low), 0.0), 1.0);
    const double extrapolation = 1 - ramp;  // weight of the unscaled frequency
    f[k] = f[k] / s.factor * (1 - extrapolation) + f[k] * extrapolation;
  }
  return detail::to_float(f);
}

// YaRN's attention factor 0.1 ln(factor) + 1 (1 for factor <= 1). It multiplies both q's and
// k's cos and sin, so their product carries its square: pass scale = factor^2 / sqrt(D).
inline double yarn_attention_factor(double factor) {
  detail::check_factor(factor, "factor");
  return factor <= 1.0 ? 1.0 : 0.1 * std::log(factor) + 1.0;
}

}  // namespace swat
