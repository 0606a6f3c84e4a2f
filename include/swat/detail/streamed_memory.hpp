// Memory for arrays a kernel streams through from end to end on every call: the cache's rings,
// which a decode step reads whole (K and V of every visible position) once per token.
//
// Blocks of 4 MiB or more start on a 2 MiB boundary, are rounded up to whole 2 MiB, and are
// advised for transparent huge pages (Linux, madvise(MADV_HUGEPAGE)) before anything touches
// them, so that the kernel can back them with 2 MiB pages. On 4 KB pages a step over a large
// window crosses a page every 16 rows of bf16 D 128, each a TLB miss: GQA 32 over 8 in bf16
// at w 65536 took 15.8 ms a step on one thread, 11.5 with the system's huge pages switched on for every allocation (the same build).
// With the rings advised, and the decode blocks (decode_kernel.hpp, `burst`) and the rings'
// layout (ring_layout.hpp) tuned for those pages, D 128 at w 65536 on one thread: GQA 32 over 8
// in bf16 11.8 against 14.2 ms, bf16 8.9 against 9.8, float 18.2 against 20.6. The advice is
// only a hint: where huge pages are disabled ("never") or unavailable, or off Linux, the memory
// is plain.
// Smaller blocks are plain allocations on a cache line.
#pragma once

#include <cstddef>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "isa_namespace.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

constexpr std::size_t huge_page_bytes = std::size_t(2) << 20;
constexpr std::size_t streamed_huge_from = 2 * huge_page_bytes;  // smaller blocks stay on plain pages

// The bytes a block of `bytes` occupies, and its alignment.
constexpr std::size_t streamed_footprint(std::size_t bytes) {
  return bytes < streamed_huge_from ? bytes : (bytes + huge_page_bytes - 1) / huge_page_bytes * huge_page_bytes;
}
constexpr std::size_t streamed_alignment(std::size_t bytes) { return bytes < streamed_huge_from ? 64 : huge_page_bytes; }

inline void* allocate_streamed(std::size_t bytes) {
  const std::size_t footprint = streamed_footprint(bytes);
  void* p = ::operator new(footprint, std::align_val_t{streamed_alignment(bytes)});
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // A hint: its failure (a kernel without transparent huge pages) leaves plain pages.
  if (bytes >= streamed_huge_from) (void)::madvise(p, footprint, MADV_HUGEPAGE);
#endif
  return p;
}

inline void free_streamed(void* p, std::size_t bytes) {
  ::operator delete(p, std::align_val_t{streamed_alignment(bytes)});
}

// A standard allocator over allocate_streamed, for std::vector.
template <class T>
struct StreamedAllocator {
  using value_type = T;
  StreamedAllocator() = default;
  template <class U>
  StreamedAllocator(const StreamedAllocator<U>&) {}
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(allocate_streamed(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) { free_streamed(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const StreamedAllocator<U>&) const {
    return true;
  }
  template <class U>
  bool operator!=(const StreamedAllocator<U>&) const {
    return false;
  }
};

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
