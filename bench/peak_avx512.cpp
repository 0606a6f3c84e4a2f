// FP32 FMA peak probe, AVX-512F (compiled with AVX-512 flags; only called when the CPU has it).
// 16 independent chains of 16-wide FMAs (32 zmm registers available).
#include <immintrin.h>

#include "peak.hpp"

namespace swat_bench {

double peak_kernel_avx512(int64_t iterations, float seed) {
  const __m512 a = _mm512_set1_ps(0.9999999f);
  const __m512 b = _mm512_set1_ps(1e-7f * seed);
  __m512 c0 = _mm512_set1_ps(seed + 0.00f), c1 = _mm512_set1_ps(seed + 0.01f);
  __m512 c2 = _mm512_set1_ps(seed + 0.02f), c3 = _mm512_set1_ps(seed + 0.03f);
  __m512 c4 = _mm512_set1_ps(seed + 0.04f), c5 = _mm512_set1_ps(seed + 0.05f);
  __m512 c6 = _mm512_set1_ps(seed + 0.06f), c7 = _mm512_set1_ps(seed + 0.07f);
  __m512 c8 = _mm512_set1_ps(seed + 0.08f), c9 = _mm512_set1_ps(seed + 0.09f);
  __m512 c10 = _mm512_set1_ps(seed + 0.10f), c11 = _mm512_set1_ps(seed + 0.11f);
  __m512 c12 = _mm512_set1_ps(seed + 0.12f), c13 = _mm512_set1_ps(seed + 0.13f);
  __m512 c14 = _mm512_set1_ps(seed + 0.14f), c15 = _mm512_set1_ps(seed + 0.15f);
  for (int64_t i = 0; i < iterations; ++i) {
    for (int round = 0; round < 2; ++round) {
      c0 = _mm512_fmadd_ps(c0, a, b);
      c1 = _mm512_fmadd_ps(c1, a, b);
      c2 = _mm512_fmadd_ps(c2, a, b);
      c3 = _mm512_fmadd_ps(c3, a, b);
      c4 = _mm512_fmadd_ps(c4, a, b);
      c5 = _mm512_fmadd_ps(c5, a, b);
      c6 = _mm512_fmadd_ps(c6, a, b);
      c7 = _mm512_fmadd_ps(c7, a, b);
      c8 = _mm512_fmadd_ps(c8, a, b);
      c9 = _mm512_fmadd_ps(c9, a, b);
      c10 = _mm512_fmadd_ps(c10, a, b);
      c11 = _mm512_fmadd_ps(c11, a, b);
      c12 = _mm512_fmadd_ps(c12, a, b);
      c13 = _mm512_fmadd_ps(c13, a, b);
      c14 = _mm512_fmadd_ps(c14, a, b);
      c15 = _mm512_fmadd_ps(c15, a, b);
    }
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                           _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)),
                                     _mm512_add_ps(_mm512_add_ps(c12, c13), _mm512_add_ps(c14, c15))));
  return static_cast<double>(_mm512_reduce_add_ps(s));
}

}  // namespace swat_bench
