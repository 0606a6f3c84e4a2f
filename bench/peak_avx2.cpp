// FP32 FMA peak probe, AVX2 + FMA (compiled with -mavx2 -mfma; only called when the CPU has both).
// 12 independent chains of 8-wide FMAs: enough to cover latency (4-5 cycles) x 2 FMA pipes.
#include <immintrin.h>

#include "peak.hpp"

namespace swat_bench {

double peak_kernel_avx2(int64_t iterations, float seed) {
  const __m256 a = _mm256_set1_ps(0.9999999f);
  const __m256 b = _mm256_set1_ps(1e-7f * seed);
  __m256 c0 = _mm256_set1_ps(seed + 0.00f), c1 = _mm256_set1_ps(seed + 0.01f);
  __m256 c2 = _mm256_set1_ps(seed + 0.02f), c3 = _mm256_set1_ps(seed + 0.03f);
  __m256 c4 = _mm256_set1_ps(seed + 0.04f), c5 = _mm256_set1_ps(seed + 0.05f);
  __m256 c6 = _mm256_set1_ps(seed + 0.06f), c7 = _mm256_set1_ps(seed + 0.07f);
  __m256 c8 = _mm256_set1_ps(seed + 0.08f), c9 = _mm256_set1_ps(seed + 0.09f);
  __m256 c10 = _mm256_set1_ps(seed + 0.10f), c11 = _mm256_set1_ps(seed + 0.11f);
  for (int64_t i = 0; i < iterations; ++i) {
    for (int round = 0; round < 2; ++round) {  // two rounds per trip: less loop overhead
      c0 = _mm256_fmadd_ps(c0, a, b);
      c1 = _mm256_fmadd_ps(c1, a, b);
      c2 = _mm256_fmadd_ps(c2, a, b);
      c3 = _mm256_fmadd_ps(c3, a, b);
      c4 = _mm256_fmadd_ps(c4, a, b);
      c5 = _mm256_fmadd_ps(c5, a, b);
      c6 = _mm256_fmadd_ps(c6, a, b);
      c7 = _mm256_fmadd_ps(c7, a, b);
      c8 = _mm256_fmadd_ps(c8, a, b);
      c9 = _mm256_fmadd_ps(c9, a, b);
      c10 = _mm256_fmadd_ps(c10, a, b);
      c11 = _mm256_fmadd_ps(c11, a, b);
    }
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                           _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  double total = 0;
  for (float x : lanes) total += x;
  return total;
}

}  // namespace swat_bench
