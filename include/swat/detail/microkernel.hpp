// The one register-blocked micro-kernel behind both products of attention:
//   C[m][lanes] (+)= sum_k A(m, k) * B[k][lanes]   for m < M rows, lanes = NV vectors,
// A broadcast one scalar at a time from a packed panel, B and C rows of vectors. What one step
// multiplies is a policy (Step): a fused multiply-add of T (FmaStep, every path), or a dot
// product of bf16 pairs into float (Bf16PairStep, bf16_dot.hpp).
// Scores use it as S^T[key][query] = K[key][:] . Q^T[:][query] (A = a panel of M keys),
// outputs as O^T[d][query] += V[:][d] . P^T[:][query] (A = a few dims of each row of V, gemm_dims), so
// queries always sit along the SIMD lanes and one kernel serves both products.
#pragma once

#include "isa_namespace.hpp"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "compiler.hpp"
#include "simd.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// Register blocking per architecture: M broadcast rows times NV vectors of accumulators,
// leaving registers for the NV loads and one broadcast.
template <class T, class Arch>
struct Blocking {
  static constexpr int rows = 6;     // M
  static constexpr int vectors = 2;  // NV
  static constexpr int64_t lanes = vectors * static_cast<int64_t>(Vec<T, Arch>::width);
  // Rows per call of the products whose rows are the D dims of a slab (gemm_dims): 8 where 32
  // vector registers hold 8 x NV accumulators (AVX-512, and the 16-lane emulation that stands
  // in for it in tests), as 8 divides the usual head dims (64, 128) where 6 leaves a tail of 4
  // or 2 rows that runs at a third of the speed (on an Intel Xeon the output product of one
  // 96-key block at D 128 took 4.7 instead of 5.1 us a lane block); elsewhere `rows`.
  static constexpr int dim_rows =
      is_avx512_arch<Arch>() || std::is_same<Arch, emulated_arch<16>>::value ? 8 : rows;
};

// Where A(m, k) lives: `m_adjacent`, A(m, k) = a[k * lda + m] (packed panels, lda = Blocking::rows,
// or rows of V read a few dims at a time); `k_adjacent`, A(m, k) = a[m * lda + k] (M rows of K,
// each row read along its depth). Either way A needs no transposing copy: the kernel broadcasts
// one scalar at a time, and a broadcast costs the same from any address.
enum class ALayout { m_adjacent, k_adjacent };

// One step of the micro-kernel in T: C += broadcast(A) * B, a fused multiply-add per vector.
template <class T, class Arch>
struct FmaStep {
  using V = Vec<T, Arch>;
  using a_type = T;                // A's elements
  using b_type = T;                // B's elements
  using c_type = T;                // C's elements (the accumulators)
  using a_vec = typename V::type;  // one A element in every lane
  using b_vec = typename V::type;
  static a_vec broadcast_a(const a_type* a) { return V::broadcast(*a); }
  static b_vec load_b(const b_type* b) { return V::load(b); }
  static typename V::type madd(const a_vec& a, const b_vec& b, const typename V::type& c) { return V::fma(a, b, c); }
};

// The steps at the ends of a product over keys that some vectors of the lanes skip: on a
// window's diagonal edges the first rows of a lane block's range are seen by its first vectors
// only and the last rows by its last ones (lane_rows.hpp).
struct KeyEdges {
  int64_t head = 0, tail = 0;  // >= 0
};

// Steps [k0, k1) of micro_gemm on the accumulators of vectors [First, Last).
template <class Step, class Arch, int Rows, int NV, int First, int Last>
SWAT_INLINE void micro_steps(int64_t k0, int64_t k1, const typename Step::a_type* a, int64_t step, const int64_t* row,
                             const typename Step::b_type* b,
                             typename Vec<typename Step::c_type, Arch>::type (&acc)[Rows][NV]) {
  constexpr int64_t W = static_cast<int64_t>(Vec<typename Step::c_type, Arch>::width);
  constexpr int64_t L = Blocking<typename Step::c_type, Arch>::lanes;
  a += k0 * step;
  b += k0 * L;
  for (int64_t k = k0; k < k1; ++k, a += step, b += L) {
    typename Step::b_vec bv[NV];
    SWAT_UNROLL
    for (int v = First; v < Last; ++v) bv[v] = Step::load_b(b + v * W);
    SWAT_UNROLL
    for (int m = 0; m < Rows; ++m) {
      const typename Step::a_vec av = Step::broadcast_a(a + row[m]);
      SWAT_UNROLL
      for (int v = First; v < Last; ++v) acc[m][v] = Step::madd(av, bv[v], acc[m][v]);
    }
  }
}

// C[m][lanes] (+)= sum_k A(m, k) * B[k][lanes] for m < Rows, on the first Vectors vectors of
// each row (a narrower product starts its B and C a few vectors in). B and C rows are `lanes`
// apart: their strides are compile-time constants, leaving one pointer bump per step.
//
// Edged: the first edges.head steps multiply every vector but the last, and the last
// edges.tail steps every vector but the first (KeyEdges). Otherwise edges is ignored.
template <class Step, class Arch, int Rows, ALayout Layout, int Vectors = Blocking<typename Step::c_type, Arch>::vectors,
          bool Edged = false>
SWAT_NOINLINE void micro_gemm(int64_t depth, const typename Step::a_type* a, int64_t lda,
                              const typename Step::b_type* b, typename Step::c_type* c, bool accumulate,
                              KeyEdges edges = {}) {
  using C = typename Step::c_type;
  using V = Vec<C, Arch>;
  using vec = typename V::type;
  constexpr int NV = Vectors;
  static_assert(NV >= 1 && NV <= Blocking<C, Arch>::vectors, "micro_gemm: 1 to Blocking::vectors vectors");
  constexpr int64_t W = static_cast<int64_t>(V::width);
  constexpr int64_t L = Blocking<C, Arch>::lanes;
  // The accumulators only live in registers if every loop over them is unrolled; -O2 alone
  // does not (it spilled them and ran at a third of the speed), so the unrolling is spelled out.
  vec acc[Rows][NV];
  SWAT_UNROLL
  for (int m = 0; m < Rows; ++m)
    SWAT_UNROLL
    for (int v = 0; v < NV; ++v) acc[m][v] = accumulate ? V::load(c + m * L + v * W) : V::broadcast(C(0));
  // Per step A advances by `step`; the rows of one step sit `row` apart (1 when m_adjacent).
  const int64_t step = Layout == ALayout::m_adjacent ? lda : 1;
  int64_t row[Rows];
  SWAT_UNROLL
  for (int m = 0; m < Rows; ++m) row[m] = Layout == ALayout::m_adjacent ? m : m * lda;
  bool edged = false;
  if constexpr (Edged && NV > 1) edged = edges.head > 0 || edges.tail > 0;
  if (edged) {  // the blocks at the window's edges; the others take the plain loop
    const int64_t head = std::min(edges.head, depth);
    const int64_t tail_start = std::max(head, depth - edges.tail);
    micro_steps<Step, Arch, Rows, NV, 0, NV - 1>(0, head, a, step, row, b, acc);
    micro_steps<Step, Arch, Rows, NV, 0, NV>(head, tail_start, a, step, row, b, acc);
    micro_steps<Step, Arch, Rows, NV, 1, NV>(tail_start, depth, a, step, row, b, acc);
  } else {
    micro_steps<Step, Arch, Rows, NV, 0, NV>(0, depth, a, step, row, b, acc);
  }
  SWAT_UNROLL
  for (int m = 0; m < Rows; ++m)
    SWAT_UNROLL
    for (int v = 0; v < NV; ++v) V::store(c + m * L + v * W, acc[m][v]);
}

// The vectors of a lane block a product runs on: [first, first + count) of Blocking::vectors.
// On the diagonal edges of a window some key rows are seen by the lanes of one vector only; the
// products skip the other vectors there (lane_rows.hpp).
struct LaneVectors {
  int first = 0, count = 0;
};

// `rows` <= Blocking::rows rows of A; short ones (edges of D or of a key block) take a smaller
// instantiation, as BLIS kernels handle m < MR.
template <class Step, class Arch, ALayout Layout, int Vectors = Blocking<typename Step::c_type, Arch>::vectors,
          int Rows = Blocking<typename Step::c_type, Arch>::rows, bool Edged = false>
inline void gemm_rows_with(int64_t rows, int64_t depth, const typename Step::a_type* a, int64_t lda,
                           const typename Step::b_type* b, typename Step::c_type* c, bool accumulate,
                           KeyEdges edges = {}) {
  if (rows == Rows) {
    micro_gemm<Step, Arch, Rows, Layout, Vectors, Edged>(depth, a, lda, b, c, accumulate, edges);
  } else if constexpr (Rows > 1) {
    gemm_rows_with<Step, Arch, Layout, Vectors, Rows - 1, Edged>(rows, depth, a, lda, b, c, accumulate, edges);
  }
}

// Calls f(std::integral_constant<int, n>) for n = count, 1 <= count <= N.
template <int N, class F>
SWAT_INLINE void with_vector_count(int count, F&& f) {
  if (count == N) {
    f(std::integral_constant<int, N>{});
  } else if constexpr (N > 1) {
    with_vector_count<N - 1>(count, f);
  }
}

// gemm_rows_with (up to Rows rows) on the vectors `lanes` of B and C only.
template <class Step, class Arch, ALayout Layout, int Rows = Blocking<typename Step::c_type, Arch>::rows>
SWAT_INLINE void gemm_rows_on(LaneVectors lanes, int64_t rows, int64_t depth, const typename Step::a_type* a, int64_t lda,
                         const typename Step::b_type* b, typename Step::c_type* c, bool accumulate) {
  using C = typename Step::c_type;
  constexpr int64_t W = static_cast<int64_t>(Vec<C, Arch>::width);
  with_vector_count<Blocking<C, Arch>::vectors>(lanes.count, [&](auto n) {
    // B's elements are one a lane too (a float, or a bf16 pair), as micro_gemm's loads take them.
    gemm_rows_with<Step, Arch, Layout, decltype(n)::value, Rows>(rows, depth, a, lda, b + lanes.first * W,
                                                                 c + lanes.first * W, accumulate);
  });
}

// The products in T (fused multiply-adds).
template <class T, class Arch, ALayout Layout>
inline void gemm_rows(int64_t rows, int64_t depth, const T* a, int64_t lda, const T* b, T* c, bool accumulate) {
  gemm_rows_with<FmaStep<T, Arch>, Arch, Layout>(rows, depth, a, lda, b, c, accumulate);
}

// The products whose rows are the D dims of a slab: C[d][lanes] (+)= sum_k A(d, k) B[k][lanes]
// for every d < D, with A(d, k) = a[k * lda + d] (rows of V, K, q or dO read a few dims at a
// time), Blocking::dim_rows dims per call. Products over keys on a window's diagonal edges
// leave the last vector of lanes out of their first edges.head steps and the first vector out
// of their last edges.tail steps (KeyEdges); one instantiation serves both, so that the
// kernels of every path are compiled once.
template <class Step, class Arch>
inline void gemm_dims(int64_t D, int64_t depth, const typename Step::a_type* a, int64_t lda,
                      const typename Step::b_type* b, typename Step::c_type* c, bool accumulate, KeyEdges edges = {}) {
  using B = Blocking<typename Step::c_type, Arch>;
  constexpr int R = B::dim_rows;
  for (int64_t d0 = 0; d0 < D; d0 += R)
    gemm_rows_with<Step, Arch, ALayout::m_adjacent, B::vectors, R, true>(std::min<int64_t>(R, D - d0), depth, a + d0,
                                                                         lda, b, c + d0 * B::lanes, accumulate, edges);
}

// One packed panel: panel[k * Blocking::rows + m] = A(m, k), of `rows` <= Blocking::rows rows (short
// edge panels reuse the same packing).
template <class T, class Arch>
inline void gemm_panel(int64_t rows, int64_t depth, const T* panel, const T* b, T* c, bool accumulate) {
  gemm_rows<T, Arch, ALayout::m_adjacent>(rows, depth, panel, Blocking<T, Arch>::rows, b, c, accumulate);
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
