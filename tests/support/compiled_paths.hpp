// SWAT_TEST_COMPILED_PATHS(X): X(path) for each SIMD path this build compiled its per-ISA tests
// for, native best first, then the emulated widths, portable last (swat::available_isas()'s
// order). CMake defines SWAT_TEST_PRIMITIVES_<PATH> for each (tests/CMakeLists.txt): the native
// paths swat::dispatch also builds, and the emulated ones when SWAT_DISPATCH_EMULATED is on.
// Macros only, no code: the per-ISA objects and the baseline test program may both include it.
#pragma once

#ifdef SWAT_TEST_PRIMITIVES_AVX512
#define SWAT_TEST_PATH_AVX512(X) X(avx512)
#else
#define SWAT_TEST_PATH_AVX512(X)
#endif
#ifdef SWAT_TEST_PRIMITIVES_AVX2
#define SWAT_TEST_PATH_AVX2(X) X(avx2)
#else
#define SWAT_TEST_PATH_AVX2(X)
#endif
#ifdef SWAT_TEST_PRIMITIVES_SSE2
#define SWAT_TEST_PATH_SSE2(X) X(sse2)
#else
#define SWAT_TEST_PATH_SSE2(X)
#endif
#ifdef SWAT_TEST_PRIMITIVES_NEON
#define SWAT_TEST_PATH_NEON(X) X(neon)
#else
#define SWAT_TEST_PATH_NEON(X)
#endif
#ifdef SWAT_TEST_PRIMITIVES_EMULATED16
#define SWAT_TEST_PATH_EMULATED16(X) X(emulated16)
#else
#define SWAT_TEST_PATH_EMULATED16(X)
#endif
#ifdef SWAT_TEST_PRIMITIVES_EMULATED8
#define SWAT_TEST_PATH_EMULATED8(X) X(emulated8)
#else
#define SWAT_TEST_PATH_EMULATED8(X)
#endif
#ifdef SWAT_TEST_PRIMITIVES_EMULATED4
#define SWAT_TEST_PATH_EMULATED4(X) X(emulated4)
#else
#define SWAT_TEST_PATH_EMULATED4(X)
#endif

#define SWAT_TEST_COMPILED_PATHS(X)                                                             \
  SWAT_TEST_PATH_AVX512(X) SWAT_TEST_PATH_AVX2(X) SWAT_TEST_PATH_SSE2(X) SWAT_TEST_PATH_NEON(X) \
  SWAT_TEST_PATH_EMULATED16(X) SWAT_TEST_PATH_EMULATED8(X) SWAT_TEST_PATH_EMULATED4(X) X(portable)
