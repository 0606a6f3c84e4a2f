// Compiler hints the kernels rely on for speed at any optimisation level.
#pragma once

// SWAT_UNROLL: full unrolling of loops over registers (accumulator blocks, polynomial terms);
// at -O2 GCC leaves them rolled, spills the registers and runs at a third of the speed.
// SWAT_NOINLINE: the micro-kernel stays out of line; inlined into its caller's loops it lost a
// fifth of its speed to register pressure.
// SWAT_INLINE: a function whose arguments are arrays of registers (transpose_sum's 16
// accumulators): called out of line, the array goes through memory.
#if defined(__clang__)
#define SWAT_UNROLL _Pragma("unroll")
#define SWAT_NOINLINE __attribute__((noinline))
#define SWAT_INLINE inline __attribute__((always_inline))
#elif defined(__GNUC__)
#define SWAT_UNROLL _Pragma("GCC unroll 16")
#define SWAT_NOINLINE __attribute__((noinline))
#define SWAT_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define SWAT_UNROLL
#define SWAT_NOINLINE __declspec(noinline)
#define SWAT_INLINE __forceinline
#else
#define SWAT_UNROLL
#define SWAT_NOINLINE
#define SWAT_INLINE inline
#endif

// SWAT_PREFETCH(address): a hint to fetch the cache line holding `address`. Rows of K, V, Q and O
// are often a page apart or more (one head of many), where hardware prefetchers stop, so the
// packing loops ask for the rows they will need a few iterations ahead. SWAT_PREFETCH_WRITE asks
// for a line about to be written (an output row), so the store need not wait for it.
// SWAT_PREFETCH_FAR asks for a line needed much later into the outer caches only (locality 1:
// prefetcht2 on x86), so that a stream read far ahead does not evict what L1 holds now.
#if defined(__GNUC__) || defined(__clang__)
#define SWAT_PREFETCH(address) __builtin_prefetch(address)
#define SWAT_PREFETCH_WRITE(address) __builtin_prefetch(address, 1)
#define SWAT_PREFETCH_FAR(address) __builtin_prefetch(address, 0, 1)
#else
#define SWAT_PREFETCH(address) ((void)0)
#define SWAT_PREFETCH_WRITE(address) ((void)0)
#define SWAT_PREFETCH_FAR(address) ((void)0)
#endif
