// Run-time dispatch: kernels compiled once per ISA, each with that ISA's flags, in the
// swat::dispatch library (target_link_libraries(app PRIVATE swat::dispatch)). A program built
// for a baseline CPU then runs the best path of the CPU it finds itself on.
// Included by forward.hpp when SWAT_RUNTIME_DISPATCH is defined (the library's usage
// requirements define it, together with one SWAT_DISPATCH_HAS_<ISA> per compiled path).
#pragma once

#include "checks.hpp"
#include "isa.hpp"
#include "detail/decode_kernel.hpp"
#include "types.hpp"

namespace swat {
namespace detail {

template <class T>
using ForwardFn = void (*)(const Problem&, const ForwardInputs<T>&, Parallel);

// Defined in the per-ISA translation units of swat::dispatch (src/forward_isa.cpp).
template <Isa isa, class T>
ForwardFn<T> isa_forward();

#define SWAT_DECLARE_ISA_FORWARD(ISA)                   \
  template <>                                           \
  ForwardFn<float> isa_forward<Isa::ISA, float>();      \
  template <>                                           \
  ForwardFn<double> isa_forward<Isa::ISA, double>();    \
  template <>                                           \
  ForwardFn<bf16> isa_forward<Isa::ISA, bf16>();        \
  template <>                                           \
  ForwardFn<f16> isa_forward<Isa::ISA, f16>();
SWAT_DECLARE_ISA_FORWARD(avx512)
SWAT_DECLARE_ISA_FORWARD(avx2)
SWAT_DECLARE_ISA_FORWARD(sse2)
SWAT_DECLARE_ISA_FORWARD(neon)
SWAT_DECLARE_ISA_FORWARD(portable)
#undef SWAT_DECLARE_ISA_FORWARD

// dslopes, dsinks: H doubles the slope (sink) gradients are added to, or nullptr.
template <class T>
using BackwardFn = void (*)(const Problem&, const BackwardInputs<T>&, double* dslopes, double* dsinks, Parallel);

// Defined next to isa_forward, in src/backward_isa.cpp.
template <Isa isa, class T>
BackwardFn<T> isa_backward();

#define SWAT_DECLARE_ISA_BACKWARD(ISA)                  \
  template <>                                           \
  BackwardFn<float> isa_backward<Isa::ISA, float>();    \
  template <>                                           \
  BackwardFn<double> isa_backward<Isa::ISA, double>();
SWAT_DECLARE_ISA_BACKWARD(avx512)
SWAT_DECLARE_ISA_BACKWARD(avx2)
SWAT_DECLARE_ISA_BACKWARD(sse2)
SWAT_DECLARE_ISA_BACKWARD(neon)
SWAT_DECLARE_ISA_BACKWARD(portable)
#undef SWAT_DECLARE_ISA_BACKWARD

// The streaming kernel (SlidingKVCache::step) and the bulk 16-bit conversions, per ISA.
template <class S>
using DecodeFn = void (*)(const Problem&, const DecodeInputs<S>&, Parallel);
template <Isa isa, class S>
DecodeFn<S> isa_decode();
template <Isa isa, class S>
Converters<S> isa_convert();

#define SWAT_DECLARE_ISA_STREAMING(ISA)                                 \
  template <>                                                           \
  DecodeFn<float> isa_decode<Isa::ISA, float>();                        \
  template <>                                                           \
  DecodeFn<double> isa_decode<Isa::ISA, double>();                      \
  template <>                                                           \
  DecodeFn<bf16> isa_decode<Isa::ISA, bf16>();                          \
  template <>                                                           \
  DecodeFn<f16> isa_decode<Isa::ISA, f16>();                            \
  template <>                                                           \
  Converters<bf16> isa_convert<Isa::ISA, bf16>();                       \
  template <>                                                           \
  Converters<f16> isa_convert<Isa::ISA, f16>();
SWAT_DECLARE_ISA_STREAMING(avx512)
SWAT_DECLARE_ISA_STREAMING(avx2)
SWAT_DECLARE_ISA_STREAMING(sse2)
SWAT_DECLARE_ISA_STREAMING(neon)
SWAT_DECLARE_ISA_STREAMING(portable)
#undef SWAT_DECLARE_ISA_STREAMING

template <class T>
ForwardFn<T> dispatched_forward(Isa isa) {
  switch (isa) {
#if defined(SWAT_DISPATCH_HAS_AVX512)
    case Isa::avx512: return isa_forward<Isa::avx512, T>();
#endif
#if defined(SWAT_DISPATCH_HAS_AVX2)
    case Isa::avx2: return isa_forward<Isa::avx2, T>();
#endif
#if defined(SWAT_DISPATCH_HAS_SSE2)
    case Isa::sse2: return isa_forward<Isa::sse2, T>();
#endif
#if defined(SWAT_DISPATCH_HAS_NEON)
    case Isa::neon: return isa_forward<Isa::neon, T>();
#endif
    case Isa::portable: return isa_forward<Isa::portable, T>();
    default: return nullptr;
  }
}

}  // namespace detail
}  // namespace swat
