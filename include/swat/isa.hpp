// Instruction-set paths: which the CPU can run, and the architecture tag behind each. The
// portable path needs no SIMD and always exists; the emulated paths run the kernels at 4, 8 and
// 16 lanes on plain arrays, so any CPU tests the width-dependent logic of every native path.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

#include "error.hpp"

namespace swat {

enum class Isa {
  automatic,  // the best path this build has and this CPU runs
  avx512,     // AVX-512F (16 floats)
  avx2,       // AVX2 with FMA (8 floats)
  sse2,       // SSE2, the x86-64 baseline (4 floats)
  neon,       // ARM NEON (4 floats)
  portable,   // plain C++, one element at a time: the fallback where xsimd has no target
  // Plain C++ on arrays of 4, 8 or 16 lanes of any type, for testing (in swat::dispatch when
  // built with SWAT_DISPATCH_EMULATED); listed after the native paths, never chosen by automatic.
  emulated4,
  emulated8,
  emulated16,
};

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::automatic: return "automatic";
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    case Isa::sse2: return "sse2";
    case Isa::neon: return "neon";
    case Isa::portable: return "portable";
    case Isa::emulated4: return "emulated4";
    case Isa::emulated8: return "emulated8";
    case Isa::emulated16: return "emulated16";
  }
  return "unknown";
}

// Tag of the portable path: the kernels are written once over a vector-traits layer, and this
// tag selects its one-lane scalar implementation.
struct portable_arch {
  static constexpr const char* name() { return "portable"; }
};

// Tag of an emulated path: Lanes lanes of every element type, each operation a loop over them.
template <int Lanes>
struct emulated_arch {
  static constexpr int lanes = Lanes;
};

namespace detail {

// F16C (half <-> float conversions), which the AVX2 and AVX-512 paths are built with; every
// AVX2 processor has it, but a path never assumes what it can check. xsimd does not report it.
inline bool cpu_has_f16c() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
#else
  return true;
#endif
}

// AVX-512 BF16 (vdpbf16ps, dot products of bf16 pairs into float): CPUID leaf 7, sub-leaf 1,
// EAX bit 5. The OS side (ZMM state) is AVX-512F's, which cpu_runs checks.
inline bool cpu_has_avx512_bf16() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5)) != 0;
#else
  return false;
#endif
}

// True when this CPU (and its OS) can execute the path.
inline bool cpu_runs(Isa isa) {
  const auto cpu = xsimd::available_architectures();
  switch (isa) {
    case Isa::avx512: return cpu.avx512f && cpu_has_f16c();
    case Isa::avx2: return cpu.avx2 && cpu.fma3_avx2 && cpu_has_f16c();
    case Isa::sse2: return cpu.sse2;
    case Isa::neon: return cpu.neon || cpu.neon64;
    case Isa::portable:
    case Isa::emulated4:
    case Isa::emulated8:
    case Isa::emulated16:
    case Isa::automatic: return true;
  }
  return false;
}

// The xsimd tag each path is built with, when the current compile flags allow it.
template <Isa isa> struct arch_of { using type = void; };
#if XSIMD_WITH_AVX512F
template <> struct arch_of<Isa::avx512> { using type = xsimd::avx512f; };
#endif
#if XSIMD_WITH_FMA3_AVX2
template <> struct arch_of<Isa::avx2> { using type = xsimd::fma3<xsimd::avx2>; };
#endif
#if XSIMD_WITH_SSE2
template <> struct arch_of<Isa::sse2> { using type = xsimd::sse2; };
#endif
#if XSIMD_WITH_NEON64
template <> struct arch_of<Isa::neon> { using type = xsimd::neon64; };
#elif XSIMD_WITH_NEON
template <> struct arch_of<Isa::neon> { using type = xsimd::neon; };
#endif
template <> struct arch_of<Isa::portable> { using type = portable_arch; };
template <> struct arch_of<Isa::emulated4> { using type = emulated_arch<4>; };
template <> struct arch_of<Isa::emulated8> { using type = emulated_arch<8>; };
template <> struct arch_of<Isa::emulated16> { using type = emulated_arch<16>; };

template <Isa isa>
constexpr bool flags_allow = !std::is_void<typename arch_of<isa>::type>::value;

constexpr bool is_emulated(Isa isa) { return isa == Isa::emulated4 || isa == Isa::emulated8 || isa == Isa::emulated16; }

// The best native path the compile flags of this translation unit allow, else portable.
constexpr Isa flags_best_isa = flags_allow<Isa::avx512> ? Isa::avx512
                               : flags_allow<Isa::avx2> ? Isa::avx2
                               : flags_allow<Isa::neon> ? Isa::neon
                               : flags_allow<Isa::sse2> ? Isa::sse2
                                                        : Isa::portable;

}  // namespace detail
}  // namespace swat
