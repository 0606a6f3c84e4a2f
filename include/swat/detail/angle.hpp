// RoPE's angle a = p * f, reduced modulo 2 pi and returned as (cos a, sin a), accurate to about
// 1e-16 absolute for |p| < 2^53. The kernels use it at their anchors (the reference has its own),
// so positions far from zero (a long stream, an offset chunk) lose nothing: a plain product in
// long double already errs by 1e-10 rad at p = 2^31.
#pragma once

#include <cmath>
#include <cstdint>

#include "isa_namespace.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// f = base^(-2k/r), held as an unevaluated sum hi + lo of two doubles (a long double's worth).
struct Frequency {
  double hi = 0, lo = 0;
};

inline Frequency rope_frequency(int64_t pair, int64_t rope_dim, double base) {
  const long double f = std::pow(static_cast<long double>(base), -2.0L * pair / static_cast<long double>(rope_dim));
  Frequency out;
  out.hi = static_cast<double>(f);
  out.lo = static_cast<double>(f - out.hi);
  return out;
}

inline void rope_cos_sin(int64_t position, Frequency f, double* cos_out, double* sin_out) {
  // 2 pi as three doubles (Cody and Waite's idea, carried to 160 bits).
  constexpr double two_pi_1 = 0x1.921fb54442d18p+2;
  constexpr double two_pi_2 = 0x1.1a62633145c07p-52;
  constexpr double two_pi_3 = -0x1.f1976b7ed8fbcp-108;
  const double p = static_cast<double>(position);  // exact below 2^53
  // a = hi + lo exactly enough: the FMA recovers the rounding error of p * f.hi.
  const double a_hi = p * f.hi;
  const double a_lo = std::fma(p, f.hi, -a_hi) + p * f.lo;
  const double n = std::nearbyint(a_hi / two_pi_1);
  const double m_hi = n * two_pi_1;
  const double m_lo = std::fma(n, two_pi_1, -m_hi);
  // a_hi - m_hi is exact (the two are within a factor of two, Sterbenz); the rest is small.
  const double r = ((a_hi - m_hi) - m_lo) + (a_lo - n * two_pi_2) - n * two_pi_3;
  *cos_out = std::cos(r);
  *sin_out = std::sin(r);
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
