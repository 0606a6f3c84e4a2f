// The known-answer checks of one ISA path (see primitives.hpp). CMake compiles this file once per
// path with -DSWAT_TEST_ISA=<isa> -DSWAT_ISA_NAMESPACE=isa_<isa> and that path's flags. Every
// expected value comes from plain scalar code written here from the definitions (IEEE formats,
// long double exp), never from the library's own scalar helpers.
#include <swat/detail/bf16_dot.hpp>
#include <swat/detail/convert.hpp>
#include <swat/detail/math.hpp>
#include <swat/detail/microkernel.hpp>
#include <swat/detail/reduce.hpp>
#include <swat/detail/transpose.hpp>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <vector>
#include <cstring>
#include <limits>
#include <type_traits>

#include "primitives.hpp"

#ifndef SWAT_TEST_ISA
#error "compile with -DSWAT_TEST_ISA=<isa>"
#endif

namespace swat_test {
namespace primitives {
namespace SWAT_ISA_NAMESPACE {

using Arch = swat::detail::arch_of<swat::Isa::SWAT_TEST_ISA>::type;
static_assert(!std::is_void<Arch>::value, "the flags of this translation unit do not enable its ISA");

template <class T>
using V = swat::detail::Vec<T, Arch>;
template <class T>
constexpr int W = static_cast<int>(V<T>::width);

const char* type_name(float) { return "float"; }
const char* type_name(double) { return "double"; }
const char* type_name(swat::bf16) { return "bf16"; }
const char* type_name(swat::f16) { return "f16"; }

// One check: counted, and the first failure kept with its printf-style description.
void expect(Outcome* o, bool ok, const char* format, ...) {
  ++o->checks;
  if (ok || o->failures++ > 0) return;
  va_list args;
  va_start(args, format);
  std::vsnprintf(o->first, sizeof o->first, format, args);
  va_end(args);
}

template <class T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

uint64_t next_random(uint64_t& state) {  // splitmix64: fixed, portable sequence
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
double uniform(uint64_t& state, double lo, double hi) {
  return lo + (hi - lo) * static_cast<double>(next_random(state) >> 11) * 0x1p-53;
}

// Not named `store`: argument-dependent lookup would then prefer xsimd::store, an aligned store,
// for the stack arrays below.
template <class T>
void store_lanes(T* p, const typename V<T>::type& x) {
  V<T>::store(p, x);
}

// ---- vector traits -----------------------------------------------------------------------------

template <class T>
void load_store_of(Outcome* o) {
  constexpr int n = 3 * W<T> + 3;
  T in[n], out[n];
  for (int i = 0; i < n; ++i) in[i] = static_cast<T>(i * 7 + 1) / T(8);
  in[1] = -T(0);
  const T sentinel = T(-12345);
  for (int offset = 0; offset <= W<T> + 2; ++offset) {
    for (T& x : out) x = sentinel;
    V<T>::store(out + offset, V<T>::load(in + offset));
    for (int i = 0; i < n; ++i) {
      const bool inside = i >= offset && i < offset + W<T>;
      expect(o, same_bits(out[i], inside ? in[i] : sentinel),
             "%s: load then store at element offset %d: element %d is %g, want %g", type_name(T()), offset, i,
             static_cast<double>(out[i]), static_cast<double>(inside ? in[i] : sentinel));
    }
  }
}
void load_store(Outcome* o) {
  load_store_of<float>(o);
  load_store_of<double>(o);
}

template <class T>
void broadcast_iota_of(Outcome* o) {
  T lanes[W<T>];
  for (T value : {T(1.5), -T(0), T(-3e-30)}) {
    store_lanes(lanes, V<T>::broadcast(value));
    for (int l = 0; l < W<T>; ++l)
      expect(o, same_bits(lanes[l], value), "%s: broadcast(%g) lane %d is %g", type_name(T()),
             static_cast<double>(value), l, static_cast<double>(lanes[l]));
  }
  store_lanes(lanes, V<T>::iota());
  for (int l = 0; l < W<T>; ++l)
    expect(o, lanes[l] == T(l), "%s: iota lane %d is %g", type_name(T()), l, static_cast<double>(lanes[l]));
}
void broadcast_iota(Outcome* o) {
  broadcast_iota_of<float>(o);
  broadcast_iota_of<double>(o);
}

// Lane l of each operand from its own array; the result compared lane by lane with `want`.
template <class T, class Op, class Want>
void lanewise(Outcome* o, const char* name, const T* a, const T* b, const T* c, int n, Op op, Want want) {
  for (int i = 0; i + W<T> <= n; ++i) {
    T lanes[W<T>];
    store_lanes(lanes, op(V<T>::load(a + i), V<T>::load(b + i), V<T>::load(c + i)));
    for (int l = 0; l < W<T>; ++l) {
      const int at = i + l;
      expect(o, want(a[at], b[at], c[at], lanes[l]), "%s: %s lane %d of (%.17g, %.17g, %.17g) gave %.17g",
             type_name(T()), name, l, static_cast<double>(a[at]), static_cast<double>(b[at]),
             static_cast<double>(c[at]), static_cast<double>(lanes[l]));
    }
  }
}

// Operands with every kind of value, in a different order for each operand.
template <class T>
struct Operands {
  static constexpr int n = 64;
  T a[n], b[n], c[n];
  explicit Operands(bool specials) {
    uint64_t state = 11;
    for (int i = 0; i < n; ++i) {
      a[i] = static_cast<T>(uniform(state, -4, 4));
      b[i] = static_cast<T>(uniform(state, -4, 4));
      c[i] = static_cast<T>(uniform(state, -4, 4));
    }
    // Fused and unfused multiply-add differ here: (1 + e)(1 - e) - 1 = -e^2.
    const T e = sizeof(T) == 4 ? T(0x1p-12) : T(0x1p-27);
    a[5] = T(1) + e, b[5] = T(1) - e, c[5] = T(-1);
    a[3] = b[4] = -T(0);
    b[9] = a[9];
    if (specials) {
      a[7] = b[12] = c[20] = std::nan("");
      a[13] = b[14] = infinity();
      a[17] = b[18] = -infinity();
    }
  }
  static T infinity() { return static_cast<T>(HUGE_VAL); }
};

template <class T>
void fma_of(Outcome* o) {
  const Operands<T> x(false);
  lanewise<T>(o, "fma", x.a, x.b, x.c, x.n, [](auto a, auto b, auto c) { return V<T>::fma(a, b, c); },
              [](T a, T b, T c, T got) {
                // Fused where the path has it, a * b + c where it does not: either rounding is right.
                const T fused = static_cast<T>(static_cast<long double>(a) * b + c);
                const T unfused = a * b + c;
                return same_bits(got, fused) || same_bits(got, unfused);
              });
}
void fma(Outcome* o) {
  fma_of<float>(o);
  fma_of<double>(o);
}

template <class T>
void min_max_abs_of(Outcome* o) {
  const Operands<T> x(true);
  // NaN: the second operand comes back (maxps, minps); the clamps of exp_nonpositive and the
  // sigmoid rely on it.
  lanewise<T>(o, "max", x.a, x.b, x.c, x.n, [](auto a, auto b, auto) { return V<T>::max(a, b); },
              [](T a, T b, T, T got) {
                if (std::isnan(a) || std::isnan(b)) return std::isnan(b) ? std::isnan(got) : same_bits(got, b);
                return a == b ? got == a : got == (a > b ? a : b);
              });
  lanewise<T>(o, "min", x.a, x.b, x.c, x.n, [](auto a, auto b, auto) { return V<T>::min(a, b); },
              [](T a, T b, T, T got) {
                if (std::isnan(a) || std::isnan(b)) return std::isnan(b) ? std::isnan(got) : same_bits(got, b);
                return a == b ? got == a : got == (a < b ? a : b);
              });
  lanewise<T>(o, "abs", x.a, x.b, x.c, x.n, [](auto a, auto, auto) { return V<T>::abs(a); },
              [](T a, T, T, T got) {
                return std::isnan(a) ? std::isnan(got) && !std::signbit(got) : same_bits(got, std::fabs(a));
              });
}
void min_max_abs(Outcome* o) {
  min_max_abs_of<float>(o);
  min_max_abs_of<double>(o);
}

template <class T>
void compare_select_of(Outcome* o) {
  const Operands<T> x(true);
  lanewise<T>(o, "select(a < b, a, c)", x.a, x.b, x.c, x.n,
              [](auto a, auto b, auto c) { return V<T>::select(a < b, a, c); },
              [](T a, T b, T c, T got) { return same_bits(got, a < b ? a : c); });
  lanewise<T>(o, "select(a > b, b, c)", x.a, x.b, x.c, x.n,
              [](auto a, auto b, auto c) { return V<T>::select(a > b, b, c); },
              [](T a, T b, T c, T got) { return same_bits(got, a > b ? b : c); });
}
void compare_select(Outcome* o) {
  compare_select_of<float>(o);
  compare_select_of<double>(o);
}

// all(mask): true only when every lane is, with each lane in turn the one false lane.
template <class T>
void all_lanes_of(Outcome* o) {
  T in[W<T>];
  for (int off = -1; off < W<T>; ++off) {
    for (int l = 0; l < W<T>; ++l) in[l] = l == off ? T(3) : T(-1) - static_cast<T>(l);
    const bool got = V<T>::all(V<T>::load(in) < V<T>::broadcast(T(1)));
    expect(o, got == (off < 0), "%s: all(a < 1) with lane %d false is %d", type_name(T()), off, got ? 1 : 0);
  }
  std::fill(in, in + W<T>, T(2));
  expect(o, !V<T>::all(V<T>::load(in) < V<T>::broadcast(T(1))), "%s: all(a < 1) with every lane false is 1",
         type_name(T()));
}
void all_lanes(Outcome* o) {
  all_lanes_of<float>(o);
  all_lanes_of<double>(o);
}

template <class T>
void exp2_of_biased_of(Outcome* o) {
  constexpr int lowest = sizeof(T) == 4 ? -126 : -1022, highest = sizeof(T) == 4 ? 127 : 1023;
  const T magic = swat::detail::ExpConstants<T>::magic;
  for (int n = lowest; n <= highest; n += W<T>) {
    T in[W<T>], lanes[W<T>];
    for (int l = 0; l < W<T>; ++l) in[l] = static_cast<T>(std::min(n + l, highest)) + magic;
    store_lanes(lanes, V<T>::exp2_of_biased(V<T>::load(in)));
    for (int l = 0; l < W<T>; ++l) {
      const int e = std::min(n + l, highest);
      expect(o, same_bits(lanes[l], std::ldexp(T(1), e)), "%s: exp2_of_biased(%d + magic) is %.17g, want 2^%d",
             type_name(T()), e, static_cast<double>(lanes[l]), e);
    }
  }
}
void exp2_of_biased(Outcome* o) {
  exp2_of_biased_of<float>(o);
  exp2_of_biased_of<double>(o);
}

// ---- 16-bit storage: independent encodings ---------------------------------------------------

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
float float_of(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// The format's layout: mantissa bits and exponent bias, and 16-bit patterns as values.
template <class S>
struct Format {
  static constexpr int mantissa = std::is_same<S, swat::bf16>::value ? 7 : 10;
  static constexpr int exponent = 15 - mantissa;
  static constexpr uint16_t infinity = static_cast<uint16_t>(((1 << exponent) - 1) << mantissa);
  static constexpr int bias = (1 << (exponent - 1)) - 1;
  // Value of a non-negative pattern up to `infinity`, which continues the sequence of finite
  // values as 2^(emax + 1): rounding to nearest then treats overflow like any other step.
  static double value(uint16_t h) {
    const int e = h >> mantissa, m = h & ((1 << mantissa) - 1);
    if (e == 0) return std::ldexp(static_cast<double>(m), 1 - bias - mantissa);
    return std::ldexp(static_cast<double>((1 << mantissa) + m), e - bias - mantissa);
  }
  // IEEE decoding to float. bf16 is the top half of a float, so widening keeps every bit (a
  // signalling NaN stays one); an f16 NaN keeps its sign and payload, made quiet (vcvtph2ps).
  static uint32_t decode(uint16_t h) {
    if (mantissa == 7) return static_cast<uint32_t>(h) << 16;
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint16_t magnitude = h & 0x7fffu;
    if (magnitude > infinity)
      return sign | 0x7fc00000u | (static_cast<uint32_t>(magnitude & ((1u << mantissa) - 1)) << (23 - mantissa));
    if (magnitude == infinity) return sign | 0x7f800000u;
    return sign | bits_of(static_cast<float>(value(magnitude)));
  }
  // Round to nearest, ties to even, by searching the patterns; NaN made quiet, payload truncated.
  static uint16_t encode(float x) {
    const uint16_t sign = static_cast<uint16_t>((bits_of(x) >> 16) & 0x8000u);
    if (std::isnan(x)) {
      const uint32_t payload = (bits_of(x) & 0x7fffffu) >> (23 - mantissa);
      return static_cast<uint16_t>(sign | infinity | (1u << (mantissa - 1)) | payload);
    }
    const double a = std::fabs(static_cast<double>(x));
    uint16_t lo = 0, hi = infinity;  // value(lo) <= a; the answer is the largest such pattern
    if (a >= value(hi)) return sign | infinity;
    while (hi - lo > 1) {
      const uint16_t mid = static_cast<uint16_t>((lo + hi) / 2);
      (value(mid) <= a ? lo : hi) = mid;
    }
    const double below = a - value(lo), above = value(hi) - a;
    const uint16_t pick = below < above ? lo : above < below ? hi : (lo % 2 == 0 ? lo : hi);
    return static_cast<uint16_t>(sign | pick);
  }
};

// Floats every conversion must get right: each pattern's value, the midpoints between neighbours
// (ties) and the floats either side of them, float denormals, zeros, infinities, NaN payloads
// (quiet and signalling), and random bit patterns.
template <class S>
int float_sweep(float* out, int capacity) {
  using F = Format<S>;
  int n = 0;
  auto add = [&](float x) {
    if (n < capacity) out[n++] = x;
  };
  for (uint32_t h = 0; h < F::infinity; h += 1) {
    const float lo = static_cast<float>(F::value(static_cast<uint16_t>(h)));
    const float mid = static_cast<float>((F::value(static_cast<uint16_t>(h)) + F::value(static_cast<uint16_t>(h + 1))) / 2);
    for (float x : {lo, mid, std::nextafter(mid, 0.f), std::nextafter(mid, HUGE_VALF)}) {
      add(x);
      add(-x);
    }
  }
  for (uint32_t u : {0x00000001u, 0x00000fffu, 0x007fffffu, 0x00400000u, 0x7f7fffffu, 0x7f800000u, 0x7f800001u,
                     0x7fc00000u, 0x7fffffffu, 0x7fa5a5a5u, 0x7f801fffu, 0x7fbfe000u}) {
    add(float_of(u));
    add(float_of(u | 0x80000000u));
  }
  uint64_t state = 5;
  for (int i = 0; i < 100000; ++i) add(float_of(static_cast<uint32_t>(next_random(state))));
  return n;
}
constexpr int kSweepCapacity = 600000;

template <class S>
void load_scalar_of(Outcome* o) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const uint32_t got = bits_of(swat::detail::load_scalar(S::from_bits(static_cast<uint16_t>(h))));
    const uint32_t want = Format<S>::decode(static_cast<uint16_t>(h));
    expect(o, got == want, "load_scalar(%s 0x%04x) is float 0x%08x, want 0x%08x", type_name(S()), h, got, want);
  }
}
void load_scalar(Outcome* o) {
  load_scalar_of<swat::bf16>(o);
  load_scalar_of<swat::f16>(o);
}

template <class S>
void store_scalar_of(Outcome* o) {
  static float sweep[kSweepCapacity];
  const int n = float_sweep<S>(sweep, kSweepCapacity);
  for (int i = 0; i < n; ++i) {
    const uint16_t got = swat::detail::store_scalar<S>(sweep[i]).bits;
    const uint16_t want = Format<S>::encode(sweep[i]);
    expect(o, got == want, "store_scalar<%s>(float 0x%08x = %.9g) is 0x%04x, want 0x%04x", type_name(S()),
           bits_of(sweep[i]), static_cast<double>(sweep[i]), got, want);
  }
}
void store_scalar(Outcome* o) {
  store_scalar_of<swat::bf16>(o);
  store_scalar_of<swat::f16>(o);
}

template <class S>
void load_as_of(Outcome* o) {
  alignas(64) static S all[0x10000 + 64];
  for (uint32_t h = 0; h <= 0xffff; ++h) all[h] = S::from_bits(static_cast<uint16_t>(h));
  for (uint32_t h = 0; h + W<float> <= 0x10000; h += W<float>) {
    float lanes[W<float>];
    store_lanes(lanes, swat::detail::load_as<float, Arch>(all + h));
    for (int l = 0; l < W<float>; ++l) {
      const uint32_t want = Format<S>::decode(static_cast<uint16_t>(h + l));
      expect(o, bits_of(lanes[l]) == want, "load_as<float>(%s) lane %d of 0x%04x: float 0x%08x, want 0x%08x",
             type_name(S()), l, h + l, bits_of(lanes[l]), want);
    }
  }
}
template <class T>
void load_as_same(Outcome* o) {
  T in[2 * W<T>], lanes[W<T>];
  for (int i = 0; i < 2 * W<T>; ++i) in[i] = static_cast<T>(i) - T(0.25);
  store_lanes(lanes, swat::detail::load_as<T, Arch>(in + 1));
  for (int l = 0; l < W<T>; ++l)
    expect(o, same_bits(lanes[l], in[l + 1]), "load_as<%s>(%s) lane %d is %g", type_name(T()), type_name(T()), l,
           static_cast<double>(lanes[l]));
}
void load_as(Outcome* o) {
  load_as_of<swat::bf16>(o);
  load_as_of<swat::f16>(o);
  load_as_same<float>(o);
  load_as_same<double>(o);
}

// Every count from 0 to a few widths past the native chunk (F16C converts 8 at a time), so each
// vector loop and scalar tail runs, and nothing past the count is written.
constexpr int kMaxTail = 3 * 16 + 9;

template <class S>
void convert_to_float_of(Outcome* o) {
  S in[0x10000 / 64 + kMaxTail];
  float out[kMaxTail + 1];
  for (uint32_t start = 0; start < 0x10000; start += 0x10000 / 64 * 7 + 3) {
    const int span = 0x10000 / 64 + kMaxTail;
    for (int i = 0; i < span; ++i) in[i] = S::from_bits(static_cast<uint16_t>((start + i * 64u) & 0xffffu));
    for (int n = 0; n <= kMaxTail; ++n) {
      for (float& x : out) x = -7.f;
      swat::detail::convert_to_float<Arch>(in + (n % 5), out, n);
      for (int i = 0; i <= n && i < kMaxTail + 1; ++i) {
        const uint32_t want = i < n ? Format<S>::decode(in[n % 5 + i].bits) : bits_of(-7.f);
        expect(o, bits_of(out[i]) == want, "convert_to_float(%s, n=%d): element %d is 0x%08x, want 0x%08x%s",
               type_name(S()), n, i, bits_of(out[i]), want, i < n ? "" : " (past the end: untouched)");
      }
    }
  }
}
void convert_to_float(Outcome* o) {
  convert_to_float_of<swat::bf16>(o);
  convert_to_float_of<swat::f16>(o);
}

template <class S>
void convert_from_float_of(Outcome* o) {
  static float sweep[kSweepCapacity];
  static S out[kSweepCapacity + 1];
  const int n = float_sweep<S>(sweep, kSweepCapacity);
  // One long call over the whole sweep (vector body), then every short count (tails).
  swat::detail::convert_from_float<Arch>(sweep, out, n);
  for (int i = 0; i < n; ++i) {
    const uint16_t want = Format<S>::encode(sweep[i]);
    expect(o, out[i].bits == want, "convert_from_float(%s) element %d of float 0x%08x (%.9g) is 0x%04x, want 0x%04x",
           type_name(S()), i, bits_of(sweep[i]), static_cast<double>(sweep[i]), out[i].bits, want);
  }
  for (int count = 0; count <= kMaxTail; ++count) {
    for (int i = 0; i <= count; ++i) out[i] = S::from_bits(0x1234);
    swat::detail::convert_from_float<Arch>(sweep + 3 * count, out, count);
    for (int i = 0; i <= count; ++i) {
      const uint16_t want = i < count ? Format<S>::encode(sweep[3 * count + i]) : uint16_t(0x1234);
      expect(o, out[i].bits == want, "convert_from_float(%s, n=%d): element %d is 0x%04x, want 0x%04x%s",
             type_name(S()), count, i, out[i].bits, want, i < count ? "" : " (past the end: untouched)");
    }
  }
}
void convert_from_float(Outcome* o) {
  convert_from_float_of<swat::bf16>(o);
  convert_from_float_of<swat::f16>(o);
}

// ---- reductions --------------------------------------------------------------------------------

// Integer-valued lanes: every sum is exact, so a lane added twice, dropped or moved shows.
template <class T>
T lane_value(int vector, int lane) {
  return static_cast<T>(vector * 1000 + (lane + 1) * (lane + 3));
}

template <class T>
void horizontal_sum_of(Outcome* o) {
  for (int u = 0; u < 3; ++u) {
    T lanes[W<T>];
    T want = 0;
    for (int l = 0; l < W<T>; ++l) want += lanes[l] = lane_value<T>(u, l);
    const T got = swat::detail::horizontal_sum<T, Arch>(V<T>::load(lanes));
    expect(o, got == want, "%s: horizontal_sum of lanes %d*1000 + (l+1)(l+3) is %.17g, want %.17g", type_name(T()),
           u, static_cast<double>(got), static_cast<double>(want));
  }
  for (int j = 0; j < W<T>; ++j) {  // one lane set: catches a lane left out
    T lanes[W<T>] = {};
    lanes[j] = T(1);
    const T got = swat::detail::horizontal_sum<T, Arch>(V<T>::load(lanes));
    expect(o, got == T(1), "%s: horizontal_sum with only lane %d = 1 is %g", type_name(T()), j,
           static_cast<double>(got));
  }
}
void horizontal_sum(Outcome* o) {
  horizontal_sum_of<float>(o);
  horizontal_sum_of<double>(o);
}

// W vectors in, one out: lane u is the sum of vector u's lanes (the decode kernel's W dot
// products finished at once; on the xsimd paths this is xsimd::haddp).
template <class T>
void transpose_sum_of(Outcome* o) {
  using vec = typename V<T>::type;
  vec acc[W<T>];
  T want[W<T>], lanes[W<T>];
  for (int u = 0; u < W<T>; ++u) {
    T in[W<T>];
    want[u] = 0;
    for (int l = 0; l < W<T>; ++l) want[u] += in[l] = lane_value<T>(u, l);
    acc[u] = V<T>::load(in);
  }
  store_lanes(lanes, swat::detail::transpose_sum<T, Arch>(acc));
  for (int u = 0; u < W<T>; ++u)
    expect(o, lanes[u] == want[u], "%s: transpose_sum lane %d is %.17g, want %.17g (sum of vector %d)",
           type_name(T()), u, static_cast<double>(lanes[u]), static_cast<double>(want[u]), u);
  // Vector u holds u + 1 in lane (u + shift) % W only: every (vector, lane) pair gets its turn.
  for (int shift = 0; shift < W<T>; ++shift) {
    for (int u = 0; u < W<T>; ++u) {
      T in[W<T>] = {};
      in[(u + shift) % W<T>] = static_cast<T>(u + 1);
      acc[u] = V<T>::load(in);
    }
    store_lanes(lanes, swat::detail::transpose_sum<T, Arch>(acc));
    for (int u = 0; u < W<T>; ++u)
      expect(o, lanes[u] == static_cast<T>(u + 1), "%s: transpose_sum lane %d is %g, want %d (its one lane: %d)",
             type_name(T()), u, static_cast<double>(lanes[u]), u + 1, (u + shift) % W<T>);
  }
}
void transpose_sum(Outcome* o) {
  transpose_sum_of<float>(o);
  transpose_sum_of<double>(o);
}

// A W x W block read at one stride and written at another, each element a distinct value, the
// elements around the block (the strides' gaps) left as they were.
template <class T>
void transpose_block_of(Outcome* o) {
  constexpr int in_stride = W<T> + 3, out_stride = W<T> + 5;
  std::vector<T> in(static_cast<std::size_t>(W<T> * in_stride)), out(static_cast<std::size_t>(W<T> * out_stride));
  for (std::size_t n = 0; n < in.size(); ++n) in[n] = static_cast<T>(1000 + n);
  for (T& x : out) x = T(-1);
  swat::detail::transpose_block<T, Arch>(in.data(), in_stride, out.data(), out_stride);
  for (int j = 0; j < W<T>; ++j)
    for (int c = 0; c < out_stride; ++c) {
      const T got = out[static_cast<std::size_t>(j * out_stride + c)];
      const T want = c < W<T> ? in[static_cast<std::size_t>(c * in_stride + j)] : T(-1);
      expect(o, got == want, "%s: transpose_block out[%d][%d] is %g, want %g", type_name(T()), j, c,
             static_cast<double>(got), static_cast<double>(want));
    }
}
void transpose_block(Outcome* o) {
  transpose_block_of<float>(o);
  transpose_block_of<double>(o);
}

// N vectors of distinct values as N x N chunks of W / N lanes: vector r's chunk c must come
// back as vector c's chunk r, lane for lane, for every N that divides the width up to 4 (the
// decode kernel's heads at once), in registers where the path has them (ChunkTranspose::fast).
template <class T, int N>
void transpose_chunks_of(Outcome* o) {
  if constexpr (W<T> % N == 0) {
    constexpr int C = W<T> / N;
    typename V<T>::type v[N];
    T in[N][W<T>], lanes[W<T>];
    for (int r = 0; r < N; ++r) {
      for (int l = 0; l < W<T>; ++l) in[r][l] = static_cast<T>(100 * r + l + 1);
      v[r] = V<T>::load(in[r]);
    }
    swat::detail::ChunkTranspose<T, Arch, N>::apply(v);
    for (int r = 0; r < N; ++r) {
      store_lanes(lanes, v[r]);
      for (int l = 0; l < W<T>; ++l) {
        const T want = in[l / C][r * C + l % C];
        expect(o, lanes[l] == want, "%s: transpose_chunks<%d> vector %d lane %d is %g, want %g (fast %d)",
               type_name(T()), N, r, l, static_cast<double>(lanes[l]), static_cast<double>(want),
               int(swat::detail::ChunkTranspose<T, Arch, N>::fast));
      }
    }
  }
}
void transpose_chunks(Outcome* o) {
  transpose_chunks_of<float, 1>(o);
  transpose_chunks_of<float, 2>(o);
  transpose_chunks_of<float, 4>(o);
  transpose_chunks_of<double, 2>(o);
  transpose_chunks_of<double, 4>(o);
}

// ---- exp and sigmoid, in ulps against long double ------------------------------------------------

// |got - want| in units of the last place of want rounded to T (the spacing just above |want|).
template <class T>
double ulps(T got, long double want) {
  const T rounded = static_cast<T>(want);
  const T magnitude = std::fabs(rounded);
  const long double ulp = static_cast<long double>(std::nextafter(magnitude, static_cast<T>(HUGE_VAL))) - magnitude;
  return static_cast<double>(std::fabs(static_cast<long double>(got) - want) / ulp);
}

// Bounds in ulps, a little above the worst measured on every path (exp 0.98 with FMA and 1.31
// without, sigmoid 2.13 on every path), far inside what SPEC 4's attention bounds need (float 2e-5 is about 170 ulps of 1).
constexpr double kExpUlps = 2.0, kSigmoidUlps = 3.0;

// Applies f to xs W at a time (the tail padded with the last value).
template <class T, class F>
void apply(const T* xs, T* out, int n, F f) {
  for (int i = 0; i < n; i += W<T>) {
    T in[W<T>], lanes[W<T>];
    for (int l = 0; l < W<T>; ++l) in[l] = xs[std::min(i + l, n - 1)];
    store_lanes(lanes, f(V<T>::load(in)));
    for (int l = 0; l < W<T> && i + l < n; ++l) out[i + l] = lanes[l];
  }
}

constexpr int kSweep = 200000;

template <class T>
void exp_nonpositive_of(Outcome* o) {
  using C = swat::detail::ExpConstants<T>;
  static T z[kSweep + 64], got[kSweep + 64];
  int n = 0;
  for (int i = 0; i < kSweep; ++i) z[n++] = static_cast<T>(C::floor - 2) * static_cast<T>(i) / T(kSweep - 1);
  for (T x : {T(0), -T(0), C::cutoff, std::nextafter(C::cutoff, T(0)), std::nextafter(C::cutoff, -T(1)), C::floor,
              std::nextafter(C::floor, T(0)), std::nextafter(C::floor, -T(1)), T(-1e-30),
              -std::numeric_limits<T>::denorm_min(), T(-0.5), static_cast<T>(-std::log(2.0) / 2)})
    z[n++] = x;
  apply<T>(z, got, n, [](auto x) { return swat::detail::exp_nonpositive<T, Arch>(x); });
  for (int i = 0; i < n; ++i) {
    if (z[i] <= C::floor) {  // the clamp's exponent field is 0: exactly +0, as documented
      expect(o, same_bits(got[i], T(0)), "%s: exp_nonpositive(%.17g) at or below the floor is %.17g, want +0",
             type_name(T()), static_cast<double>(z[i]), static_cast<double>(got[i]));
      continue;
    }
    if (z[i] < C::cutoff) {  // under 2^-125 (what it is, or 0): never negative, never larger
      const T bound = static_cast<T>(std::exp(static_cast<long double>(C::cutoff)));
      expect(o, got[i] >= T(0) && !std::signbit(got[i]) && got[i] <= bound,
             "%s: exp_nonpositive(%.17g) between the floor and the cutoff is %.17g, want in [+0, %g]", type_name(T()),
             static_cast<double>(z[i]), static_cast<double>(got[i]), static_cast<double>(bound));
      continue;
    }
    const double e = ulps(got[i], std::exp(static_cast<long double>(z[i])));
    o->worst = std::max(o->worst, e);
    expect(o, e <= kExpUlps, "%s: exp_nonpositive(%.17g) is %.17g, %.3g ulps from exp (bound %g)", type_name(T()),
           static_cast<double>(z[i]), static_cast<double>(got[i]), e, kExpUlps);
  }
  const T nan = std::numeric_limits<T>::quiet_NaN(), specials[] = {nan, -static_cast<T>(HUGE_VAL)};
  T out[2];
  apply<T>(specials, out, 2, [](auto x) { return swat::detail::exp_nonpositive<T, Arch>(x); });
  expect(o, std::isnan(out[0]), "%s: exp_nonpositive(NaN) is %g, want NaN", type_name(T()), static_cast<double>(out[0]));
  expect(o, same_bits(out[1], T(0)), "%s: exp_nonpositive(-inf) is %g, want 0", type_name(T()), static_cast<double>(out[1]));
}
void exp_nonpositive(Outcome* o) {
  exp_nonpositive_of<float>(o);
  exp_nonpositive_of<double>(o);
}

template <class T>
void sigmoid_of(Outcome* o) {
  using C = swat::detail::ExpConstants<T>;
  static T s[kSweep + 64], got[kSweep + 64];
  const T edge = -C::cutoff + 4;
  int n = 0;
  for (int i = 0; i < kSweep; ++i) s[n++] = -edge + 2 * edge * static_cast<T>(i) / T(kSweep - 1);
  // The clamps' edges too: exp(-s) is 0 from s = -floor up and +inf from about -88.37 (float)
  // down, where the clamp at -ceiling keeps 2^n's exponent field all ones.
  for (T x : {T(0), -T(0), C::cutoff, -C::cutoff, std::nextafter(C::cutoff, T(0)), T(1e-30), T(-1e-30), -C::floor,
              std::nextafter(-C::floor, T(0)), std::nextafter(-C::floor, -C::floor), -C::ceiling,
              std::nextafter(-C::ceiling, T(0)), std::nextafter(-C::ceiling, -C::ceiling),
              static_cast<T>(-127.5 * std::log(2.0))})
    s[n++] = x;
  apply<T>(s, got, n, [](auto x) { return swat::detail::sigmoid<T, Arch>(x); });
  for (int i = 0; i < n; ++i) {
    const long double want = 1.0L / (1.0L + std::exp(-static_cast<long double>(s[i])));
    if (-std::fabs(s[i]) < C::cutoff) {
      // Past the cutoff the sigmoid is 0 or 1, or a value under 2^-125 near its own: off by
      // less than exp(cutoff).
      const long double off = std::fabs(static_cast<long double>(got[i]) - want);
      expect(o, off <= std::exp(static_cast<long double>(C::cutoff)),
             "%s: sigmoid(%.17g) past the cutoff is %.17g, want %.17Lg", type_name(T()), static_cast<double>(s[i]),
             static_cast<double>(got[i]), want);
      continue;
    }
    const double e = ulps(got[i], want);
    o->worst = std::max(o->worst, e);
    expect(o, e <= kSigmoidUlps, "%s: sigmoid(%.17g) is %.17g, %.3g ulps from 1 / (1 + exp(-s)) (bound %g)",
           type_name(T()), static_cast<double>(s[i]), static_cast<double>(got[i]), e, kSigmoidUlps);
  }
  const T inf = static_cast<T>(HUGE_VAL), specials[] = {std::numeric_limits<T>::quiet_NaN(), inf, -inf, -T(0)};
  T out[4];
  apply<T>(specials, out, 4, [](auto x) { return swat::detail::sigmoid<T, Arch>(x); });
  expect(o, std::isnan(out[0]), "%s: sigmoid(NaN) is %g, want NaN", type_name(T()), static_cast<double>(out[0]));
  expect(o, out[1] == T(1), "%s: sigmoid(inf) is %g, want 1", type_name(T()), static_cast<double>(out[1]));
  expect(o, same_bits(out[2], T(0)), "%s: sigmoid(-inf) is %g, want 0", type_name(T()), static_cast<double>(out[2]));
  expect(o, out[3] == T(0.5), "%s: sigmoid(-0) is %g, want 0.5", type_name(T()), static_cast<double>(out[3]));
}
void sigmoid(Outcome* o) {
  sigmoid_of<float>(o);
  sigmoid_of<double>(o);
}

// tanh_vec (soft-capping) against long double, on both of float's formulas: the series for
// lanes under 1/2 in magnitude, the expm1 quotient for the others. A lane's result must not
// depend on its neighbours: values under 1/2 in vectors that also hold a lane of 3/4 (so the
// quotient runs too) must give the bits they give in vectors of small values only.
constexpr double kTanhUlps = 3.0;

template <class T>
void tanh_of(Outcome* o) {
  static T x[3 * kSweep + 64], got[3 * kSweep + 64];
  int n = 0;
  for (int i = 0; i < kSweep; ++i) x[n++] = T(-12) + T(24) * static_cast<T>(i) / T(kSweep - 1);
  for (int i = 0; i < kSweep; ++i) x[n++] = T(-0.5) + static_cast<T>(i) / T(kSweep);  // [-1/2, 1/2)
  for (int i = 0; i < kSweep; ++i) x[n++] = i % W<T> == W<T> - 1 ? T(0.75) : T(-0.5) + static_cast<T>(i) / T(kSweep);
  for (T v : {T(0), -T(0), T(0.5), -T(0.5), std::nextafter(T(0.5), T(0)), std::nextafter(-T(0.5), T(0)),
              std::nextafter(T(0.5), T(1)), T(1e-30), T(-1e-30), std::numeric_limits<T>::denorm_min(), T(20), T(-20),
              T(100), T(-1e30)})
    x[n++] = v;
  apply<T>(x, got, n, [](auto v) { return swat::detail::tanh_vec<T, Arch>(v); });
  for (int i = 0; i < kSweep; ++i) {
    const int alone = kSweep + i, mixed = 2 * kSweep + i;
    if (x[mixed] == x[alone])
      expect(o, same_bits(got[mixed], got[alone]), "%s: tanh(%.17g) is %.17g next to a lane of 3/4, %.17g without",
             type_name(T()), static_cast<double>(x[alone]), static_cast<double>(got[mixed]),
             static_cast<double>(got[alone]));
  }
  T three_quarters[W<T>], lanes[W<T>];
  std::fill(three_quarters, three_quarters + W<T>, T(0.75));
  store_lanes(lanes, swat::detail::tanh_vec<T, Arch>(V<T>::load(three_quarters)));
  for (int i = 2 * kSweep; i < 3 * kSweep; ++i)
    if (x[i] == T(0.75))
      expect(o, same_bits(got[i], lanes[0]), "%s: tanh(0.75) is %.17g next to small values, %.17g without",
             type_name(T()), static_cast<double>(got[i]), static_cast<double>(lanes[0]));
  for (int i = 0; i < n; ++i) {
    const long double want = std::tanh(static_cast<long double>(x[i]));
    const double e = want == 0 ? (got[i] == 0 ? 0.0 : HUGE_VAL) : ulps(got[i], want);
    o->worst = std::max(o->worst, e);
    expect(o, e <= kTanhUlps, "%s: tanh(%.17g) is %.17g, %.3g ulps from tanh (bound %g)", type_name(T()),
           static_cast<double>(x[i]), static_cast<double>(got[i]), e, kTanhUlps);
  }
  const T inf = static_cast<T>(HUGE_VAL), specials[] = {std::numeric_limits<T>::quiet_NaN(), inf, -inf};
  T out[3];
  apply<T>(specials, out, 3, [](auto v) { return swat::detail::tanh_vec<T, Arch>(v); });
  expect(o, std::isnan(out[0]), "%s: tanh(NaN) is %g, want NaN", type_name(T()), static_cast<double>(out[0]));
  expect(o, out[1] == T(1), "%s: tanh(inf) is %g, want 1", type_name(T()), static_cast<double>(out[1]));
  expect(o, out[2] == T(-1), "%s: tanh(-inf) is %g, want -1", type_name(T()), static_cast<double>(out[2]));
}
void tanh(Outcome* o) {
  tanh_of<float>(o);
  tanh_of<double>(o);
}

// ---- the micro-kernel ------------------------------------------------------------------------------

// gemm_panel at every row count up to the blocking, depths 0, 1 and longer, overwriting and
// accumulating; small integers keep every product and sum exact. Rows past `rows` stay untouched.
template <class T>
void micro_gemm_of(Outcome* o) {
  using B = swat::detail::Blocking<T, Arch>;
  constexpr int P = B::rows;
  constexpr int64_t L = B::lanes;
  constexpr int kDepth = 37;
  T panel[kDepth * P], b[kDepth * L], c[P * L], start[P * L];
  uint64_t state = 3;
  for (T& x : panel) x = static_cast<T>(static_cast<int>(next_random(state) % 9) - 4);
  for (T& x : b) x = static_cast<T>(static_cast<int>(next_random(state) % 9) - 4);
  for (T& x : start) x = static_cast<T>(static_cast<int>(next_random(state) % 100) - 50);
  for (int rows = 1; rows <= P; ++rows)
    for (int depth : {0, 1, 2, 7, kDepth})
      for (bool accumulate : {false, true}) {
        std::memcpy(c, start, sizeof c);
        swat::detail::gemm_panel<T, Arch>(rows, depth, panel, b, c, accumulate);
        for (int m = 0; m < P; ++m)
          for (int64_t l = 0; l < L; ++l) {
            T want = start[m * L + l];
            if (m < rows) {
              if (!accumulate) want = 0;
              for (int k = 0; k < depth; ++k) want += panel[k * P + m] * b[k * L + l];
            }
            expect(o, c[m * L + l] == want, "%s: gemm_panel(rows=%d, depth=%d, accumulate=%d) C[%d][%lld] is %g, want %g%s",
                   type_name(T()), rows, depth, accumulate ? 1 : 0, m, static_cast<long long>(l),
                   static_cast<double>(c[m * L + l]), static_cast<double>(want), m < rows ? "" : " (row past the panel: untouched)");
          }
      }
  // On some vectors of the lanes only (gemm_rows_on, the score product on a window's diagonal
  // edges): every run of consecutive vectors; the other lanes stay untouched.
  constexpr int NV = B::vectors;
  constexpr int64_t W = static_cast<int64_t>(swat::detail::Vec<T, Arch>::width);
  for (int count = 1; count <= NV; ++count)
    for (int first = 0; first + count <= NV; ++first)
      for (int rows = 1; rows <= P; ++rows)
        for (int depth : {0, 1, kDepth})
          for (bool accumulate : {false, true}) {
            std::memcpy(c, start, sizeof c);
            swat::detail::gemm_rows_on<swat::detail::FmaStep<T, Arch>, Arch, swat::detail::ALayout::m_adjacent>(
                {first, count}, rows, depth, panel, P, b, c, accumulate);
            for (int m = 0; m < P; ++m)
              for (int64_t l = 0; l < L; ++l) {
                const bool on = m < rows && l >= first * W && l < (first + count) * W;
                T want = start[m * L + l];
                if (on) {
                  if (!accumulate) want = 0;
                  for (int k = 0; k < depth; ++k) want += panel[k * P + m] * b[k * L + l];
                }
                expect(o, c[m * L + l] == want,
                       "%s: gemm_rows_on(vectors %d..%d, rows=%d, depth=%d, accumulate=%d) C[%d][%lld] is %g, want %g%s",
                       type_name(T()), first, first + count - 1, rows, depth, accumulate ? 1 : 0, m,
                       static_cast<long long>(l), static_cast<double>(c[m * L + l]), static_cast<double>(want),
                       on ? "" : " (outside the vectors or rows: untouched)");
              }
          }
}
// gemm_dims (the products over a slab's D dims, Blocking::dim_rows at a time) with one Step of
// the micro-kernel, for every D up to two blocks and a tail past them, A's rows lda apart (wider
// than D), depths 0, 1 and longer, overwriting and accumulating: elements from `element` (small
// integers, so every sum is exact) against sums of `product`. The row of C past D stays
// untouched. AVX-512 and its 16-lane emulation take 8 dims a call, the other paths 6.
template <class Step, class A, class Element, class Product>
void gemm_dims_on(Outcome* o, const char* name, Element element, Product product) {
  using C = typename Step::c_type;
  using B = swat::detail::Blocking<C, A>;
  constexpr int R = B::dim_rows;
  constexpr int64_t L = B::lanes;
  constexpr int kDims = 2 * R + 3, kLda = kDims + 2, kDepth = 37;
  constexpr bool eight = swat::Isa::SWAT_TEST_ISA == swat::Isa::avx512 || swat::Isa::SWAT_TEST_ISA == swat::Isa::emulated16;
  expect(o, R == (eight ? 8 : B::rows), "%s: Blocking::dim_rows is %d, want %d", name, R, eight ? 8 : B::rows);
  typename Step::a_type a[kDepth * kLda];
  typename Step::b_type b[kDepth * L];
  C c[(kDims + 1) * L], start[(kDims + 1) * L];
  uint64_t state = 5;
  for (auto& x : a) x = element(state);
  for (auto& x : b) x = element(state);
  for (C& x : start) x = static_cast<C>(static_cast<int>(next_random(state) % 100) - 50);
  for (int D = 1; D <= kDims; ++D)
    for (int depth : {0, 1, 7, kDepth})
      for (bool accumulate : {false, true}) {
        std::memcpy(c, start, sizeof c);
        swat::detail::gemm_dims<Step, A>(D, depth, a, kLda, b, c, accumulate);
        for (int d = 0; d <= D; ++d)
          for (int64_t l = 0; l < L; ++l) {
            C want = start[d * L + l];
            if (d < D) {
              if (!accumulate) want = 0;
              for (int k = 0; k < depth; ++k) want += product(a[k * kLda + d], b[k * L + l]);
            }
            expect(o, c[d * L + l] == want, "%s: gemm_dims(D=%d, depth=%d, accumulate=%d, dim_rows %d) C[%d][%lld] is %g, want %g%s",
                   name, D, depth, accumulate ? 1 : 0, R, d, static_cast<long long>(l), static_cast<double>(c[d * L + l]),
                   static_cast<double>(want), d < D ? "" : " (row past D: untouched)");
          }
      }
  // gemm_dims with KeyEdges (the products on a window's diagonal edges): the first `head` steps
  // leave out the last vector of lanes, the last `tail` steps the first; ends that meet or
  // overlap, or are longer than the depth, leave the middle empty.
  constexpr int NV = B::vectors;
  constexpr int64_t W = static_cast<int64_t>(swat::detail::Vec<C, A>::width);
  const int64_t edge_cases[][2] = {{0, 0}, {3, 0}, {0, 5}, {3, 5}, {kDepth, 0}, {0, kDepth + 4}, {20, 20}, {9, 28}};
  for (const auto& edge : edge_cases)
    for (int D : {1, R, kDims})
      for (int depth : {0, 1, 7, kDepth})
        for (bool accumulate : {false, true}) {
          std::memcpy(c, start, sizeof c);
          swat::detail::gemm_dims<Step, A>(D, depth, a, kLda, b, c, accumulate, {edge[0], edge[1]});
          const int64_t head = std::min<int64_t>(edge[0], depth), tail_start = std::max<int64_t>(head, depth - edge[1]);
          for (int d = 0; d <= D; ++d)
            for (int64_t l = 0; l < L; ++l) {
              const int64_t v = l / W;
              C want = start[d * L + l];
              if (d < D) {
                if (!accumulate) want = 0;
                for (int k = 0; k < depth; ++k) {
                  const bool skipped = NV > 1 && ((k < head && v == NV - 1) || (k >= tail_start && v == 0));
                  if (!skipped) want += product(a[k * kLda + d], b[k * L + l]);
                }
              }
              expect(o, c[d * L + l] == want,
                     "%s: gemm_dims(D=%d, depth=%d, head=%lld, tail=%lld, accumulate=%d) C[%d][%lld] is %g, want %g",
                     name, D, depth, static_cast<long long>(edge[0]), static_cast<long long>(edge[1]), accumulate ? 1 : 0, d,
                     static_cast<long long>(l), static_cast<double>(c[d * L + l]), static_cast<double>(want));
            }
        }
}

template <class T>
void gemm_dims_of(Outcome* o) {
  gemm_dims_on<swat::detail::FmaStep<T, Arch>, Arch>(
      o, type_name(T()), [](uint64_t& state) { return static_cast<T>(static_cast<int>(next_random(state) % 9) - 4); },
      [](T x, T y) { return x * y; });
}

void micro_gemm(Outcome* o) {
  micro_gemm_of<float>(o);
  micro_gemm_of<double>(o);
  gemm_dims_of<float>(o);
  gemm_dims_of<double>(o);
}

// ---- bf16 pair products (forward<bf16> where the path and CPU have them) ---------------------------

// Whether this path has bf16 pair products and this CPU runs them; on a path that has them but a
// CPU without, the one check made is that the CPU check says so (the products cannot run).
bool bf16_pairs_run_here(Outcome* o) {
  constexpr bool expected = swat::Isa::SWAT_TEST_ISA == swat::Isa::avx512 || swat::Isa::SWAT_TEST_ISA == swat::Isa::emulated16;
  using Dot = swat::detail::Bf16Dot<Arch>;
  expect(o, Dot::available == expected, "Bf16Dot<%s>::available is %d, want %d", swat::isa_name(swat::Isa::SWAT_TEST_ISA),
         Dot::available ? 1 : 0, expected ? 1 : 0);
  if (!Dot::available) return false;
  const bool cpu = swat::Isa::SWAT_TEST_ISA == swat::Isa::avx512 ? swat::detail::cpu_has_avx512_bf16() : true;
  expect(o, Dot::runs() == cpu, "Bf16Dot::runs() is %d, the CPU check says %d", Dot::runs() ? 1 : 0, cpu ? 1 : 0);
  return Dot::runs();
}

// round_pairs (two rows of weights into pairs, a null row as zeros) and round_row_pairs (a row
// into consecutive pairs, an odd length padded with zero) against Format<bf16>::encode.
template <class A = Arch>
void bf16_pairs_on(Outcome* o) {
  static float sweep[kSweepCapacity];
  const int n = float_sweep<swat::bf16>(sweep, kSweepCapacity);
  constexpr int64_t L = swat::detail::Blocking<float, A>::lanes;
  uint32_t out[2 * L + 1];
  auto enc = [](float x) { return static_cast<uint32_t>(Format<swat::bf16>::encode(x)); };
  for (int start = 0; start + 2 * L <= n; start += 2 * L) {
    const float *lo = sweep + start, *hi = sweep + start + L;
    for (int nulls = 0; nulls < 3; ++nulls) {
      const float* a = nulls == 1 ? nullptr : lo;
      const float* b = nulls == 2 ? nullptr : hi;
      swat::detail::round_pairs<A>(a, b, out, L);
      for (int64_t l = 0; l < L; ++l) {
        const uint32_t want = (a ? enc(a[l]) : 0u) | (b ? enc(b[l]) : 0u) << 16;
        expect(o, out[l] == want, "round_pairs(lo %s, hi %s) lane %lld of floats 0x%08x, 0x%08x is 0x%08x, want 0x%08x",
               a ? "row" : "null", b ? "row" : "null", static_cast<long long>(l), bits_of(lo[l]), bits_of(hi[l]), out[l], want);
      }
    }
  }
  for (int count = 0; count <= 2 * kMaxTail + 1 && count <= 2 * L; ++count) {
    const int pairs = (count + 1) / 2;
    for (int p = 0; p <= pairs; ++p) out[p] = 0x12345678u;
    swat::detail::round_row_pairs<A>(sweep + 5 * count, out, count);
    for (int p = 0; p <= pairs; ++p) {
      const float* x = sweep + 5 * count + 2 * p;
      const uint32_t want = p == pairs ? 0x12345678u : enc(x[0]) | (2 * p + 1 < count ? enc(x[1]) : 0u) << 16;
      expect(o, out[p] == want, "round_row_pairs(n=%d) pair %d is 0x%08x, want 0x%08x%s", count, p, out[p], want,
             p < pairs ? "" : " (past the end: untouched)");
    }
  }
}

// The micro-kernel on bf16 pairs, every row count, both layouts of A, overwriting and
// accumulating: small integers (exact in bf16, every sum exact in float) against sums of the
// decoded pairs.
template <class A = Arch>
void bf16_pair_gemm_on(Outcome* o) {
  using Step = swat::detail::Bf16PairStep<A>;
  using B = swat::detail::Blocking<float, A>;
  constexpr int P = B::rows;
  constexpr int64_t L = B::lanes;
  constexpr int kDepth = 37;
  auto small = [](uint64_t& state) {
    return Format<swat::bf16>::encode(static_cast<float>(static_cast<int>(next_random(state) % 17) - 8));
  };
  auto value = [](uint32_t pair, int half) { return float_of((half ? pair >> 16 : pair & 0xffffu) << 16); };
  uint32_t a[kDepth * P], b[kDepth * L];
  float c[P * L], start[P * L];
  uint64_t state = 11;
  for (uint32_t& x : a) x = small(state) | static_cast<uint32_t>(small(state)) << 16;
  for (uint32_t& x : b) x = small(state) | static_cast<uint32_t>(small(state)) << 16;
  for (float& x : start) x = static_cast<float>(static_cast<int>(next_random(state) % 100) - 50);
  for (bool k_adjacent : {false, true})
    for (int rows = 1; rows <= P; ++rows)
      for (int depth : {0, 1, 2, 7, kDepth})
        for (bool accumulate : {false, true}) {
          std::memcpy(c, start, sizeof c);
          // A(m, k): a[k * P + m] (m_adjacent, lda P) or a[m * kDepth + k] (k_adjacent, lda kDepth).
          if (k_adjacent)
            swat::detail::gemm_rows_with<Step, A, swat::detail::ALayout::k_adjacent>(rows, depth, a, kDepth, b, c, accumulate);
          else
            swat::detail::gemm_rows_with<Step, A, swat::detail::ALayout::m_adjacent>(rows, depth, a, P, b, c, accumulate);
          for (int m = 0; m < P; ++m)
            for (int64_t l = 0; l < L; ++l) {
              float want = start[m * L + l];
              if (m < rows) {
                if (!accumulate) want = 0;
                for (int k = 0; k < depth; ++k) {
                  const uint32_t x = k_adjacent ? a[m * kDepth + k] : a[k * P + m], y = b[k * L + l];
                  want += value(x, 0) * value(y, 0) + value(x, 1) * value(y, 1);
                }
              }
              expect(o, c[m * L + l] == want,
                     "bf16 pair gemm (%s, rows=%d, depth=%d, accumulate=%d) C[%d][%lld] is %g, want %g%s",
                     k_adjacent ? "k_adjacent" : "m_adjacent", rows, depth, accumulate ? 1 : 0, m,
                     static_cast<long long>(l), static_cast<double>(c[m * L + l]), static_cast<double>(want),
                     m < rows ? "" : " (row past the panel: untouched)");
            }
        }
  // The output product of forward<bf16> walks D with gemm_dims: its instantiations on pairs.
  gemm_dims_on<Step, A>(o, "bf16 pairs", [&](uint64_t& st) { return small(st) | static_cast<uint32_t>(small(st)) << 16; },
                        [&](uint32_t x, uint32_t y) { return value(x, 0) * value(y, 0) + value(x, 1) * value(y, 1); });
}

// The decode kernel's lane-wise pair product (madd_lanes: two vectors of pairs, each loaded as
// a row of bf16 values), small integers (every sum exact) against the decoded values.
template <class A = Arch>
void bf16_pair_lanes_on(Outcome* o) {
  using Step = swat::detail::Bf16PairStep<A>;
  constexpr int L = static_cast<int>(swat::detail::Vec<float, A>::width);  // pairs per vector
  auto value = [](uint32_t pair, int half) { return float_of((half ? pair >> 16 : pair & 0xffffu) << 16); };
  uint64_t state = 29;
  auto small = [&]() {
    return Format<swat::bf16>::encode(static_cast<float>(static_cast<int>(next_random(state) % 17) - 8));
  };
  uint32_t a[L], b[L];
  float c[L], out[L];
  for (int i = 0; i < L; ++i) {
    a[i] = small() | static_cast<uint32_t>(small()) << 16;
    b[i] = small() | static_cast<uint32_t>(small()) << 16;
    c[i] = static_cast<float>(static_cast<int>(next_random(state) % 100) - 50);
  }
  using V = swat::detail::Vec<float, A>;
  V::store(out, Step::madd_lanes(Step::load_pairs(a), Step::load_pairs(b), V::load(c)));
  for (int i = 0; i < L; ++i) {
    const float want = c[i] + value(a[i], 0) * value(b[i], 0) + value(a[i], 1) * value(b[i], 1);
    expect(o, out[i] == want, "madd_lanes lane %d is %g, want %g", i, static_cast<double>(out[i]), static_cast<double>(want));
  }
}

// Decode's p.v in pairs along the keys: interleave_rows makes pairs (x[d], y[d]) of two rows
// with each lane's dim given by pair_dim, to_pair_order and from_pair_order move floats in dim
// order into that lane order and back, and one pair step over interleaved rows adds
// w0 * x[d] + w1 * y[d] to dim d. Small integers, so every sum is exact.
template <class A = Arch, class Step = swat::detail::Bf16PairStep<A>>
void bf16_row_pairs_on(Outcome* o) {
  using V = swat::detail::Vec<float, A>;
  constexpr int L = static_cast<int>(V::width);  // pairs per vector; rows of 2L values
  uint64_t state = 41;
  auto small = [&]() { return static_cast<float>(static_cast<int>(next_random(state) % 17) - 8); };
  uint16_t x[2 * L], y[2 * L];
  float xs[2 * L], ys[2 * L], start[2 * L], back[2 * L], out[2 * L];
  for (int d = 0; d < 2 * L; ++d) {
    xs[d] = small();
    ys[d] = small();
    x[d] = Format<swat::bf16>::encode(xs[d]);
    y[d] = Format<swat::bf16>::encode(ys[d]);
    start[d] = static_cast<float>(static_cast<int>(next_random(state) % 100) - 50);
  }
  typename Step::b_vec lo, hi;
  Step::interleave_rows(Step::load_pairs(x), Step::load_pairs(y), lo, hi);
  uint32_t lanes[2][L];
  std::memcpy(lanes[0], &lo, sizeof lanes[0]);
  std::memcpy(lanes[1], &hi, sizeof lanes[1]);
  bool seen[2 * L] = {};
  for (int half = 0; half < 2; ++half)
    for (int l = 0; l < L; ++l) {
      const int d = Step::pair_dim(l, half);
      const bool in_range = d >= 0 && d < 2 * L && !seen[d];
      expect(o, in_range, "pair_dim(%d, %d) = %d is out of range or repeated", l, half, d);
      if (!in_range) return;
      seen[d] = true;
      const uint32_t want = static_cast<uint32_t>(x[d]) | static_cast<uint32_t>(y[d]) << 16;
      expect(o, lanes[half][l] == want, "interleave_rows %s lane %d is 0x%08x, want 0x%08x (dim %d)", half ? "hi" : "lo", l,
             lanes[half][l], want, d);
    }
  typename Step::acc a, b;
  Step::to_pair_order(start, a, b);
  Step::from_pair_order(a, b, back);
  for (int d = 0; d < 2 * L; ++d)
    expect(o, back[d] == start[d], "to_pair_order then from_pair_order: dim %d is %g, want %g", d,
           static_cast<double>(back[d]), static_cast<double>(start[d]));
  const float w0 = 3, w1 = -5;
  const uint32_t w = static_cast<uint32_t>(Format<swat::bf16>::encode(w0)) |
                     static_cast<uint32_t>(Format<swat::bf16>::encode(w1)) << 16;
  Step::to_pair_order(start, a, b);
  a = Step::madd(Step::broadcast_a(&w), lo, a);
  b = Step::madd(Step::broadcast_a(&w), hi, b);
  Step::from_pair_order(a, b, out);
  for (int d = 0; d < 2 * L; ++d) {
    const float want = start[d] + w0 * xs[d] + w1 * ys[d];
    expect(o, out[d] == want, "pair step over interleaved rows: dim %d is %g, want %g", d, static_cast<double>(out[d]),
           static_cast<double>(want));
  }
}

// Bf16FmaPairStep (vdpbf16ps's arithmetic in float FMAs, the avx512 path only, whether or not the
// CPU has the instruction): a lane is c + a.hi * b.hi rounded, then + a.lo * b.lo rounded, the
// order and roundings the instruction documents, over random normal bf16 values across 40
// binades and sums that cancel, both as a broadcast pair (madd) and lane by lane (madd_lanes).
template <class A = Arch>
void bf16_fma_pairs_on(Outcome* o) {
  using Step = typename swat::detail::Bf16FmaPairs<A>::type;
  using V = swat::detail::Vec<float, A>;
  constexpr int L = static_cast<int>(V::width);
  uint64_t state = 53;
  auto bf16 = [&]() {  // sign, exponent 2^-20 .. 2^19, 7 mantissa bits
    const uint32_t sign = static_cast<uint32_t>(next_random(state) & 1) << 15;
    const uint32_t exponent = static_cast<uint32_t>(127 - 20 + next_random(state) % 40) << 7;
    return static_cast<uint16_t>(sign | exponent | static_cast<uint32_t>(next_random(state) & 0x7f));
  };
  auto value = [](uint32_t pair, int half) { return float_of((half ? pair >> 16 : pair & 0xffffu) << 16); };
  auto want_of = [&](uint32_t a, uint32_t b, float c) {
    const float with_hi = c + value(a, 1) * value(b, 1);  // the product is exact: one rounding
    return with_hi + value(a, 0) * value(b, 0);
  };
  for (int round = 0; round < 4096; ++round) {
    uint32_t a[L], b[L];
    float c[L], lanes[L], broadcast[L];
    for (int i = 0; i < L; ++i) {
      a[i] = bf16() | static_cast<uint32_t>(bf16()) << 16;
      b[i] = bf16() | static_cast<uint32_t>(bf16()) << 16;
      // Every fourth sum starts at minus the high product, so the low one is all that is left.
      c[i] = i % 4 == 0 ? -(value(a[i], 1) * value(b[i], 1)) : static_cast<float>(uniform(state, -1e6, 1e6));
    }
    V::store(lanes, Step::madd_lanes(Step::load_pairs(a), Step::load_pairs(b), V::load(c)));
    V::store(broadcast, Step::madd(Step::broadcast_a(a), Step::load_pairs(b), V::load(c)));
    for (int i = 0; i < L; ++i) {
      const float want = want_of(a[i], b[i], c[i]), want_broadcast = want_of(a[0], b[i], c[i]);
      expect(o, same_bits(lanes[i], want), "madd_lanes lane %d of pairs 0x%08x, 0x%08x on %a is %a, want %a", i, a[i],
             b[i], static_cast<double>(c[i]), static_cast<double>(lanes[i]), static_cast<double>(want));
      expect(o, same_bits(broadcast[i], want_broadcast), "madd lane %d of pairs 0x%08x, 0x%08x on %a is %a, want %a", i,
             a[0], b[i], static_cast<double>(c[i]), static_cast<double>(broadcast[i]),
             static_cast<double>(want_broadcast));
    }
  }
}

// round_row_floats (decode's weights for Bf16FmaPairStep's p.v) against Format<bf16>'s encoding,
// every length up to two vectors and a tail.
void bf16_round_row_floats(Outcome* o) {
  static float sweep[kSweepCapacity];
  const int n = float_sweep<swat::bf16>(sweep, kSweepCapacity);
  constexpr int64_t L = static_cast<int64_t>(swat::detail::Vec<float, Arch>::width);
  float out[2 * L + kMaxTail + 1];
  for (int start = 0; start + 2 * L + kMaxTail + 1 <= n; start += 2 * L + kMaxTail + 1)
    for (int64_t count : {int64_t(0), int64_t(1), L - 1, L, L + 1, 2 * L + kMaxTail}) {
      const float* in = sweep + start;
      out[count] = -7.f;
      swat::detail::round_row_floats<Arch>(in, out, count);
      for (int64_t l = 0; l <= count; ++l) {
        const float want = l == count ? -7.f : float_of(static_cast<uint32_t>(Format<swat::bf16>::encode(in[l])) << 16);
        expect(o, same_bits(out[l], want), "round_row_floats(n=%lld) lane %lld of 0x%08x is 0x%08x, want 0x%08x%s",
               static_cast<long long>(count), static_cast<long long>(l), bits_of(in[l]), bits_of(out[l]), bits_of(want),
               l < count ? "" : " (past the end: untouched)");
      }
    }
}

void bf16_fma_pairs(Outcome* o) {
  using Fma = typename swat::detail::Bf16FmaPairs<Arch>::type;
  constexpr bool has = !std::is_void<Fma>::value;
  expect(o, has == (swat::Isa::SWAT_TEST_ISA == swat::Isa::avx512), "Bf16FmaPairs<%s> %s, want it on avx512 only",
         swat::isa_name(swat::Isa::SWAT_TEST_ISA), has ? "exists" : "does not exist");
  bf16_round_row_floats(o);
  if constexpr (has) {
    bf16_fma_pairs_on(o);
    bf16_row_pairs_on<Arch, Fma>(o);
  }
}

void bf16_pairs(Outcome* o) {
  if constexpr (swat::detail::Bf16Dot<Arch>::available)
    if (bf16_pairs_run_here(o)) {
      bf16_pairs_on(o);
      bf16_pair_lanes_on(o);
      bf16_row_pairs_on(o);
    }
  if constexpr (!swat::detail::Bf16Dot<Arch>::available) bf16_pairs_run_here(o);
}
void bf16_pair_gemm(Outcome* o) {
  if constexpr (swat::detail::Bf16Dot<Arch>::available)
    if (bf16_pairs_run_here(o)) bf16_pair_gemm_on(o);
  if constexpr (!swat::detail::Bf16Dot<Arch>::available) bf16_pairs_run_here(o);
}

const Check* table() {
  static const Check checks[] = {
#define SWAT_PRIMITIVE_ENTRY(name) &name,
      SWAT_PRIMITIVES(SWAT_PRIMITIVE_ENTRY)
#undef SWAT_PRIMITIVE_ENTRY
  };
  static_assert(sizeof checks / sizeof checks[0] == static_cast<int>(Primitive::count), "one check per primitive");
  return checks;
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace primitives
}  // namespace swat_test
