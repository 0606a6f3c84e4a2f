// Run-time dispatch: kernels compiled once per ISA, each with that ISA's flags, in the
// swat::dispatch library (target_link_libraries(app PRIVATE swat::dispatch)). A program built
// for a baseline CPU then runs the best path of the CPU it finds itself on.
// Included by forward.hpp when SWAT_RUNTIME_DISPATCH is defined (the library's usage
// requirements define it, together with one SWAT_DISPATCH_HAS_<ISA> per compiled path).
#pragma once

#include "checks.hpp"
#include "isa.hpp"

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
  ForwardFn<double> isa_forward<Isa::ISA, double>();
SWAT_DECLARE_ISA_FORWARD(avx512)
SWAT_DECLARE_ISA_FORWARD(avx2)
SWAT_DECLARE_ISA_FORWARD(sse2)
SWAT_DECLARE_ISA_FORWARD(neon)
SWAT_DECLARE_ISA_FORWARD(portable)
#undef SWAT_DECLARE_ISA_FORWARD

// dslopes: H doubles the slope gradients are added to, or nullptr.
template <class T>
using BackwardFn = void (*)(const Problem&, const BackwardInputs<T>&, double* dslopes, Parallel);

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

// The dispatched kernel of one path: Kernel<isa, T>() for the paths this library has.
template <template <Isa, class> class Select, class Fn>
Fn dispatched(Isa isa) {
  switch (isa) {
#if defined(SWAT_DISPATCH_HAS_AVX512)
    case Isa::avx512: return Select<Isa::avx512, Fn>::get();
#endif
#if defined(SWAT_DISPATCH_HAS_AVX2)
    case Isa::avx2: return Select<Isa::avx2, Fn>::get();
#endif
#if defined(SWAT_DISPATCH_HAS_SSE2)
    case Isa::sse2: return Select<Isa::sse2, Fn>::get();
#endif
#if defined(SWAT_DISPATCH_HAS_NEON)
    case Isa::neon: return Select<Isa::neon, Fn>::get();
#endif
    case Isa::portable: return Select<Isa::portable, Fn>::get();
    default: return nullptr;
  }
}

template <Isa isa, class Fn>
struct SelectBackward;
template <Isa isa, class T>
struct SelectBackward<isa, BackwardFn<T>> {
  static BackwardFn<T> get() { return isa_backward<isa, T>(); }
};

template <class T>
BackwardFn<T> dispatched_backward(Isa isa) {
  return dispatched<SelectBackward, BackwardFn<T>>(isa);
}

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
