// The memory of the cache's rings: where blocks start, that large ones are advised for huge
// pages (Linux), and the ring layout's rows, each in its own place, with the gap between keys
// and values exactly when the rings are large.
#include <catch2/catch.hpp>

#include <swat/detail/ring_layout.hpp>
#include <swat/detail/streamed_memory.hpp>
#include <swat/types.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using swat::detail::huge_page_bytes;
using swat::detail::RingLayout;
using swat::detail::streamed_huge_from;

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// The VmFlags of the mapping holding `p` in /proc/self/smaps, or "" when none is found.
std::string vm_flags_at(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::istringstream fields(line);
    std::string first;
    fields >> first;
    const auto dash = first.find('-');
    if (dash != std::string::npos && first.find_first_not_of("0123456789abcdef-") == std::string::npos) {
      const std::uintptr_t lo = std::stoull(first.substr(0, dash), nullptr, 16);
      const std::uintptr_t hi = std::stoull(first.substr(dash + 1), nullptr, 16);
      inside = lo <= address(p) && address(p) < hi;
    } else if (inside && first == "VmFlags:") {
      return line;
    }
  }
  return "";
}

bool kernel_has_huge_pages() {
  std::ifstream enabled("/sys/kernel/mm/transparent_hugepage/enabled");
  return enabled.good();
}

}  // namespace

TEST_CASE("streamed blocks start on a line, from 4 MiB on a 2 MiB page, and hold what is written") {
  for (std::size_t bytes : {std::size_t(1), std::size_t(1000), streamed_huge_from - 64, streamed_huge_from,
                            streamed_huge_from + 12345}) {
    INFO("bytes=" << bytes);
    void* p = swat::detail::allocate_streamed(bytes);
    REQUIRE(p != nullptr);
    CHECK(address(p) % (bytes >= streamed_huge_from ? huge_page_bytes : 64) == 0);
    CHECK(swat::detail::streamed_footprint(bytes) >= bytes);
    CHECK(swat::detail::streamed_footprint(bytes) % (bytes >= streamed_huge_from ? huge_page_bytes : 1) == 0);
    std::vector<unsigned char> pattern(bytes);
    for (std::size_t i = 0; i < bytes; ++i) pattern[i] = static_cast<unsigned char>(i * 131 + 7);
    std::memcpy(p, pattern.data(), bytes);
    CHECK(std::memcmp(p, pattern.data(), bytes) == 0);
    swat::detail::free_streamed(p, bytes);
  }
}

#if defined(__linux__)
TEST_CASE("streamed blocks from 4 MiB on are advised for huge pages") {
  if (!kernel_has_huge_pages()) {
    WARN("this kernel has no transparent huge pages: the advice is not checked");
    return;
  }
  void* large = swat::detail::allocate_streamed(streamed_huge_from);
  const std::string flags = vm_flags_at(large);
  INFO(flags);
  CHECK(flags.find(" hg") != std::string::npos);  // VM_HUGEPAGE: madvise(MADV_HUGEPAGE) took
  swat::detail::free_streamed(large, streamed_huge_from);
}
#endif

TEMPLATE_TEST_CASE("ring rows each have their own place, the values after a gap exactly when the rings are large",
                   "", float, swat::bf16, double) {
  using S = TestType;
  struct Shape {
    int64_t groups, capacity, dim;
  };
  for (const Shape& shape : {Shape{1, 1, 1}, Shape{3, 5, 7}, Shape{2, 70, 16}, Shape{8, 1024, 128},
                             Shape{1, 4 * 1024 * 1024 / (2 * 64 * static_cast<int64_t>(sizeof(S))), 64}}) {
    const int64_t ring = shape.groups * shape.capacity * shape.dim;
    const bool large = 2 * ring * static_cast<int64_t>(sizeof(S)) >= static_cast<int64_t>(streamed_huge_from);
    INFO("groups=" << shape.groups << " capacity=" << shape.capacity << " dim=" << shape.dim << " large=" << large);
    const int64_t elements = RingLayout<S>::elements(shape.groups, shape.capacity, shape.dim);
    const int64_t gap = large ? RingLayout<S>::gap_bytes / static_cast<int64_t>(sizeof(S)) : 0;
    CHECK(elements == 2 * ring + gap);
    std::vector<S> block(static_cast<std::size_t>(elements));
    const RingLayout<S> layout = RingLayout<S>::of(block.data(), shape.groups, shape.capacity, shape.dim);
    CHECK(layout.values == ring + gap);
    // Every element of every row, keys and values, belongs to exactly one row, inside the block.
    std::vector<int> owner(static_cast<std::size_t>(elements), 0);
    for (int64_t g = 0; g < shape.groups; ++g)
      for (int64_t slot = 0; slot < shape.capacity; ++slot)
        for (const S* row : {layout.key(g, slot), layout.value(g, slot)}) {
          const int64_t at = row - block.data();
          REQUIRE(at >= 0);
          REQUIRE(at + shape.dim <= elements);
          for (int64_t d = 0; d < shape.dim; ++d) ++owner[static_cast<std::size_t>(at + d)];
        }
    int64_t owned = 0, shared = 0;
    for (int count : owner) {
      owned += count > 0;
      shared += count > 1;
    }
    CHECK(shared == 0);
    CHECK(owned == 2 * ring);
    // The gap lies between the last key ring and the first value ring.
    if (shape.groups > 0 && shape.capacity > 0)
      CHECK(layout.value(0, 0) - layout.key(shape.groups - 1, shape.capacity - 1) == shape.dim + gap);
  }
}
