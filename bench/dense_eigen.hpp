// Baseline: dense masked attention from Eigen matrix products, i.e. what a user without a
// sliding-window kernel would write: per head S = Q K^T * scale (n x n), mask outside the window
// (-inf for softmax, weight 0 for sigmoid), activation, O = P V. O(n^2) work and memory.
//
// The Eigen code lives in dense_eigen.cpp alone, compiled with its own flags (see CMakeLists),
// behind this plain interface; no Eigen type crosses it.
#pragma once

#include <cstdint>

namespace swat_bench {

class DenseAttention;  // holds the n x n score and mask matrices

// q [n, H, D], k and v [n, Hkv, D], o [n, H, D], contiguous (B = 1); key j visible to query i
// iff 0 <= i - j < window (window 0 = causal). No ALiBi, no RoPE.
DenseAttention* dense_create(int64_t n, int64_t heads, int64_t kv_heads, int64_t dim, int64_t window,
                             bool softmax);
void dense_run(DenseAttention* dense, const float* q, const float* k, const float* v, float* o);
void dense_destroy(DenseAttention* dense);

// Eigen's vector instruction sets in that translation unit, e.g. "AVX SSE, SSE2, ... FMA".
const char* dense_simd();

}  // namespace swat_bench
