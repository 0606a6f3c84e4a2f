// Vectorised exp on non-positive arguments, and the sigmoid on the same reduction.
// Softmax only ever needs exp(z) for z <= 0 (z = s - running max); the sigmoid takes exp(-s)
// over the whole range where 1 / (1 + exp(-s)) is not 0 or 1, and lets it overflow to +inf
// past it.
#pragma once

#include "isa_namespace.hpp"

#include <type_traits>

#include "compiler.hpp"
#include "simd.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

template <class T>
struct ExpConstants;

template <>
struct ExpConstants<float> {
  static constexpr float log2e = 1.44269504088896341f;
  // ln 2 split so that n * ln2_hi is exact for |n| < 2^10 (Cody and Waite).
  static constexpr float ln2_hi = 0.693359375f;
  static constexpr float ln2_lo = -2.12194440e-4f;
  static constexpr float magic = 12582912.f + 127.f;  // 1.5 * 2^23 + exponent bias
  // From the cutoff up, exp(z) >= 2^-125 is computed to float rounding. Arguments are clamped
  // to the floor, where n = -127: the exponent field of 2^n is 0, so exp gives +0 there without
  // a comparison and a select. In between, results lie below 2^-125: near their value, or 0.
  static constexpr float cutoff = -87.0f;
  static constexpr float floor = -88.0f;  // in [-127.5, -126.5) * ln 2
  // From 127.5 * ln 2 up to here n = 128: 2^n's exponent field is all ones, exp gives +inf.
  static constexpr float ceiling = 88.5f;  // in [127.5, 128.5) * ln 2
  // exp(r) on |r| <= ln2/2 by a degree-6 polynomial (ExpPolynomial<float>, below).
  static constexpr int degree = 6;
  // expm1's series (below): Taylor degree 7 on |r| <= ln2/2, truncation (ln2/2)^8 / 8! < 5e-9.
  static constexpr int series_degree = 7;
};

template <>
struct ExpConstants<double> {
  static constexpr double log2e = 1.4426950408889634074;
  static constexpr double ln2_hi = 6.93147180369123816490e-01;  // 32 significant bits
  static constexpr double ln2_lo = 1.90821492927058770002e-10;
  static constexpr double magic = 6755399441055744.0 + 1023.0;  // 1.5 * 2^52 + exponent bias
  static constexpr double cutoff = -708.0;
  static constexpr double floor = -709.0;  // in [-1023.5, -1022.5) * ln 2
  static constexpr double ceiling = 709.5;  // in [1023.5, 1024.5) * ln 2
  // Taylor degree 13: truncation (ln2/2)^14 / 14! < 5e-18 (exp and expm1 alike).
  static constexpr int degree = 13, series_degree = 13;
};

// 1/k! for k = 0 .. degree, folded at compile time (at -O2 a loop computing them ran per call).
template <class T, int Degree>
struct InverseFactorials {
  T value[Degree + 1];
  constexpr InverseFactorials() : value() {
    T f = 1;
    for (int k = 0; k <= Degree; ++k) {
      if (k > 1) f *= T(k);
      value[k] = T(1) / f;
    }
  }
};

// exp's polynomial on |r| <= ln2/2: float's fitted coefficients, double's Taylor series.
template <class T>
struct ExpPolynomial : InverseFactorials<T, ExpConstants<T>::degree> {};
// Float's coefficients come from a Remez fit of the relative error (1.9e-9, a sixtieth of
// float's rounding), each rounded to float.
template <>
struct ExpPolynomial<float> {
  float value[ExpConstants<float>::degree + 1] = {1.0f,           1.0f,           0.49999991059f, 0.16666419804f,
                                                  0.04166822508f, 0.008374815807f, 0.0013836845756f};
};

// exp(Sign * x) for x whose Sign * x is already within [floor, ceiling]: n = round(Sign * x /
// ln 2), r = Sign * x - n ln 2 by Cody and Waite, exp(r) by the polynomial, times 2^n from the
// exponent field. Sign = -1 folds the negation into the constants: Sign * r is reduced instead
// (the odd coefficients' signs flipped), so no instruction negates x.
template <class T, class Arch, int Sign>
SWAT_INLINE typename Vec<T, Arch>::type exp_reduced(typename Vec<T, Arch>::type x) {
  static_assert(Sign == 1 || Sign == -1, "exp_reduced: Sign is 1 or -1");
  using V = Vec<T, Arch>;
  using C = ExpConstants<T>;
  using type = typename V::type;
  constexpr T sign = static_cast<T>(Sign);
  const type biased = V::fma(x, V::broadcast(sign * C::log2e), V::broadcast(C::magic));
  const type n = biased - V::broadcast(C::magic);
  type r = V::fma(n, V::broadcast(-sign * C::ln2_hi), x);  // Sign * r
  r = V::fma(n, V::broadcast(-sign * C::ln2_lo), r);
  constexpr ExpPolynomial<T> c{};
  constexpr auto signed_coefficient = [](int k, T value) { return Sign < 0 && k % 2 ? -value : value; };
  type poly = V::broadcast(signed_coefficient(C::degree, c.value[C::degree]));
  SWAT_UNROLL
  for (int k = C::degree - 1; k >= 0; --k) poly = V::fma(poly, r, V::broadcast(signed_coefficient(k, c.value[k])));
  return poly * V::exp2_of_biased(biased);
}

// exp(z) for z <= 0: NaN propagates; z below the cutoff gives a result under 2^-125 (near its
// value, or 0), and from the floor down (-inf included) exactly +0.
template <class T, class Arch>
SWAT_INLINE typename Vec<T, Arch>::type exp_nonpositive(typename Vec<T, Arch>::type z) {
  using V = Vec<T, Arch>;
  // maxps returns its second operand on NaN, so NaN survives the clamp.
  return exp_reduced<T, Arch, 1>(V::max(V::broadcast(ExpConstants<T>::floor), z));
}

// exp(z) - 1 for z <= 0, accurate relative to the result near 0 (where exp(z) - 1 cancels):
// 2^n (e^r - 1) + (2^n - 1), with e^r - 1 = r (1 + r/2! + ...) never formed as a difference.
template <class T, class Arch>
SWAT_INLINE typename Vec<T, Arch>::type expm1_nonpositive(typename Vec<T, Arch>::type z) {
  using V = Vec<T, Arch>;
  using C = ExpConstants<T>;
  using type = typename V::type;
  z = V::max(V::broadcast(C::cutoff), z);  // below the cutoff the result is -1 to the last bit
  const type biased = V::fma(z, V::broadcast(C::log2e), V::broadcast(C::magic));
  const type n = biased - V::broadcast(C::magic);
  type r = V::fma(n, V::broadcast(-C::ln2_hi), z);
  r = V::fma(n, V::broadcast(-C::ln2_lo), r);
  constexpr InverseFactorials<T, C::series_degree + 1> c{};
  type poly = V::broadcast(c.value[C::series_degree + 1]);
  SWAT_UNROLL
  for (int k = C::series_degree; k >= 1; --k) poly = V::fma(poly, r, V::broadcast(c.value[k]));
  const type scale = V::exp2_of_biased(biased);
  return V::fma(scale, poly * r, scale - V::broadcast(T(1)));
}

// tanh(x) = -m / (2 + m) with m = expm1(-2|x|), sign restored: a few ulps everywhere, no overflow.
// In float, lanes with |x| < 1/2 take tanh's Taylor series instead: x (1 - x^2/3 + 2x^4/15 -
// ...) to the x^17 term, whose first omitted term is under 1e-9 of the result there. Which
// formula a lane gets depends on its own argument only, so results do not depend on what
// shares a vector (the cache splits its work by thread count). When every lane is under 1/2
// (soft-capping's usual case: logits under half the cap), the quotient's exp and division are
// skipped. Within 1.1 ulps on the series and 2.7 on the quotient (the primitives' test). On an
// Intel Xeon, the sigmoid forward at D 128, w 1024 with a cap of 50 took 577-591 ms a call
// against 612-640 (three alternated runs of the benchmark's row); against no cap 0.90-0.96x
// the speed instead of 0.85-0.93x, softmax 0.95-0.97x instead of 0.89-0.95x.
template <class T, class Arch>
SWAT_INLINE typename Vec<T, Arch>::type tanh_vec(typename Vec<T, Arch>::type x) {
  using V = Vec<T, Arch>;
  using type = typename V::type;
  const auto quotient = [](type v) {
    const auto m = expm1_nonpositive<T, Arch>(V::broadcast(T(-2)) * V::abs(v));
    const auto t = -m / (V::broadcast(T(2)) + m);
    return V::select(v < V::broadcast(T(0)), -t, t);
  };
  if constexpr (std::is_same<T, float>::value) {
    // tanh(x) / x as a polynomial in s = x^2: the coefficients 2^2n (2^2n - 1) B_2n / (2n)!.
    constexpr double c[] = {1.0,          -1.0 / 3,           2.0 / 15,
                            -17.0 / 315,  62.0 / 2835,        -1382.0 / 155925,
                            21844.0 / 6081075, -929569.0 / 638512875, 6404582.0 / 10854718875};
    constexpr int degree = sizeof(c) / sizeof(c[0]) - 1;
    const auto s = x * x;
    auto poly = V::broadcast(static_cast<T>(c[degree]));
    SWAT_UNROLL
    for (int k = degree - 1; k >= 0; --k) poly = V::fma(poly, s, V::broadcast(static_cast<T>(c[k])));
    const auto series = x * poly;
    const auto small = V::abs(x) < V::broadcast(T(0.5));
    if (V::all(small)) return series;
    return V::select(small, series, quotient(x));
  } else {
    return quotient(x);
  }
}

// 1 / (1 + e) with e = exp(-s), -s clamped to [floor, ceiling]: from the floor down e is +0
// and the sigmoid 1; from 127.5 * ln 2 (float) up e is +inf and the sigmoid +0; in between e
// is exp_nonpositive's reduction with the negation folded in (exp_reduced<-1>).
// NaN propagates. Against e / (1 + e) on exp(-|s|), reflected for s > 0, it saves the
// reflection's compare, subtract and select: the 340M layer's forward (D 64) 0.985x the time
// on an Intel Xeon (alternated runs; D 128 level). Within 2.13 ulps on every path in the
// primitives' test; 2.48 at worst over 64 million random arguments (2.40 before).
template <class T, class Arch>
SWAT_INLINE typename Vec<T, Arch>::type sigmoid(typename Vec<T, Arch>::type s) {
  using V = Vec<T, Arch>;
  using C = ExpConstants<T>;
  // min and max return their second operand on NaN, so NaN survives both clamps.
  s = V::min(V::broadcast(-C::floor), V::max(V::broadcast(-C::ceiling), s));
  const auto e = exp_reduced<T, Arch, -1>(s);
  return V::broadcast(T(1)) / (V::broadcast(T(1)) + e);
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
