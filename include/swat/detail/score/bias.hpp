// The biases of SPEC section 2 step 2 (ALiBi slope, sigmoid offset) and the one policy every
// kernel follows for the softmax reference key.
#pragma once

#include "../isa_namespace.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>

#include "../../checks.hpp"
#include "../simd.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// Softmax ignores a constant added to a row, so kernels count a row's ALiBi distances from
// its reference key instead of from the query, and move the row's sink logit by the same
// constant (SPEC 8: sigma_h + m_h * (p_i - p_ref)). The policy, for every kernel:
//   sigmoid (no shift allowed): the query's own position, i.e. the true distances;
//   softmax, slope >= 0: the nearest visible key (the weight sits near the query);
//   softmax, slope < 0: the farthest visible key (the weight sits at the window's far end).
// The logits that carry the weight then have biases near 0 and stay exact in fp32 for any
// window and slope, and the slope gradient -sum dS * distance pairs small distances with the
// large dS, so rounding in D_i = <dO_i, O_i> is not multiplied by the window.
struct ReferenceKey {
  int64_t shift = 0, lo = 0, hi = 0;  // the key index clamp(query position + shift, lo, hi)
  int64_t k_pos0 = 0;

  static ReferenceKey of(bool softmax, double slope, int64_t window, int64_t k_pos0, int64_t k_len) {
    constexpr int64_t unlimited = int64_t(1) << 62;  // positions are checked to lie within +-2^62
    if (!softmax) return {-k_pos0, -unlimited, unlimited, k_pos0};
    if (slope >= 0) return {-k_pos0, -1, k_len - 1, k_pos0};  // Window::end_key - 1
    if (window == 0) return {0, 0, 0, k_pos0};
    // Window::first_key. The cache passes its window unresolved (up to 2^63 - 1): a shift below
    // the int64 range saturates, and at() then clamps every query to the first key, as it should.
    int64_t shift = 0;
    if (__builtin_sub_overflow(1 - window, k_pos0, &shift)) shift = INT64_MIN;
    return {shift, 0, k_len, k_pos0};
  }
  // query_pos + shift, saturated: a sum outside int64 lies beyond [lo, hi] anyway.
  int64_t shifted(int64_t query_pos) const {
    int64_t out = 0;
    return __builtin_add_overflow(query_pos, shift, &out) ? (shift < 0 ? lo : hi) : out;
  }
  static ReferenceKey of(const Problem& p, int64_t h) {
    return of(p.activation == Activation::softmax, p.slopes ? p.slopes[h] : 0.0, p.window, p.k_pos0, p.k_len);
  }

  int64_t at(int64_t query_pos) const { return std::clamp(shifted(query_pos), lo, hi); }
  // p_i - p_ref: the row's logits as the kernels form them are s_ij + m_h * behind(p_i).
  int64_t behind(int64_t query_pos) const { return query_pos - (k_pos0 + at(query_pos)); }

  // at(p) - kb for the lanes lane_first + v * W + l, l < W, of vector v: one step per lane,
  // clamped. Lane 0's is formed in 64 bits and brought near the key range first, so every
  // value stays small (exact) in T.
  template <class T, class Arch>
  typename Vec<T, Arch>::type lanes(int64_t lane_first, int64_t kb, int v) const {
    using V = Vec<T, Arch>;
    constexpr int64_t W = static_cast<int64_t>(V::width);
    const int64_t first = std::clamp(shifted(lane_first + v * W), lo - W, hi) - kb;
    return V::min(V::max(V::iota() + V::broadcast(static_cast<T>(first)), V::broadcast(static_cast<T>(lo - kb))),
                  V::broadcast(static_cast<T>(hi - kb)));
  }
};

// Bias policies: logit += offset - slope * distance (distance from the reference key).
// make(p, h) builds head h's; the offset beta is sigmoid's only (softmax cancels it).
template <class T, class Arch>
struct NoBias {  // softmax without slopes
  using vec = typename Vec<T, Arch>::type;
  static NoBias make(const Problem&, int64_t) { return {}; }
  vec apply(vec s, vec /*distance*/) const { return s; }
};

template <class T, class Arch>
struct OffsetBias {  // sigmoid without slopes: sigmoid_bias, 0 included
  using vec = typename Vec<T, Arch>::type;
  vec offset;
  static OffsetBias make(const Problem& p, int64_t) { return {Vec<T, Arch>::broadcast(offset_of(p))}; }
  static T offset_of(const Problem& p) {
    return p.activation == Activation::softmax ? T(0) : static_cast<T>(p.sigmoid_bias);
  }
  vec apply(vec s, vec /*distance*/) const { return s + offset; }
};

template <class T, class Arch>
struct AlibiBias {  // slope (of either sign, 0 without slopes) and offset
  using V = Vec<T, Arch>;
  using vec = typename V::type;
  vec negative_slope, offset;
  static AlibiBias make(const Problem& p, int64_t h) {
    const T slope = p.slopes ? static_cast<T>(p.slopes[h]) : T(0);
    return {V::broadcast(-slope), V::broadcast(OffsetBias<T, Arch>::offset_of(p))};
  }
  vec apply(vec s, vec distance) const { return V::fma(negative_slope, distance, s + offset); }
};

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
