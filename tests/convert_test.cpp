// bf16 and f16 conversions on every path (each ISA's bulk conversion, the scalar members, the
// portable code): 16 -> 32 bits on all 65536 patterns, 32 -> 16 bits on a sweep of every binade
// with every tie, NaN, infinity, overflow and denormal, against references written from the
// formats' definitions (decoding with ldexp; rounding by searching the table of values).
#include "tester.hpp"

#include <swat/convert.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
float float_of(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// The layout of a 16-bit format: 1 sign bit, `exponent_bits`, the rest mantissa.
template <class S>
struct Format;
template <>
struct Format<swat::bf16> {
  static constexpr int exponent_bits = 8, mantissa_bits = 7, bias = 127;
};
template <>
struct Format<swat::f16> {
  static constexpr int exponent_bits = 5, mantissa_bits = 10, bias = 15;
};

// The value of a non-negative finite pattern, from the definition of the format; the pattern
// of infinity gives 2^(max exponent + 1), the value its exponent would mean.
template <class S>
double decode(uint16_t h) {
  using F = Format<S>;
  const int e = (h >> F::mantissa_bits) & ((1 << F::exponent_bits) - 1);
  const int m = h & ((1 << F::mantissa_bits) - 1);
  if (e == 0) return std::ldexp(static_cast<double>(m), 1 - F::bias - F::mantissa_bits);
  return std::ldexp(static_cast<double>((1 << F::mantissa_bits) + m), e - F::bias - F::mantissa_bits);
}

template <class S>
uint16_t infinity_bits() {
  return static_cast<uint16_t>(((1 << Format<S>::exponent_bits) - 1) << Format<S>::mantissa_bits);
}

// Expected float bits of every 16-bit pattern. NaN: f16 becomes quiet (as F16C does), bf16 is
// widened bit for bit (the cheap exact widening every bf16 library uses).
template <class S>
uint32_t expected_widening(uint16_t h) {
  using F = Format<S>;
  const uint32_t sign = (h & 0x8000u) ? 0x80000000u : 0u;
  const uint16_t magnitude = h & 0x7fff;
  if (magnitude > infinity_bits<S>()) {
    const uint32_t payload = static_cast<uint32_t>(magnitude & ((1 << F::mantissa_bits) - 1)) << (23 - F::mantissa_bits);
    return sign | 0x7f800000u | payload | (std::is_same<S, swat::f16>::value ? 0x00400000u : 0u);
  }
  if (magnitude == infinity_bits<S>()) return sign | 0x7f800000u;
  return sign | bits_of(static_cast<float>(decode<S>(magnitude)));
}

// Round to nearest, ties to even, by search in the table of the format's values: patterns of
// non-negative values are consecutive integers, so "even" is the even pattern.
template <class S>
uint16_t expected_rounding(float x) {
  using F = Format<S>;
  const uint32_t u = bits_of(x);
  const uint16_t sign = (u & 0x80000000u) ? 0x8000 : 0;
  if (std::isnan(x))  // quiet, sign kept, payload truncated
    return static_cast<uint16_t>(sign | infinity_bits<S>() | (1u << (F::mantissa_bits - 1)) |
                                 ((u & 0x7fffffu) >> (23 - F::mantissa_bits)));
  static const std::vector<double> values = [] {
    std::vector<double> v(infinity_bits<S>() + 1u);
    for (uint32_t h = 0; h < v.size(); ++h) v[h] = decode<S>(static_cast<uint16_t>(h));
    return v;
  }();
  const double a = std::fabs(static_cast<double>(x));
  if (a >= values.back()) return static_cast<uint16_t>(sign | infinity_bits<S>());
  const auto above = std::upper_bound(values.begin(), values.end(), a);
  const uint32_t hi = static_cast<uint32_t>(above - values.begin()), lo = hi - 1;
  const double below_gap = a - values[lo], above_gap = values[hi] - a;
  uint32_t pick = below_gap < above_gap ? lo : above_gap < below_gap ? hi : (lo % 2 == 0 ? lo : hi);
  return static_cast<uint16_t>(sign | pick);
}

// Floats to round: a stride through every binade, every midpoint between neighbouring 16-bit
// values and its float neighbours, zeros, denormals, infinities, NaNs; both signs.
template <class S>
std::vector<float> rounding_inputs() {
  std::vector<uint32_t> magnitudes;
  for (uint64_t u = 0; u < 0x7f800000u; u += 4093) magnitudes.push_back(static_cast<uint32_t>(u));
  for (uint32_t h = 0; h < infinity_bits<S>(); ++h) {
    const double mid = (decode<S>(static_cast<uint16_t>(h)) + decode<S>(static_cast<uint16_t>(h + 1))) / 2;
    const uint32_t m = bits_of(static_cast<float>(mid));  // exact: one bit more than the format
    for (uint32_t d : {m - 1, m, m + 1}) magnitudes.push_back(d);
  }
  for (uint32_t u : {0u, 1u, 2u, 0x7fffffu, 0x800000u, 0x7f7fffffu, 0x7f800000u, 0x7f800001u, 0x7fbfffffu,
                     0x7fc00000u, 0x7fffffffu, 0x7fa02000u})
    magnitudes.push_back(u);
  std::vector<float> out;
  for (uint32_t m : magnitudes) {
    out.push_back(float_of(m));
    out.push_back(float_of(m | 0x80000000u));
  }
  return out;
}

std::vector<uint16_t> all_patterns_bits() {
  std::vector<uint16_t> out(65536);
  for (uint32_t h = 0; h < 65536; ++h) out[h] = static_cast<uint16_t>(h);
  return out;
}

template <class S>
std::vector<S> as_storage(const std::vector<uint16_t>& bits) {
  std::vector<S> out(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) out[i] = S::from_bits(bits[i]);
  return out;
}

// First mismatch of a widening, or an empty string.
template <class S>
std::string widening_mismatch(const std::vector<float>& got) {
  for (uint32_t h = 0; h < 65536; ++h)
    if (bits_of(got[h]) != expected_widening<S>(static_cast<uint16_t>(h))) {
      std::ostringstream s;
      s << std::hex << "pattern 0x" << h << ": got 0x" << bits_of(got[h]) << ", expected 0x"
        << expected_widening<S>(static_cast<uint16_t>(h));
      return s.str();
    }
  return "";
}

template <class S>
std::string rounding_mismatch(const std::vector<float>& in, const std::vector<S>& got) {
  for (std::size_t i = 0; i < in.size(); ++i)
    if (got[i].bits != expected_rounding<S>(in[i])) {
      std::ostringstream s;
      s << std::hex << "float 0x" << bits_of(in[i]) << " (" << in[i] << "): got 0x" << got[i].bits << ", expected 0x"
        << expected_rounding<S>(in[i]);
      return s.str();
    }
  return "";
}

}  // namespace

TEMPLATE_TEST_CASE("16-bit to float is exact on all 65536 patterns, on every path", "[convert]", swat::bf16,
                   swat::f16) {
  const std::vector<TestType> patterns = as_storage<TestType>(all_patterns_bits());
  std::vector<float> got(patterns.size());
  const swat::Isa isa = GENERATE(swat_test::isas());
  std::fill(got.begin(), got.end(), 0.f);
  swat::to_float(patterns.data(), got.data(), static_cast<int64_t>(got.size()), isa);
  INFO("path " << swat::isa_name(isa) << " type " << swat_test::type_name<TestType>());
  CHECK(widening_mismatch<TestType>(got) == "");
  // Odd lengths and offsets: the scalar tails.
  std::vector<float> tail(13);
  swat::to_float(patterns.data() + 0x3c01, tail.data(), 13, isa);
  for (int i = 0; i < 13; ++i) CHECK(bits_of(tail[i]) == bits_of(got[0x3c01 + i]));
  for (uint32_t h = 0; h < 65536; ++h) got[h] = static_cast<float>(patterns[h]);
  INFO("scalar member operator float");
  CHECK(widening_mismatch<TestType>(got) == "");
}

TEMPLATE_TEST_CASE("float to 16 bits rounds to nearest even with NaN, inf, overflow and denormals, on every path",
                   "[convert]", swat::bf16, swat::f16) {
  const std::vector<float> in = rounding_inputs<TestType>();
  std::vector<TestType> got(in.size());
  const swat::Isa isa = GENERATE(swat_test::isas());
  std::fill(got.begin(), got.end(), TestType::from_bits(0x1234));
  swat::from_float(in.data(), got.data(), static_cast<int64_t>(in.size()), isa);
  INFO("path " << swat::isa_name(isa) << " type " << swat_test::type_name<TestType>() << ", " << in.size()
               << " inputs");
  CHECK(rounding_mismatch<TestType>(in, got) == "");
  for (std::size_t i = 0; i < in.size(); ++i) got[i] = TestType(in[i]);
  INFO("scalar member constructor");
  CHECK(rounding_mismatch<TestType>(in, got) == "");
}

TEST_CASE("conversions reject a negative count and an unavailable path", "[convert]") {
  float f = 0;
  swat::bf16 b;
  CHECK_THROWS_AS(swat::to_float(&b, &f, -1), swat::Error);
  CHECK_THROWS_AS(swat::from_float(&f, &b, -1), swat::Error);
  const std::vector<swat::Isa> have = swat::available_isas();
  for (swat::Isa isa : {swat::Isa::avx512, swat::Isa::avx2, swat::Isa::sse2, swat::Isa::neon})
    if (std::find(have.begin(), have.end(), isa) == have.end()) {
      INFO("path " << swat::isa_name(isa));
      CHECK_THROWS_AS(swat::to_float(&b, &f, 1, isa), swat::Error);
    }
}
