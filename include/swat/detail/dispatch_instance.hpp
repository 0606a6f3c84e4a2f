// One part of one path's kernel table for swat::dispatch. CMake compiles this header once per
// path and part, from a two-line source it generates (`#define SWAT_DISPATCH_PART <0|1|2>` and
// `#include <swat/detail/dispatch_instance.hpp>`), with that path's flags,
// -DSWAT_DISPATCH_ISA=<avx512|avx2|sse2|neon|portable|emulated4|emulated8|emulated16> and
// -DSWAT_ISA_NAMESPACE=isa_<path>, which keeps each copy's inline code apart.
#pragma once

#include "kernel_table.hpp"

#ifndef SWAT_DISPATCH_ISA
#error "compile with -DSWAT_DISPATCH_ISA=<path>"
#endif
#ifndef SWAT_DISPATCH_PART
#error "define SWAT_DISPATCH_PART (the part of the table, kernel_table.hpp's KernelLists) first"
#endif

namespace swat {
namespace detail {

static_assert(flags_allow<Isa::SWAT_DISPATCH_ISA>,
              "the compile flags of this translation unit do not enable the path it is built for");

static_assert(SWAT_DISPATCH_PART >= 0 && SWAT_DISPATCH_PART < kernel_parts, "SWAT_DISPATCH_PART: no such part");

template <>
const KernelTable<SWAT_DISPATCH_PART>& dispatched_table<Isa::SWAT_DISPATCH_ISA, SWAT_DISPATCH_PART>() {
  static constexpr KernelTable<SWAT_DISPATCH_PART> table =
      make_kernel_table<typename arch_of<Isa::SWAT_DISPATCH_ISA>::type, SWAT_DISPATCH_PART>();
  return table;
}

}  // namespace detail
}  // namespace swat
