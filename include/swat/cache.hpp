// swat::SlidingKVCache: streaming inference (decode and chunked prefill) over a sliding window.
// Per (batch, kv head) a ring buffer keeps the keys and values of the last `window` positions,
// keys already rotated by RoPE at their absolute positions, so no step ever re-rotates the
// cache and memory stays the same however many tokens go through.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "checks.hpp"
#include "detail/decode_kernel.hpp"
#include "detail/kernel_table.hpp"
#include "detail/schedule.hpp"
#include "detail/streamed_memory.hpp"
#include "forward.hpp"
#include "options.hpp"
#include "types.hpp"
#include "view.hpp"

namespace swat {
inline namespace SWAT_API_NAMESPACE {

// T is float, double, bf16 or f16: the storage of q, k, v, o and of the cache; bf16 and f16
// compute in float.
//
// Positions: the first token stepped is at position opt.k_pos0 (0 by default, as SPEC 6 says;
// another start resumes a stream, e.g. to test positions near 2^40); opt.q_pos0 must be unset,
// since a step's queries are always its own new positions. Query heads H come from the
// constructor that takes them, else from opt.alibi_slopes or opt.sinks when given (H = their
// count), else from the first step; every step must then use the same H.
//
// Memory: with window w > 0 the rings (w rows of D per batch, kv head, for K and for V; from
// 4 MiB of rings on, 16 KiB more and the whole rounded up to 2 MiB huge pages, as
// detail/ring_layout.hpp and detail/streamed_memory.hpp say) grow by doubling during the
// first w positions and never after, so memory stops growing at w positions (and a window
// longer than the text costs only what the text fills). With w = 0 (unlimited
// causal attention) the cache keeps every position and keeps growing by doubling: memory is
// then proportional to position().
// Steps and appends run in pieces of at most max_step_rows positions, and the cache keeps the
// scratch of one piece: its rotated keys and values (and, when the window is longer than
// DecodeRange::split_keys, partial results of the window's splits). Scratch grows only when a
// piece is longer than every piece before, so steady decoding allocates nothing, and after a
// prompt of any length the cache holds its rings plus the scratch of max_step_rows positions.
template <class T>
class SlidingKVCache {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value || std::is_same<T, bf16>::value ||
                    std::is_same<T, f16>::value,
                "swat::SlidingKVCache: T must be float, double, swat::bf16 or swat::f16");
  using Compute = detail::compute_t<T>;

 public:
  // `isa` forces a SIMD path (tests, comparisons); it must be one of available_isas().
  SlidingKVCache(int64_t batch, int64_t kv_heads, int64_t head_dim, const Options& opt, Isa isa = Isa::automatic)
      : batch_(batch), kv_heads_(kv_heads), dim_(head_dim), opt_(opt) {
    if (batch < 1) detail::fail("batch: expected >= 1, got ", batch);
    if (kv_heads < 1) detail::fail("kv_heads: expected >= 1, got ", kv_heads);
    if (head_dim < 1) detail::fail("head_dim: expected >= 1, got ", head_dim);
    if (opt.q_pos0)
      detail::fail("options.q_pos0: expected none (a step's queries are its own new positions; to resume a stream "
                   "at position p, set options.k_pos0 = p instead), got ",
                   *opt.q_pos0);
    const int64_t slopes = static_cast<int64_t>(opt.alibi_slopes.size());
    if (slopes % kv_heads != 0)
      detail::fail("options.alibi_slopes: expected one per query head, a multiple of kv_heads = ", kv_heads, ", got ",
                   slopes);
    const int64_t sinks = static_cast<int64_t>(opt.sinks.size());
    if (sinks % kv_heads != 0)
      detail::fail("options.sinks: expected one per query head, a multiple of kv_heads = ", kv_heads, ", got ", sinks);
    heads_ = slopes > 0 ? slopes : sinks;
    if (slopes > 0)
      heads_source_ = "the number of options.alibi_slopes";
    else if (sinks > 0)
      heads_source_ = "the number of options.sinks";
    // The options go through the same checks as a forward call, on empty views of these shapes.
    const int64_t heads = heads_ > 0 ? heads_ : kv_heads;
    const View4<const T> q{nullptr, {batch, 0, heads, head_dim}, {}}, kv{nullptr, {batch, 0, kv_heads, head_dim}, {}};
    const Problem p = detail::check_forward_inputs(q, kv, kv, opt);
    threads_ = p.threads;
    opt_.threads = threads_;  // resolved once: hardware_concurrency() reads /sys on every call
    isa_ = detail::checked_isa(isa);
    run_ = detail::kernel_of<detail::DecodeFn<T>>(isa_);
  }

  // The same with the query heads H fixed from the start (else they come from the slopes or
  // the first step), so that a step of other heads fails at once, naming them.
  SlidingKVCache(int64_t batch, int64_t heads, int64_t kv_heads, int64_t head_dim, const Options& opt,
                 Isa isa = Isa::automatic)
      : SlidingKVCache(batch, kv_heads, head_dim, opt, isa) {
    if (heads < 1 || heads % kv_heads != 0)
      detail::fail("heads: expected a positive multiple of kv_heads = ", kv_heads, ", got ", heads);
    if (heads_ != 0 && heads != heads_)
      detail::fail("heads: expected ", heads_, " (", heads_source_, "), got ", heads);
    heads_ = heads;
    heads_source_ = "the cache's heads";
  }

  // Steps and appends longer than this run in pieces of this many positions: the scratch a
  // cache keeps after any prompt is that of a step of max_step_rows tokens (see bytes()).
  static constexpr int64_t max_step_rows = 16;

  // The next t positions: q [B,t,H,D] attends to the cached positions of its window plus the
  // new k, v [B,t,Hkv,D] (causally); writes o [B,t,H,D]; then keeps the new keys (rotated) and
  // values, dropping what left the window. Throws swat::Error with the cache and o untouched.
  void step(View4<const T> q, View4<const T> k, View4<const T> v, View4<T> o) {
    // What this cache fixes first (the generic checks below would name a less useful culprit).
    detail::check_equal(q.shape[0], batch_, "q.shape[0] (batch)", "the cache's batch");
    detail::check_equal(q.shape[3], dim_, "q.shape[3] (dim)", "the cache's head_dim");
    check_step_heads(q.shape[2], k.shape[2]);
    detail::check_equal(k.shape[1], q.shape[1], "k.shape[1] (seq)", "q's seq: one key per new position");
    opt_.k_pos0 = next_position();
    Problem p;
    try {
      p = detail::check_attention_call(q, k, v, o, opt_);
    } catch (...) {
      opt_.k_pos0 = first();
      throw;
    }
    opt_.k_pos0 = first();
    p.window = opt_.window;  // the cache's window, never resolved against the step alone
    advance(p, q, k, v, o, false);
  }

  // Keeps k, v [B,t,Hkv,D] as the next t positions without attending: for a prompt whose
  // outputs were computed elsewhere (e.g. by swat::forward over the whole prompt, the fastest
  // prefill), or to fill a cache for a benchmark. Same checks and guarantees as step.
  void append(View4<const T> k, View4<const T> v) {
    detail::check_equal(k.shape[0], batch_, "k.shape[0] (batch)", "the cache's batch");
    detail::check_equal(k.shape[2], kv_heads_, "k.shape[2] (heads)", "the cache's kv_heads");
    detail::check_equal(k.shape[3], dim_, "k.shape[3] (dim)", "the cache's head_dim");
    Options opt = opt_;
    opt.alibi_slopes.clear();
    opt.sinks.clear();  // per query head; append has kv heads only
    opt.k_pos0 = next_position();
    Problem p = detail::check_forward_inputs(k, k, v, opt);
    p.window = opt_.window;
    advance(p, k, k, v, View4<T>{}, true);
  }

  // Convenience overload for mutable inputs.
  void step(View4<T> q, View4<T> k, View4<T> v, View4<T> o) {
    step(View4<const T>(q), View4<const T>(k), View4<const T>(v), o);
  }

  int64_t position() const { return seen_; }  // positions seen so far; the next is k_pos0 + position()

  // Memory held by the cache: rings, step scratch and the object itself (not the kernels'
  // per-thread scratch, which is O(one piece) per thread), rings counted as the Memory note
  // above says. With window > 0, independent of position() once position() >= window. Step
  // scratch is at most
  //   2 * B * Hkv * max_step_rows * D * sizeof(T)                    new keys and values, and,
  //   B * H * max_step_rows * splits * (D + 2) * sizeof(Compute)     when splits > 1,
  // with splits = ceil((min(window, positions before the step) + max_step_rows) / 512), the
  // window's pieces, and Compute float (double for T = double).
  std::size_t bytes() const {
    return sizeof(*this) + detail::streamed_footprint(rings_.capacity() * sizeof(T)) +
           (new_keys_.capacity() + new_values_.capacity()) * sizeof(T) +
           partial_.capacity() * sizeof(Compute) +
           (opt_.alibi_slopes.capacity() + opt_.sinks.capacity() + opt_.rope_freqs.capacity()) * sizeof(float);
  }

  int64_t capacity() const { return capacity_; }  // ring rows per (batch, kv head)
  int64_t heads() const { return heads_; }        // query heads; 0 until known
  Isa isa() const { return isa_; }

 private:
  int64_t first() const { return first_; }

  // The heads of a step's q and k against the cache's; a q with the kv heads and a k with the
  // query heads get a hint at the swap.
  void check_step_heads(int64_t q_heads, int64_t k_heads) const {
    const bool swapped = q_heads == kv_heads_ && k_heads != kv_heads_ && (heads_ == 0 ? k_heads > 0 : k_heads == heads_);
    const std::string hint =
        swapped ? " (k has " + std::to_string(k_heads) + " heads, q " + std::to_string(q_heads) +
                      ": are q and k swapped? q takes the query heads, k and v the kv heads)"
                : "";
    if (heads_ != 0 && q_heads != heads_)
      detail::fail("q.shape[2] (heads): expected ", heads_, " (", heads_source_, "), got ", q_heads, hint);
    if (heads_ == 0 && q_heads == 0)
      detail::fail("q.shape[2] (heads): expected a multiple of the kv heads ", kv_heads_, " (>= 1), got 0");
    if (k_heads != kv_heads_)
      detail::fail("k.shape[2] (heads): expected ", kv_heads_, " (the cache's kv_heads), got ", k_heads, hint);
  }

  // Runs the step p describes (checked) in pieces of at most max_step_rows positions, so that
  // the scratch kept afterwards is that of one piece whatever the length of a prompt. Every
  // allocation happens before the first piece, so nothing changes if one fails.
  void advance(Problem& p, View4<const T> q, View4<const T> k, View4<const T> v, View4<T> o, bool keys_only) {
    const int64_t t = p.q_len;
    if (t == 0) return;
    const int64_t start = next_position();
    // Rings grow by doubling until they hold the window (or, unlimited, every position), so a
    // window far longer than the text costs only what the text fills.
    if (seen_ + t > capacity_ && (opt_.window == 0 || capacity_ < opt_.window)) {
      // Two-argument maxes, not the initializer_list form (see for_each_block in decode_kernel.hpp).
      int64_t capacity = std::max(std::max(2 * capacity_, seen_ + t), int64_t(16));
      if (opt_.window > 0) capacity = std::min(capacity, opt_.window);
      resize_ring(capacity);
    }
    const int64_t piece = std::min(t, max_step_rows), group = p.heads / kv_heads_;
    grow(new_keys_, batch_ * kv_heads_ * piece * dim_);
    grow(new_values_, batch_ * kv_heads_ * piece * dim_);
    int64_t splits = 1;
    for (int64_t done = 0; done < t && !keys_only; done += piece)
      splits = std::max(splits, detail::DecodeRange::of(p.window, first(), start + done, piece).splits());
    if (splits > 1) grow(partial_, batch_ * kv_heads_ * splits * piece * group * (dim_ + 2));
    if (!keys_only) heads_ = p.heads;
    for (int64_t done = 0; done < t; done += piece) {
      const int64_t n = std::min(piece, t - done);
      p.q_len = p.k_len = n;
      advance_piece(p, rows_of(q, done, n), rows_of(k, done, n), rows_of(v, done, n), rows_of(o, done, n), keys_only);
    }
  }

  // One piece of a step: the kernel, then the new rows into the rings.
  void advance_piece(const Problem& piece, View4<const T> q, View4<const T> k, View4<const T> v, View4<T> o,
                     bool keys_only) {
    Problem p = piece;
    const int64_t t = p.q_len;
    const int64_t start = next_position();
    detail::DecodeRange range = detail::DecodeRange::of(p.window, first(), start, t);
    if (keys_only) range.lo = start;

    detail::DecodeInputs<T> io{q, k, v, o, {}};
    io.cache.rings = rings();
    io.cache.first = first();
    io.cache.start = start;
    io.cache.new_keys = new_keys_.data();
    io.cache.new_values = new_values_.data();
    io.cache.partial = partial_.data();
    io.cache.splits = range.splits();
    io.cache.split_keys = detail::DecodeRange::split_keys;
    io.cache.keys_only = keys_only;
    // Waking a second thread costs microseconds: small steps run on the caller alone. Safe for
    // determinism, since the bits never depend on the thread count.
    const double work = static_cast<double>(range.hi - range.lo) * static_cast<double>(batch_ * p.heads * dim_);
    p.threads = work < kParallelWork ? 1 : threads_;
    run_(p, io, &detail::parallel_for);

    // Keep the last min(t, capacity) new rows.
    const std::size_t row_bytes = static_cast<std::size_t>(dim_) * sizeof(T);
    const detail::RingLayout<T> ring = rings();
    for (int64_t bg = 0; bg < batch_ * kv_heads_; ++bg)
      for (int64_t i = std::max<int64_t>(0, t - capacity_); i < t; ++i) {
        const int64_t slot = (start + i - first()) % capacity_;
        std::memcpy(ring.key(bg, slot), &new_keys_[static_cast<std::size_t>((bg * t + i) * dim_)], row_bytes);
        std::memcpy(ring.value(bg, slot), &new_values_[static_cast<std::size_t>((bg * t + i) * dim_)], row_bytes);
      }
    seen_ += t;
  }

  // Rows [first, first + count) of a step's view (an absent view stays absent).
  template <class U>
  static View4<U> rows_of(View4<U> view, int64_t first, int64_t count) {
    if (view.data != nullptr) view.data += first * view.stride[1];
    view.shape[1] = count;
    return view;
  }

  int64_t next_position() const {
    int64_t start = 0;
    if (detail::add_overflows(first_, seen_, &start))
      detail::fail("position: expected positions within +-2^62, got ", first_, " + ", seen_);
    return start;
  }


  template <class U>
  static void grow(std::vector<U>& buffer, int64_t n) {
    if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(static_cast<std::size_t>(n));
  }

  // Rings of `capacity` rows per (batch, kv head); rows seen so far keep their slots (a ring
  // only grows before it has wrapped, while the slot of a row is its position - first).
  void resize_ring(int64_t capacity) {
    const int64_t groups = batch_ * kv_heads_;
    Ring grown(static_cast<std::size_t>(detail::RingLayout<T>::elements(groups, capacity, dim_)));
    const auto from = rings(), to = detail::RingLayout<T>::of(grown.data(), groups, capacity, dim_);
    // A group's slots lie one after another in each ring: its kept rows move in one piece.
    const std::size_t kept_bytes = static_cast<std::size_t>(std::min(capacity_, capacity) * dim_) * sizeof(T);
    for (int64_t bg = 0; bg < groups && kept_bytes > 0; ++bg) {
      std::memcpy(to.key(bg, 0), from.key(bg, 0), kept_bytes);
      std::memcpy(to.value(bg, 0), from.value(bg, 0), kept_bytes);
    }
    rings_.swap(grown);
    capacity_ = capacity;
  }
  detail::RingLayout<T> rings() { return detail::RingLayout<T>::of(rings_.data(), batch_ * kv_heads_, capacity_, dim_); }

  // Multiply-adds (visible positions x batch x heads x dim) below which a step is not worth
  // a second thread.
  static constexpr double kParallelWork = 1 << 20;

  int64_t batch_, kv_heads_, dim_;
  Options opt_;  // k_pos0 is the first position; set to a step's start only while it is checked
  int64_t first_ = opt_.k_pos0;
  int64_t heads_ = 0, seen_ = 0, capacity_ = 0;
  const char* heads_source_ = "the heads of the first step";  // where heads_ came from, for messages
  int threads_ = 1;
  Isa isa_ = Isa::portable;
  detail::DecodeFn<T> run_ = nullptr;
  // The rings (detail/ring_layout.hpp), which every step reads whole: on huge pages where the
  // system allows (detail/streamed_memory.hpp).
  using Ring = std::vector<T, detail::StreamedAllocator<T>>;
  Ring rings_;
  std::vector<T> new_keys_, new_values_;
  std::vector<Compute> partial_;
};

}  // namespace SWAT_API_NAMESPACE
}  // namespace swat
