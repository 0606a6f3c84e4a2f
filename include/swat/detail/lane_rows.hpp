// Which rows each vector of a lane block sees. A lane block holds Blocking::lanes queries (the
// forward) or keys (the backward's key pass) at consecutive positions, Blocking::vectors
// vectors of W; its rows are the keys or queries it is multiplied with. On the window's
// diagonal edges the first W or so rows of a block's range are seen by the first vector's
// lanes only, and the last ones by the last vector's. The products skip the vectors that see
// none of the rows they multiply: the products along D panel by panel (gemm_rows_on), the
// products over the rows in their first and last steps (KeyEdges). At w 256 with 32-lane
// blocks, 32 of the 287 rows a block spans are half width. The scores of a skipped vector are
// left as they were in the scratch; the weighing writes weight 0 there without reading them
// (ScoreRows::each_row), since every lane of the vector is outside the window for those rows.
#pragma once

#include "isa_namespace.hpp"

#include <algorithm>
#include <cstdint>

#include "microkernel.hpp"
#include "score/window.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// Rows of a key block: [lo, head_end) need every vector of the lanes but the last,
// [tail_start, hi) every vector but the first.
struct EdgeRows {
  int64_t head_end = 0, tail_start = 0;
};

template <int NV>
struct LaneRows {
  // Vector v needs rows [lo[v], hi[v]) of the block, within the block's range; both bounds
  // grow with v (the lanes' positions do), so the vectors any range of rows needs are
  // consecutive.
  int64_t lo[NV], hi[NV];

  // Vector v needs rows [first(v), end(v)) clipped to [lo, hi); first and end must not
  // decrease with v.
  template <class First, class End>
  static LaneRows from(int64_t lo, int64_t hi, First&& first, End&& end) {
    LaneRows r{};
    for (int v = 0; v < NV; ++v) {
      r.lo[v] = std::clamp<int64_t>(first(v), lo, hi);
      r.hi[v] = std::clamp<int64_t>(end(v), r.lo[v], hi);
    }
    return r;
  }

  // Queries along the lanes (forward): the lane block whose first lane sits at position
  // lane_first, W lanes a vector (padding lanes included), against the rows [lo, hi) of the key
  // block starting at key index kb.
  static LaneRows of(const Window& window, int64_t lane_first, int64_t W, int64_t kb, int64_t lo, int64_t hi) {
    return from(
        lo, hi, [&](int v) { return window.first_key(lane_first + v * W) - kb; },
        [&](int v) { return window.end_key(lane_first + v * W + W - 1) - kb; });
  }

  // The vectors that need a row of [r0, r1) (count 0: none).
  LaneVectors vectors(int64_t r0, int64_t r1) const {
    int first = 0;
    while (first < NV && hi[first] <= r0) ++first;
    int end = first;
    while (end < NV && lo[end] < r1 && hi[end] > r0) ++end;
    return {first, end - first};
  }

  // The rows of [lo_row, hi_row) at the ends that some vectors skip in a product over keys:
  // rows before head_end are seen by no lane of the last vector, rows from tail_start on by
  // none of the first.
  EdgeRows edges(int64_t lo_row, int64_t hi_row) const {
    const int64_t head_end = std::clamp(lo[NV - 1], lo_row, hi_row);
    return {head_end, std::clamp(hi[0], head_end, hi_row)};
  }
};

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
