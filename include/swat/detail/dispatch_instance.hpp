// One path's kernel table for swat::dispatch. CMake compiles this header once per path, from a
// one-line source it generates (`#include <swat/detail/dispatch_instance.hpp>`), with that path's
// flags, -DSWAT_DISPATCH_ISA=<avx512|avx2|sse2|neon|portable|emulated4|emulated8|emulated16> and
// -DSWAT_ISA_NAMESPACE=isa_<path>, which keeps each copy's inline code apart.
#pragma once

#include "kernel_table.hpp"

#ifndef SWAT_DISPATCH_ISA
#error "compile with -DSWAT_DISPATCH_ISA=<path>"
#endif

namespace swat {
namespace detail {

static_assert(flags_allow<Isa::SWAT_DISPATCH_ISA>,
              "the compile flags of this translation unit do not enable the path it is built for");

template <>
const KernelTable& dispatched_table<Isa::SWAT_DISPATCH_ISA>() {
  static constexpr KernelTable table = make_kernel_table<typename arch_of<Isa::SWAT_DISPATCH_ISA>::type>();
  return table;
}

}  // namespace detail
}  // namespace swat
