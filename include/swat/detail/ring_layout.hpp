// Where the cache keeps the key and value row of each slot of its rings: one block of memory,
// the key rings of all (batch, kv head) groups, then the value rings, slot after slot,
//
//   [K group 0: slots 0 .. capacity-1][K group 1] ... [gap][V group 0][V group 1] ...
//
// with a gap of 16 KiB before the values once the rings are large enough for 2 MiB pages
// (detail/streamed_memory.hpp). A group's slots lie one after another in each ring: the kernel
// reads runs of them, the cache moves them in one piece when a ring grows. A decode step reads
// a block of key rows, then the value rows of the same slots: two streams a fixed distance
// apart, and on 2 MiB pages that distance is physical too. With the values a whole number of
// 2 MiB after the keys, the float cache at w 65536 (D 128, 8 kv heads, steps alternated in one
// process, medians) took 29.0 ms a step on one thread against 19.6 with the gap (22.8 on 4 KB
// pages), 18.2 against 15.5 on two; bf16 and GQA ran alike with and without it. In an earlier
// trial (16-row float blocks) gaps of 4-32 KiB ran alike, 40, 48 and 80 KiB as slowly as none:
// the rows meeting in the same cache sets or DRAM banks, presumably (no counters here to tell).
#pragma once

#include <cstdint>

#include "streamed_memory.hpp"

namespace swat {
namespace detail {

template <class S>
struct RingLayout {
  static constexpr int64_t gap_bytes = 16 * 1024;

  S* data = nullptr;
  int64_t capacity = 0, dim = 0;
  int64_t values = 0;  // elements before the first value ring: the key rings and the gap

  // The layout of `groups` rings of `capacity` slots of dim elements, and its size.
  static RingLayout of(S* data, int64_t groups, int64_t capacity, int64_t dim) {
    const int64_t ring = groups * capacity * dim;
    const bool gap = 2 * ring * static_cast<int64_t>(sizeof(S)) >= static_cast<int64_t>(streamed_huge_from);
    return {data, capacity, dim, ring + (gap ? gap_bytes / static_cast<int64_t>(sizeof(S)) : 0)};
  }
  static int64_t elements(int64_t groups, int64_t capacity, int64_t dim) {
    return of(nullptr, groups, capacity, dim).values + groups * capacity * dim;
  }

  S* key(int64_t group, int64_t slot) const { return data + (group * capacity + slot) * dim; }
  S* value(int64_t group, int64_t slot) const { return data + values + (group * capacity + slot) * dim; }
};

}  // namespace detail
}  // namespace swat
