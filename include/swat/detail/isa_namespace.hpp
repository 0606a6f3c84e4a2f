// The inline namespaces that keep differently compiled copies of swat apart at link time.
//
// SWAT_ISA_NAMESPACE holds every kernel internal. swat::dispatch compiles the kernels once per
// ISA, each under its own name (isa_avx512, isa_avx2, ...), so the linker can never merge an
// AVX-512 copy of an inline function into code meant for older CPUs. Under the plain header
// the name says which path the caller's flags allow best (header_avx2, ...), so translation
// units built with different -m flags keep their kernels apart too.
//
// SWAT_API_NAMESPACE holds the entry points (forward, backward, the cache, ...) and the lookup of
// their kernels, whose bodies differ between a program part that links swat::dispatch and one
// that uses the plain header. Different names make the two kinds coexist in one program: each
// part calls its own copy, and the one-definition rule is never at stake.
#pragma once

#include <xsimd/config/xsimd_config.hpp>

#if XSIMD_WITH_AVX512F
#define SWAT_FLAGS_BEST_PATH avx512
#elif XSIMD_WITH_FMA3_AVX2
#define SWAT_FLAGS_BEST_PATH avx2
#elif XSIMD_WITH_NEON
#define SWAT_FLAGS_BEST_PATH neon
#elif XSIMD_WITH_SSE2
#define SWAT_FLAGS_BEST_PATH sse2
#else
#define SWAT_FLAGS_BEST_PATH portable
#endif

#define SWAT_NAMESPACE_JOIN_(a, b) a##b
#define SWAT_NAMESPACE_JOIN(a, b) SWAT_NAMESPACE_JOIN_(a, b)

#ifndef SWAT_ISA_NAMESPACE
#define SWAT_ISA_NAMESPACE SWAT_NAMESPACE_JOIN(header_, SWAT_FLAGS_BEST_PATH)
#endif

#if defined(SWAT_RUNTIME_DISPATCH)
#define SWAT_API_NAMESPACE runtime_dispatch
#elif defined(SWAT_COMPILE_ALL_PATHS)
#define SWAT_API_NAMESPACE SWAT_NAMESPACE_JOIN(SWAT_NAMESPACE_JOIN(header_, SWAT_FLAGS_BEST_PATH), _all_paths)
#else
#define SWAT_API_NAMESPACE SWAT_NAMESPACE_JOIN(header_, SWAT_FLAGS_BEST_PATH)
#endif
