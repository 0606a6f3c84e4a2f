// The normalisers of SPEC section 2 step 4 (sigmoid; softmax, online, with the optional sink of
// SPEC 8), each with its value and its gradient, and the block of logits they work on.
#pragma once

#include "../isa_namespace.hpp"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "../../checks.hpp"
#include "../math.hpp"
#include "bias.hpp"
#include "window.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// Logits of keys [lo, hi) for NV vectors of query lanes, stored key-major: row c holds
// the logits of key (block start + c) for every lane.
//
// Each vector's rows fall into spans (RowSpans): those no lane of it sees (weights 0, nothing
// computed), those every lane sees (no mask), and between them, on the window's two diagonal
// edges, those some lanes see (masked lane by lane). The spans come from Window in 64 bits, so
// only the edge rows pay for a mask. Counted over the 340M layer's forward (n 4096, w 256,
// 32-lane blocks of 96-key blocks): 10.5% of the vectors weighed are masked and 5.6% need no
// activation, where testing whole key blocks masked 45.5% (16 lanes: 5.2% and 3.0% against 42.3%).
template <class T, class Arch, int NV>
struct ScoreRows {
  using V = Vec<T, Arch>;
  using vec = typename V::type;
  // Rows of one vector: [lo, seen_lo) and [seen_hi, hi) seen by none of its lanes, [full_lo,
  // full_hi) by all of them, the rest by some.
  struct RowSpans {
    int64_t seen_lo, full_lo, full_hi, seen_hi;
  };
  T* data;
  int64_t ld;
  int64_t lo, hi;
  // distance0[v]: the query-key distance of key row 0 for the lanes of vector v (row c is
  // distance0 - c away), for the mask. past0 = distance0 - window: row c is past the window iff
  // past0 - c >= 0, tested on its own because a huge distance is not exact in T while its excess
  // over the window is. bias0: the distance the bias uses, from the reference key.
  vec distance0[NV], past0[NV], bias0[NV];
  RowSpans spans[NV];

  // The rows of lanes lane_first + l (l < NV * W) against the key block starting at kb.
  static ScoreRows at(T* data, int64_t ld, int64_t lo, int64_t hi, const Window& window, const ReferenceKey& key,
                      int64_t lane_first, int64_t kb) {
    ScoreRows s{data, ld, lo, hi, {}, {}, {}, {}};
    const int64_t distance = lane_first - (window.k_pos0 + kb);
    const T base = static_cast<T>(distance), past = window.template past<T>(distance);
    const vec iota = V::iota();
    constexpr int64_t W = static_cast<int64_t>(V::width);
    for (int v = 0; v < NV; ++v) {
      s.distance0[v] = iota + V::broadcast(base + static_cast<T>(v * V::width));
      s.past0[v] = iota + V::broadcast(past + static_cast<T>(v * V::width));
      s.bias0[v] = key.template lanes<T, Arch>(lane_first, kb, v);
      // A key is seen by a lane from first_key to end_key of its position, and both grow
      // with the position: every lane of [first, last] sees it from first_key(last) to
      // end_key(first), some lane from first_key(first) to end_key(last).
      const int64_t first = lane_first + v * W, last = first + W - 1;
      RowSpans& r = s.spans[v];
      r.seen_lo = std::clamp(window.first_key(first) - kb, lo, hi);
      r.seen_hi = std::clamp(window.end_key(last) - kb, r.seen_lo, hi);
      r.full_lo = std::clamp(window.first_key(last) - kb, r.seen_lo, r.seen_hi);
      r.full_hi = std::clamp(window.end_key(first) - kb, r.full_lo, r.seen_hi);
    }
    return s;
  }

  T* row(int64_t c, int v) const { return data + c * ld + v * static_cast<int64_t>(V::width); }
  vec distance(int64_t c, int v) const { return distance0[v] - V::broadcast(static_cast<T>(c)); }
  vec bias_distance(int64_t c, int v) const { return bias0[v] - V::broadcast(static_cast<T>(c)); }
  typename V::mask visible(int64_t c, int v, const vec& d) const {  // d = distance(c, v)
    const vec zero = V::broadcast(T(0)), row = V::broadcast(static_cast<T>(c));
    return (d >= zero) & (past0[v] - row < zero);
  }

  // Vector v's rows in order: seen(c, masked) for the rows some lane sees (masked a
  // std::true_type on the edges, std::false_type where every lane sees the row), unseen(c) for
  // the others.
  template <class Seen, class Unseen>
  SWAT_INLINE void each_row(int v, Seen&& seen, Unseen&& unseen) const {
    const RowSpans& r = spans[v];
    for (int64_t c = lo; c < r.seen_lo; ++c) unseen(c);
    for (int64_t c = r.seen_lo; c < r.full_lo; ++c) seen(c, std::true_type{});
    for (int64_t c = r.full_lo; c < r.full_hi; ++c) seen(c, std::false_type{});
    for (int64_t c = r.full_hi; c < r.seen_hi; ++c) seen(c, std::true_type{});
    for (int64_t c = r.seen_hi; c < hi; ++c) unseen(c);
  }
};

// A softmax row's running state before its first key: the maximum and the sum. With a sink,
// the sink is that first "key": logit sigma_h, moved with the row (ReferenceKey), weight
// exp(0) = 1 in the sum and nothing in the output. Without, the row is empty (-inf, 0).
// Softmax kernels leave beta out of s_ij (a constant of the row); a sink does not move with it
// (SPEC 8: sigma_h is compared with s_ij, beta included), so it moves by -beta instead.
template <class T>
inline void start_row(const Problem& p, const ReferenceKey& key, int64_t h, int64_t query_pos, T* max, T* sum) {
  if (p.sinks == nullptr || p.activation != Activation::softmax) {
    *max = -infinity<T>();
    *sum = T(0);
    return;
  }
  const double slope = p.slopes ? p.slopes[h] : 0.0;
  *max = static_cast<T>(static_cast<double>(p.sinks[h]) - p.sigmoid_bias +
                        slope * static_cast<double>(key.behind(query_pos)));
  *sum = T(1);
}

// Normalisers turn a block of logits into weights in place, in the forward kernel, masking
// the rows on the window's edges only (ScoreRows::each_row); rows a vector's lanes do not see
// weigh 0 there, whatever the scratch held (the products skip them on the edges, lane_rows.hpp).
// Sigmoid needs no state across keys: a weight depends on its own logit only.
template <class T, class Arch>
struct SigmoidActivation {
  static constexpr bool normalises = false;
  using V = Vec<T, Arch>;

  template <int NV, class Bias, class Cap>
  static void weigh(const ScoreRows<T, Arch, NV>& s, const Cap& cap, const Bias& bias, T* /*max*/, T* /*sum*/,
                    T* /*out*/, int64_t /*out_rows*/, int64_t /*out_ld*/) {
    const auto zero = V::broadcast(T(0));
    for (int v = 0; v < NV; ++v)
      s.each_row(
          v,
          [&](int64_t c, auto masked) {
            auto w = sigmoid<T, Arch>(bias.apply(cap.value(V::load(s.row(c, v))), s.bias_distance(c, v)));
            if constexpr (decltype(masked)::value) w = V::select(s.visible(c, v, s.distance(c, v)), w, zero);
            V::store(s.row(c, v), w);
          },
          [&](int64_t c) { V::store(s.row(c, v), zero); });
  }

  // P and dS from a biased logit and dP.
  using vec = typename V::type;
  SWAT_INLINE static void gradient(vec s, vec dp, vec /*lse*/, vec /*dot*/, vec& p, vec& ds) {
    p = sigmoid<T, Arch>(s);
    ds = dp * p * (V::broadcast(T(1)) - p);
  }
};

// Softmax keeps, per query lane, the running maximum and the running sum (FlashAttention's
// online softmax) and rescales the partial output when the maximum grows.
template <class T, class Arch>
struct SoftmaxActivation {
  static constexpr bool normalises = true;
  using V = Vec<T, Arch>;
  using vec = typename V::type;

  template <int NV, class Bias, class Cap>
  static void weigh(const ScoreRows<T, Arch, NV>& s, const Cap& cap, const Bias& bias, T* max, T* sum, T* out,
                    int64_t out_rows, int64_t out_ld) {
    constexpr int64_t W = static_cast<int64_t>(V::width);
    const vec minus_inf = V::broadcast(-infinity<T>()), zero = V::broadcast(T(0));
    for (int v = 0; v < NV; ++v) {
      // The logits, and their maximum over the rows some lane sees (a masked lane's logit is
      // -inf and weighs exp(-inf) = 0 below; rows no lane sees are skipped and weigh 0).
      vec top = V::load(max + v * W);
      s.each_row(
          v,
          [&](int64_t c, auto masked) {
            auto logit = bias.apply(cap.value(V::load(s.row(c, v))), s.bias_distance(c, v));
            if constexpr (decltype(masked)::value) logit = V::select(s.visible(c, v, s.distance(c, v)), logit, minus_inf);
            top = V::max(top, logit);
            V::store(s.row(c, v), logit);
          },
          [](int64_t) {});
      const vec old_top = V::load(max + v * W);
      // A lane that has seen no visible key keeps -inf; shift it by 0 so exp gives 0, not NaN.
      top = V::select(top == minus_inf, zero, top);
      const vec rescale = exp_nonpositive<T, Arch>(old_top - top);
      vec total = V::load(sum + v * W) * rescale;
      for (int64_t r = 0; r < out_rows; ++r) V::store(out + r * out_ld + v * W, V::load(out + r * out_ld + v * W) * rescale);
      s.each_row(
          v,
          [&](int64_t c, auto) {
            const vec w = exp_nonpositive<T, Arch>(V::load(s.row(c, v)) - top);
            total = total + w;
            V::store(s.row(c, v), w);
          },
          [&](int64_t c) { V::store(s.row(c, v), zero); });
      V::store(sum + v * W, total);
      // Lanes still without a visible key are stored back as -inf.
      V::store(max + v * W, V::select(total == zero, minus_inf, top));
    }
  }

  // P and dS from a biased logit, dP, the row's log-sum-exp and D_i = <dO_i, O_i>.
  SWAT_INLINE static void gradient(vec s, vec dp, vec lse, vec dot, vec& p, vec& ds) {
    p = exp_nonpositive<T, Arch>(s - lse);
    ds = p * (dp - dot);
  }
};

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
