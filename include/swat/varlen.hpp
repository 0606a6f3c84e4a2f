// Packed variable-length batches (FlashAttention's "varlen"): several sequences concatenated
// along the seq axis, described by cumulative offsets, for forward and backward.
//
// Layout: B = 1; q, k, v (and o, dout, gradients) hold all sequences back to back, so
// Sq = Sk = cu_seqlens.back(). Sequence s is rows [cu_seqlens[s], cu_seqlens[s + 1]); it attends
// to itself only (no attention across sequences), and its window, positions (and so RoPE angles
// and ALiBi distances) restart at its first row: row r of sequence s has position
// options.k_pos0 + (r - cu_seqlens[s]). options.q_pos0 must be unset (queries and keys are the
// same rows). Empty sequences (equal neighbouring offsets) are allowed.
// Each sequence runs as one call of forward/backward on a view of its rows, so every option
// behaves exactly as for a single sequence. Threads work inside each sequence; short ones (see
// varlen_short_rows) run one thread each, several at once.
#pragma once

#include <cstdint>
#include <vector>

#include "backward.hpp"
#include "checks.hpp"
#include "detail/schedule.hpp"
#include "forward.hpp"

namespace swat {
namespace detail {

// Checks the offsets against the packed length; throws swat::Error naming cu_seqlens.
inline void check_cu_seqlens(const std::vector<int64_t>& cu_seqlens, int64_t batch, int64_t q_len, int64_t k_len,
                             const Options& opt) {
  if (batch != 1) fail("q.shape[0] (batch): expected 1 for packed sequences (cu_seqlens), got ", batch);
  if (q_len != k_len) fail("k.shape[1] (seq): expected ", q_len, " (q's packed length, cu_seqlens), got ", k_len);
  if (opt.q_pos0) fail("options.q_pos0: expected unset with cu_seqlens (positions restart per sequence), got ", *opt.q_pos0);
  if (cu_seqlens.empty() || cu_seqlens.front() != 0)
    fail("cu_seqlens[0]: expected 0, got ", cu_seqlens.empty() ? std::string("no offsets") : std::to_string(cu_seqlens.front()));
  for (std::size_t s = 1; s < cu_seqlens.size(); ++s)
    if (cu_seqlens[s] < cu_seqlens[s - 1])
      fail("cu_seqlens[", s, "]: expected non-decreasing offsets (>= ", cu_seqlens[s - 1], "), got ", cu_seqlens[s]);
  if (cu_seqlens.back() != q_len)
    fail("cu_seqlens[", cu_seqlens.size() - 1, "]: expected the packed length ", q_len, " (q.shape[1]), got ",
         cu_seqlens.back());
}

// Rows [first, first + count) of a packed view.
template <class T>
View4<T> rows_of(View4<T> view, int64_t first, int64_t count) {
  if (count > 0) view.data += first * view.stride[1];
  view.shape[1] = count;
  return view;
}

// Sequences of at most this many rows are short: the varlen calls run them one thread each,
// several at once, when there are at least two per thread. A call on every thread pays for
// waking them and for the tasks it cannot share out (a sequence of up to 512 rows, one forward
// query tile, is one task per kv head): 256 sequences of 64 rows (340M layer shapes: H 16, D 64,
// w 256) took 55.1 ms on 2 threads one call each, 42.1 as one batch of 256 (a Zen 3 EPYC VM).
constexpr int64_t varlen_short_rows = 512;
constexpr bool varlen_short(int64_t count) { return count > 0 && count <= varlen_short_rows; }

// Whether a call on `threads` threads runs its short sequences together (run_short_sequences).
inline bool varlen_together(const std::vector<int64_t>& cu_seqlens, int threads) {
  int64_t short_ones = 0;
  for (std::size_t s = 0; s + 1 < cu_seqlens.size(); ++s)
    if (varlen_short(cu_seqlens[s + 1] - cu_seqlens[s])) ++short_ones;
  return threads > 1 && short_ones >= 2 * threads;
}

// Runs run(s, first, count) for every short sequence s (rows [first, first + count)), one
// thread each, on up to `threads` threads; long and empty ones are left to the caller.
template <class Run>
void run_short_sequences(int threads, const std::vector<int64_t>& cu_seqlens, const Run& run) {
  struct Context {
    const std::vector<int64_t>* cu_seqlens;
    const Run* run;
    static void task(void* context, int64_t s) {
      const auto& c = *static_cast<const Context*>(context);
      const int64_t first = (*c.cu_seqlens)[static_cast<std::size_t>(s)];
      const int64_t count = (*c.cu_seqlens)[static_cast<std::size_t>(s) + 1] - first;
      if (!varlen_short(count)) return;
      (*c.run)(s, first, count);
    }
  };
  Context context{&cu_seqlens, &run};
  const int64_t sequences = static_cast<int64_t>(cu_seqlens.size()) - 1;
  parallel_for(threads, sequences, &Context::task, &context);
}

}  // namespace detail

inline namespace SWAT_API_NAMESPACE {

// forward over packed sequences; o as q. Throws swat::Error (o untouched) on bad input,
// including bad cu_seqlens.
template <class T>
void forward_varlen(View4<const T> q, View4<const T> k, View4<const T> v, View4<T> o,
                    const std::vector<int64_t>& cu_seqlens, const Options& opt, Isa isa = Isa::automatic) {
  detail::check_cu_seqlens(cu_seqlens, q.shape[0], q.shape[1], k.shape[1], opt);
  // The whole call is checked once, so that a bad argument throws before any sequence is written.
  const Problem p = detail::check_attention_call(q, k, v, o, opt);
  // An empty call checks the isa the same way, writing nothing.
  forward<T>(detail::rows_of(q, 0, 0), detail::rows_of(k, 0, 0), detail::rows_of(v, 0, 0), detail::rows_of(o, 0, 0), opt,
             isa);
  // Every sequence's rows are its own and forward gives the same bits on any number of threads,
  // so which thread runs a sequence changes nothing in o.
  const auto sequence = [&](int64_t first, int64_t count, const Options& with) {
    forward<T>(detail::rows_of(q, first, count), detail::rows_of(k, first, count), detail::rows_of(v, first, count),
               detail::rows_of(o, first, count), with, isa);
  };
  const bool together = detail::varlen_together(cu_seqlens, p.threads);
  for (std::size_t s = 0; s + 1 < cu_seqlens.size(); ++s) {
    const int64_t first = cu_seqlens[s], count = cu_seqlens[s + 1] - first;
    if (count == 0 || (together && detail::varlen_short(count))) continue;
    sequence(first, count, opt);
  }
  if (together) {
    Options one_thread = opt;
    one_thread.threads = 1;
    detail::run_short_sequences(p.threads, cu_seqlens,
                                [&](int64_t, int64_t first, int64_t count) { sequence(first, count, one_thread); });
  }
}

// backward over packed sequences; dslopes and dsinks (H floats or null) accumulate over all of them.
template <class T>
void backward_varlen(View4<const T> q, View4<const T> k, View4<const T> v, View4<const T> o, View4<const T> dout,
                     View4<T> dq, View4<T> dk, View4<T> dv, const std::vector<int64_t>& cu_seqlens, const Options& opt,
                     float* dslopes = nullptr, float* dsinks = nullptr, Isa isa = Isa::automatic) {
  detail::check_cu_seqlens(cu_seqlens, q.shape[0], q.shape[1], k.shape[1], opt);
  const Problem p =
      detail::check_backward_inputs(detail::BackwardInputs<T>{q, k, v, o, dout, dq, dk, dv}, opt, dslopes, dsinks);
  backward<T>(detail::rows_of(q, 0, 0), detail::rows_of(k, 0, 0), detail::rows_of(v, 0, 0), detail::rows_of(o, 0, 0),
              detail::rows_of(dout, 0, 0), detail::rows_of(dq, 0, 0), detail::rows_of(dk, 0, 0), detail::rows_of(dv, 0, 0),
              opt, nullptr, nullptr, isa);
  // Each sequence adds its dslopes and dsinks (rounded to float) to the caller's, in sequence
  // order. Short sequences run together first, each into its own H floats starting at -0 (-0 + x
  // is x for every x, +0 included), which the loop then adds in that order: the same bits as
  // one call a sequence, for any number of threads. (H floats a sequence: the only scratch.)
  const auto sequence = [&](int64_t first, int64_t count, const Options& with, float* slopes, float* sinks) {
    backward<T>(detail::rows_of(q, first, count), detail::rows_of(k, first, count), detail::rows_of(v, first, count),
                detail::rows_of(o, first, count), detail::rows_of(dout, first, count), detail::rows_of(dq, first, count),
                detail::rows_of(dk, first, count), detail::rows_of(dv, first, count), with, slopes, sinks, isa);
  };
  const int64_t sequences = static_cast<int64_t>(cu_seqlens.size()) - 1, heads = p.heads;
  const bool together = detail::varlen_together(cu_seqlens, p.threads);
  std::vector<float> short_dslopes, short_dsinks;
  if (together) {
    if (dslopes) short_dslopes.assign(static_cast<std::size_t>(sequences * heads), -0.f);
    if (dsinks) short_dsinks.assign(static_cast<std::size_t>(sequences * heads), -0.f);
    Options one_thread = opt;
    one_thread.threads = 1;
    detail::run_short_sequences(p.threads, cu_seqlens, [&](int64_t s, int64_t first, int64_t count) {
      sequence(first, count, one_thread, dslopes ? short_dslopes.data() + s * heads : nullptr,
               dsinks ? short_dsinks.data() + s * heads : nullptr);
    });
  }
  for (int64_t s = 0; s < sequences; ++s) {
    const int64_t first = cu_seqlens[s], count = cu_seqlens[s + 1] - first;
    if (count == 0) continue;
    if (together && detail::varlen_short(count)) {
      for (int64_t h = 0; h < heads; ++h) {
        if (dslopes) dslopes[h] += short_dslopes[s * heads + h];
        if (dsinks) dsinks[h] += short_dsinks[s * heads + h];
      }
      continue;
    }
    sequence(first, count, opt, dslopes, dsinks);
  }
}

// Any mix of read-only and mutable inputs but all read-only (users hold both); T from o or dq.
template <class Q, class K, class V, class T,
          class = std::enable_if_t<!std::is_const<T>::value && detail::all_elements_are<T, Q, K, V> &&
                                   !(std::is_const<Q>::value && std::is_const<K>::value && std::is_const<V>::value)>>
void forward_varlen(View4<Q> q, View4<K> k, View4<V> v, View4<T> o, const std::vector<int64_t>& cu_seqlens,
                    const Options& opt, Isa isa = Isa::automatic) {
  forward_varlen<T>(View4<const T>(q), View4<const T>(k), View4<const T>(v), o, cu_seqlens, opt, isa);
}

template <class Q, class K, class V, class O, class G, class T,
          class = std::enable_if_t<!std::is_const<T>::value && detail::all_elements_are<T, Q, K, V, O, G> &&
                                   !(std::is_const<Q>::value && std::is_const<K>::value && std::is_const<V>::value &&
                                     std::is_const<O>::value && std::is_const<G>::value)>>
void backward_varlen(View4<Q> q, View4<K> k, View4<V> v, View4<O> o, View4<G> dout, View4<T> dq, View4<T> dk,
                     View4<T> dv, const std::vector<int64_t>& cu_seqlens, const Options& opt,
                     float* dslopes = nullptr, float* dsinks = nullptr, Isa isa = Isa::automatic) {
  backward_varlen<T>(View4<const T>(q), View4<const T>(k), View4<const T>(v), View4<const T>(o),
                     View4<const T>(dout), dq, dk, dv, cu_seqlens, opt, dslopes, dsinks, isa);
}

}  // namespace SWAT_API_NAMESPACE
}  // namespace swat
