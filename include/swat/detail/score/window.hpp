// The window of SPEC section 2 step 3 and its mask: which keys a query sees.
#pragma once

#include "../isa_namespace.hpp"

#include <algorithm>
#include <cstdint>

#include "../simd.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// Key j at position k_pos0 + j is visible to a query at position p iff 0 <= p - (k_pos0 + j) < w
// (w = 0: no lower limit). Ranges are half-open, in key indices, clipped to [0, k_len).
struct Window {
  int64_t window = 0, k_pos0 = 0, k_len = 0;

  int64_t first_key(int64_t query_pos) const {  // smallest visible key index
    const int64_t lowest = window > 0 ? query_pos - window + 1 - k_pos0 : 0;
    return std::clamp<int64_t>(lowest, 0, k_len);
  }
  int64_t end_key(int64_t query_pos) const {  // one past the largest visible key index
    return std::clamp<int64_t>(query_pos - k_pos0 + 1, 0, k_len);
  }
  // True when every query in [first_pos, last_pos] sees every key in [key_lo, key_hi).
  bool covers(int64_t first_pos, int64_t last_pos, int64_t key_lo, int64_t key_hi) const {
    const int64_t nearest = first_pos - (k_pos0 + key_hi - 1);  // smallest distance
    const int64_t farthest = last_pos - (k_pos0 + key_lo);      // largest distance
    return nearest >= 0 && (window == 0 || farthest < window);
  }
  // past0 of ScoreRows: distance - window of a key row, in T; -inf when nothing lies outside.
  // Formed in 64 bits first, so it is exact in T wherever the window edge is near.
  template <class T>
  T past(int64_t distance) const {
    int64_t out = 0;
    return window == 0 || __builtin_sub_overflow(distance, window, &out) ? -infinity<T>() : static_cast<T>(out);
  }
};

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
