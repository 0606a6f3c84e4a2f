// Work counting of SPEC section 5: how many (query, key) pairs a call computes, and the FLOPs
// benchmarks report (forward 4 * D * visible, backward 10 * D * visible).
#pragma once

#include <algorithm>
#include <cstdint>

#include "checks.hpp"

namespace swat {

// Number of keys visible to each of the Sq query rows, summed (for one batch and head).
inline int64_t visible_pairs(int64_t q_len, int64_t k_len, int64_t window, int64_t k_pos0, int64_t q_pos0) {
  int64_t total = 0;
  for (int64_t i = 0; i < q_len; ++i) {
    const int64_t pos = q_pos0 + i;
    const int64_t hi = std::clamp<int64_t>(pos - k_pos0 + 1, 0, k_len);
    const int64_t lo = window > 0 ? std::clamp<int64_t>(pos - window + 1 - k_pos0, 0, k_len) : 0;
    total += std::max<int64_t>(0, hi - lo);
  }
  return total;
}

// visible = sum over (b, h, i) of the keys row i sees, for a call with these shapes and options.
inline int64_t visible_pairs(int64_t batch, int64_t q_len, int64_t k_len, int64_t heads, const Options& opt) {
  const int64_t q_pos0 = opt.q_pos0 ? *opt.q_pos0 : opt.k_pos0 + k_len - q_len;
  return batch * heads * visible_pairs(q_len, k_len, opt.window, opt.k_pos0, q_pos0);
}

inline double forward_flops(int64_t batch, int64_t q_len, int64_t k_len, int64_t heads, int64_t dim,
                            const Options& opt) {
  return 4.0 * static_cast<double>(dim) * static_cast<double>(visible_pairs(batch, q_len, k_len, heads, opt));
}

inline double backward_flops(int64_t batch, int64_t q_len, int64_t k_len, int64_t heads, int64_t dim,
                             const Options& opt) {
  return 10.0 * static_cast<double>(dim) * static_cast<double>(visible_pairs(batch, q_len, k_len, heads, opt));
}

}  // namespace swat
