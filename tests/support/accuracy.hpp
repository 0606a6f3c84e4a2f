// SPEC section 4's accuracy contract: the error measure of an output against the double
// reference, and its bound per storage type and operation. Shared by the Catch2 tests and the
// fuzz target: no Catch2 here.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <swat/types.hpp>

namespace swat_test {

// What produced an output. The fuzz target decodes an operation from its position in this
// list: add new ones before `count` only.
enum class Operation { forward, backward, cache, count };

inline const char* operation_name(Operation op) {
  switch (op) {
    case Operation::forward: return "forward";
    case Operation::backward: return "backward";
    case Operation::cache: return "cache";
    case Operation::count: break;
  }
  return "?";
}

template <class T>
const char* type_name() {
  if constexpr (std::is_same<T, float>::value)
    return "float";
  else if constexpr (std::is_same<T, double>::value)
    return "double";
  else if constexpr (std::is_same<T, swat::bf16>::value)
    return "bf16";
  else {
    static_assert(std::is_same<T, swat::f16>::value, "a storage type of swat");
    return "f16";
  }
}

// SPEC section 4's bounds. A cache stream is a forward; the 16-bit types have one bound for both
// directions.
template <class T>
constexpr double error_bound(Operation op = Operation::forward) {
  if constexpr (std::is_same<T, swat::bf16>::value)
    return 2e-2;
  else if constexpr (std::is_same<T, swat::f16>::value)
    return 4e-3;
  else if constexpr (std::is_same<T, double>::value)
    return 1e-12;
  else {
    static_assert(std::is_same<T, float>::value, "a storage type of swat");
    return op == Operation::backward ? 1e-4 : 2e-5;
  }
}

// err = max|x - x_ref| / max(1, max|x_ref|) (SPEC section 4), with the worst flat index. A
// non-finite value on either side makes err infinite; the first of each kind is kept.
struct Comparison {
  double err = 0.0;
  std::size_t worst = 0;
  double got = 0.0, expected = 0.0;
  double largest = 0.0;  // max |expected| over the finite reference values
  std::size_t nonfinite = 0, first_nonfinite = 0;                    // in the output
  std::size_t nonfinite_expected = 0, first_nonfinite_expected = 0;  // in the reference
};

template <class T, class U>
Comparison compare(const std::vector<T>& got, const std::vector<U>& expected) {
  Comparison c;
  double top = 0.0, diff = -1.0;
  for (std::size_t n = 0; n < got.size(); ++n) {
    const double x = static_cast<double>(got[n]), r = static_cast<double>(expected[n]);
    if (!std::isfinite(r)) {
      if (c.nonfinite_expected++ == 0) c.first_nonfinite_expected = n;
      continue;
    }
    top = std::max(top, std::fabs(r));
    if (!std::isfinite(x)) {
      if (c.nonfinite++ == 0) c.first_nonfinite = n;
      continue;
    }
    if (std::fabs(x - r) > diff) {
      diff = std::fabs(x - r);
      c.worst = n;
      c.got = x;
      c.expected = r;
    }
  }
  c.largest = top;
  c.err = std::max(diff, 0.0) / std::max(1.0, top);
  if (c.nonfinite || c.nonfinite_expected) c.err = std::numeric_limits<double>::infinity();
  return c;
}

// Flat index of logical [B, S, H, D] back to coordinates, for messages.
inline std::string coordinate(std::size_t n, int64_t S, int64_t H, int64_t D) {
  const int64_t i = static_cast<int64_t>(n);
  std::ostringstream s;
  s << "(b=" << i / (S * H * D) << ", i=" << i / (H * D) % S << ", h=" << i / D % H << ", d=" << i % D << ")";
  return s.str();
}

// err, the worst coordinate with both values in full precision, and the first non-finite value.
inline std::string report(const Comparison& c, int64_t S, int64_t H, int64_t D, const char* expected_name) {
  std::ostringstream s;
  s.precision(4);
  s << "err=" << c.err << " worst " << coordinate(c.worst, S, H, D);
  s.precision(17);
  s << " got=" << c.got << " " << expected_name << "=" << c.expected;
  s << "\nnon-finite outputs: " << c.nonfinite;
  if (c.nonfinite) s << ", first at " << coordinate(c.first_nonfinite, S, H, D);
  if (c.nonfinite_expected)
    s << "\nnon-finite " << expected_name << " values: " << c.nonfinite_expected << ", first at "
      << coordinate(c.first_nonfinite_expected, S, H, D);
  return s.str();
}

}  // namespace swat_test
