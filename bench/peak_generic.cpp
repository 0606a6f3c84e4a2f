// FP32 peak probe without ISA flags: 4-wide GCC/Clang vector extension (SSE2 on x86-64, where
// it is a multiply and an add, 2 FLOPs per lane like one FMA; NEON fmla on AArch64).
// 12 independent chains cover the mul + add latency on two pipes.
#include "peak.hpp"

namespace swat_bench {

double peak_kernel_generic(int64_t iterations, float seed) {
  typedef float v4 __attribute__((vector_size(16)));
  const v4 a = {0.9999999f, 0.9999999f, 0.9999999f, 0.9999999f};
  const float bs = 1e-7f * seed;
  const v4 b = {bs, bs, bs, bs};
  v4 c[12];
  for (int j = 0; j < 12; ++j) {
    const float x = seed + 0.01f * static_cast<float>(j);
    c[j] = v4{x, x, x, x};
  }
  for (int64_t i = 0; i < iterations; ++i) {
    for (int round = 0; round < 2; ++round) {
#pragma GCC unroll 12
      for (int j = 0; j < 12; ++j) c[j] = c[j] * a + b;
    }
  }
  v4 s = c[0];
  for (int j = 1; j < 12; ++j) s += c[j];
  return static_cast<double>(s[0]) + s[1] + s[2] + s[3];
}

}  // namespace swat_bench
