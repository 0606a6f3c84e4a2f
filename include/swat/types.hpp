// swat::bf16 and swat::f16: 16-bit storage types for q, k, v, o and the KV cache. Arithmetic
// is never done in them: kernels convert to fp32 on load and round once on store.
//
// bf16 is bfloat16 (1 sign, 8 exponent, 7 mantissa bits: float's range, 3 significant digits);
// f16 is IEEE binary16 (5 exponent, 10 mantissa bits, largest finite 65504). Conversion from
// float rounds to nearest, ties to even; NaN stays a quiet NaN of the same sign. The layout is
// the bare 16 bits, so arrays from other libraries (PyTorch, ggml) can be viewed in place.
#pragma once

#include <cstdint>

namespace swat {
namespace detail {

enum class Format16 { bfloat16, binary16 };

// The one definition behind both types: 16 bits and the conversions to and from float.
template <Format16 Format>
struct Float16 {
  uint16_t bits = 0;

  Float16() = default;
  explicit Float16(float x);        // rounded to nearest even
  operator float() const;           // exact: every 16-bit value is a float
  static constexpr Float16 from_bits(uint16_t b) {
    Float16 out;
    out.bits = b;
    return out;
  }
};

}  // namespace detail

using bf16 = detail::Float16<detail::Format16::bfloat16>;
using f16 = detail::Float16<detail::Format16::binary16>;

static_assert(sizeof(bf16) == 2 && sizeof(f16) == 2, "16-bit storage types must be 2 bytes");

}  // namespace swat

// The members' definitions, and the conversions behind them.
#include "detail/convert.hpp"
