// One instruction set's forward kernels for run-time dispatch. CMake compiles this file once
// per ISA with that ISA's flags and -DSWAT_DISPATCH_ISA=<avx512|avx2|sse2|neon|portable>
// -DSWAT_ISA_NAMESPACE=isa_<name>, which keeps each copy's inline code apart.
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

template <>
ForwardFn<float> isa_forward<Isa::SWAT_DISPATCH_ISA, float>() {
  return &run_forward<float, this_arch>;
}
template <>
ForwardFn<double> isa_forward<Isa::SWAT_DISPATCH_ISA, double>() {
  return &run_forward<double, this_arch>;
}

}  // namespace detail
}  // namespace swat
