// The positional pieces as small policies composed into the kernels at compile time:
// the window (which keys a query sees), the logit bias (ALiBi slope and sigmoid offset),
// and the activation (sigmoid, or softmax with its running maximum).
#pragma once

#include "isa_namespace.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "math.hpp"

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

// Bias policies: logit += offset - slope * distance.
template <class T, class Arch>
struct NoBias {
  using vec = typename Vec<T, Arch>::type;
  vec apply(vec s, vec /*distance*/) const { return s; }
};

template <class T, class Arch>
struct OffsetBias {  // sigmoid_bias only
  using vec = typename Vec<T, Arch>::type;
  vec offset;
  vec apply(vec s, vec /*distance*/) const { return s + offset; }
};

template <class T, class Arch>
struct AlibiBias {  // slope (of either sign) and offset
  using vec = typename Vec<T, Arch>::type;
  vec negative_slope, offset;
  vec apply(vec s, vec distance) const { return Vec<T, Arch>::fma(negative_slope, distance, s + offset); }
};

// Logits of keys [lo, hi) for NV vectors of query lanes, stored key-major: row c holds
// the logits of key (block start + c) for every lane. distance0[v] is the query-key distance
// of key row 0 for the lanes of vector v; key row c is distance0 - c away.
template <class T, class Arch, int NV>
struct ScoreRows {
  using vec = typename Vec<T, Arch>::type;
  T* data;
  int64_t ld;
  int64_t lo, hi;
  vec distance0[NV];
  // distance0 - window: key row c is past the window iff past0 - c >= 0. Tested on its own
  // because a huge distance is not exact in T while its excess over the window is.
  vec past0[NV];
  // Softmax ignores any constant added to a row, so its bias may count distance from one fixed
  // key of the tile (`origin`, as a row index of this block) instead of from the query: the
  // numbers stay as small as the tile, not as large as the positions.
  T origin;

  T* row(int64_t c, int v) const { return data + c * ld + v * static_cast<int64_t>(Vec<T, Arch>::width); }
  vec distance(int64_t c, int v) const { return distance0[v] - Vec<T, Arch>::broadcast(static_cast<T>(c)); }
  vec origin_distance(int64_t c) const { return Vec<T, Arch>::broadcast(origin - static_cast<T>(c)); }
  typename Vec<T, Arch>::mask visible(int64_t c, int v, const vec& d) const {  // d = distance(c, v)
    const vec zero = Vec<T, Arch>::broadcast(T(0)), row = Vec<T, Arch>::broadcast(static_cast<T>(c));
    return (d >= zero) & (past0[v] - row < zero);
  }
};

// Activation policies turn a block of logits into weights in place. `Masked` is false on
// blocks the window covers entirely, so interior blocks pay for no mask.
// Sigmoid needs no state across keys: a weight depends on its own logit only.
template <class T, class Arch>
struct SigmoidActivation {
  static constexpr bool normalises = false;
  using V = Vec<T, Arch>;

  template <bool Masked, int NV, class Bias>
  static void weigh(const ScoreRows<T, Arch, NV>& s, const Bias& bias, T* /*max*/, T* /*sum*/, T* /*out*/,
                    int64_t /*out_rows*/, int64_t /*out_ld*/) {
    for (int64_t c = s.lo; c < s.hi; ++c)
      for (int v = 0; v < NV; ++v) {
        const auto d = s.distance(c, v);
        auto w = sigmoid<T, Arch>(bias.apply(V::load(s.row(c, v)), d));
        if constexpr (Masked) w = V::select(s.visible(c, v, d), w, V::broadcast(T(0)));
        V::store(s.row(c, v), w);
      }
  }
};

// Softmax keeps, per query lane, the running maximum and the running sum (FlashAttention's
// online softmax) and rescales the partial output when the maximum grows.
template <class T, class Arch>
struct SoftmaxActivation {
  static constexpr bool normalises = true;
  using V = Vec<T, Arch>;

  template <bool Masked, int NV, class Bias>
  static void weigh(const ScoreRows<T, Arch, NV>& s, const Bias& bias, T* max, T* sum, T* out, int64_t out_rows,
                    int64_t out_ld) {
    using vec = typename V::type;
    constexpr int64_t W = static_cast<int64_t>(V::width);
    const vec minus_inf = V::broadcast(-infinity<T>());
    vec top[NV];
    for (int v = 0; v < NV; ++v) top[v] = V::load(max + v * W);
    for (int64_t c = s.lo; c < s.hi; ++c)
      for (int v = 0; v < NV; ++v) {
        auto logit = bias.apply(V::load(s.row(c, v)), s.origin_distance(c));
        if constexpr (Masked) logit = V::select(s.visible(c, v, s.distance(c, v)), logit, minus_inf);
        top[v] = V::max(top[v], logit);
        V::store(s.row(c, v), logit);
      }
    vec total[NV];
    for (int v = 0; v < NV; ++v) {
      const vec old_top = V::load(max + v * W);
      // A lane that has seen no visible key keeps -inf; shift it by 0 so exp gives 0, not NaN.
      top[v] = V::select(top[v] == minus_inf, V::broadcast(T(0)), top[v]);
      const vec rescale = exp_nonpositive<T, Arch>(old_top - top[v]);
      total[v] = V::load(sum + v * W) * rescale;
      for (int64_t r = 0; r < out_rows; ++r) V::store(out + r * out_ld + v * W, V::load(out + r * out_ld + v * W) * rescale);
    }
    for (int64_t c = s.lo; c < s.hi; ++c)
      for (int v = 0; v < NV; ++v) {
        const vec w = exp_nonpositive<T, Arch>(V::load(s.row(c, v)) - top[v]);
        total[v] = total[v] + w;
        V::store(s.row(c, v), w);
      }
    for (int v = 0; v < NV; ++v) {
      V::store(sum + v * W, total[v]);
      // Lanes still without a visible key are stored back as -inf.
      V::store(max + v * W, V::select(total[v] == V::broadcast(T(0)), minus_inf, top[v]));
    }
  }
};

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
