// One instruction set's backward kernels for run-time dispatch, compiled like forward_isa.cpp:
// once per ISA with that ISA's flags, -DSWAT_DISPATCH_ISA=<isa> -DSWAT_ISA_NAMESPACE=isa_<name>.
#include <swat/detail/backward_kernel.hpp>
#include <swat/dispatch.hpp>

#ifndef SWAT_DISPATCH_ISA
#error "compile with -DSWAT_DISPATCH_ISA=<isa>"
#endif

namespace swat {
namespace detail {

template <>
BackwardFn<float> isa_backward<Isa::SWAT_DISPATCH_ISA, float>() {
  return &run_backward<float, arch_of<Isa::SWAT_DISPATCH_ISA>::type>;
}
template <>
BackwardFn<double> isa_backward<Isa::SWAT_DISPATCH_ISA, double>() {
  return &run_backward<double, arch_of<Isa::SWAT_DISPATCH_ISA>::type>;
}

}  // namespace detail
}  // namespace swat
