// Bulk conversions between the 16-bit storage types and float (round to nearest even, NaN kept
// quiet), on the best path of the running CPU or on a chosen one: F16C for f16 under AVX2 and
// AVX-512, vector bit operations for bf16, portable scalar code everywhere.
#pragma once

#include <cstdint>

#include "detail/convert.hpp"
#include "detail/kernel_table.hpp"
#include "forward.hpp"
#include "types.hpp"

namespace swat {
inline namespace SWAT_API_NAMESPACE {

// out[i] = float(in[i]) for i < n (exact).
template <class S>
void to_float(const S* in, float* out, int64_t n, Isa isa = Isa::automatic) {
  static_assert(std::is_same<S, bf16>::value || std::is_same<S, f16>::value, "swat::to_float: S is bf16 or f16");
  if (n < 0) detail::fail("n: expected >= 0, got ", n);
  detail::kernel_of<detail::Converters<S>>(detail::checked_isa(isa)).to_float(in, out, n);
}

// out[i] = S(in[i]) for i < n, rounded to nearest even.
template <class S>
void from_float(const float* in, S* out, int64_t n, Isa isa = Isa::automatic) {
  static_assert(std::is_same<S, bf16>::value || std::is_same<S, f16>::value, "swat::from_float: S is bf16 or f16");
  if (n < 0) detail::fail("n: expected >= 0, got ", n);
  detail::kernel_of<detail::Converters<S>>(detail::checked_isa(isa)).from_float(in, out, n);
}

}  // namespace SWAT_API_NAMESPACE
}  // namespace swat
