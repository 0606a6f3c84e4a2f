// W x W block transposes (W = the path's vector width), for turning the kernels' slabs
// ([dim][lanes]: one vector holds one dim of W rows) back into rows. AVX-512 float does it in
// registers (16 loads, 64 shuffles, 16 stores); every other path element by element, which is
// what the callers did before. tests/primitives_test.cpp checks it on every path.
#pragma once

#include "isa_namespace.hpp"

#include <cstdint>
#include <type_traits>

#include "compiler.hpp"
#include "simd.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

#if defined(__AVX512F__) && XSIMD_WITH_AVX512F
// The shuffles in their zero-masked form with a full mask (see reduce.hpp: GCC 12 warns on the
// plain forms wherever they are inlined).
#define swat_shuffle_f32x4(a, b, imm) _mm512_maskz_shuffle_f32x4(0xFFFF, a, b, imm)
#define swat_unpacklo_ps(a, b) _mm512_maskz_unpacklo_ps(0xFFFF, a, b)
#define swat_unpackhi_ps(a, b) _mm512_maskz_unpackhi_ps(0xFFFF, a, b)
#define swat_unpacklo_pd(a, b) _mm512_maskz_unpacklo_pd(0xFF, a, b)
#define swat_unpackhi_pd(a, b) _mm512_maskz_unpackhi_pd(0xFF, a, b)

// out[j][i] = in[i][j] for a 16 x 16 float block. Three steps: pairs of rows interleaved
// (32-bit), then pairs of those (64-bit), which leaves in each 128-bit lane L of r[4g + k] the
// column 4L + k of rows 4g .. 4g + 3; then the 128-bit lanes of the four r[4g + k] of one k
// are transposed as a 4 x 4 block, giving the columns 4L + k whole.
inline void transpose16_avx512(const float* in, int64_t in_stride, float* out, int64_t out_stride) {
  __m512 r[16], t[16];
  SWAT_UNROLL
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(in + i * in_stride);
  SWAT_UNROLL
  for (int i = 0; i < 16; i += 2) {
    t[i] = swat_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = swat_unpackhi_ps(r[i], r[i + 1]);
  }
  SWAT_UNROLL
  for (int g = 0; g < 4; ++g) {
    const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
    r[4 * g] = _mm512_castpd_ps(swat_unpacklo_pd(a, c));
    r[4 * g + 1] = _mm512_castpd_ps(swat_unpackhi_pd(a, c));
    r[4 * g + 2] = _mm512_castpd_ps(swat_unpacklo_pd(b, d));
    r[4 * g + 3] = _mm512_castpd_ps(swat_unpackhi_pd(b, d));
  }
  SWAT_UNROLL
  for (int k = 0; k < 4; ++k) {
    const __m512 x0 = swat_shuffle_f32x4(r[k], r[4 + k], 0x44), x1 = swat_shuffle_f32x4(r[k], r[4 + k], 0xEE);
    const __m512 x2 = swat_shuffle_f32x4(r[8 + k], r[12 + k], 0x44), x3 = swat_shuffle_f32x4(r[8 + k], r[12 + k], 0xEE);
    _mm512_storeu_ps(out + k * out_stride, swat_shuffle_f32x4(x0, x2, 0x88));
    _mm512_storeu_ps(out + (4 + k) * out_stride, swat_shuffle_f32x4(x0, x2, 0xDD));
    _mm512_storeu_ps(out + (8 + k) * out_stride, swat_shuffle_f32x4(x1, x3, 0x88));
    _mm512_storeu_ps(out + (12 + k) * out_stride, swat_shuffle_f32x4(x1, x3, 0xDD));
  }
}
#undef swat_shuffle_f32x4
#undef swat_unpacklo_ps
#undef swat_unpackhi_ps
#undef swat_unpacklo_pd
#undef swat_unpackhi_pd
#endif

// out[j * out_stride + i] = in[i * in_stride + j] for i, j < W.
template <class T, class Arch>
inline void transpose_block(const T* in, int64_t in_stride, T* out, int64_t out_stride) {
  constexpr int64_t W = static_cast<int64_t>(Vec<T, Arch>::width);
#if defined(__AVX512F__) && XSIMD_WITH_AVX512F
  if constexpr (std::is_same<Arch, xsimd::avx512f>::value && std::is_same<T, float>::value)
    return transpose16_avx512(in, in_stride, out, out_stride);
#endif
  for (int64_t i = 0; i < W; ++i)
    for (int64_t j = 0; j < W; ++j) out[j * out_stride + i] = in[i * in_stride + j];
}

// out[c][r] = in[r][c] for r < R, c < C (in's rows C apart, out's R apart): W x W blocks, the
// edges of R and C past the last whole block one by one. The kernels turn a [D][lanes] slab
// into `lanes` rows of D with it (R = D, C = lanes), and rows into a slab (R = lanes, C = D).
template <class T, class Arch>
inline void transpose_matrix(const T* in, int64_t R, int64_t C, T* out) {
  constexpr int64_t W = static_cast<int64_t>(Vec<T, Arch>::width);
  const int64_t whole_r = R / W * W, whole_c = C / W * W;
  for (int64_t r0 = 0; r0 < whole_r; r0 += W)
    for (int64_t c0 = 0; c0 < whole_c; c0 += W) transpose_block<T, Arch>(in + r0 * C + c0, C, out + c0 * R + r0, R);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = r < whole_r ? whole_c : 0; c < C; ++c) out[c * R + r] = in[r * C + c];
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
