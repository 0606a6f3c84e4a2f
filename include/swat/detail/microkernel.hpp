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

// C[m][lanes] (+)= sum_k A(m, k) * B[k][lanes] for m < Rows. B and C rows are `lanes` apart:
// their strides are compile-time constants, leaving one pointer bump per step.
template <class Step, class Arch, int Rows, ALayout Layout>
SWAT_NOINLINE void micro_gemm(int64_t depth, const typename Step::a_type* a, int64_t lda,
                              const typename Step::b_type* b, typename Step::c_type* c, bool accumulate) {
  using C = typename Step::c_type;
  using V = Vec<C, Arch>;
  using vec = typename V::type;
  constexpr int NV = Blocking<C, Arch>::vectors;
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
  for (int64_t k = 0; k < depth; ++k, a += step, b += L) {
    typename Step::b_vec bv[NV];
    SWAT_UNROLL
    for (int v = 0; v < NV; ++v) bv[v] = Step::load_b(b + v * W);
    SWAT_UNROLL
    for (int m = 0; m < Rows; ++m) {
      const typename Step::a_vec av = Step::broadcast_a(a + row[m]);
      SWAT_UNROLL
      for (int v = 0; v < NV; ++v) acc[m][v] = Step::madd(av, bv[v], acc[m][v]);
    }
  }
  SWAT_UNROLL
  for (int m = 0; m < Rows; ++m)
    SWAT_UNROLL
    for (int v = 0; v < NV; ++v) V::store(c + m * L + v * W, acc[m][v]);
}

// `rows` <= Blocking::rows rows of A; short ones (edges of D or of a key block) take a smaller
// instantiation, as BLIS kernels handle m < MR.
template <class Step, class Arch, ALayout Layout, int Rows = Blocking<typename Step::c_type, Arch>::rows>
inline void gemm_rows_with(int64_t rows, int64_t depth, const typename Step::a_type* a, int64_t lda,
                           const typename Step::b_type* b, typename Step::c_type* c, bool accumulate) {
  if (rows == Rows) {
    micro_gemm<Step, Arch, Rows, Layout>(depth, a, lda, b, c, accumulate);
  } else if constexpr (Rows > 1) {
    gemm_rows_with<Step, Arch, Layout, Rows - 1>(rows, depth, a, lda, b, c, accumulate);
  }
}

// The products in T (fused multiply-adds).
template <class T, class Arch, ALayout Layout>
inline void gemm_rows(int64_t rows, int64_t depth, const T* a, int64_t lda, const T* b, T* c, bool accumulate) {
  gemm_rows_with<FmaStep<T, Arch>, Arch, Layout>(rows, depth, a, lda, b, c, accumulate);
}

// The products whose rows are the D dims of a slab: C[d][lanes] (+)= sum_k A(d, k) B[k][lanes]
// for every d < D, with A(d, k) = a[k * lda + d] (rows of V, K, q or dO read a few dims at a
// time), Blocking::dim_rows dims per call.
template <class Step, class Arch>
inline void gemm_dims(int64_t D, int64_t depth, const typename Step::a_type* a, int64_t lda,
                      const typename Step::b_type* b, typename Step::c_type* c, bool accumulate) {
  using B = Blocking<typename Step::c_type, Arch>;
  constexpr int R = B::dim_rows;
  for (int64_t d0 = 0; d0 < D; d0 += R)
    gemm_rows_with<Step, Arch, ALayout::m_adjacent, R>(std::min<int64_t>(R, D - d0), depth, a + d0, lda, b,
                                                       c + d0 * B::lanes, accumulate);
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
