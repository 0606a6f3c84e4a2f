// The RoPE frequency helpers against the published formulas, written out again here in long
// double (Llama 3.1's "llama3" rope_scaling, YaRN as in its reference code, linear), plus the
// values of real configurations that can be checked by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <swat/rope_scaling.hpp>
#include <swat/swat.hpp>

namespace {

constexpr long double pi = 3.141592653589793238462643383279503L;

long double inv_freq(int k, int r, long double base) { return 1.0L / std::pow(base, 2.0L * k / r); }

// Relative agreement to float rounding (the tables are floats).
void check_table(const std::vector<float>& got, const std::vector<long double>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t k = 0; k < want.size(); ++k) {
    INFO("pair " << k << " got " << got[k] << " want " << static_cast<double>(want[k]));
    CHECK(std::fabs(static_cast<long double>(got[k]) - want[k]) <= 1e-7L * want[k]);
  }
}

// Llama 3.1, as published: per frequency, by its wavelength against the two limits.
std::vector<long double> llama3(int r, long double base, long double factor, long double low, long double high,
                                long double context) {
  std::vector<long double> out;
  for (int k = 0; k < r / 2; ++k) {
    const long double f = inv_freq(k, r, base), wavelength = 2 * pi / f;
    if (wavelength < context / high) {
      out.push_back(f);
    } else if (wavelength > context / low) {
      out.push_back(f / factor);
    } else {
      const long double smooth = (context / wavelength - low) / (high - low);
      out.push_back((1 - smooth) * f / factor + smooth * f);
    }
  }
  return out;
}

// YaRN, as in its reference code: correction range from the number of rotations, linear ramp
// over the pair index, mixing interpolated and extrapolated frequencies.
std::vector<long double> yarn(int r, long double base, long double factor, long double context, long double beta_fast,
                              long double beta_slow, bool truncate) {
  const auto correction_dim = [&](long double rotations) {
    return (r * std::log(context / (rotations * 2 * pi))) / (2 * std::log(base));
  };
  long double low = correction_dim(beta_fast), high = correction_dim(beta_slow);
  if (truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  if (low < 0) low = 0;
  if (high > r - 1) high = r - 1;
  if (low == high) high += 0.001L;
  std::vector<long double> out;
  for (int k = 0; k < r / 2; ++k) {
    long double linear = (k - low) / (high - low);
    linear = linear < 0 ? 0 : linear > 1 ? 1 : linear;
    const long double extrapolation_factor = 1 - linear;
    const long double extrapolated = inv_freq(k, r, base), interpolated = inv_freq(k, r, base) / factor;
    out.push_back(interpolated * (1 - extrapolation_factor) + extrapolated * extrapolation_factor);
  }
  return out;
}

}  // namespace

TEST_CASE("the unscaled and linear tables are theta^(-2k/r) and its quotient", "[rope-scaling]") {
  std::vector<long double> plain, linear;
  for (int k = 0; k < 32; ++k) {
    plain.push_back(inv_freq(k, 64, 10000));
    linear.push_back(inv_freq(k, 64, 10000) / 4);
  }
  check_table(swat::rope_frequencies(64, 10000), plain);
  check_table(swat::rope_frequencies_linear(64, 10000, 4), linear);
}

TEST_CASE("Llama 3.1 scaling matches the published formula", "[rope-scaling]") {
  // Llama 3.1 8B: head dim 128, theta 500000, factor 8, low 1, high 4, original context 8192.
  const std::vector<float> table = swat::rope_frequencies_llama3(128, 500000, swat::Llama3Scaling{});
  check_table(table, llama3(128, 500000, 8, 1, 4, 8192));
  CHECK(table[0] == 1.f);  // the fastest pair (wavelength 2 pi) is kept
  CHECK(std::fabs(table[63] * 8 - static_cast<float>(inv_freq(63, 128, 500000))) <= 1e-7f * table[63] * 8);
  // Other settings, so that a swapped parameter shows.
  check_table(swat::rope_frequencies_llama3(64, 10000, {32, 2, 8, 2048}), llama3(64, 10000, 32, 2, 8, 2048));
}

TEST_CASE("YaRN scaling matches its reference code", "[rope-scaling]") {
  // gpt-oss-20b: head dim 64, theta 150000, factor 32 over 4096 positions, betas 32 and 1, untruncated.
  swat::YarnScaling gpt_oss{32, 4096, 32, 1, false};
  const std::vector<float> table = swat::rope_frequencies_yarn(64, 150000, gpt_oss);
  check_table(table, yarn(64, 150000, 32, 4096, 32, 1, false));
  CHECK(table[0] == 1.f);  // extrapolated
  CHECK(std::fabs(table[31] * 32 - static_cast<float>(inv_freq(31, 64, 150000))) <= 1e-6f * table[31] * 32);
  // Truncated (the default), another size and base.
  check_table(swat::rope_frequencies_yarn(128, 10000, {4, 32768, 32, 1, true}), yarn(128, 10000, 4, 32768, 32, 1, true));
  check_table(swat::rope_frequencies_yarn(96, 1000000, {16, 8192, 16, 2, true}), yarn(96, 1000000, 16, 8192, 16, 2, true));
}

TEST_CASE("YaRN's attention factor is 0.1 ln(factor) + 1", "[rope-scaling]") {
  CHECK(swat::yarn_attention_factor(32) == Approx(1.0 + 0.1 * std::log(32.0)).epsilon(1e-15));
  CHECK(swat::yarn_attention_factor(1) == 1.0);
  CHECK(swat::yarn_attention_factor(0.5) == 1.0);
}

TEST_CASE("the helpers refuse bad arguments", "[rope-scaling]") {
  CHECK_THROWS_AS(swat::rope_frequencies(7, 10000), swat::Error);
  CHECK_THROWS_AS(swat::rope_frequencies(0, 10000), swat::Error);
  CHECK_THROWS_AS(swat::rope_frequencies(64, -1), swat::Error);
  CHECK_THROWS_AS(swat::rope_frequencies_linear(64, 10000, 0), swat::Error);
  CHECK_THROWS_AS(swat::rope_frequencies_llama3(64, 10000, {8, 4, 1, 8192}), swat::Error);  // high <= low
  CHECK_THROWS_AS(swat::rope_frequencies_yarn(64, 10000, {32, 0, 32, 1, true}), swat::Error);
  CHECK_THROWS_AS(swat::yarn_attention_factor(std::nan("")), swat::Error);
}
