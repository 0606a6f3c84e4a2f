// The streaming kernel behind SlidingKVCache::step: t new queries (all heads of a kv group)
// against the cached keys of their window plus the t new keys, reading each key and value row
// once per step whatever the number of query heads sharing it.
//
// Decode is memory-bound, so the loop order serves the memory: keys are visited in blocks of
// 4 KB of rows (a block of K and V sits in L1), and every query of the step (t tokens times the
// G heads of the group) is applied to a block before the next one is read. Scores are dot
// products along D (fp32 for 16-bit storage; for bf16 where bf16 pair products exist,
// bf16_dot.hpp, the queries are rounded to bf16 once and multiply the stored key rows as pairs
// with float sums, as forward<bf16>'s q.k does), weights come from the vectorised sigmoid (no
// state across keys) or an online softmax (running max and sum per query).
//
// Work is split into tasks (batch, kv head, run of consecutive key splits). The window of a
// step is cut into splits of `split_keys` positions, a count that depends on the window only,
// never on the thread count; each split writes a partial result and a fixed-order combine adds
// them, so any number of threads (and any grouping of splits into tasks) gives the same bits.
// With one split the task stores its outputs directly.
#pragma once

#include "isa_namespace.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "../checks.hpp"
#include "../isa.hpp"
#include "../view.hpp"
#include "bf16_dot.hpp"
#include "buffer.hpp"
#include "compiler.hpp"
#include "convert.hpp"
#include "fp_env.hpp"
#include "math.hpp"
#include "reduce.hpp"
#include "ring_layout.hpp"
#include "rope.hpp"
#include "score/score.hpp"
#include "transpose.hpp"

namespace swat {
namespace detail {

// The cache memory as the kernels see it: plain pointers, so no std type crosses between
// translation units built for different ISAs. Rows of D elements, contiguous.
template <class S>
struct CacheMemory {
  RingLayout<S> rings;  // [B][Hkv] rings of capacity slots, keys rotated by RoPE at their positions
  int64_t first = 0;  // absolute position of the first token the cache saw
  int64_t start = 0;  // absolute position of the step's first token
  S* new_keys = nullptr;    // [B][Hkv][t][D] scratch: the step's keys, rotated and stored as S
  S* new_values = nullptr;  // [B][Hkv][t][D] scratch
  compute_t<S>* partial = nullptr;  // [B][Hkv][splits][t * G][D + 2] when splits > 1
  int64_t splits = 1, split_keys = 0;
  bool keys_only = false;  // append: store the new keys and values, attend nothing
};

template <class S>
struct DecodeInputs {
  View4<const S> q, k, v;
  View4<S> o;
  CacheMemory<S> cache;
};

// The positions a step of `t` tokens reads: [first visible, start + t), and how they are split.
struct DecodeRange {
  int64_t lo = 0, hi = 0;

  static DecodeRange of(int64_t window, int64_t first, int64_t start, int64_t t) {
    DecodeRange r;
    r.lo = window == 0 || start - first < window ? first : start - window + 1;
    r.hi = start + t;
    return r;
  }
  // Positions per split: a function of the range alone (never of the thread count).
  static constexpr int64_t split_keys = 512;
  int64_t splits() const { return std::max<int64_t>(1, (hi - lo + split_keys - 1) / split_keys); }
};

inline namespace SWAT_ISA_NAMESPACE {

template <class T>
struct DecodeWorkspace {
  Buffer<T> queries, scores, row;
  Buffer<uint32_t> query_pairs;   // Pairs: each query row rounded to bf16, as pairs
  Buffer<uint32_t> weight_pairs;  // Pairs: the weights rounded to bf16, as pairs of keys (weight_pairs_of)
  Buffer<T> weight_floats;        // PairFma: the weights rounded to bf16, as floats (weight_floats_of)
};

// Score: the composition of the score layer (score/score.hpp). Pairs (S bf16, a path with
// Bf16Dot): q.k in bf16 pairs over the dims in whole pair vectors, the queries rounded to bf16
// once, as forward<bf16> does. p.v too when two or four query heads share each value row
// (accumulate_pairs: weights rounded to bf16, two rows interleaved per step), where the compute
// per row bounds the step once rows are prefetched far ahead (prefetch_ahead). A lone head's
// p.v stays in float (on an AVX-512 EPYC pairs there were faster on rows in L2 but up to 1.25x
// slower on rows streamed from memory), its rows asked for in software on Intel's cores and on
// AMD's from Zen 5 on, left to the hardware prefetchers on AMD's earlier ones
// (cpu_decode_asks_for_rows, attend_lone). PairFma: the pair products in float FMAs with
// vdpbf16ps's arithmetic (the same bits), for GQA's steps on Intel's cores (run_decode).
template <class S, class Arch, class Score, bool Pairs = false, bool PairFma = false>
class DecodeKernel {
  using T = compute_t<S>;
  using PairStep = std::conditional_t<PairFma, typename Bf16FmaPairs<Arch>::type, Bf16PairStep<Arch>>;
  using Bias = typename Score::Bias;
  using Cap = typename Score::Cap;
  static constexpr bool Softmax = Score::Normaliser::normalises;
  using V = Vec<T, Arch>;
  using vec = typename V::type;
  static constexpr int64_t W = static_cast<int64_t>(V::width);
  // Keys per block: a block's q.k reads a burst of K rows, then its p.v a burst of V rows, so the
  // two streams advance in turns, in bursts of `burst` bytes (block_ rows, 1 to key_block).
  // D 128 at w 65536 on one thread, the rings on 2 MiB pages (steps alternated in one process,
  // each build's cache allocated afresh every round, medians): bf16 16 rows (4 KB) 9.1 ms a
  // step against 10.3 for 8 and 9.5 for 32; float 8 rows (4 KB) 18.4 against 23.2 for 16; GQA 32
  // over 8 in bf16 16 rows 11.9 against 12.6 for 32 (2 threads: 9.0 against 9.5). On 4 KB pages
  // (huge pages off) GQA's 16 rows ran 13.0 against 14.2 for 32, float's 8 level with 16. At
  // w 1024 against the earlier blocks on 4 KB pages: with the caches evicted before each step
  // (as a model's other layers evict them) float 0.35 against 0.48 ms, bf16 0.19 against 0.21;
  // the same step repeated over rows still in L2/L3, float 0.17 against 0.16 (its 8-row blocks
  // take a dot product per key instead of 16 at once), bf16 0.09 against 0.10.
  static constexpr int64_t key_block = 32;
  static constexpr int64_t burst = 4096;

 public:
  DecodeKernel(const Problem& p, const DecodeInputs<S>& io, const T* cos, const T* sin)
      : p_(p), io_(io), c_(io.cache), cos_(cos), sin_(sin), cap_(Cap::make(p)) {
    range_ = DecodeRange::of(p.window, c_.first, c_.start, p.q_len);
    if (c_.keys_only) range_.lo = c_.start;
    queries_ = p.q_len * p.group();
    whole_ = p.dim / W * W;
    pair_dims_ = Pairs ? p.dim / (2 * W) * (2 * W) : 0;
    row_pairs_ = (p.dim + 1) / 2;
    const int64_t threads = std::max(1, p.threads);
    splits_per_task_ = std::max<int64_t>(1, groups() * c_.splits / (16 * threads));
    const int64_t G = p.group();
    heads_at_once_ = G % 4 == 0 && W % 4 == 0 ? 4 : G % 2 == 0 && W % 2 == 0 ? 2 : 1;
    block_ = std::clamp<int64_t>(burst / (p.dim * static_cast<int64_t>(sizeof(S))), 1, key_block);
    asks_for_rows_ = cpu_decode_asks_for_rows();
    sums_in_pairs_ = Pairs && heads_at_once_ > 1 &&
                     p.dim % (2 * W * (heads_at_once_ == 4 ? PairPv<4>::blocks : PairPv<2>::blocks)) == 0;
  }

  int64_t tasks() const { return p_.batch * p_.kv_heads * task_splits(); }
  int64_t groups() const { return p_.batch * p_.kv_heads; }

  // One (batch, kv head) and a run of its consecutive splits (task_splits), the queries prepared
  // once for all of them.
  void run_task(int64_t task, DecodeWorkspace<T>& ws) const {
    const int64_t per_group = task_splits(), bg = task / per_group, first = task % per_group * splits_per_task_;
    prepare_queries(bg, ws);
    for (int64_t split = first; split < std::min(c_.splits, first + splits_per_task_); ++split) run_split(bg, split, ws);
  }

  // Adds the splits of one (batch, kv head) in order and stores the outputs.
  void combine(int64_t bg) const {
    store(bg / p_.kv_heads, bg % p_.kv_heads, state_of(bg, 0), c_.splits);
  }

 private:
  // Tasks per (batch, kv head): runs of consecutive splits, so that a thread streams one stretch
  // of the rings (the prefetchers' streams, and prefetch_ahead, run on across split boundaries
  // instead of into the split another thread is reading) while the tasks still number about 16
  // per thread. With one split a task, GQA 32 over 8 in bf16 at w 65536 on 2 threads took
  // 1.1-2x as long a step, the bf16 cache without GQA 1.07x (float: level). The bits do not
  // depend on it: every split writes its own partial state, combined in split order.
  int64_t task_splits() const { return (c_.splits + splits_per_task_ - 1) / splits_per_task_; }

  // One (batch, kv head, split): its share of the new keys into the scratch, then every query
  // of the step (prepare_queries) against the keys of the split.
  void run_split(int64_t bg, int64_t split, DecodeWorkspace<T>& ws) const {
    const int64_t b = bg / p_.kv_heads, g = bg % p_.kv_heads;
    const int64_t lo = range_.lo + split * c_.split_keys;
    const int64_t hi = std::min(range_.hi, lo + c_.split_keys);
    const int64_t D = p_.dim, t = p_.q_len, G = p_.group(), pairs = p_.rope != RopeLayout::none ? p_.rope_dim / 2 : 0;
    ws.scores.fit(static_cast<std::size_t>(2 * queries_ * weights_row));  // weights_of
    if (Pairs && !PairFma) ws.weight_pairs.fit(static_cast<std::size_t>(2 * queries_ * (weights_row / 2)));  // weight_pairs_of
    if (PairFma) ws.weight_floats.fit(static_cast<std::size_t>(2 * queries_ * weights_row));  // weight_floats_of
    ws.row.fit(static_cast<std::size_t>(D));

    // New keys of this split: rotated at their positions and rounded to S, as the cache keeps them.
    for (int64_t pos = std::max(lo, c_.start); pos < hi; ++pos) {
      const int64_t i = pos - c_.start;
      rotate_row(ws.row.data(), io_.k.at(b, i, g), io_.k.stride[3], D, p_.rope, p_.rope_dim, cos_ + i * pairs,
                 sin_ + i * pairs, T(1));
      S* key = c_.new_keys + (bg * t + i) * D;
      S* value = c_.new_values + (bg * t + i) * D;
      const S* source = io_.v.at(b, i, g);
      for (int64_t d = 0; d < D; ++d) {
        key[d] = store_scalar<S>(ws.row[d]);
        value[d] = source[d * io_.v.stride[3]];
      }
    }
    if (c_.keys_only) return;

    T* state = state_of(bg, split);
    for (int64_t r = 0; r < queries_; ++r) {
      T* o = state + r * (D + 2);
      fill(o, o + D, T(0));
      // Running max and sum (softmax); the sink, if any, joins the first split only.
      o[D] = -infinity<T>();
      o[D + 1] = T(0);
      if (split == 0) {
        const int64_t h = g * G + r % G, qp = c_.start + r / G;
        start_row(p_, reference_key(h), h, qp, o + D, o + D + 1);
      }
    }

    if (heads_at_once_ == 1 && asks_for_rows_)
      attend_lone<true>(bg, g, lo, hi, ws, state);
    else if (heads_at_once_ == 1)
      attend_lone<false>(bg, g, lo, hi, ws, state);
    else
      attend_groups(bg, g, lo, hi, ws, state);
    if constexpr (Pairs) {
      if (sums_in_pairs_) sums_to_natural_order(state);
    }
    if (c_.splits == 1) store(b, g, state, 1);
  }

  // The queries of (batch, kv head) bg into the workspace: rotated and scaled, row r = i * G + hh.
  // A task's splits share them (prepared once per split instead: level at one token a step,
  // GQA 32 over 8 in bf16 at w 65536; the work grows with the tokens of a step).
  void prepare_queries(int64_t bg, DecodeWorkspace<T>& ws) const {
    if (c_.keys_only) return;
    const int64_t b = bg / p_.kv_heads, g = bg % p_.kv_heads;
    const int64_t D = p_.dim, t = p_.q_len, G = p_.group(), pairs = p_.rope != RopeLayout::none ? p_.rope_dim / 2 : 0;
    ws.queries.fit(static_cast<std::size_t>(queries_ * D));
    for (int64_t i = 0; i < t; ++i)
      for (int64_t hh = 0; hh < G; ++hh)
        rotate_row(ws.queries.data() + (i * G + hh) * D, io_.q.at(b, i, g * G + hh), io_.q.stride[3], D, p_.rope,
                   p_.rope_dim, cos_ + i * pairs, sin_ + i * pairs, static_cast<T>(p_.scale));
    if constexpr (Pairs) {
      // Rounded to bf16 once: the pairs for the vector dims, the rounded floats for the rest.
      ws.query_pairs.fit(static_cast<std::size_t>(queries_ * row_pairs_));
      for (int64_t r = 0; r < queries_; ++r) {
        T* q = ws.queries.data() + r * D;
        round_row_pairs<Arch>(q, ws.query_pairs.data() + r * row_pairs_, D);
        for (int64_t d = 0; d < D; ++d) q[d] = load_scalar(store_scalar<S>(q[d]));
      }
    }
  }

  T* state_of(int64_t bg, int64_t split) const {
    if (c_.splits == 1) return thread_state();
    return c_.partial + (bg * c_.splits + split) * queries_ * (p_.dim + 2);
  }
  // With one split the state lives in per-thread scratch.
  T* thread_state() const {
    thread_local Buffer<T> state;
    state.fit(static_cast<std::size_t>(queries_ * (p_.dim + 2)));
    return state.data();
  }

  // A block of keys: rows at `keys` and `values`, positions [pos0, pos0 + n).
  struct Block {
    const S* keys = nullptr;
    const S* values = nullptr;
    int64_t pos0 = 0, n = 0;
  };
  // Rows of the weights of a block: one per query row (i * G + hh), room for a block and a vector.
  static constexpr int64_t weights_row = key_block + W;
  T* weights_of(DecodeWorkspace<T>& ws, int parity) const { return ws.scores.data() + parity * queries_ * weights_row; }
  // The same rounded to bf16 pairs (Pairs, sums_in_pairs_): keys 2j and 2j + 1 in pair j.
  uint32_t* weight_pairs_of(DecodeWorkspace<T>& ws, int parity) const {
    return ws.weight_pairs.data() + parity * queries_ * (weights_row / 2);
  }
  // Or as floats (PairFma), in the rows of the weights.
  T* weight_floats_of(DecodeWorkspace<T>& ws, int parity) const {
    return ws.weight_floats.data() + parity * queries_ * weights_row;
  }

  // The keys [a, e) of the block that query token i sees (a >= e: none).
  std::pair<int64_t, int64_t> visible(int64_t i, const Block& block) const {
    const int64_t qp = c_.start + i;
    const int64_t visible_lo = p_.window == 0 || qp - c_.first < p_.window ? c_.first : qp - p_.window + 1;
    return {std::max(block.pos0, visible_lo) - block.pos0, std::min(block.pos0 + block.n, qp + 1) - block.pos0};
  }

  // The weights of every query of the step on the keys of the block it sees, into the weights
  // of `parity`. Query heads sharing the kv head go 4 or 2 at a time (heads_at_once_), reading
  // each key row once for all of them: compute, not memory, bounds decode with GQA.
  void score_block(int64_t g, DecodeWorkspace<T>& ws, const Block& block, int parity, T* state) const {
    const int64_t G = p_.group();
    for (int64_t i = 0; i < p_.q_len; ++i) {
      const auto [a, e] = visible(i, block);
      if (a >= e) continue;
      if (heads_at_once_ == 4) {
        for (int64_t h0 = 0; h0 < G; h0 += 4) score_heads<4>(g, i, h0, ws, block, a, e, parity, state);
        continue;
      }
      for (int64_t h0 = 0; h0 < G; h0 += 2) score_heads<2>(g, i, h0, ws, block, a, e, parity, state);
    }
  }

  // f(block) for the blocks of positions [lo, hi) of (batch, kv head) bg in order, in contiguous
  // pieces: ring rows up to the wrap or the step's start, then the step's new rows.
  template <class F>
  SWAT_INLINE void for_each_block(int64_t bg, int64_t lo, int64_t hi, F&& f) const {
    const int64_t D = p_.dim, t = p_.q_len;
    for (int64_t pos = lo; pos < hi;) {
      const S *keys, *values;
      int64_t run;
      if (pos < c_.start) {
        const int64_t slot = (pos - c_.first) % c_.rings.capacity;
        // Two-argument mins: std::min of an initializer_list is an out-of-line template that every
        // ISA's copy of the kernel shares, and the AVX-512 copy's was vectorised (dispatch_isolation).
        run = std::min(hi, std::min(c_.start, pos + (c_.rings.capacity - slot))) - pos;
        keys = c_.rings.key(bg, slot);
        values = c_.rings.value(bg, slot);
      } else {
        run = hi - pos;
        keys = c_.new_keys + (bg * t + pos - c_.start) * D;
        values = c_.new_values + (bg * t + pos - c_.start) * D;
      }
      for (int64_t j = 0; j < run; j += block_)
        f(Block{keys + j * D, values + j * D, pos + j, std::min(block_, run - j)});
      pos += run;
    }
  }

  // Lone heads (one query head per kv head, or a group that does not split into pairs): every
  // query against a block key by key, its p.v right after its weights. Its own function, as
  // attend_groups: compiled into one, the two loops' code changed each other's speed (a lone
  // head's float cache 1.04-1.25x slower a step for code the lone path did not run).
  // Ask (cpu_decode_asks_for_rows, isa.hpp): the key rows are asked into L1 a block of rows
  // (`burst` bytes) ahead as each is read, the value rows into the outer caches
  // prefetch_distance ahead; without, both are left to the hardware prefetchers. On the Xeon
  // where it pays, the values' prefetch took the bf16 step from 68-71% to 78-81% of the
  // bandwidth and the keys' from there to 86-88% (their far prefetch instead of the near one:
  // level); float's values 82-84% -> 88-90%, its keys -> 92-94%. On a Zen 5 EPYC the values
  // asked a block ahead into L1 as well (as prefetch_rows does for GQA) were level to slower
  // (three alternated runs: bf16 78.6-82.8% of the bandwidth on one thread against 81.3-86.7%,
  // 78.3-86.1% against 87.0-91.1% on two; float level).
  template <bool Ask>
  SWAT_NOINLINE void attend_lone(int64_t bg, int64_t g, int64_t lo, int64_t hi, DecodeWorkspace<T>& ws,
                                 T* state) const {
    const int64_t D = p_.dim, G = p_.group();
    T* scores = ws.scores.data();
    for_each_block(bg, lo, hi, [&](const Block& block) {
      for (int64_t i = 0; i < p_.q_len; ++i) {
        const auto [a, e] = visible(i, block);
        if (a >= e) continue;
        for (int64_t hh = 0; hh < G; ++hh) {
          const int64_t r = i * G + hh;
          const T* q = ws.queries.data() + r * D;
          const uint32_t* q_pairs = Pairs ? ws.query_pairs.data() + r * row_pairs_ : nullptr;
          int64_t j = a;
          for (; j + W <= e; j += W) dot_keys<Ask>(q, q_pairs, block.keys + j * D, scores + j - a);
          for (; j < e; ++j) scores[j - a] = dot<Ask>(q, q_pairs, block.keys + j * D);
          T* o = state + r * (D + 2);
          weigh(scores, e - a, g * G + hh, c_.start + i, block.pos0 + a, o);
          accumulate<Ask>(o, scores, block.values + a * D, e - a, D);
        }
      }
    });
  }

  // Groups of query heads sharing each key row (score_heads, accumulate_group). A block's scores
  // become weights (score_block), which its p.v then adds into the sums (accumulate_block). With
  // the sigmoid, whose weights carry no state from block to block, a block's p.v runs after the
  // next block's scores (in the weights of the other parity): its products then overlap the
  // latency of the next block's chain from the products through the transposed sums and the
  // sigmoid to the weights. The sums still add the blocks in order, so the bits are the same.
  // GQA 32 over 8 in bf16, D 128, one thread (steps alternated in one process, medians): 1.42
  // against 1.46 ms a step at w 8192, 12.2 against 12.8 at w 65536.
  // The softmax's weights rescale the sums whenever the running max grows, so its p.v follows
  // its scores at once.
  SWAT_NOINLINE void attend_groups(int64_t bg, int64_t g, int64_t lo, int64_t hi, DecodeWorkspace<T>& ws,
                                   T* state) const {
    Block pending;
    int parity = 0;
    for_each_block(bg, lo, hi, [&](const Block& block) {
      score_block(g, ws, block, parity, state);
      if constexpr (Softmax) {
        accumulate_block(ws, block, parity, state);
      } else {
        if (pending.n > 0) accumulate_block(ws, pending, parity ^ 1, state);
        pending = block;
        parity ^= 1;
      }
    });
    if (pending.n > 0) accumulate_block(ws, pending, parity ^ 1, state);
  }

  // Every query's sums += its weights (score_block's) times the value rows of the block.
  void accumulate_block(DecodeWorkspace<T>& ws, const Block& block, int parity, T* state) const {
    const int64_t D = p_.dim, G = p_.group();
    for (int64_t i = 0; i < p_.q_len; ++i) {
      const auto [a, e] = visible(i, block);
      if (a >= e) continue;
      const S* values = block.values + a * D;
      if (heads_at_once_ == 4) {
        for (int64_t h0 = 0; h0 < G; h0 += 4) accumulate_group<4>(i * G + h0, ws, values, e - a, parity, state);
        continue;
      }
      for (int64_t h0 = 0; h0 < G; h0 += 2) accumulate_group<2>(i * G + h0, ws, values, e - a, parity, state);
    }
  }

  // The weights of query token i's heads h0 .. h0 + HP - 1 of kv head g on keys [a, e) of the
  // block, into their rows of the weights of `parity`.
  template <int HP>
  void score_heads(int64_t g, int64_t i, int64_t h0, DecodeWorkspace<T>& ws, const Block& block, int64_t a,
                   int64_t e, int parity, T* state) const {
    const int64_t D = p_.dim, G = p_.group(), r0 = i * G + h0, qp = c_.start + i;
    const S* keys = block.keys;
    T* scores = weights_of(ws, parity) + r0 * weights_row;
    const T* q[HP];
    const uint32_t* q_pairs[HP];
    for (int hp = 0; hp < HP; ++hp) {
      q[hp] = ws.queries.data() + (r0 + hp) * D;
      q_pairs[hp] = Pairs ? ws.query_pairs.data() + (r0 + hp) * row_pairs_ : nullptr;
    }
    // Rows of 2 or 4 whole pair vectors (bf16 D 64 or 128 on AVX-512) take the straight-line
    // products; other widths loop over the dims.
    int64_t j = a;
    if (Pairs && pair_dims_ == D && D == 4 * W)
      j = score_steps<HP>(std::integral_constant<int, 2>(), keys, a, e, q, q_pairs, scores);
    else if (Pairs && pair_dims_ == D && D == 8 * W)
      j = score_steps<HP>(std::integral_constant<int, 4>(), keys, a, e, q, q_pairs, scores);
    else
      j = score_steps<HP>(std::integral_constant<int, 0>(), keys, a, e, q, q_pairs, scores);
    for (; j < e; ++j)
      for (int hp = 0; hp < HP; ++hp) scores[hp * weights_row + j - a] = dot(q[hp], q_pairs[hp], keys + j * D);
    for (int hp = 0; hp < HP; ++hp)
      weigh(scores + hp * weights_row, e - a, g * G + h0 + hp, qp, block.pos0 + a, state + (r0 + hp) * (D + 2));
    // The pairs for accumulate_pairs, rounded here so that their stores are done long before
    // the p.v loads them (w 8192: 1.47 against 1.50 ms a step rounded in accumulate_pairs).
    if constexpr (PairFma) {
      if (sums_in_pairs_) {
        T* rounded = weight_floats_of(ws, parity) + r0 * weights_row;
        for (int hp = 0; hp < HP; ++hp)
          round_row_floats<Arch>(scores + hp * weights_row, rounded + hp * weights_row, (e - a) & ~int64_t(1));
      }
    } else if constexpr (Pairs) {
      if (sums_in_pairs_) {
        uint32_t* pairs = weight_pairs_of(ws, parity) + r0 * (weights_row / 2);
        for (int hp = 0; hp < HP; ++hp)
          round_row_pairs<Arch>(scores + hp * weights_row, pairs + hp * (weights_row / 2), (e - a) & ~int64_t(1));
      }
    }
  }

  // The scores of HP query rows (q, q_pairs) on keys a, a + 1, ... of the block, KP = W / HP
  // keys a step, into their rows of `scores` (weights_row apart) at 0, 1, ...; returns the first
  // key left (fewer than KP before e). Everything the loop reads lives in locals: a vector store
  // may alias any memory, so members, and variables a lambda had captured by reference, were
  // read again after each store (GQA 32 over 8 in bf16, one thread, w 8192: 1.47 against 1.50
  // ms a step with the loop in a lambda).
  template <int HP, int PV>
  int64_t score_steps(std::integral_constant<int, PV> pair_vectors, const S* keys, int64_t a, int64_t e,
                      const T* const* q_rows, const uint32_t* const* q_pair_rows, T* scores) const {
    constexpr int64_t KP = W / HP;  // keys per step: HP * KP = W accumulators
    const int64_t D = p_.dim, whole = whole_;
    const bool near = asks_for_rows_;
    const T* q[HP];
    const uint32_t* q_pairs[HP];
    for (int hp = 0; hp < HP; ++hp) {
      q[hp] = q_rows[hp];
      q_pairs[hp] = q_pair_rows[hp];
    }
    int64_t j = a;
    // HP steps at a time where their sums transpose in registers: each head's W scores then
    // leave in one store, which the weights' load takes its value from; stored KP at a time,
    // that load had to wait for all of them to be written (GQA 32 over 8 in bf16, one thread, w
    // 8192: 1.42-1.44 against 1.45-1.46 ms a step).
    if constexpr (ChunkTranspose<T, Arch, HP>::fast) {
      if (whole == D)
        for (; j + W <= e; j += W) {
          vec sums[HP];
          SWAT_UNROLL
          for (int step = 0; step < HP; ++step)
            sums[step] = step_sums<HP>(pair_vectors, keys + (j + step * KP) * D, q, q_pairs, near);
          ChunkTranspose<T, Arch, HP>::apply(sums);
          SWAT_UNROLL
          for (int hp = 0; hp < HP; ++hp) V::store(scores + hp * weights_row + j - a, sums[hp]);
        }
    }
    alignas(64) T sums[W];
    for (; j + KP <= e; j += KP) {
      const S* k = keys + j * D;
      V::store(sums, step_sums<HP>(pair_vectors, k, q, q_pairs, near));
      T* out = scores + j - a;
      if (whole == D) {
        for (int hp = 0; hp < HP; ++hp) std::memcpy(out + hp * weights_row, sums + hp * KP, sizeof(T) * KP);
        continue;
      }
      for (int hp = 0; hp < HP; ++hp)
        for (int64_t u = 0; u < KP; ++u) {
          T sum = sums[hp * KP + u];
          for (int64_t d = whole; d < D; ++d) sum += q[hp][d] * load_scalar(k[u * D + d]);
          out[hp * weights_row + u] = sum;
        }
    }
    return j;
  }
  // One step of score_steps: lane hp * KP + u of the result is query hp's product with key row
  // k + u * D over the vector dims. Key by key, each row read front to back once for the HP heads
  // (as dot_keys does): reading the KP rows side by side took 1.3x as long a step with GQA 32
  // over 8 in bf16.
  template <int HP, int PV>
  SWAT_INLINE vec step_sums(std::integral_constant<int, PV> pair_vectors, const S* k, const T* const* q,
                            const uint32_t* const* q_pairs, bool near) const {
    vec acc[W];
    SWAT_UNROLL
    for (int64_t u = 0; u < W; ++u) acc[u] = V::broadcast(T(0));
    prefetch_rows(k, W / HP * p_.dim, near);
    madd_keys<HP>(pair_vectors, k, q, q_pairs, acc);
    return transpose_sum<T, Arch>(acc);
  }

  // The sums of query rows r0 .. r0 + HP - 1 += their weights times the n value rows at `values`.
  template <int HP>
  void accumulate_group(int64_t r0, DecodeWorkspace<T>& ws, const S* values, int64_t n, int parity,
                        T* state) const {
    const int64_t D = p_.dim;
    const bool near = asks_for_rows_;
    T* weights = weights_of(ws, parity);
    if constexpr (Pairs) {
      if (sums_in_pairs_) {
        if constexpr (PairFma)
          accumulate_pairs<HP>(state + r0 * (D + 2), D + 2, weights + r0 * weights_row, nullptr,
                               weight_floats_of(ws, parity) + r0 * weights_row, values, n, D, near);
        else
          accumulate_pairs<HP>(state + r0 * (D + 2), D + 2, weights + r0 * weights_row,
                               weight_pairs_of(ws, parity) + r0 * (weights_row / 2), nullptr, values, n, D, near);
        return;
      }
    }
    T* scores[HP];
    T* o[HP];
    for (int hp = 0; hp < HP; ++hp) {
      scores[hp] = weights + (r0 + hp) * weights_row;
      o[hp] = state + (r0 + hp) * (D + 2);
    }
    // p.v reads value rows best front to back: on AVX-512, where the accumulators hold whole
    // rows of D 128 (or multiples) for two heads but not four, four heads go as two pairs, each
    // reading a row in one pass (GQA 32 over 8, bf16, w 65536: medians 23-26 ms a step against
    // 28 ms for four heads in two passes of half a row; alternated in one process).
    if constexpr (HP == 4 && is_avx512_arch<Arch>()) {
      if (D % (W * (pv_accumulators / 2)) == 0) {
        accumulate_heads<2>(o, scores, values, n, D, near);
        accumulate_heads<2>(o + 2, scores + 2, values, n, D, near);
        return;
      }
    }
    accumulate_heads<HP>(o, scores, values, n, D, near);
  }

  // o[hp][0..D) += sum over j < n of w[hp][j] * values[j][0..D) for HP heads, each value
  // vector read once for all of them; half the vector registers as accumulators (16 of
  // AVX-512's 32, else 8), so NV vectors of dims per pass over the rows. With 8 on AVX-512, GQA
  // 32 over 8 read each bf16 value row in four passes of one cache line each: steps at w 65536
  // took 1.35x as long as in two passes of two lines (alternated in one process, medians).
  static constexpr int pv_accumulators = is_avx512_arch<Arch>() ? 16 : 8;
  template <int HP>
  static void accumulate_heads(T* const* o, T* const* w, const S* values, int64_t n, int64_t D, bool near) {
    constexpr int NV = pv_accumulators / HP > 0 ? pv_accumulators / HP : 1;
    int64_t d = 0;
    for (; d + NV * W <= D; d += NV * W) {
      vec acc[HP][NV];
      SWAT_UNROLL
      for (int hp = 0; hp < HP; ++hp)
        SWAT_UNROLL
        for (int v = 0; v < NV; ++v) acc[hp][v] = V::load(o[hp] + d + v * W);
      const S* row = values + d;
      for (int64_t j = 0; j < n; ++j, row += D) {
        prefetch_rows(row, NV * W, near);
        vec vv[NV];
        SWAT_UNROLL
        for (int v = 0; v < NV; ++v) vv[v] = load_as<T, Arch>(row + v * W);
        SWAT_UNROLL
        for (int hp = 0; hp < HP; ++hp) {
          const vec wj = V::broadcast(w[hp][j]);
          SWAT_UNROLL
          for (int v = 0; v < NV; ++v) acc[hp][v] = V::fma(wj, vv[v], acc[hp][v]);
        }
      }
      SWAT_UNROLL
      for (int hp = 0; hp < HP; ++hp)
        SWAT_UNROLL
        for (int v = 0; v < NV; ++v) V::store(o[hp] + d + v * W, acc[hp][v]);
    }
    if (d < D)
      for (int hp = 0; hp < HP; ++hp) accumulate_tail(o[hp], w[hp], values, n, D, d);
  }

  // Rows streamed from memory are asked for `prefetch_distance` bytes ahead of their use, into
  // the outer caches, a row's lines as the row itself is read: the hardware prefetchers alone
  // kept too few lines in flight once each row costs some compute (GQA 32 over 8 in bf16 at w
  // 65536 on one thread ran 1.2x as long a step without it). Further ahead than that was level;
  // into L1, or the lines of a whole block at once, was up to twice as slow. Near: the `count`
  // elements a block of rows (`burst` bytes) after `row` instead, into L1 (attend_lone's keys).
  static constexpr std::uintptr_t prefetch_distance = 64 * 1024;
  template <bool Near = false>
  static SWAT_INLINE void prefetch_ahead(const S* row, int64_t count) {
    const std::uintptr_t from = reinterpret_cast<std::uintptr_t>(row) + (Near ? burst : prefetch_distance);
    const std::uintptr_t bytes = static_cast<std::uintptr_t>(count) * sizeof(S);
    for (std::uintptr_t at = 0; at < bytes; at += 64) {
      if constexpr (Near)
        SWAT_PREFETCH(reinterpret_cast<const void*>(from + at));
      else
        SWAT_PREFETCH_FAR(reinterpret_cast<const void*>(from + at));
    }
  }
  // The rows of query heads sharing a kv head (score_steps, accumulate_group): far ahead into the
  // outer caches, and where the CPU asks for a lone head's rows itself (near: asks_for_rows_) a
  // block ahead into L1 too. On a Zen 5 EPYC (GQA 32 over 8 in bf16, D 128, w 65536, six
  // alternated runs of swat_bench --swat_report, of which three with the near requests always
  // made) one thread's step read 58-68% of the bandwidth paired with it with the far requests
  // alone and 72-87% with both, two threads' 69-73% and 72-80%; the values' near requests alone
  // gave 60-74% on one thread. The L1 misses on the value rows had held most of p.v's samples.
  static SWAT_INLINE void prefetch_rows(const S* row, int64_t count, bool near) {
    prefetch_ahead(row, count);
    if (near) prefetch_ahead<true>(row, count);
  }

  // accumulate_heads<HP> in bf16 pairs along the keys (Pairs, GQA): the weights of keys j and
  // j + 1 rounded to bf16 as one pair, their value rows interleaved into pairs of the same dim,
  // one pair product per two keys and lane where float took a widening and an FMA per key. The
  // accumulators hold the dims in the interleaved lane order, loaded and stored through it per
  // block. `blocks` vectors of 2W dims per head and pass: half the vector registers as
  // accumulators, as accumulate_heads. An odd last key goes in float. PairFma: the rows widened
  // to floats as they are (Bf16FmaPairStep: even dims and odd dims, no pairs formed) and the
  // rounded weights broadcast as floats; the same bits as the instruction (GQA 32 over 8 in bf16
  // on an Intel Xeon: 0.96-0.97x the time of a step that formed pairs for the FMAs at w 4096,
  // 0.95-0.97x on two threads at w 8192, level at w 65536).
  template <int HP>
  struct PairPv {
    static constexpr int blocks = pv_accumulators / (2 * HP) > 0 ? pv_accumulators / (2 * HP) : 1;
  };
  // o: HP rows of sums, o_stride apart; w: their weights (rows weights_row apart), wp: the
  // same as pairs (rows weights_row / 2 apart), or wf (PairFma) rounded to bf16 as floats (rows
  // weights_row apart). Base pointers and strides rather than arrays of pointers keep the loop's
  // registers for the accumulators.
  template <int HP>
  static void accumulate_pairs(T* o, int64_t o_stride, const T* w, const uint32_t* wp, const T* wf, const S* values,
                               int64_t n, int64_t D, bool near) {
    using Step = PairStep;
    using acc_t = typename Step::acc;
    constexpr int NB = PairPv<HP>::blocks;
    constexpr int64_t wp_stride = weights_row / 2;
    const int64_t even = n & ~int64_t(1);
    for (int64_t d = 0; d < D; d += NB * 2 * W) {
      acc_t lo[HP][NB], hi[HP][NB];
      SWAT_UNROLL
      for (int hp = 0; hp < HP; ++hp)
        SWAT_UNROLL
        for (int b = 0; b < NB; ++b) {
          lo[hp][b] = V::load(o + hp * o_stride + d + b * 2 * W);
          hi[hp][b] = V::load(o + hp * o_stride + d + b * 2 * W + W);
        }
      const S* row = values + d;
      for (int64_t j = 0; j < even; j += 2, row += 2 * D) {
        prefetch_rows(row, NB * 2 * W, near);
        prefetch_rows(row + D, NB * 2 * W, near);
        if constexpr (PairFma) {
          // Each row's values widened once, no pairs formed (Bf16FmaPairStep): dim d's sum gets
          // row j + 1's product, then row j's, as the instruction adds a pair's halves.
          SWAT_UNROLL
          for (int b = 0; b < NB; ++b) {
            const auto x = Step::load_pairs(row + b * 2 * W), y = Step::load_pairs(row + D + b * 2 * W);
            const vec x_even = Step::low(x), x_odd = Step::high(x), y_even = Step::low(y), y_odd = Step::high(y);
            SWAT_UNROLL
            for (int hp = 0; hp < HP; ++hp) {
              const vec w0 = V::broadcast(wf[hp * weights_row + j]), w1 = V::broadcast(wf[hp * weights_row + j + 1]);
              lo[hp][b] = V::fma(x_even, w0, V::fma(y_even, w1, lo[hp][b]));
              hi[hp][b] = V::fma(x_odd, w0, V::fma(y_odd, w1, hi[hp][b]));
            }
          }
        } else {
          SWAT_UNROLL
          for (int b = 0; b < NB; ++b) {
            typename Step::b_vec x, y;
            Step::interleave_rows(Step::load_pairs(row + b * 2 * W), Step::load_pairs(row + D + b * 2 * W), x, y);
            SWAT_UNROLL
            for (int hp = 0; hp < HP; ++hp) {
              const auto wj = Step::broadcast_a(wp + hp * wp_stride + j / 2);
              lo[hp][b] = Step::madd(wj, x, lo[hp][b]);
              hi[hp][b] = Step::madd(wj, y, hi[hp][b]);
            }
          }
        }
      }
      SWAT_UNROLL
      for (int hp = 0; hp < HP; ++hp)
        SWAT_UNROLL
        for (int b = 0; b < NB; ++b) {
          V::store(o + hp * o_stride + d + b * 2 * W, lo[hp][b]);
          V::store(o + hp * o_stride + d + b * 2 * W + W, hi[hp][b]);
        }
    }
    // An odd last key in float, its row brought into the pair order of the sums.
    if (even < n) {
      const S* row = values + even * D;
      alignas(64) T natural[2 * W];
      for (int64_t d = 0; d < D; d += 2 * W) {
        V::store(natural, load_as<T, Arch>(row + d));
        V::store(natural + W, load_as<T, Arch>(row + d + W));
        acc_t lo, hi;
        Step::to_pair_order(natural, lo, hi);
        for (int hp = 0; hp < HP; ++hp) {
          T* out = o + hp * o_stride + d;
          const vec wj = V::broadcast(w[hp * weights_row + even]);
          V::store(out, V::fma(wj, lo, V::load(out)));
          V::store(out + W, V::fma(wj, hi, V::load(out + W)));
        }
      }
    }
  }
  // The state rows of a split hold their sums in the pair order of accumulate_pairs (each 2W
  // dims as the lanes of lo, then of hi) while the split runs, when every dim goes through it;
  // natural order again before they are stored or combined. Converting once per split instead
  // of once per block of keys (GQA 32 over 8 in bf16, D 128, one thread, steps alternated in one
  // process, medians): 11.3 against 11.9 ms a step at w 65536 (the permutes had held 8% of the
  // kernel's samples), 1.47 against 1.56 at w 8192; 2 threads level (8.3 ms).
  void sums_to_natural_order(T* state) const {
    using Step = PairStep;
    const int64_t D = p_.dim;
    for (int64_t r = 0; r < queries_; ++r)
      for (int64_t d = 0; d < D; d += 2 * W) {
        T* o = state + r * (D + 2) + d;
        Step::from_pair_order(V::load(o), V::load(o + W), o);
      }
  }

  // acc[h * stride] += query h's products with key row k over the vector dims [0, whole_), for
  // NQ queries: the first pair_dims_ in bf16 pairs (Pairs), the rest in T. q: the queries (their
  // rounded values with Pairs), q_pairs: their pairs.
  template <int NQ>
  void madd_key(const S* k, const T* const* q, const uint32_t* const* q_pairs, vec* acc, int64_t stride) const {
    if constexpr (Pairs) {
      using Step = PairStep;
      for (int64_t d = 0; d < pair_dims_; d += 2 * W) {
        const auto kv = Step::load_pairs(k + d);
        SWAT_UNROLL
        for (int h = 0; h < NQ; ++h)
          acc[h * stride] = Step::madd_lanes(Step::load_pairs(q_pairs[h] + d / 2), kv, acc[h * stride]);
      }
    }
    for (int64_t d = pair_dims_; d < whole_; d += W) {
      const vec kv = load_as<T, Arch>(k + d);
      SWAT_UNROLL
      for (int h = 0; h < NQ; ++h) acc[h * stride] = V::fma(kv, V::load(q[h] + d), acc[h * stride]);
    }
  }

  // acc[hp * KP + u] += the products of query hp with key row k + u * D, for u < KP = W / HP.
  // PV > 0 (Pairs): the rows are PV pair vectors exactly, unrolled, so that the W independent
  // accumulators interleave; looping over the dims per key (madd_key), each key's chain of PV
  // bf16 products waited on its last one and the accumulators went through memory: GQA 32 over
  // 8 in bf16 at w 65536 ran 1.15x as long a step (alternated in one process, medians). The
  // queries' pairs are held in registers C pair vectors at a time (8 vectors of queries, 16
  // accumulators, a key vector), so a key takes PV loads instead of PV * (HP + 1); on this CPU,
  // whose products are not load-bound at that count, the step took as long either way.
  template <int HP, int PV>
  SWAT_INLINE void madd_keys(std::integral_constant<int, PV>, const S* k, const T* const* q,
                             const uint32_t* const* q_pairs, vec* acc) const {
    constexpr int64_t KP = W / HP;
    const int64_t D = p_.dim;
    if constexpr (Pairs && PV > 0) {
      using Step = PairStep;
      constexpr int C = PV < 8 / HP ? PV : 8 / HP;
      SWAT_UNROLL
      for (int v0 = 0; v0 < PV; v0 += C) {
        typename Step::b_vec qv[HP][C];
        SWAT_UNROLL
        for (int hp = 0; hp < HP; ++hp)
          SWAT_UNROLL
          for (int c = 0; c < C; ++c) qv[hp][c] = Step::load_pairs(q_pairs[hp] + (v0 + c) * W);
        SWAT_UNROLL
        for (int64_t u = 0; u < KP; ++u)
          SWAT_UNROLL
          for (int c = 0; c < C; ++c) {
            const auto kv = Step::load_pairs(k + u * D + (v0 + c) * 2 * W);
            SWAT_UNROLL
            for (int hp = 0; hp < HP; ++hp) acc[hp * KP + u] = Step::madd_lanes(qv[hp][c], kv, acc[hp * KP + u]);
          }
      }
    } else {
      SWAT_UNROLL
      for (int64_t u = 0; u < KP; ++u) madd_key<HP>(k + u * D, q, q_pairs, acc + u, KP);
    }
  }

  // The score of one key row; Ask: the row a block further on asked into L1 (attend_lone).
  template <bool Ask = false>
  T dot(const T* q, const uint32_t* q_pairs, const S* k) const {
    const int64_t D = p_.dim;
    if constexpr (Ask) prefetch_ahead<true>(k, D);
    if constexpr (Pairs) {
      vec acc = V::broadcast(T(0));
      madd_key<1>(k, &q, &q_pairs, &acc, 1);
      T sum = horizontal_sum<T, Arch>(acc);
      for (int64_t d = whole_; d < D; ++d) sum += q[d] * load_scalar(k[d]);
      return sum;
    }
    vec acc0 = V::broadcast(T(0)), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t d = 0;
    for (; d + 4 * W <= D; d += 4 * W) {
      acc0 = V::fma(load_as<T, Arch>(k + d), V::load(q + d), acc0);
      acc1 = V::fma(load_as<T, Arch>(k + d + W), V::load(q + d + W), acc1);
      acc2 = V::fma(load_as<T, Arch>(k + d + 2 * W), V::load(q + d + 2 * W), acc2);
      acc3 = V::fma(load_as<T, Arch>(k + d + 3 * W), V::load(q + d + 3 * W), acc3);
    }
    for (; d + W <= D; d += W) acc0 = V::fma(load_as<T, Arch>(k + d), V::load(q + d), acc0);
    T sum = horizontal_sum<T, Arch>((acc0 + acc1) + (acc2 + acc3));
    for (; d < D; ++d) sum += q[d] * load_scalar(k[d]);
    return sum;
  }

  // Scores of W consecutive keys (rows D apart) at once: one accumulator per key, W
  // independent FMA chains, reduced together by one transposing horizontal add instead of a
  // horizontal sum per key. Ask: as dot's.
  template <bool Ask>
  void dot_keys(const T* q, const uint32_t* q_pairs, const S* k, T* out) const {
    const int64_t D = p_.dim;
    if constexpr (Ask) prefetch_ahead<true>(k, W * D);
    vec acc[W];
    SWAT_UNROLL
    for (int64_t u = 0; u < W; ++u) acc[u] = V::broadcast(T(0));
    // Key by key, each row read front to back as the memory delivers it. Reading the W rows side
    // by side (one vector of each per step) took twice as long per byte as accumulate(): decode
    // ran at half the read bandwidth.
    madd_keys<1>(std::integral_constant<int, 0>(), k, &q, &q_pairs, acc);
    V::store(out, transpose_sum<T, Arch>(acc));
    for (int64_t d = whole_; d < D; ++d)
      for (int64_t u = 0; u < W; ++u) out[u] += q[d] * load_scalar(k[u * D + d]);
  }

  // The reference key of head h (score/bias.hpp), over the positions the cache has seen.
  ReferenceKey reference_key(int64_t h) const {
    return ReferenceKey::of(Softmax, p_.slopes ? p_.slopes[h] : 0.0, p_.window, c_.first, c_.start + p_.q_len - c_.first);
  }

  // Logits -> weights in place for the n keys at positions key_pos, key_pos + 1, ... of the query
  // at position qp (head h): modifier, bias, normaliser, W keys at a time (scores has room).
  void weigh(T* scores, int64_t n, int64_t h, int64_t qp, int64_t key_pos, T* o) const {
    const ReferenceKey key = reference_key(h);
    const vec distance0 = V::broadcast(static_cast<T>(key.k_pos0 + key.at(qp) - key_pos)) - V::iota();
    const Bias bias = Bias::make(p_, h);
    const Cap cap = cap_;
    const auto logits = [bias, cap, distance0, scores](int64_t j) {
      return bias.apply(cap.value(V::load(scores + j)), distance0 - V::broadcast(static_cast<T>(j)));
    };
    const int64_t D = p_.dim;
    if constexpr (!Softmax) {
      for (int64_t j = 0; j < n; j += W) V::store(scores + j, sigmoid<T, Arch>(logits(j)));
    } else {
      for (int64_t j = 0; j < n; j += W) V::store(scores + j, logits(j));
      T top = o[D];
      for (int64_t j = 0; j < n; ++j) top = std::max(top, scores[j]);
      if (top > o[D]) {
        const T rescale = o[D] == -infinity<T>() ? T(0) : static_cast<T>(std::exp(o[D] - top));
        for (int64_t d = 0; d < D; ++d) o[d] *= rescale;
        o[D + 1] *= rescale;
        o[D] = top;
      }
      const vec shift = V::broadcast(top);
      for (int64_t j = 0; j < n; j += W) V::store(scores + j, exp_nonpositive<T, Arch>(V::load(scores + j) - shift));
      T total = o[D + 1];
      for (int64_t j = 0; j < n; ++j) total += scores[j];
      o[D + 1] = total;
    }
  }

  // o[0..D) += sum over j < n of w[j] * values[j][0..D), eight vectors of o held at a time
  // (eight independent FMA chains: both FMA units busy despite the latency). Ask: each row's
  // dims prefetch_distance further on asked into the outer caches (attend_lone).
  template <bool Ask>
  static void accumulate(T* o, const T* w, const S* values, int64_t n, int64_t D) {
    int64_t d = 0;
    for (; d + 8 * W <= D; d += 8 * W) {
      vec acc[8];
      SWAT_UNROLL
      for (int u = 0; u < 8; ++u) acc[u] = V::load(o + d + u * W);
      const S* v = values + d;
      for (int64_t j = 0; j < n; ++j, v += D) {
        if constexpr (Ask) prefetch_ahead(v, 8 * W);
        const vec wj = V::broadcast(w[j]);
        SWAT_UNROLL
        for (int u = 0; u < 8; ++u) acc[u] = V::fma(wj, load_as<T, Arch>(v + u * W), acc[u]);
      }
      SWAT_UNROLL
      for (int u = 0; u < 8; ++u) V::store(o + d + u * W, acc[u]);
    }
    accumulate_tail(o, w, values, n, D, d);
  }
  // accumulate() for dims [d, D): a vector, then a scalar at a time.
  static void accumulate_tail(T* o, const T* w, const S* values, int64_t n, int64_t D, int64_t d) {
    for (; d + W <= D; d += W) {
      vec acc = V::load(o + d);
      for (int64_t j = 0; j < n; ++j) acc = V::fma(V::broadcast(w[j]), load_as<T, Arch>(values + j * D + d), acc);
      V::store(o + d, acc);
    }
    for (; d < D; ++d) {
      T acc = o[d];
      for (int64_t j = 0; j < n; ++j) acc += w[j] * load_scalar(values[j * D + d]);
      o[d] = acc;
    }
  }

  // Outputs of one (batch, kv head) from `splits` consecutive partial states, added in order:
  // split by split into a row of sums (each dim's terms in split order), a vector at a time.
  void store(int64_t b, int64_t g, const T* states, int64_t splits) const {
    const int64_t D = p_.dim, G = p_.group(), stride = queries_ * (D + 2);
    thread_local Buffer<T> sums;
    sums.fit(static_cast<std::size_t>(D));
    T* acc = sums.data();
    for (int64_t r = 0; r < queries_; ++r) {
      const int64_t i = r / G, h = g * G + r % G;
      T top = -infinity<T>();
      if (Softmax)
        for (int64_t s = 0; s < splits; ++s) top = std::max(top, states[s * stride + r * (D + 2) + D]);
      fill(acc, acc + D, T(0));
      T total = T(0);
      for (int64_t s = 0; s < splits; ++s) {
        const T* o = states + s * stride + r * (D + 2);
        if (Softmax && o[D] == -infinity<T>()) continue;  // a split that saw no key
        const T scale = Softmax ? static_cast<T>(std::exp(o[D] - top)) : T(1);
        if (Softmax) total += o[D + 1] * scale;
        const vec vscale = V::broadcast(scale);
        int64_t d = 0;
        for (; d + W <= D; d += W) V::store(acc + d, V::load(acc + d) + (Softmax ? V::load(o + d) * vscale : V::load(o + d)));
        for (; d < D; ++d) acc[d] += Softmax ? o[d] * scale : o[d];
      }
      const T factor = !Softmax ? T(1) : total > T(0) ? T(1) / total : T(0);
      S* out = io_.o.at(b, i, h);
      const int64_t ds = io_.o.stride[3];
      for (int64_t d = 0; d < D; ++d) out[d * ds] = store_scalar<S>(acc[d] * factor);
    }
  }

  const Problem& p_;
  DecodeInputs<S> io_;
  CacheMemory<S> c_;
  const T *cos_, *sin_;
  Cap cap_;
  DecodeRange range_;
  int64_t queries_ = 0;
  int64_t whole_ = 0;           // dims in whole vectors
  int64_t pair_dims_ = 0;       // of those, the dims multiplied in bf16 pairs (Pairs)
  int64_t row_pairs_ = 0;       // pairs per query row in ws.query_pairs
  int64_t splits_per_task_ = 1; // consecutive splits per task (task_splits)
  int heads_at_once_ = 1;       // query heads of a group that read each key row together (score_heads)
  int64_t block_ = 1;           // keys per block
  bool sums_in_pairs_ = false;  // the state rows in pair order while a split runs (accumulate_pairs)
  bool asks_for_rows_ = false;  // rows asked for in software (attend_lone; near requests in prefetch_rows)
};

template <class Kernel, class T>
void run_decode_task(void* kernel, int64_t task) {
  const FlushSubnormalResults flush;
  thread_local DecodeWorkspace<T> workspace;
  static_cast<const Kernel*>(kernel)->run_task(task, workspace);
}

template <class Kernel>
void run_decode_combine(void* kernel, int64_t task) {
  const FlushSubnormalResults flush;
  static_cast<const Kernel*>(kernel)->combine(task);
}

template <class S, class Arch, bool Pairs, bool PairFma = false>
void run_decode_with(const Problem& p, const DecodeInputs<S>& io, Parallel parallel, const compute_t<S>* cos,
                     const compute_t<S>* sin) {
  using T = compute_t<S>;
  compose<T, Arch, Biases::alibi>(p, [&](auto score) {
    using Kernel = DecodeKernel<S, Arch, decltype(score), Pairs, PairFma>;
    const Kernel kernel(p, io, cos, sin);
    void* context = const_cast<Kernel*>(&kernel);
    parallel(p.threads, kernel.tasks(), &run_decode_task<Kernel, T>, context);
    if (io.cache.splits > 1 && !io.cache.keys_only)
      parallel(p.threads, kernel.groups(), &run_decode_combine<Kernel>, context);
  });
}

// One step of the cache: p describes the step (q_len = t new tokens at k_pos0 = q_pos0 =
// cache.start; window the cache's own, unresolved). The caller has sized every scratch buffer.
template <class S, class Arch>
void run_decode(const Problem& p, const DecodeInputs<S>& io, Parallel parallel) {
  using T = compute_t<S>;
  // cos/sin of the step's positions, shared by its queries and new keys; the angle tables
  // persist on the calling thread and are rebuilt only when the RoPE settings change.
  thread_local Buffer<T> cos, sin;
  const int64_t pairs = p.rope != RopeLayout::none ? p.rope_dim / 2 : 0;
  if (pairs > 0) {
    thread_local RopeAngles angles;
    thread_local int64_t angles_dim = -1;
    thread_local double angles_base = 0;
    thread_local Buffer<float> angles_freqs;  // the table the angles hold, when set
    thread_local bool angles_tabled = false;
    thread_local RopeAngles::Cursor cursor;
    bool same = angles_dim == p.rope_dim && angles_base == p.rope_base && angles_tabled == (p.rope_freqs != nullptr);
    for (int64_t k = 0; same && angles_tabled && k < pairs; ++k) same = angles_freqs[k] == p.rope_freqs[k];
    if (!same) {
      angles.~RopeAngles();
      new (&angles) RopeAngles(p.rope_dim, p.rope_base, p.rope_freqs);
      angles_dim = p.rope_dim;
      angles_base = p.rope_base;
      angles_tabled = p.rope_freqs != nullptr;
      angles_freqs.fit(static_cast<std::size_t>(pairs));
      for (int64_t k = 0; angles_tabled && k < pairs; ++k) angles_freqs[k] = p.rope_freqs[k];
    }
    cos.fit(static_cast<std::size_t>(p.q_len * pairs));
    sin.fit(static_cast<std::size_t>(p.q_len * pairs));
    cursor.start(angles, io.cache.start);
    cursor.fill(p.q_len, cos.data(), sin.data());
  }
  if constexpr (std::is_same<S, bf16>::value && Bf16Dot<Arch>::available) {
    if (p.bf16_products && Bf16Dot<Arch>::runs()) {
      if constexpr (!std::is_void<typename Bf16FmaPairs<Arch>::type>::value) {
        // FMAs where the instruction does not pay and query heads share each key row (GQA, whose
        // step is bound by its products, DecodeKernel::score_block). A lone head's step waits on
        // memory, and its q.k takes as many cycles either way: it keeps the instruction.
        const PairArithmetic arithmetic = pair_arithmetic().load(std::memory_order_relaxed);
        const bool shared_rows = p.group() % 2 == 0;
        if (arithmetic == PairArithmetic::fma ||
            (arithmetic == PairArithmetic::automatic && !Bf16Dot<Arch>::pays() && shared_rows)) {
          pair_arithmetic_taken().store(PairArithmetic::fma, std::memory_order_relaxed);
          run_decode_with<S, Arch, true, true>(p, io, parallel, cos.data(), sin.data());
          return;
        }
      }
      pair_arithmetic_taken().store(PairArithmetic::instruction, std::memory_order_relaxed);
      run_decode_with<S, Arch, true>(p, io, parallel, cos.data(), sin.data());
      return;
    }
  }
  run_decode_with<S, Arch, false>(p, io, parallel, cos.data(), sin.data());
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
