// ALiBi slope helpers (SPEC section 2), in the library's sign convention:
// m > 0 penalises distance (favours recent keys), m < 0 rewards it (keeps older keys alive).
#pragma once

#include <cmath>
#include <vector>

#include "error.hpp"

namespace swat {

// Press et al.'s geometric slopes 2^(-8k/H), k = 1..H. When H is not a power of two, the
// slopes of the largest power of two below H come first, then every other slope of twice
// that count (their interleaving rule).
inline std::vector<float> alibi_slopes(int num_heads) {
  if (num_heads <= 0) detail::fail("alibi_slopes: num_heads must be > 0, got ", num_heads);
  auto geometric = [](int n) {
    std::vector<float> s(n);
    for (int k = 1; k <= n; ++k) s[k - 1] = static_cast<float>(std::exp2(-8.0 * k / n));
    return s;
  };
  int pow2 = 1;
  while (pow2 * 2 <= num_heads) pow2 *= 2;
  std::vector<float> slopes = geometric(pow2);
  if (pow2 != num_heads) {
    std::vector<float> extra = geometric(2 * pow2);
    for (int k = 0; static_cast<int>(slopes.size()) < num_heads; k += 2) slopes.push_back(extra[k]);
  }
  return slopes;
}

enum class SlopeScheme {
  paper,          // Eq. 4 of the SWAT paper: first half recency heads, second half history heads
  released_code,  // the authors' training code: first half history heads, second half recency
};

inline std::vector<float> balanced_alibi_slopes(int num_heads, SlopeScheme scheme = SlopeScheme::paper) {
  if (num_heads <= 0) detail::fail("balanced_alibi_slopes: num_heads must be > 0, got ", num_heads);
  std::vector<float> slopes(num_heads);
  const int H = num_heads;
  if (scheme == SlopeScheme::paper) {
    const int recency = (H + 1) / 2;
    for (int h = 0; h < recency; ++h) slopes[h] = static_cast<float>(std::exp2(-(h + 1.0)));
    for (int h = recency; h < H; ++h) slopes[h] = -static_cast<float>(std::exp2(-(h - recency + 1.0)));
  } else {
    // a_i = 2^(-8(i+1)/H); heads h < H/2 get -a_h, heads h >= H/2 get +a_(H-1-h).
    auto a = [H](int i) { return static_cast<float>(std::exp2(-8.0 * (i + 1) / H)); };
    for (int h = 0; h < H; ++h) slopes[h] = h < H / 2 ? -a(h) : a(H - 1 - h);
  }
  return slopes;
}

}  // namespace swat
