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
