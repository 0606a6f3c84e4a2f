// The one register-blocked micro-kernel behind both products of attention:
//   C[m][lanes] (+)= sum_k A(m, k) * B[k][lanes]   for m < M, lanes < NV vectors,
// A broadcast one scalar at a time from any strided layout, B and C rows of vectors.
// Scores use it as S^T[key][query] = K[key][:] . Q^T[:][query] (A = keys by row),
// outputs as O^T[d][query] += V[:][d] . P^T[:][query] (A = values by column), so queries
// always sit along the SIMD lanes and K and V are read in their natural row layout.
#pragma once

#include "isa_namespace.hpp"

#include <cstdint>

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

template <class T, class Arch, int M, int NV>
inline void micro_gemm(int64_t depth, const T* a, int64_t a_row_stride, int64_t a_depth_stride, const T* b,
                       int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  using V = Vec<T, Arch>;
  using vec = typename V::type;
  constexpr int64_t W = static_cast<int64_t>(V::width);
  vec acc[M][NV];
  for (int m = 0; m < M; ++m)
    for (int v = 0; v < NV; ++v) acc[m][v] = accumulate ? V::load(c + m * ldc + v * W) : V::broadcast(T(0));
  const T* a_rows[M];
  for (int m = 0; m < M; ++m) a_rows[m] = a + m * a_row_stride;
  for (int64_t k = 0; k < depth; ++k) {
    vec bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + k * ldb + v * W);
    for (int m = 0; m < M; ++m) {
      const vec av = V::broadcast(a_rows[m][k * a_depth_stride]);
      for (int v = 0; v < NV; ++v) acc[m][v] = V::fma(av, bv[v], acc[m][v]);
    }
  }
  for (int m = 0; m < M; ++m)
    for (int v = 0; v < NV; ++v) V::store(c + m * ldc + v * W, acc[m][v]);
}

// C rows [0, rows) of one lane block, rows taken M at a time and the remainder with a
// smaller instantiation (edge sizes handled here, as BLIS kernels do).
template <class T, class Arch, int M = Blocking<T, Arch>::rows>
inline void gemm_rows(int64_t rows, int64_t depth, const T* a, int64_t a_row_stride, int64_t a_depth_stride,
                      const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  constexpr int NV = Blocking<T, Arch>::vectors;
  int64_t m = 0;
  for (; m + M <= rows; m += M)
    micro_gemm<T, Arch, M, NV>(depth, a + m * a_row_stride, a_row_stride, a_depth_stride, b, ldb, c + m * ldc, ldc,
                               accumulate);
  if constexpr (M > 1) {
    if (m < rows)
      gemm_rows<T, Arch, M - 1>(rows - m, depth, a + m * a_row_stride, a_row_stride, a_depth_stride, b, ldb,
                                c + m * ldc, ldc, accumulate);
  }
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
