// Which compiled copy of a kernel a call uses: with run-time dispatch (swat::dispatch) the
// per-ISA translation units, otherwise the header compiled under the caller's flags. A Table
// names one kernel: its pointer type, its dispatched copy and its header instantiation.
#pragma once

#include "../isa.hpp"

namespace swat {
namespace detail {

template <class Table, Isa isa>
typename Table::type header_kernel() {
  if constexpr (compiled_here<isa>)
    return Table::template header<typename arch_of<isa>::type>();
  else
    return {};
}

// The kernel of one path; empty (null) when this build lacks the path.
template <class Table>
typename Table::type kernel_path(Isa isa) {
#if defined(SWAT_RUNTIME_DISPATCH)
  switch (isa) {
#if defined(SWAT_DISPATCH_HAS_AVX512)
    case Isa::avx512: return Table::template dispatched<Isa::avx512>();
#endif
#if defined(SWAT_DISPATCH_HAS_AVX2)
    case Isa::avx2: return Table::template dispatched<Isa::avx2>();
#endif
#if defined(SWAT_DISPATCH_HAS_SSE2)
    case Isa::sse2: return Table::template dispatched<Isa::sse2>();
#endif
#if defined(SWAT_DISPATCH_HAS_NEON)
    case Isa::neon: return Table::template dispatched<Isa::neon>();
#endif
    case Isa::portable: return Table::template dispatched<Isa::portable>();
    default: return {};
  }
#else
  switch (isa) {
    case Isa::avx512: return header_kernel<Table, Isa::avx512>();
    case Isa::avx2: return header_kernel<Table, Isa::avx2>();
    case Isa::sse2: return header_kernel<Table, Isa::sse2>();
    case Isa::neon: return header_kernel<Table, Isa::neon>();
    case Isa::portable: return header_kernel<Table, Isa::portable>();
    default: return {};
  }
#endif
}

}  // namespace detail
}  // namespace swat
