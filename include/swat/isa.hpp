// Instruction-set paths: which the CPU can run, and the architecture tag behind each. The
// portable path needs no SIMD and always exists; the emulated paths run the kernels at 4, 8 and
// 16 lanes on plain arrays, so any CPU tests the width-dependent logic of every native path.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <immintrin.h>  // _xgetbv
#include <intrin.h>     // __cpuid, __cpuidex
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

// What the x86 paths need of the CPU and of the OS, from CPUID and XCR0. Our own reading rather
// than xsimd's: the xsimd this builds with looks at AVX-512F alone (the avx512 path is compiled
// with CD, BW and DQ too, which AVX-512F processors such as Knights Landing lack) and never asks
// the OS whether it saves the AVX and AVX-512 registers (XCR0; a hypervisor may leave them off
// on a CPU that has them), either of which would make a chosen path fault.
struct X86Features {
  uint32_t leaf1_ecx = 0;    // CPUID.1:ECX
  uint32_t leaf7_ebx = 0;    // CPUID.(7,0):EBX
  uint32_t leaf7_1_eax = 0;  // CPUID.(7,1):EAX
  uint64_t xcr0 = 0;         // XGETBV(0) where the OS enabled it (OSXSAVE), else 0
  uint32_t vendor_ebx = 0;   // CPUID.0:EBX, the first four letters of the vendor's name
  uint32_t leaf1_eax = 0;    // CPUID.1:EAX, the family and model

  // The bits the paths ask for.
  static constexpr uint32_t fma = 1u << 12, osxsave = 1u << 27, avx = 1u << 28, f16c = 1u << 29;  // leaf 1
  static constexpr uint32_t avx2 = 1u << 5, avx512f = 1u << 16, avx512dq = 1u << 17, avx512cd = 1u << 28,
                            avx512bw = 1u << 30;  // leaf 7
  static constexpr uint32_t avx512_bf16 = 1u << 5;  // leaf 7, sub-leaf 1
  static constexpr uint64_t xmm_ymm = 0x6, opmask_zmm = 0xe0;  // XCR0: SSE and AVX state; opmask, ZMM0-15 high, ZMM16-31
  static constexpr uint32_t genuine_intel = 0x756e6547;  // "Genu", of GenuineIntel
  static constexpr uint32_t authentic_amd = 0x68747541;  // "Auth", of AuthenticAMD
};

// The CPU's family as its vendors count it: the base family, plus the extended family where the
// base reads 15 (AMD's Zen 3 and 4: 25, Zen 5: 26; Intel's cores: 6).
inline uint32_t x86_family(const X86Features& f) {
  const uint32_t base = (f.leaf1_eax >> 8) & 0xf;
  return base == 0xf ? base + ((f.leaf1_eax >> 20) & 0xff) : base;
}

// The features of `isa`'s path as CPUID and XCR0 report them (avx512 and avx2 only; any other
// path: false). Separate from the reading so that tests can give it any processor's bits.
inline bool x86_features_run(Isa isa, const X86Features& f) {
  const auto all = [](uint64_t word, uint64_t bits) { return (word & bits) == bits; };
  const bool avx2_path = all(f.leaf1_ecx, f.fma | f.osxsave | f.avx | f.f16c) && all(f.leaf7_ebx, f.avx2) &&
                         all(f.xcr0, f.xmm_ymm);
  switch (isa) {
    case Isa::avx2: return avx2_path;
    case Isa::avx512:
      return avx2_path && all(f.leaf7_ebx, f.avx512f | f.avx512dq | f.avx512cd | f.avx512bw) &&
             all(f.xcr0, f.opmask_zmm);
    default: return false;
  }
}

// CPUID (leaf, sub-leaf) into r (EAX, EBX, ECX, EDX): false where the CPU has no such leaf, or
// off x86 and with a compiler other than GCC, Clang and MSVC.
inline bool x86_cpuid(unsigned leaf, unsigned subleaf, uint32_t r[4]) {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(leaf, subleaf, &eax, &ebx, &ecx, &edx)) return false;
  r[0] = eax, r[1] = ebx, r[2] = ecx, r[3] = edx;
  return true;
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
  int x[4] = {0, 0, 0, 0};
  __cpuid(x, 0);
  if (static_cast<unsigned>(x[0]) < leaf) return false;
  __cpuidex(x, static_cast<int>(leaf), static_cast<int>(subleaf));
  for (int i = 0; i < 4; ++i) r[i] = static_cast<uint32_t>(x[i]);
  return true;
#else
  (void)leaf, (void)subleaf, (void)r;
  return false;
#endif
}

// XCR0, which only exists when CPUID says OSXSAVE.
inline uint64_t x86_xcr0() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return static_cast<uint64_t>(hi) << 32 | lo;
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
  return _xgetbv(0);
#else
  return 0;
#endif
}

// This CPU's X86Features (zeros where x86_cpuid cannot ask).
inline X86Features read_x86_features() {
  X86Features f;
  uint32_t r[4] = {0, 0, 0, 0};
  if (x86_cpuid(0, 0, r)) f.vendor_ebx = r[1];
  if (x86_cpuid(1, 0, r)) f.leaf1_eax = r[0], f.leaf1_ecx = r[2];
  if (x86_cpuid(7, 0, r)) {
    f.leaf7_ebx = r[1];
    if (r[0] >= 1 && x86_cpuid(7, 1, r)) f.leaf7_1_eax = r[0];  // EAX of sub-leaf 0: the last sub-leaf
  }
  if (f.leaf1_ecx & f.osxsave) f.xcr0 = x86_xcr0();
  return f;
}

inline const X86Features& x86_features() {
  static const X86Features features = read_x86_features();
  return features;
}

// AVX-512 BF16 (vdpbf16ps, dot products of bf16 pairs into float): CPUID leaf 7, sub-leaf 1,
// EAX bit 5, on top of the avx512 path (whose check covers the OS side, the ZMM state).
inline bool x86_has_avx512_bf16(const X86Features& f) {
  return x86_features_run(Isa::avx512, f) && (f.leaf7_1_eax & f.avx512_bf16) != 0;
}
inline bool cpu_has_avx512_bf16() { return x86_has_avx512_bf16(x86_features()); }

// Whether bf16 pair products are worth taking over float ones where the products bound the
// speed (forward<bf16>'s micro-kernel, with Options::bf16_products): AVX-512 BF16 on a core that
// runs vdpbf16ps, two products a lane, at least at the rate of its float FMAs. AMD's Zen cores
// do (Zen 5: one of each a cycle, forward<bf16> 1.7x forward<float>). Intel's cores with
// AVX-512 BF16 run two FMAs a cycle but one vdpbf16ps every two, half the products: on an Intel
// Xeon (CPUID family 6, model 207) forward<bf16> took 1.76x as long in pairs as in float (D 128,
// w 1024, n 4096, one thread: 215.6 against 122.4 ms), so Intel keeps the float products there.
// The bf16 cache's step, bound by memory, takes the pairs wherever the CPU has them: fewer
// instructions a key, and on that Xeon a step 3-5% faster than in float (w 65536, alternated);
// with GQA, where the products bound the step, it multiplies them there in float FMAs with the
// instruction's arithmetic (bf16_dot.hpp's Bf16FmaPairStep).
inline bool x86_bf16_products_pay(const X86Features& f) {
  return x86_has_avx512_bf16(f) && f.vendor_ebx != f.genuine_intel;
}
inline bool cpu_bf16_products_pay() { return x86_bf16_products_pay(x86_features()); }

// Whether the cache step asks for its rows itself: a lone head's key rows a block ahead into L1
// and value rows further on into L2 (decode_kernel.hpp's attend_lone), and with GQA, whose
// shared rows are always asked into L2, each a block ahead into L1 as well (prefetch_rows). On
// the cores that keep too few of the rows' lines in flight on their own, Intel's and AMD's Zen 5
// (family 26), it does; on AMD's earlier cores it leaves them to the hardware prefetchers, which
// served that step better alone on an AVX-512 EPYC with half Zen 5's FMA rate (asking for the
// rows 64 KiB ahead made a step 1.4x as long there). A lone head, D 128 at w 65536, the step's
// share of the read bandwidth measured after it, alternated runs of the two builds (GQA's
// figures are at prefetch_rows):
// - Intel Xeon (family 6, model 207), three runs: float 82.6-83.2% -> 92.3-94.1% on one thread
//   and 74.5-81.0% -> 91.6-92.1% on two, bf16 69.5-69.9% -> 87.5-88.0% and 67.1-68.1% ->
//   84.9-88.5%.
// - AMD EPYC, Zen 5 (family 26, model 2), three runs: float 68-70% -> 88-91% on one thread and
//   75-81% -> 89-94% on two, bf16 75-79% -> 86-88% and 76-79% -> 82-92%.
inline bool x86_decode_asks_for_rows(const X86Features& f) {
  return f.vendor_ebx == f.genuine_intel || (f.vendor_ebx == f.authentic_amd && x86_family(f) >= 26);
}
inline bool cpu_decode_asks_for_rows() { return x86_decode_asks_for_rows(x86_features()); }

// True when this CPU (and its OS) can execute the path.
inline bool cpu_runs(Isa isa) {
  switch (isa) {
    case Isa::avx512:
    case Isa::avx2: return x86_features_run(isa, x86_features());
    case Isa::sse2: return xsimd::available_architectures().sse2;
    case Isa::neon: {
      const auto cpu = xsimd::available_architectures();
      return cpu.neon || cpu.neon64;
    }
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
