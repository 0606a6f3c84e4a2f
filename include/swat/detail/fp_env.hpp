// The floating-point environment the kernels run in: subnormal results flushed to zero.
//
// With the sigmoid, a row's sums start at zero and take weights as small as 2^-125 (exp's
// cutoff) times values below one: under a strongly decaying ALiBi head most products of a long
// window land below 2^-126, the smallest normal float. Intel cores take a microcode assist of
// a hundred cycles or more for each SIMD result that is subnormal; AMD's Zen cores do not. On
// an Intel Xeon (AVX-512) the SWAT layer's forward (D 128, w 1024, n 16384, H 8, one thread)
// ran 1.8x as long as with flushing, 1005-1014 against 560-592 ms, the softmax level with both.
//
// Each task of a kernel sets MXCSR's flush-to-zero bit for its own arithmetic and gives the
// thread back the mode it found (rounding, masks, DAZ; the exception flags the task raised stay
// raised, as they would without the guard). Only results are flushed (FTZ), never inputs (DAZ):
// a subnormal q, k or v the caller passes is read as it is. A flushed result differs from the
// exact one by less than 2^-126, far inside SPEC 4's bounds, and the same input gives the same
// bits on every thread, as before. Other architectures run unchanged: AArch64 cores handle
// subnormals at full speed in NEON.
#pragma once

#include "isa_namespace.hpp"

#if defined(__SSE__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 1)
#include <xmmintrin.h>
#define SWAT_HAS_MXCSR 1
#else
#define SWAT_HAS_MXCSR 0
#endif

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

class FlushSubnormalResults {
 public:
  FlushSubnormalResults(const FlushSubnormalResults&) = delete;
  FlushSubnormalResults& operator=(const FlushSubnormalResults&) = delete;
#if SWAT_HAS_MXCSR
  FlushSubnormalResults() : saved_(_mm_getcsr()) {
    if ((saved_ & _MM_FLUSH_ZERO_ON) == 0) _mm_setcsr(saved_ | _MM_FLUSH_ZERO_ON);
  }
  // The control bits as they were; the exception flags (bits 0-5) the task raised stay raised.
  ~FlushSubnormalResults() {
    if ((saved_ & _MM_FLUSH_ZERO_ON) == 0) _mm_setcsr(saved_ | (_mm_getcsr() & kFlags));
  }

 private:
  static constexpr unsigned kFlags = 0x3f;
  unsigned saved_;
#else
  FlushSubnormalResults() = default;
#endif
};

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
