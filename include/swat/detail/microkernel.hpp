// The one register-blocked micro-kernel behind both products of attention:
//   C[m][lanes] (+)= sum_k A(m, k) * B[k][lanes]   for m < M rows, lanes = NV vectors,
// A broadcast one scalar at a time from a packed panel, B and C rows of vectors.
// Scores use it as S^T[key][query] = K[key][:] . Q^T[:][query] (A = a panel of M keys),
// outputs as O^T[d][query] += V[:][d] . P^T[:][query] (A = a panel of M dims of V), so
// queries always sit along the SIMD lanes and one kernel serves both products.
#pragma once

#include "isa_namespace.hpp"

#include <cstdint>

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
};

// Where A(m, k) lives: `m_adjacent`, A(m, k) = a[k * lda + m] (packed panels, lda = Blocking::rows,
// or rows of V read as M dims at a time); `k_adjacent`, A(m, k) = a[m * lda + k] (M rows of K,
// each row read along its depth). Either way A needs no transposing copy: the kernel broadcasts
// one scalar at a time, and a broadcast costs the same from any address.
enum class ALayout { m_adjacent, k_adjacent };

// C[m][lanes] (+)= sum_k A(m, k) * B[k][lanes] for m < Rows. B and C rows are `lanes` apart:
// their strides are compile-time constants, leaving one pointer bump per step.
template <class T, class Arch, int Rows, ALayout Layout>
SWAT_NOINLINE void micro_gemm(int64_t depth, const T* a, int64_t lda, const T* b, T* c, bool accumulate) {
  using V = Vec<T, Arch>;
  using vec = typename V::type;
  constexpr int NV = Blocking<T, Arch>::vectors;
  constexpr int64_t W = static_cast<int64_t>(V::width);
  constexpr int64_t L = Blocking<T, Arch>::lanes;
  // The accumulators only live in registers if every loop over them is unrolled; -O2 alone
  // does not (it spilled them and ran at a third of the speed), so the unrolling is spelled out.
  vec acc[Rows][NV];
  SWAT_UNROLL
  for (int m = 0; m < Rows; ++m)
    SWAT_UNROLL
    for (int v = 0; v < NV; ++v) acc[m][v] = accumulate ? V::load(c + m * L + v * W) : V::broadcast(T(0));
  // Per step A advances by `step`; the rows of one step sit `row` apart (1 when m_adjacent).
  const int64_t step = Layout == ALayout::m_adjacent ? lda : 1;
  int64_t row[Rows];
  SWAT_UNROLL
  for (int m = 0; m < Rows; ++m) row[m] = Layout == ALayout::m_adjacent ? m : m * lda;
  for (int64_t k = 0; k < depth; ++k, a += step, b += L) {
    vec bv[NV];
    SWAT_UNROLL
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * W);
    SWAT_UNROLL
    for (int m = 0; m < Rows; ++m) {
      const vec av = V::broadcast(a[row[m]]);
      SWAT_UNROLL
      for (int v = 0; v < NV; ++v) acc[m][v] = V::fma(av, bv[v], acc[m][v]);
    }
  }
  SWAT_UNROLL
  for (int m = 0; m < Rows; ++m)
    SWAT_UNROLL
    for (int v = 0; v < NV; ++v) V::store(c + m * L + v * W, acc[m][v]);
}

// `rows` <= Blocking::rows rows of A; short ones (edges of D or of a key block) take a smaller
// instantiation, as BLIS kernels handle m < MR.
template <class T, class Arch, ALayout Layout, int Rows = Blocking<T, Arch>::rows>
inline void gemm_rows(int64_t rows, int64_t depth, const T* a, int64_t lda, const T* b, T* c, bool accumulate) {
  if (rows == Rows) {
    micro_gemm<T, Arch, Rows, Layout>(depth, a, lda, b, c, accumulate);
  } else if constexpr (Rows > 1) {
    gemm_rows<T, Arch, Layout, Rows - 1>(rows, depth, a, lda, b, c, accumulate);
  }
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
