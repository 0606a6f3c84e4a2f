// How the forward kernel multiplies: the layout of its packed operands (Q^T, keys, values and,
// for the second product, the weights) and the micro-kernel step behind both products.
//   FloatProducts  products in T (float or double): operands packed as T, fused multiply-adds.
//   Bf16Products   forward<bf16> where bf16 pair products exist (bf16_dot.hpp): queries and
//                  rotated keys rounded to bf16 once, weights rounded to bf16, sums in float.
// Both keep queries along the SIMD lanes; a bf16 operand packs two consecutive elements of the
// product's depth (two dims of q and k, two keys of p and v) into one 32-bit pair per lane.
#pragma once

#include "isa_namespace.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "bf16_dot.hpp"
#include "convert.hpp"
#include "lane_rows.hpp"
#include "microkernel.hpp"
#include "transpose.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

template <class S, class T, class Arch>
struct FloatProducts {
  using Packed = T;  // element of the packed operands
  static constexpr int64_t lanes = Blocking<T, Arch>::lanes;

  // Packed elements per row of D values (a row of Q^T's depth, of the keys).
  static int64_t packed(int64_t D) { return D; }
  // Rows of D packed values, and rows of `lanes` packed weights, that nk keys take.
  static int64_t value_rows(int64_t nk) { return nk; }
  static int64_t weight_rows(int64_t /*nk*/) { return 0; }  // the weights are used in place

  // The `lanes` queries of one lane block (rows [lanes][D], rotated and scaled) into a Q^T slab
  // [depth][lanes], transposed W x W blocks at a time.
  static void put_queries(Packed* slab, const T* rows, int64_t D) { transpose_matrix<T, Arch>(rows, lanes, D, slab); }
  // A key row: `fill(T* out)` writes its D values (rotated); scratch is unused here.
  template <class Fill>
  static void put_key(Packed* dst, T* /*scratch*/, int64_t /*D*/, Fill&& fill) {
    fill(dst);
  }
  // A key or value row as stored (elements ds apart): row j of rows [j][D].
  static void put_stored_key(Packed* dst, const S* src, int64_t ds, int64_t D) { load_row(dst, src, ds, D); }
  static void put_value(Packed* values, int64_t j, const S* src, int64_t ds, int64_t D) {
    load_row(values + j * D, src, ds, D);
  }

  // S^T[key][lane] for `rows` keys of a panel, on the lanes of `vectors`: keys [rows][packed(D)],
  // q_t a slab.
  static void scores(LaneVectors vectors, int64_t rows, int64_t D, const Packed* keys, const Packed* q_t, T* out) {
    gemm_rows_on<FmaStep<T, Arch>, Arch, ALayout::k_adjacent>(vectors, rows, D, keys, D, q_t, out, false);
  }

  // O^T[d][lane] += sum over keys [lo, hi) of V[key][d] * P^T[key][lane], from the weights in
  // place in `weights` ([key][lanes]), skipping the vectors of lanes `edges` says see none of
  // the rows at the ends; scratch is unused here.
  static void outputs(int64_t lo, int64_t hi, EdgeRows edges, const T* weights, Packed* /*scratch*/,
                      const Packed* values, int64_t D, T* o_t) {
    gemm_dims<FmaStep<T, Arch>, Arch>(D, hi - lo, values + lo * D, D, weights + lo * lanes, o_t, true,
                                      KeyEdges{edges.head_end - lo, hi - edges.tail_start});
  }

  // dst[d] = src[d * ds] in T, d < D.
  static void load_row(T* dst, const S* src, int64_t ds, int64_t D) {
    if (ds != 1) {
      for (int64_t d = 0; d < D; ++d) dst[d] = load_scalar(src[d * ds]);
    } else if constexpr (std::is_same<S, T>::value) {
      std::memcpy(dst, src, static_cast<std::size_t>(D) * sizeof(T));
    } else {
      convert_to_float<Arch>(src, dst, D);
    }
  }
};

// Layouts in pairs (P = packed(D) = ceil(D / 2); an odd D pads its last pair with a zero):
//   Q^T slab  [P][lanes]      pair (q[2p], q[2p+1]) of each query
//   keys      [key][P]        the rounded row itself: its bf16 values in order are its pairs
//   values    [key / 2][D]    pair (v[2j][d], v[2j+1][d]): keys 2j and 2j+1 of the block
//   weights   [key / 2][lanes] pair (p[2j], p[2j+1]) of each query
// Pairs of keys start at even offsets in the key block, so a key range [lo, hi) is covered by
// the pairs of [lo & ~1, hi rounded up), with the weights outside [lo, hi) zero.
template <class Arch>
struct Bf16Products {
  using T = float;
  using Packed = uint32_t;
  using Step = Bf16PairStep<Arch>;
  static constexpr int64_t lanes = Blocking<T, Arch>::lanes;

  static int64_t packed(int64_t D) { return (D + 1) / 2; }
  static int64_t value_rows(int64_t nk) { return (nk + 1) / 2; }
  static int64_t weight_rows(int64_t nk) { return (nk + 1) / 2; }

  static void put_queries(Packed* slab, const T* rows, int64_t D) {
    for (int64_t lane = 0; lane < lanes; ++lane) {
      const T* row = rows + lane * D;
      for (int64_t p = 0; 2 * p < D; ++p)
        slab[p * lanes + lane] = bf16_pair(float_to_bf16_portable(row[2 * p]),
                                           2 * p + 1 < D ? float_to_bf16_portable(row[2 * p + 1]) : uint16_t(0));
    }
  }
  template <class Fill>
  static void put_key(Packed* dst, T* scratch, int64_t D, Fill&& fill) {
    fill(scratch);
    round_row(dst, scratch, D);
  }
  static void put_stored_key(Packed* dst, const bf16* src, int64_t ds, int64_t D) {
    if (ds == 1) {
      std::memcpy(dst, src, static_cast<std::size_t>(D) * sizeof(bf16));
      if (D % 2 != 0) dst[D / 2] = src[D - 1].bits;  // the last pair: its value and a zero
    } else {
      for (int64_t p = 0; 2 * p < D; ++p)
        dst[p] = bf16_pair(src[2 * p * ds].bits, 2 * p + 1 < D ? src[(2 * p + 1) * ds].bits : uint16_t(0));
    }
  }
  // Key j of the block: the low halves of pair row j / 2 when j is even (the high halves
  // zeroed, for a block whose last key has no partner), else the high halves.
  static void put_value(Packed* values, int64_t j, const bf16* src, int64_t ds, int64_t D) {
    Packed* row = values + (j / 2) * D;
    if (j % 2 == 0) {
      for (int64_t d = 0; d < D; ++d) row[d] = src[d * ds].bits;
    } else {
      for (int64_t d = 0; d < D; ++d) row[d] |= static_cast<Packed>(src[d * ds].bits) << 16;
    }
  }

  static void scores(LaneVectors vectors, int64_t rows, int64_t D, const Packed* keys, const Packed* q_t, T* out) {
    const int64_t P = packed(D);
    gemm_rows_on<Step, Arch, ALayout::k_adjacent>(vectors, rows, P, keys, P, q_t, out, false);
  }

  // The weights of keys [lo, hi) rounded into pairs (scratch, [key / 2][lanes]), then the
  // product with the value pairs; the pairs wholly within the rows `edges` names at the ends
  // skip the vectors that see none of them.
  static void outputs(int64_t lo, int64_t hi, EdgeRows edges, const T* weights, Packed* scratch, const Packed* values,
                      int64_t D, T* o_t) {
    const int64_t first = lo / 2, end = (hi + 1) / 2;
    for (int64_t p = first; p < end; ++p) {
      const int64_t k = 2 * p;
      round_pairs<Arch>(k >= lo ? weights + k * lanes : nullptr, k + 1 < hi ? weights + (k + 1) * lanes : nullptr,
                        scratch + (p - first) * lanes, lanes);
    }
    // Pair p holds keys 2p and 2p + 1: before head_end when p < head_end / 2, from tail_start
    // on when p >= ceil(tail_start / 2).
    const KeyEdges steps{std::max<int64_t>(0, edges.head_end / 2 - first),
                         std::max<int64_t>(0, end - (edges.tail_start + 1) / 2)};
    gemm_dims<Step, Arch>(D, end - first, values + first * D, D, scratch, o_t, true, steps);
  }

  // A row of D floats rounded to bf16, in pairs.
  static void round_row(Packed* dst, const T* row, int64_t D) { round_row_pairs<Arch>(row, dst, D); }
};

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
