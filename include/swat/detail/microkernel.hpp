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

// C[m][lanes] (+)= sum_k panel[k * Blocking::rows + m] * B[k][lanes] for m < Rows (Rows <= the
// panel width, so short edge panels reuse the same packing). B and C rows are `lanes` apart:
// every stride is a compile-time constant, leaving one pointer bump per step.
template <class T, class Arch, int Rows>
SWAT_NOINLINE void micro_gemm(int64_t depth, const T* panel, const T* b, T* c, bool accumulate) {
  using V = Vec<T, Arch>;
  using vec = typename V::type;
  constexpr int NV = Blocking<T, Arch>::vectors;
  constexpr int P = Blocking<T, Arch>::rows;
  constexpr int64_t W = static_cast<int64_t>(V::width);
  constexpr int64_t L = Blocking<T, Arch>::lanes;
  // The accumulators only live in registers if every loop over them is unrolled; -O2 alone
  // does not (it spilled them and ran at a third of the speed), so the unrolling is spelled out.
  vec acc[Rows][NV];
  SWAT_UNROLL
  for (int m = 0; m < Rows; ++m)
    SWAT_UNROLL
    for (int v = 0; v < NV; ++v) acc[m][v] = accumulate ? V::load(c + m * L + v * W) : V::broadcast(T(0));
  for (int64_t k = 0; k < depth; ++k, panel += P, b += L) {
    vec bv[NV];
    SWAT_UNROLL
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * W);
    SWAT_UNROLL
    for (int m = 0; m < Rows; ++m) {
      const vec av = V::broadcast(panel[m]);
      SWAT_UNROLL
      for (int v = 0; v < NV; ++v) acc[m][v] = V::fma(av, bv[v], acc[m][v]);
    }
  }
  SWAT_UNROLL
  for (int m = 0; m < Rows; ++m)
    SWAT_UNROLL
    for (int v = 0; v < NV; ++v) V::store(c + m * L + v * W, acc[m][v]);
}

// One panel of `rows` <= Blocking::rows rows; short panels (edges of D or of a key block) take
// a smaller instantiation, as BLIS kernels handle m < MR.
template <class T, class Arch, int Rows = Blocking<T, Arch>::rows>
inline void gemm_panel(int64_t rows, int64_t depth, const T* panel, const T* b, T* c, bool accumulate) {
  if (rows == Rows) {
    micro_gemm<T, Arch, Rows>(depth, panel, b, c, accumulate);
  } else if constexpr (Rows > 1) {
    gemm_panel<T, Arch, Rows - 1>(rows, depth, panel, b, c, accumulate);
  }
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
