// One instruction set's kernels for run-time dispatch (forward, the streaming step, the 16-bit
// conversions). CMake compiles this file once
// per ISA with that ISA's flags and -DSWAT_DISPATCH_ISA=<avx512|avx2|sse2|neon|portable>
// -DSWAT_ISA_NAMESPACE=isa_<name>, which keeps each copy's inline code apart.
#include <swat/detail/decode_kernel.hpp>
#include <swat/detail/forward_kernel.hpp>
#include <swat/dispatch.hpp>

#ifndef SWAT_DISPATCH_ISA
#error "compile with -DSWAT_DISPATCH_ISA=<isa>"
#endif

namespace swat {
namespace detail {

using this_arch = arch_of<Isa::SWAT_DISPATCH_ISA>::type;
static_assert(!std::is_void<this_arch>::value,
              "the compile flags of this translation unit do not enable the ISA it is built for");

#define SWAT_DEFINE_ISA_FORWARD(T)                   \
  template <>                                        \
  ForwardFn<T> isa_forward<Isa::SWAT_DISPATCH_ISA, T>() { \
    return &run_forward<T, this_arch>;               \
  }
SWAT_DEFINE_ISA_FORWARD(float)
SWAT_DEFINE_ISA_FORWARD(double)
SWAT_DEFINE_ISA_FORWARD(bf16)
SWAT_DEFINE_ISA_FORWARD(f16)
#undef SWAT_DEFINE_ISA_FORWARD

#define SWAT_DEFINE_ISA_DECODE(S)                       \
  template <>                                           \
  DecodeFn<S> isa_decode<Isa::SWAT_DISPATCH_ISA, S>() { \
    return &run_decode<S, this_arch>;                   \
  }
SWAT_DEFINE_ISA_DECODE(float)
SWAT_DEFINE_ISA_DECODE(double)
SWAT_DEFINE_ISA_DECODE(bf16)
SWAT_DEFINE_ISA_DECODE(f16)
#undef SWAT_DEFINE_ISA_DECODE

#define SWAT_DEFINE_ISA_CONVERT(S)                                                       \
  template <>                                                                            \
  Converters<S> isa_convert<Isa::SWAT_DISPATCH_ISA, S>() {                               \
    return Converters<S>{&convert_to_float<this_arch, S>, &convert_from_float<this_arch, S>}; \
  }
SWAT_DEFINE_ISA_CONVERT(bf16)
SWAT_DEFINE_ISA_CONVERT(f16)
#undef SWAT_DEFINE_ISA_CONVERT

}  // namespace detail
}  // namespace swat
