// The order in which the threads of a pass take its tasks (schedule.hpp hands out counter
// indices; the kernels map them here). Both the forward and the backward decode their tasks
// heads fastest, so that consecutive tasks reuse the pages of the same positions; this keeps
// tasks that run at the same time apart.
#pragma once

#include "isa_namespace.hpp"

#include <algorithm>
#include <cstdint>

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// The order in which `threads` threads taking tasks from a shared counter should see `all`
// tasks kept in a locality order: task k of the counter is element stripe_order(k) of that
// order, where the order is cut into `threads` consecutive stripes and the counter deals
// them out one element each in turn. Tasks that run at the same time then sit a stripe apart
// (not side by side, where two cores write neighbouring rows of a page and pull each other's
// lines), while the tasks one thread takes one after another stay neighbours. A bijection on
// [0, all): all = q * threads + r, the first r stripes one element longer.
inline int64_t stripe_order(int64_t k, int64_t all, int64_t threads) {
  if (threads <= 1 || all <= threads) return k;
  const int64_t q = all / threads, r = all % threads;
  const int64_t stripe = k < q * threads ? k % threads : k - q * threads;
  const int64_t within = k < q * threads ? k / threads : q;
  return stripe * q + std::min(stripe, r) + within;
}

// A pass's task in its locality order: batch b, kv head g (varying fastest, so consecutive
// tasks reuse the pages and TLB entries of the same positions) and tile. `index` is its place
// in that order, under which per-task results are kept whatever thread ran it.
struct TaskAt {
  int64_t index, b, g, tile;
};

// The place of task (b, g, tile) in that order, and the task at place `index`, of
// batch * kv_heads * tiles tasks.
inline int64_t task_index(int64_t b, int64_t g, int64_t tile, int64_t kv_heads, int64_t tiles) {
  return (b * tiles + tile) * kv_heads + g;
}
inline TaskAt task_in_order(int64_t index, int64_t kv_heads, int64_t tiles) {
  return {index, index / (tiles * kv_heads), index % kv_heads, index / kv_heads % tiles};
}

// The task that the counter's k-th hand-out runs, of batch * kv_heads * tiles tasks shared by
// `threads` threads (a stripe apart, stripe_order).
inline TaskAt task_at(int64_t k, int64_t batch, int64_t kv_heads, int64_t tiles, int64_t threads) {
  return task_in_order(stripe_order(k, batch * kv_heads * tiles, threads), kv_heads, tiles);
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
