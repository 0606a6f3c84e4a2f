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

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
