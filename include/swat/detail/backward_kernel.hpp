// The backward kernels (SPEC section 3): gradients recomputed tile by tile from q, k, v, never
// stored as an n-by-w matrix. Each task writes rows no other task of its pass writes:
//
//   query pass (tasks: batch, kv head, tile of queries; queries along SIMD lanes, like forward)
//     for all heads of the GQA group, each key block packed once for them: recomputes S, dP,
//     dS and accumulates dQ^T += K^T dS^T; softmax does it with forward's
//     online rescaling (dS needs the row's final sum, known only at the end) and leaves the row
//     statistics (log-sum-exp, D_i = <dO_i, O_i>) for the key pass.
//   key pass (tasks: batch, kv head, tile of keys; keys along SIMD lanes)
//     for every query row that sees the tile, all heads of the GQA group: recomputes S, dP, dS
//     and accumulates dV^T += dO^T P, dK^T += Q^T dS, so dk and dv need no cross-task sum.
//
// A query row's dQ gathers from every key tile of its window, so FlashAttention-2's single key
// pass needs atomics (not deterministic), per-task partials of O(n * w / tile) memory, or a
// reduction whose order follows the thread count. Two passes recompute S and dP once more (14
// instead of 10 products of D per pair) and give the same bits for any thread count.
//
// Sigmoid with a window of at most one key tile plus one (the SWAT layer) needs neither: no
// row statistic has to be known first, and a row's window meets at most two consecutive key
// tiles. So the key pass alone computes all three gradients (fused, 10 products): it runs the
// even tiles, which store their share of each dq row, then the odd tiles, which add theirs. Every
// row is one sum of the same two parts, whatever the thread count.
//
// All products use the one register-blocked micro-kernel (microkernel.hpp) on rows copied once per tile.
#pragma once

#include "isa_namespace.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../checks.hpp"
#include "../view.hpp"
#include "buffer.hpp"
#include "compiler.hpp"
#include "fp_env.hpp"
#include "lane_rows.hpp"
#include "math.hpp"
#include "microkernel.hpp"
#include "reduce.hpp"
#include "rope.hpp"
#include "score/score.hpp"
#include "task_order.hpp"
#include "transpose.hpp"

namespace swat {
namespace detail {

// Keys per task of the key pass for a window w: the multiple of 256 that holds w - 1 keys, at
// least 256 and at most 2048; 2048 without a window. The fused pass (below) needs tile >= w - 1;
// a tile no longer than that keeps a task's packed keys in L2 and its rows' pages in the TLB
// (the 340M layer at w 256 ran about an eighth faster with 256 than with 2048). The same on
// every path (a multiple of every path's lanes), so tests can put rows across two tiles and
// windows at the fused pass's limit.
constexpr int64_t backward_key_tile_max = 2048;
constexpr int64_t backward_key_tile(int64_t window) {
  if (window <= 0 || window - 1 >= backward_key_tile_max) return backward_key_tile_max;
  const int64_t tile = (window - 1 + 255) / 256 * 256;
  return tile < 256 ? 256 : tile;
}

// Longest runs of positions whose angles the passes keep in a table (RopeRun) for the tasks
// that follow; longer runs stream from a cursor. Here so that tests can reach both.
// The key pass's query rows, for the heads of a tile: the 340M layer's 511 (128 KiB of cos and
// sin in float at 32 pairs); more are streamed chunk by chunk, per head.
constexpr int64_t backward_tabled_query_rows = 512;
// The query pass's keys, for a task's kv heads: the 340M layer's softmax sees 1279 (1024 rows
// and a window of 256), D 128 at w 1024 2047 (1 MiB of cos and sin in float); more are
// streamed a key block at a time.
constexpr int64_t backward_tabled_pass_keys = 2048;

inline namespace SWAT_ISA_NAMESPACE {

// Tile sizes, in one place (the key tile is backward_key_tile above). They are large because
// every row is re-read and re-rotated once per tile that sees it: at w = 1024 with 128-query and
// 64-key tiles, packing (cache and TLB misses on rows a head-stride apart) took more time than
// the arithmetic. Scratch per thread is at most about 10 * 2048 * D values.
template <class T, class Arch>
struct BackwardTiling {
  static constexpr int64_t lanes = Blocking<T, Arch>::lanes;
  static constexpr int64_t M = Blocking<T, Arch>::rows;
  static constexpr int64_t query_tile = 1024;   // query pass: query-head rows per task
  // Query pass: positions per task with G heads sharing a kv head. The task packs each key block
  // once for all G heads, so it keeps G heads' slabs: query_tile / G positions keep the scratch
  // of one head's 1024 (a multiple of lanes, at least one lane block).
  static constexpr int64_t query_rows(int64_t G) {
    const int64_t rows = query_tile / (G > 0 ? G : 1) / lanes * lanes;
    return rows > lanes ? rows : lanes;
  }
  static constexpr int64_t key_block = 16 * M;  // query pass: keys per packed block
  static_assert(256 % lanes == 0, "a key tile (backward_key_tile) is whole lane blocks");
  static constexpr int64_t query_chunk = 32 * M;  // key pass: query rows packed at once
};

// Per-row statistics of softmax for the key pass: logits are turned into weights as
// exp(s - lse), and dS = P (dP - dot) with dot = <dO_i, O_i>. Indexed [batch][head][row].
template <class T>
struct RowStats {
  T* lse = nullptr;
  T* dot = nullptr;
};

// out[0..D) = factor * inverse RoPE of in[0..D) (the rotation by the opposite angle), written
// at element stride `stride`. cos/sin hold the pairs of this row's position. Each layout has its
// own loop; with a literal unit stride and pointers that do not alias, the compiler vectorises
// them (GCC 12 left the earlier lambda-based copy scalar).
template <class T, class Tout, class Stride>
inline void unrotate_row_at(Tout* __restrict out, Stride stride, const T* __restrict in, int64_t dim,
                            RopeLayout layout, int64_t rope_dim, const T* __restrict cos, const T* __restrict sin,
                            T factor) {
  const int64_t P = rope_dim / 2;
  if (layout == RopeLayout::half) {
    for (int64_t k = 0; k < P; ++k) {
      const T x1 = in[k], x2 = in[k + P];
      out[k * stride] = static_cast<Tout>((x1 * cos[k] + x2 * sin[k]) * factor);
      out[(k + P) * stride] = static_cast<Tout>((x2 * cos[k] - x1 * sin[k]) * factor);
    }
  } else if (layout == RopeLayout::interleaved) {
    for (int64_t k = 0; k < P; ++k) {
      const T x1 = in[2 * k], x2 = in[2 * k + 1];
      out[2 * k * stride] = static_cast<Tout>((x1 * cos[k] + x2 * sin[k]) * factor);
      out[(2 * k + 1) * stride] = static_cast<Tout>((x2 * cos[k] - x1 * sin[k]) * factor);
    }
  }
  const int64_t first_plain = layout == RopeLayout::none ? 0 : rope_dim;
  scale_row(out + first_plain * stride, stride, in + first_plain, unit_stride{}, dim - first_plain, factor);
}

template <class T, class Tout>
inline void unrotate_row(Tout* out, int64_t out_stride, const T* in, int64_t dim, RopeLayout layout, int64_t rope_dim,
                         const T* cos, const T* sin, T factor) {
  if (out_stride == 1)
    unrotate_row_at(out, unit_stride{}, in, dim, layout, rope_dim, cos, sin, factor);
  else
    unrotate_row_at(out, out_stride, in, dim, layout, rope_dim, cos, sin, factor);
}

// Per-thread scratch of both passes, grown on first use and reused.
template <class T>
struct BackwardWorkspace {
  // Query pass: [lane block][D][lanes] slabs; key and value rows; score rows.
  Buffer<T> q_t, do_t, dq_t, keys, values, scores, dp, dot, max, sum, slope;
  // Key pass: [lane block][D][lanes] slabs; query and dO rows (both passes also stage a lane
  // block's rows there on their way to or from a slab); when it also computes dQ, the keys as
  // [dim panel][key][lanes], dQ as [dim panel][row][lanes], one dQ row and one un-rotated row.
  Buffer<T> k_t, v_t, dk_t, dv_t, q_rows, do_rows, k_rows, dq_rows, row, unrotated;
  // Key pass: the angles of a tile's keys and of the query rows that see them, the same for
  // every head of the tile (tasks vary the head fastest, so the next task finds them here).
  // The rows stream a chunk at a time past backward_tabled_query_rows.
  RopeTable<T> tile_keys;
  RopeRun<T> tile_queries;
  // Query pass: the angles of a task's rows and of the keys they see, the same for every kv
  // head of those positions (the next task's). The keys stream a block at a time past
  // backward_tabled_pass_keys.
  RopeTable<T> pass_rows;
  RopeRun<T> pass_keys;

  static void fit(Buffer<T>& buffer, int64_t n) { buffer.fit(static_cast<std::size_t>(n)); }
};

// What both passes share: the problem, the tensors, the angles.
template <class T, class Arch>
struct BackwardCommon {
  using V = Vec<T, Arch>;
  const Problem& p;
  BackwardInputs<T> io;
  const RopeAngles& angles;
  Window window;
  RowStats<T> stats;

  // RoPE(x) * factor of row s of head `head` of `view` into out[0..D).
  void load_rotated(T* out, const View4<const T>& view, int64_t b, int64_t s, int64_t head, const T* cos,
                    const T* sin, T factor) const {
    if (view.stride[3] == 1)  // a literal unit stride lets the rotation vectorise
      rotate_row(out, view.at(b, s, head), 1, p.dim, p.rope, p.rope_dim, cos, sin, factor);
    else
      rotate_row(out, view.at(b, s, head), view.stride[3], p.dim, p.rope, p.rope_dim, cos, sin, factor);
  }
  // Asks for row s of `view` ahead of its use: packing walks rows a head-stride apart, which the
  // hardware prefetchers miss, and it re-reads them once per tile that sees them. The gradients'
  // rows are asked for with intent to write (Write): their stores would wait for the lines.
  template <bool Write = false, class U>
  void prefetch(const View4<U>& view, int64_t b, int64_t s, int64_t head) const {
    const char* row = reinterpret_cast<const char*>(view.at(b, s, head));
    const int64_t bytes = p.dim * view.stride[3] * static_cast<int64_t>(sizeof(T));
    for (int64_t at = 0; at < bytes && at < 4096; at += 64) {
      if (Write)
        SWAT_PREFETCH_WRITE(row + at);
      else
        SWAT_PREFETCH(row + at);
    }
  }
  // Row s of `view` = factor * inverse RoPE of in[0..D), or in + that when Add.
  template <bool Add = false>
  void store_unrotated(const View4<T>& view, int64_t b, int64_t s, int64_t head, const T* in, const T* cos,
                       const T* sin, T factor, T* scratch) const {
    T* out = view.at(b, s, head);
    const int64_t stride = view.stride[3];
    if (!Add) return unrotate_row(out, stride, in, p.dim, p.rope, p.rope_dim, cos, sin, factor);
    unrotate_row(scratch, 1, in, p.dim, p.rope, p.rope_dim, cos, sin, factor);
    if (stride == 1)  // a literal unit stride lets the sum vectorise
      for (int64_t d = 0; d < p.dim; ++d) out[d] += scratch[d];
    else
      for (int64_t d = 0; d < p.dim; ++d) out[d * stride] += scratch[d];
  }
  void load_plain(T* out, const View4<const T>& view, int64_t b, int64_t s, int64_t head) const {
    const T* row = view.at(b, s, head);
    if (view.stride[3] == 1)
      std::memcpy(out, row, static_cast<std::size_t>(p.dim) * sizeof(T));
    else
      scale_row(out, unit_stride{}, row, view.stride[3], p.dim, T(1));
  }
};

// Both passes, composed at compile time from the score layer (score/score.hpp).
template <class T, class Arch, class Score>
class BackwardKernel {
  using Gradient = typename Score::Normaliser;
  using Bias = typename Score::Bias;
  using Cap = typename Score::Cap;
  using V = Vec<T, Arch>;
  using vec = typename V::type;
  using Tiling = BackwardTiling<T, Arch>;
  using Common = BackwardCommon<T, Arch>;
  static constexpr int NV = Blocking<T, Arch>::vectors;
  static constexpr int64_t M = Tiling::M;
  static constexpr int64_t W = static_cast<int64_t>(V::width);
  static constexpr int64_t lanes = Tiling::lanes;
  static constexpr int64_t key_block = Tiling::key_block;
  static constexpr int64_t chunk = Tiling::query_chunk;
  static constexpr int64_t ahead = 4;  // rows prefetched ahead while packing

 public:
  // slope_partials, sink_partials: query_tasks() * group() values the query pass writes, or nullptr.
  BackwardKernel(const Common& c, double* slope_partials, double* sink_partials)
      : c_(c), p_(c.p), cap_(Cap::make(c.p)), slope_partials_(slope_partials), sink_partials_(sink_partials) {
    query_rows_ = Tiling::query_rows(p_.group());
    query_tiles_ = (p_.q_len + query_rows_ - 1) / query_rows_;
    key_tile_ = backward_key_tile(p_.window);
    key_tiles_ = (p_.k_len + key_tile_ - 1) / key_tile_;
    lane_panels_ = (p_.dim + lanes - 1) / lanes;
    fused_ = fuses(p_);
  }

  // Whether the key pass computes dQ too, with no query pass: when no statistics of a whole row
  // are needed first (sigmoid) and every row's window spans at most two key tiles, so its dQ
  // is the sum of two parts, the even tile's stored and the odd tile's added after it.
  static bool fuses(const Problem& p) {
    return !Gradient::normalises && p.window > 0 && p.window - 1 <= backward_key_tile(p.window);
  }

  // ---- the query pass ----
  int64_t query_tasks() const { return p_.batch * p_.kv_heads * query_tiles_; }

  // Both passes take their tasks a stripe apart (task_at, as the forward does): two
  // threads on neighbouring heads of the same positions write rows of dq (or dk and dv) that
  // share pages and pull each other's lines.
  void run_query_task(int64_t counter_task, BackwardWorkspace<T>& ws) const {
    const TaskAt task = task_at(counter_task, p_.batch, p_.kv_heads, query_tiles_, p_.threads);
    run_heads(task.b, task.g, task.tile * query_rows_, task.index, ws);
  }

 private:
  struct Partials {
    double slope = 0, sink = 0;  // -sum dS * distance; -sum P_sink * D_i
  };

  // D_i = <dO_i, O_i> of row i of head h, in double.
  double row_dot(int64_t b, int64_t i, int64_t h) const {
    const T* dout = c_.io.dout.at(b, i, h);
    const T* out = c_.io.o.at(b, i, h);
    double dot = 0.0;
    for (int64_t d = 0; d < p_.dim; ++d)
      dot += static_cast<double>(dout[d * c_.io.dout.stride[3]]) * static_cast<double>(out[d * c_.io.o.stride[3]]);
    return dot;
  }

  void store_partials(int64_t task, int64_t hh, const Partials& partials) const {
    if (slope_partials_) slope_partials_[task * p_.group() + hh] = partials.slope;
    if (sink_partials_) sink_partials_[task * p_.group() + hh] = partials.sink;
  }

  // dq rows [i0, i0 + rows) of the G heads of kv head g, each key block packed once for all of
  // them; stores each head's share of dslopes and dsinks for this task. The heads' slabs sit one
  // after the other: q_t, do_t, dq_t [head][lane block][D][lanes]; dot, max, sum, slope [head][row].
  void run_heads(int64_t b, int64_t g, int64_t i0, int64_t task, BackwardWorkspace<T>& ws) const {
    const int64_t D = p_.dim, G = p_.group();
    const int64_t rows = std::min(query_rows_, p_.q_len - i0);
    const int64_t padded = (rows + lanes - 1) / lanes * lanes;
    const int64_t first_pos = p_.q_pos0 + i0;
    const int64_t key_lo = c_.window.first_key(first_pos);
    const int64_t key_hi = c_.window.end_key(first_pos + rows - 1);
    const int64_t pairs = c_.angles.pairs();
    if (key_lo >= key_hi) {
      for (int64_t hh = 0; hh < G; ++hh) {
        const int64_t h = g * G + hh, stats_at = (b * p_.heads + h) * p_.q_len + i0;
        for (int64_t i = 0; i < rows; ++i) {
          T* out = c_.io.dq.at(b, i0 + i, h);
          for (int64_t d = 0; d < D; ++d) out[d * c_.io.dq.stride[3]] = T(0);
          if (Gradient::normalises) c_.stats.lse[stats_at + i] = c_.stats.dot[stats_at + i] = T(0);
        }
        Partials out;  // a row without keys puts all its weight on the sink: P_sink = 1
        if (p_.sinks && Gradient::normalises)
          for (int64_t i = 0; i < rows; ++i) out.sink -= row_dot(b, i0 + i, h);
        store_partials(task, hh, out);
      }
      return;
    }
    BackwardWorkspace<T>::fit(ws.q_rows, lanes * D);
    BackwardWorkspace<T>::fit(ws.do_rows, lanes * D);
    BackwardWorkspace<T>::fit(ws.q_t, G * D * padded);
    BackwardWorkspace<T>::fit(ws.do_t, G * D * padded);
    BackwardWorkspace<T>::fit(ws.dq_t, G * D * padded);
    BackwardWorkspace<T>::fit(ws.slope, G * padded);
    BackwardWorkspace<T>::fit(ws.dot, G * padded);
    BackwardWorkspace<T>::fit(ws.max, G * padded);
    BackwardWorkspace<T>::fit(ws.sum, G * padded);
    BackwardWorkspace<T>::fit(ws.scores, key_block * lanes);
    BackwardWorkspace<T>::fit(ws.dp, key_block * lanes);
    BackwardWorkspace<T>::fit(ws.keys, key_block * D);
    BackwardWorkspace<T>::fit(ws.values, key_block * D);
    // The angles in tables the next kv head's task finds (recomputing them per task took about
    // a hundredth of the 340M layer's softmax backward).
    if (pairs > 0) ws.pass_rows.fill(c_.angles, first_pos, rows);
    ws.pass_keys.start(c_.angles, p_.k_pos0 + key_lo, key_hi - key_lo, backward_tabled_pass_keys, key_block);
    for (int64_t hh = 0; hh < G; ++hh) start_head(b, g * G + hh, i0, rows, padded, hh, ws);

    for (int64_t kb = key_lo; kb < key_hi; kb += key_block) {
      const int64_t nk = std::min(key_block, key_hi - kb);
      pack_keys(b, g, kb, nk, ws.pass_keys.at(kb - key_lo, nk), ws);
      for (int64_t hh = 0; hh < G; ++hh) {
        const int64_t h = g * G + hh;
        const Bias bias = Bias::make(p_, h);
        for (int64_t l0 = 0; l0 < rows; l0 += lanes)
          gradient_block(h, first_pos + l0, std::min(lanes, rows - l0), kb, nk, bias, (hh * padded + l0) * D,
                         hh * padded + l0, ws);
      }
    }
    for (int64_t hh = 0; hh < G; ++hh) store_partials(task, hh, finish_head(b, g * G + hh, i0, rows, padded, hh, ws));
  }

  // Head h (slot hh of the task): Q^T (rotated, scaled) and dO^T per lane block, padding lanes
  // zero; softmax's D_i = <dO_i, O_i> and the running maximum and sum of the online softmax.
  void start_head(int64_t b, int64_t h, int64_t i0, int64_t rows, int64_t padded, int64_t hh,
                  BackwardWorkspace<T>& ws) const {
    const int64_t D = p_.dim, pairs = c_.angles.pairs(), first_pos = p_.q_pos0 + i0;
    T* q_t = ws.q_t.data() + hh * D * padded;
    T* do_t = ws.do_t.data() + hh * D * padded;
    T* dq_t = ws.dq_t.data() + hh * D * padded;
    fill(dq_t, dq_t + D * padded, T(0));
    // A lane block's rows (padding rows zero) into q_rows and do_rows, then transposed.
    T* q_rows = ws.q_rows.data();
    T* do_rows = ws.do_rows.data();
    for (int64_t l0 = 0; l0 < rows; l0 += lanes) {
      const int64_t count = std::min(lanes, rows - l0);
      for (int64_t i = l0; i < l0 + count; ++i) {
        if (i + ahead < rows) {
          c_.prefetch(c_.io.q, b, i0 + i + ahead, h);
          c_.prefetch(c_.io.dout, b, i0 + i + ahead, h);
        }
        c_.load_rotated(q_rows + (i - l0) * D, c_.io.q, b, i0 + i, h, ws.pass_rows.cos(i, pairs),
                        ws.pass_rows.sin(i, pairs), static_cast<T>(p_.scale));
        c_.load_plain(do_rows + (i - l0) * D, c_.io.dout, b, i0 + i, h);
      }
      pack_lane_block<T, Arch>(q_rows, count, lanes, D, q_t + l0 * D);
      pack_lane_block<T, Arch>(do_rows, count, lanes, D, do_t + l0 * D);
    }
    T* dot = ws.dot.data() + hh * padded;
    T* max = ws.max.data() + hh * padded;
    T* sum = ws.sum.data() + hh * padded;
    T* slope = ws.slope.data() + hh * padded;
    fill(dot, dot + padded, T(0));
    const ReferenceKey key = ReferenceKey::of(p_, h);
    for (int64_t i = 0; i < padded; ++i) start_row(p_, key, h, first_pos + i, &max[i], &sum[i]);
    fill(slope, slope + padded, T(0));
    if (Gradient::normalises)
      for (int64_t i = 0; i < rows; ++i) dot[i] = static_cast<T>(row_dot(b, i0 + i, h));
  }

  // Head h's rows after the last key block: softmax rows normalised by their final sum (lse and
  // D_i go to the key pass), dq stored un-rotated; returns its share of dslopes[h] and dsinks[h].
  Partials finish_head(int64_t b, int64_t h, int64_t i0, int64_t rows, int64_t padded, int64_t hh,
                       BackwardWorkspace<T>& ws) const {
    const int64_t D = p_.dim, pairs = c_.angles.pairs(), first_pos = p_.q_pos0 + i0;
    const int64_t stats_at = (b * p_.heads + h) * p_.q_len + i0;
    const ReferenceKey key = ReferenceKey::of(p_, h);
    const T* dot = ws.dot.data() + hh * padded;
    const T* max = ws.max.data() + hh * padded;
    const T* sum_of = ws.sum.data() + hh * padded;
    const T* slope = ws.slope.data() + hh * padded;
    const T* dq_t = ws.dq_t.data() + hh * D * padded;
    T* dq_rows = ws.q_rows.data();  // a lane block of dQ rows, transposed from its slab
    double total = 0.0;
    Partials out;
    for (int64_t i = 0; i < rows; ++i) {
      if (i % lanes == 0) transpose_matrix<T, Arch>(dq_t + i * D, D, lanes, dq_rows);
      T factor = T(1);
      if (Gradient::normalises) {
        const T sum = sum_of[i];
        factor = sum > T(0) ? T(1) / sum : T(0);
        const T lse = sum > T(0) ? max[i] + static_cast<T>(std::log(static_cast<double>(sum))) : T(0);
        c_.stats.lse[stats_at + i] = lse;
        c_.stats.dot[stats_at + i] = dot[i];
        if (p_.sinks) {  // dsigma_h = -sum_i P_sink_i * D_i (SPEC 8), the sink as the row saw it
          T sink = T(0), one = T(0);
          start_row(p_, key, h, first_pos + i, &sink, &one);
          const double term = std::exp(static_cast<double>(sink) - static_cast<double>(lse)) * static_cast<double>(dot[i]);
          out.sink -= term;
          // The slope sum counted distances from the reference key; with a sink a row's dS no
          // longer sums to 0 but to P_sink * D_i, so the shift leaves behind * P_sink * D_i.
          out.slope -= static_cast<double>(key.behind(first_pos + i)) * term;
        }
      }
      total += static_cast<double>(slope[i] * factor);
      c_.store_unrotated(c_.io.dq, b, i0 + i, h, dq_rows + (i % lanes) * D, ws.pass_rows.cos(i, pairs),
                         ws.pass_rows.sin(i, pairs), static_cast<T>(p_.scale) * factor, nullptr);
    }
    out.slope -= total;
    return out;
  }

  // keys[j][d] = RoPE(k)[kb + j][d] and values[j][d] = v[kb + j][d] for j < nk: rows stay rows,
  // which the micro-kernel reads either as M keys along d (S^T, dP^T) or as a few dims of each key
  // (dQ^T), so packing copies and never transposes. angles: those of the nk keys.
  void pack_keys(int64_t b, int64_t g, int64_t kb, int64_t nk, typename RopeRun<T>::Rows angles,
                 BackwardWorkspace<T>& ws) const {
    const int64_t D = p_.dim, pairs = c_.angles.pairs();
    const T *k_cos = angles.cos, *k_sin = angles.sin;
    for (int64_t j = 0; j < nk; ++j) {
      if (j + ahead < nk) {
        c_.prefetch(c_.io.k, b, kb + j + ahead, g);
        c_.prefetch(c_.io.v, b, kb + j + ahead, g);
      }
      c_.load_rotated(ws.keys.data() + j * D, c_.io.k, b, kb + j, g, k_cos + j * pairs, k_sin + j * pairs, T(1));
      c_.load_plain(ws.values.data() + j * D, c_.io.v, b, kb + j, g);
    }
  }

  // One lane block (queries at positions lane_first ..) against one packed key block:
  // S^T, dP^T, then dS^T in place of S^T, then dQ^T += K^T dS^T.
  void gradient_block(int64_t h, int64_t lane_first, int64_t count, int64_t kb, int64_t nk, const Bias& bias,
                      int64_t slab, int64_t l0, BackwardWorkspace<T>& ws) const {
    const int64_t D = p_.dim;
    const int64_t lane_last = lane_first + count - 1;
    const int64_t lo = std::max(c_.window.first_key(lane_first), kb) - kb;
    const int64_t hi = std::min(c_.window.end_key(lane_last), kb + nk) - kb;
    if (lo >= hi) return;
    T* scores = ws.scores.data();
    T* dp = ws.dp.data();
    for (int64_t panel = lo / M; panel * M < hi; ++panel) {
      const int64_t panel_rows = std::min<int64_t>(M, nk - panel * M);
      gemm_rows<T, Arch, ALayout::k_adjacent>(panel_rows, D, ws.keys.data() + panel * M * D, D, ws.q_t.data() + slab,
                                              scores + panel * M * lanes, false);
      gemm_rows<T, Arch, ALayout::k_adjacent>(panel_rows, D, ws.values.data() + panel * M * D, D, ws.do_t.data() + slab,
                                              dp + panel * M * lanes, false);
    }
    // Rows are masked on the window's edges only, vector by vector; rows no lane of a vector
    // sees get dS 0 (ScoreRows::each_row, as the forward weighs).
    const auto r = ScoreRows<T, Arch, NV>::at(nullptr, lanes, lo, hi, c_.window, ReferenceKey::of(p_, h), lane_first, kb);
    const bool slopes = slope_partials_ != nullptr;
    const vec zero = V::broadcast(T(0)), minus_inf = V::broadcast(-infinity<T>());
    for (int v = 0; v < NV; ++v) {
      T* max = ws.max.data() + l0 + v * W;
      T* sum = ws.sum.data() + l0 + v * W;
      T* slope = ws.slope.data() + l0 + v * W;
      vec slope_sum = V::load(slope);
      const auto unseen = [&](int64_t k) { V::store(scores + k * lanes + v * W, zero); };
      if constexpr (Gradient::normalises) {
        // Online softmax (as forward): weights exp(s - running max); dQ^T, the sum and the slope
        // sum are rescaled when the maximum grows and divided by the final sum at the end.
        vec top = V::load(max);
        r.each_row(
            v,
            [&](int64_t k, auto masked) {
              vec s = bias.apply(cap_.value(V::load(scores + k * lanes + v * W)), r.bias_distance(k, v));
              if constexpr (decltype(masked)::value) s = V::select(r.visible(k, v, r.distance(k, v)), s, minus_inf);
              V::store(scores + k * lanes + v * W, s);
              top = V::max(top, s);
            },
            [](int64_t) {});
        const vec shift = V::select(top == minus_inf, zero, top);
        const vec rescale = exp_nonpositive<T, Arch>(V::load(max) - shift);
        vec total = V::load(sum) * rescale;
        slope_sum = slope_sum * rescale;
        T* dq = ws.dq_t.data() + slab + v * W;
        for (int64_t d = 0; d < D; ++d) V::store(dq + d * lanes, V::load(dq + d * lanes) * rescale);
        const vec dot = V::load(ws.dot.data() + l0 + v * W);
        r.each_row(
            v,
            [&](int64_t k, auto) {
              const vec logit = V::load(scores + k * lanes + v * W);
              const vec w = exp_nonpositive<T, Arch>(logit - shift);
              total = total + w;
              const vec ds = w * (V::load(dp + k * lanes + v * W) - dot);
              if constexpr (Cap::active)  // the capped content, recovered from the logit
                V::store(scores + k * lanes + v * W, ds * cap_.gradient(logit - bias.apply(zero, r.bias_distance(k, v))));
              else
                V::store(scores + k * lanes + v * W, ds);
              if (slopes) slope_sum = V::fma(ds, r.bias_distance(k, v), slope_sum);
            },
            unseen);
        V::store(sum, total);
        V::store(max, V::select(total == zero, minus_inf, top));
      } else {
        r.each_row(
            v,
            [&](int64_t k, auto masked) {
              const vec distance = r.bias_distance(k, v);
              const vec content = cap_.value(V::load(scores + k * lanes + v * W));
              vec pv, ds;
              Gradient::gradient(bias.apply(content, distance), V::load(dp + k * lanes + v * W), zero, zero, pv, ds);
              if constexpr (decltype(masked)::value) ds = V::select(r.visible(k, v, r.distance(k, v)), ds, zero);
              V::store(scores + k * lanes + v * W, Cap::active ? ds * cap_.gradient(content) : ds);
              if (slopes) slope_sum = V::fma(ds, distance, slope_sum);
            },
            unseen);
      }
      V::store(slope, slope_sum);
    }
    // dQ^T[d][lane] += sum over keys [lo, hi) of K[key][d] dS^T[key][lane].
    gemm_dims<FmaStep<T, Arch>, Arch>(D, hi - lo, ws.keys.data() + lo * D, D, scores + lo * lanes, ws.dq_t.data() + slab,
                                      true);
  }

  // ---- the key pass ----
 public:
  // Its tasks: every key tile (parity -1), or, fused, the even (0) or the odd (1) tiles.
  int64_t key_tiles(int parity) const { return parity < 0 ? key_tiles_ : (key_tiles_ + 1 - parity) / 2; }
  int64_t key_tasks(int parity = -1) const { return p_.batch * p_.kv_heads * key_tiles(parity); }

  void run_key_task(int64_t counter_task, int parity, BackwardWorkspace<T>& ws) const {
    const TaskAt task = task_at(counter_task, p_.batch, p_.kv_heads, key_tiles(parity), p_.threads);
    run_tile(task.b, task.g, parity >= 0 ? 2 * task.tile + parity : task.tile, parity, ws);
  }

  // Rows of dq no key tile sees (none see a key) are zero; fused, no query pass writes them.
  void zero_unseen_rows() const {
    const int64_t lo = p_.k_len > 0 ? first_query(0) : p_.q_len, hi = p_.k_len > 0 ? end_query(p_.k_len - 1) : p_.q_len;
    for (int64_t b = 0; b < p_.batch; ++b)
      for (int64_t i = 0; i < p_.q_len; ++i)
        if (i < lo || i >= hi)
          for (int64_t h = 0; h < p_.heads; ++h) {
            T* out = c_.io.dq.at(b, i, h);
            for (int64_t d = 0; d < p_.dim; ++d) out[d * c_.io.dq.stride[3]] = T(0);
          }
  }

 private:
  // Query rows [first, end) that see at least one key of [j0, j0 + nk).
  int64_t first_query(int64_t j0) const {
    return std::clamp<int64_t>(p_.k_pos0 + j0 - p_.q_pos0, 0, p_.q_len);
  }
  int64_t end_query(int64_t j_last) const {
    if (p_.window == 0) return p_.q_len;
    return std::clamp<int64_t>(p_.k_pos0 + j_last + p_.window - p_.q_pos0, 0, p_.q_len);
  }

  // Key tile `tile` of kv head g; fused (parity 0 or 1), also the tile's share of dQ for the
  // query heads of the group, and of dslopes in the partials of this (batch, tile, kv head).
  void run_tile(int64_t b, int64_t g, int64_t tile, int parity, BackwardWorkspace<T>& ws) const {
    const int64_t D = p_.dim, G = p_.group(), pairs = c_.angles.pairs();
    const int64_t j0 = tile * key_tile_;
    const int64_t nk = std::min(key_tile_, p_.k_len - j0);
    const int64_t blocks = (nk + lanes - 1) / lanes;
    const int64_t key_stride = key_tile_ * lanes;  // one dim panel of k_rows
    BackwardWorkspace<T>::fit(ws.k_t, blocks * D * lanes);
    BackwardWorkspace<T>::fit(ws.v_t, blocks * D * lanes);
    BackwardWorkspace<T>::fit(ws.dk_t, blocks * D * lanes);
    BackwardWorkspace<T>::fit(ws.dv_t, blocks * D * lanes);
    BackwardWorkspace<T>::fit(ws.q_rows, chunk * D);
    BackwardWorkspace<T>::fit(ws.do_rows, chunk * D);
    BackwardWorkspace<T>::fit(ws.scores, chunk * lanes);
    BackwardWorkspace<T>::fit(ws.dp, chunk * lanes);
    if (fused_) {
      BackwardWorkspace<T>::fit(ws.row, lane_panels_ * lanes);
      BackwardWorkspace<T>::fit(ws.k_rows, lane_panels_ * key_stride);
      BackwardWorkspace<T>::fit(ws.dq_rows, lane_panels_ * chunk * lanes);
      BackwardWorkspace<T>::fit(ws.unrotated, D);
    }
    if (pairs > 0) ws.tile_keys.fill(c_.angles, p_.k_pos0 + j0, nk);
    const T* k_cos = pairs > 0 ? ws.tile_keys.cos(0, pairs) : nullptr;
    const T* k_sin = pairs > 0 ? ws.tile_keys.sin(0, pairs) : nullptr;
    // K^T (rotated) and V^T per lane block, keys past nk zero: a block's rows copied (and
    // rotated) into q_rows and do_rows, free until the first chunk (chunk >= lanes rows), then
    // transposed. Fused, the rotated keys also go to k_rows, a panel of `lanes` dims at a time
    // (dims past D zero). Scattering each value to its slab instead took about a tenth of the
    // 340M layer's backward on an Intel Xeon (a store per float, the panels' through a division).
    T* key_rows = ws.q_rows.data();
    T* value_rows = ws.do_rows.data();
    for (int64_t block = 0; block < blocks; ++block) {
      const int64_t first = block * lanes, count = std::min(lanes, nk - first);
      for (int64_t l = 0; l < count; ++l) {
        const int64_t j = first + l;
        if (j + ahead < nk) {
          c_.prefetch(c_.io.k, b, j0 + j + ahead, g);
          c_.prefetch(c_.io.v, b, j0 + j + ahead, g);
        }
        T* key = key_rows + l * D;
        c_.load_rotated(key, c_.io.k, b, j0 + j, g, k_cos + j * pairs, k_sin + j * pairs, T(1));
        if (fused_)
          for (int64_t panel = 0; panel < lane_panels_; ++panel) {
            T* to = ws.k_rows.data() + panel * key_stride + j * lanes;
            const int64_t d0 = panel * lanes, dims = std::min(lanes, D - d0);
            for (int64_t d = 0; d < dims; ++d) to[d] = key[d0 + d];
            for (int64_t d = dims; d < lanes; ++d) to[d] = T(0);
          }
        c_.load_plain(value_rows + l * D, c_.io.v, b, j0 + j, g);
      }
      pack_lane_block<T, Arch>(key_rows, count, lanes, D, ws.k_t.data() + block * D * lanes);
      pack_lane_block<T, Arch>(value_rows, count, lanes, D, ws.v_t.data() + block * D * lanes);
    }
    fill(ws.dk_t.data(), ws.dk_t.data() + blocks * D * lanes, T(0));
    fill(ws.dv_t.data(), ws.dv_t.data() + blocks * D * lanes, T(0));
    const int64_t i_lo = first_query(j0), i_hi = end_query(j0 + nk - 1);
    const bool slopes = fused_ && slope_partials_ != nullptr;
    for (int64_t hh = 0; hh < G; ++hh) {
      const int64_t h = g * G + hh;
      const Bias bias = Bias::make(p_, h);
      double slope = 0.0;  // sum of dS * distance over this tile's pairs
      // The query rows' angles: a table the tile's next heads find (about a fiftieth of the
      // 340M layer's backward went to recomputing them per head), or streamed per head.
      if (i_lo < i_hi)
        ws.tile_queries.start(c_.angles, p_.q_pos0 + i_lo, i_hi - i_lo, backward_tabled_query_rows, chunk);
      for (int64_t c0 = i_lo; c0 < i_hi; c0 += chunk) {
        const int64_t rows = std::min(chunk, i_hi - c0);
        const auto angles = ws.tile_queries.at(c0 - i_lo, rows);
        const T *q_cos = angles.cos, *q_sin = angles.sin;
        pack_queries(b, h, c0, rows, q_cos, q_sin, ws);
        if (fused_) fill(ws.dq_rows.data(), ws.dq_rows.data() + lane_panels_ * chunk * lanes, T(0));
        for (int64_t block = 0; block < blocks; ++block)
          gradient_block(b, h, c0, rows, j0 + block * lanes, std::min(lanes, nk - block * lanes), block,
                         bias, slopes ? &slope : nullptr, ws);
        if (fused_) store_dq(b, h, c0, rows, j0, nk, parity, q_cos, q_sin, ws);
      }
      if (slopes) slope_partials_[task_index(b, g, tile, p_.kv_heads, key_tiles_) * G + hh] = -slope;
    }
    // dK^T and dV^T back into rows a lane block at a time (q_rows and do_rows are free now and
    // hold chunk >= lanes rows), then stored.
    const int64_t dv_stride = c_.io.dv.stride[3];
    T* dk_rows = ws.q_rows.data();
    T* dv_rows = ws.do_rows.data();
    for (int64_t block = 0; block < blocks; ++block) {
      transpose_matrix<T, Arch>(ws.dk_t.data() + block * D * lanes, D, lanes, dk_rows);
      transpose_matrix<T, Arch>(ws.dv_t.data() + block * D * lanes, D, lanes, dv_rows);
      const int64_t first = block * lanes, count = std::min(lanes, nk - first);
      for (int64_t l = 0; l < count; ++l) {
        const int64_t j = first + l;
        if (j + ahead < nk) {
          c_.template prefetch<true>(c_.io.dk, b, j0 + j + ahead, g);
          c_.template prefetch<true>(c_.io.dv, b, j0 + j + ahead, g);
        }
        c_.store_unrotated(c_.io.dk, b, j0 + j, g, dk_rows + l * D, k_cos + j * pairs, k_sin + j * pairs, T(1),
                           nullptr);
        const T* from = dv_rows + l * D;
        T* out = c_.io.dv.at(b, j0 + j, g);
        if (dv_stride == 1)
          scale_row(out, unit_stride{}, from, unit_stride{}, D, T(1));
        else
          scale_row(out, dv_stride, from, unit_stride{}, D, T(1));
      }
    }
  }

  // Rows [c0, c0 + rows) of head h's dQ, this tile's share: un-rotated and scaled into dq,
  // stored, or added to what the even tile before or after stored (odd tiles; run_backward_with
  // runs the even tiles first, so each row is one sum of two parts, whatever the thread count).
  // q_cos, q_sin: the angles of the rows, `pairs` per row.
  void store_dq(int64_t b, int64_t h, int64_t c0, int64_t rows, int64_t j0, int64_t nk, int parity, const T* q_cos,
                const T* q_sin, BackwardWorkspace<T>& ws) const {
    const int64_t pairs = c_.angles.pairs();
    const int64_t shared_below = parity == 1 ? end_query(j0 - 1) : 0;
    const int64_t shared_from = parity == 1 && j0 + nk < p_.k_len ? first_query(j0 + nk) : p_.q_len;
    T* row = ws.row.data();
    T* part = ws.unrotated.data();
    const T scale = static_cast<T>(p_.scale);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t panel = 0; panel < lane_panels_; ++panel) {  // whole panels: row holds lane_panels_ * lanes
        const T* from = ws.dq_rows.data() + (panel * chunk + r) * lanes;
        for (int64_t l = 0; l < lanes; ++l) row[panel * lanes + l] = from[l];
      }
      const int64_t i = c0 + r;
      const T* cos = q_cos + r * pairs;
      const T* sin = q_sin + r * pairs;
      if (i < shared_below || i >= shared_from)
        c_.template store_unrotated<true>(c_.io.dq, b, i, h, row, cos, sin, scale, part);
      else
        c_.store_unrotated(c_.io.dq, b, i, h, row, cos, sin, scale, nullptr);
    }
  }

  // Rows [c0, c0 + rows) of head h: q (rotated, scaled) as q_rows[row][d] and dO as do_rows[row][d],
  // zero up to a whole panel of M rows. The micro-kernel reads them as M rows along d (S, dP)
  // and as a few dims of each row (dV, dK), so no transposed copy is needed.
  void pack_queries(int64_t b, int64_t h, int64_t c0, int64_t rows, const T* q_cos, const T* q_sin,
                    BackwardWorkspace<T>& ws) const {
    const int64_t D = p_.dim, pairs = c_.angles.pairs();
    for (int64_t r = 0; r < rows; ++r) {
      if (r + ahead < rows) {
        c_.prefetch(c_.io.q, b, c0 + r + ahead, h);
        c_.prefetch(c_.io.dout, b, c0 + r + ahead, h);
        // The chunk's dq rows, which store_dq writes after the chunk's products: there by then.
        if (fused_) c_.template prefetch<true>(c_.io.dq, b, c0 + r + ahead, h);
      }
      c_.load_rotated(ws.q_rows.data() + r * D, c_.io.q, b, c0 + r, h, q_cos + r * pairs, q_sin + r * pairs,
                      static_cast<T>(p_.scale));
      c_.load_plain(ws.do_rows.data() + r * D, c_.io.dout, b, c0 + r, h);
    }
    // The padding rows are multiplied by zero weights: they must be finite.
    const int64_t padded = (rows + M - 1) / M * M;
    fill(ws.q_rows.data() + rows * D, ws.q_rows.data() + padded * D, T(0));
    fill(ws.do_rows.data() + rows * D, ws.do_rows.data() + padded * D, T(0));
  }

  // Keys [jb, jb + nl) (lane block `block` of the tile) against the packed rows of [c0, c0 + rows)
  // that see them: S, dP, then P and dS in their place, then dV^T += dO^T P and dK^T += Q^T dS;
  // fused, also dQ += dS K and, when slope is not null, *slope += sum of dS * distance.
  void gradient_block(int64_t b, int64_t h, int64_t c0, int64_t rows, int64_t jb, int64_t nl, int64_t block,
                      const Bias& bias, double* slope, BackwardWorkspace<T>& ws) const {
    const int64_t D = p_.dim, slab = block * D * lanes;
    const int64_t r_lo = std::max(first_query(jb), c0) - c0;
    const int64_t r_hi = std::min(end_query(jb + nl - 1), c0 + rows) - c0;
    if (r_lo >= r_hi) return;
    const int64_t p_lo = r_lo / M, p_hi = (r_hi + M - 1) / M;
    // The rows each vector of keys sees (padding keys included): the products skip the others
    // on the window's diagonal edges (lane_rows.hpp).
    const auto need = LaneRows<NV>::from(
        r_lo, r_hi, [&](int v) { return first_query(jb + v * W) - c0; },
        [&](int v) { return end_query(jb + v * W + W - 1) - c0; });
    T* scores = ws.scores.data();
    T* dp = ws.dp.data();
    // Each row panel's vectors, chosen once for the products along D and again for dQ's.
    LaneVectors panel_vectors[chunk / M];
    for (int64_t panel = p_lo; panel < p_hi; ++panel) {
      const LaneVectors vectors = need.vectors(std::max(panel * M, r_lo), std::min(panel * M + M, r_hi));
      panel_vectors[panel - p_lo] = vectors;
      if (vectors.count == 0) continue;
      gemm_rows_on<FmaStep<T, Arch>, Arch, ALayout::k_adjacent>(vectors, M, D, ws.q_rows.data() + panel * M * D, D,
                                                                ws.k_t.data() + slab, scores + panel * M * lanes, false);
      gemm_rows_on<FmaStep<T, Arch>, Arch, ALayout::k_adjacent>(vectors, M, D, ws.do_rows.data() + panel * M * D, D,
                                                                ws.v_t.data() + slab, dp + panel * M * lanes, false);
    }
    const int64_t key_pos = p_.k_pos0 + jb;
    const vec iota = V::iota(), zero = V::broadcast(T(0));
    const int64_t stats_at = (b * p_.heads + h) * p_.q_len + c0;
    const ReferenceKey reference = ReferenceKey::of(p_, h);
    vec slope_sum = zero;
    for (int64_t r = p_lo * M; r < p_hi * M; ++r) {
      T* s_row = scores + r * lanes;
      T* dp_row = dp + r * lanes;
      if (r < r_lo || r >= r_hi) {
        for (int64_t l = 0; l < lanes; ++l) s_row[l] = dp_row[l] = T(0);
        continue;
      }
      const int64_t distance = p_.q_pos0 + c0 + r - key_pos;  // to the block's first key
      const T base = static_cast<T>(distance), past = c_.window.template past<T>(distance);
      const T shifted = static_cast<T>(reference.at(p_.q_pos0 + c0 + r) - jb);  // the bias distance
      vec lse = zero, dot = zero;
      if (Gradient::normalises) {
        lse = V::broadcast(c_.stats.lse[stats_at + r]);
        dot = V::broadcast(c_.stats.dot[stats_at + r]);
      }
      // Rows that see every key of the block skip the mask.
      const int64_t row_pos = p_.q_pos0 + c0 + r;
      const bool masked = nl < lanes || !c_.window.covers(row_pos, row_pos, jb, jb + nl);
      for (int v = 0; v < NV; ++v) {
        const vec lane = iota + V::broadcast(static_cast<T>(v * W));
        const vec content = cap_.value(V::load(s_row + v * W));
        const vec bias_distance = V::broadcast(shifted) - lane;
        vec pv, ds;
        Gradient::gradient(bias.apply(content, bias_distance), V::load(dp_row + v * W), lse, dot, pv, ds);
        if (masked) {
          const vec distance = V::broadcast(base) - lane, beyond = V::broadcast(past) - lane;
          const vec keys = V::broadcast(static_cast<T>(nl));
          const auto visible = (distance >= zero) & (beyond < zero) & (lane < keys);
          pv = V::select(visible, pv, zero);
          ds = V::select(visible, ds, zero);
        }
        if (slope) slope_sum = V::fma(ds, bias_distance, slope_sum);  // the gradient of the biased logit
        if constexpr (Cap::active) ds = ds * cap_.gradient(content);
        V::store(s_row + v * W, pv);
        V::store(dp_row + v * W, ds);
      }
    }
    // dV^T[d][key] += sum over rows of dO[row][d] P[row][key]; dK^T likewise with q and dS. The
    // rows before r_lo and from r_hi on weigh 0 for every key: they join the ends.
    const int64_t depth = (p_hi - p_lo) * M, at = p_lo * M * D;
    const EdgeRows edges = need.edges(r_lo, r_hi);
    const KeyEdges steps{edges.head_end - p_lo * M, p_hi * M - edges.tail_start};
    gemm_dims<FmaStep<T, Arch>, Arch>(D, depth, ws.do_rows.data() + at, D, scores + p_lo * M * lanes,
                                      ws.dv_t.data() + slab, true, steps);
    gemm_dims<FmaStep<T, Arch>, Arch>(D, depth, ws.q_rows.data() + at, D, dp + p_lo * M * lanes,
                                      ws.dk_t.data() + slab, true, steps);
    if (!fused_) return;
    if (slope) *slope += static_cast<double>(horizontal_sum<T, Arch>(slope_sum));
    // dQ[row][d] += sum over the block's keys of dS[row][key] K[key][d], `lanes` dims at a time;
    // a panel of rows takes the keys of the vectors that see it only.
    const int64_t key_stride = key_tile_ * lanes;  // one dim panel of k_rows
    for (int64_t rp = p_lo; rp < p_hi; ++rp) {
      const LaneVectors vectors = panel_vectors[rp - p_lo];
      const int64_t k0 = vectors.first * W, k1 = std::min(nl, (vectors.first + vectors.count) * W);
      if (k0 >= k1) continue;
      for (int64_t panel = 0; panel < lane_panels_; ++panel)
        gemm_rows<T, Arch, ALayout::k_adjacent>(M, k1 - k0, dp + rp * M * lanes + k0, lanes,
                                                ws.k_rows.data() + panel * key_stride + (block * lanes + k0) * lanes,
                                                ws.dq_rows.data() + (panel * chunk + rp * M) * lanes, true);
    }
  }

  const Common& c_;
  const Problem& p_;
  Cap cap_;
  double* slope_partials_;
  double* sink_partials_;
  int64_t query_rows_ = 0, query_tiles_ = 0, key_tile_ = 0, key_tiles_ = 0, lane_panels_ = 0;
  bool fused_ = false;
};

// Pass -2: the query pass; -1: the key pass over every tile; 0 and 1: the fused key pass over
// the even and the odd tiles.
template <class Kernel, class T, int Pass>
void run_backward_task(void* kernel, int64_t task) {
  const FlushSubnormalResults flush;
  thread_local BackwardWorkspace<T> workspace;
  if (Pass >= -1)
    static_cast<const Kernel*>(kernel)->run_key_task(task, Pass, workspace);
  else
    static_cast<const Kernel*>(kernel)->run_query_task(task, workspace);
}

template <class T, class Arch, class Score>
void run_backward_with(const Problem& p, const BackwardInputs<T>& io, const RopeAngles& angles, double* dslopes,
                       double* dsinks, Parallel parallel) {
  using Kernel = BackwardKernel<T, Arch, Score>;
  Buffer<T> lse, dot;
  if (Score::Normaliser::normalises) {
    lse.fit(static_cast<std::size_t>(p.batch * p.heads * p.q_len));
    dot.fit(static_cast<std::size_t>(p.batch * p.heads * p.q_len));
  }
  using Common = BackwardCommon<T, Arch>;
  const Common common{p, io, angles, Window{p.window, p.k_pos0, p.k_len}, RowStats<T>{lse.data(), dot.data()}};

  // Slope and sink partials, one per head of each task of the pass that computes dS for dQ.
  using Tiling = BackwardTiling<T, Arch>;
  const bool fused = Kernel::fuses(p);
  const int64_t query_rows = Tiling::query_rows(p.group());
  const int64_t key_tile = backward_key_tile(p.window);
  const int64_t tiles = fused ? (p.k_len + key_tile - 1) / key_tile : (p.q_len + query_rows - 1) / query_rows;
  const auto partial_count = static_cast<std::size_t>(p.batch * p.kv_heads * tiles * p.group());
  Buffer<double> slope_partials, sink_partials;
  if (dslopes) slope_partials.fit(partial_count);
  if (dsinks) sink_partials.fit(partial_count);  // zeros (fit), what the fused pass leaves: sigmoid has no sinks
  const Kernel kernel(common, dslopes ? slope_partials.data() : nullptr, dsinks ? sink_partials.data() : nullptr);
  Kernel* context = const_cast<Kernel*>(&kernel);
  if (fused) {
    // Even tiles store their dQ rows, then odd tiles add theirs: two parts per row, one order.
    kernel.zero_unseen_rows();
    parallel(p.threads, kernel.key_tasks(0), &run_backward_task<Kernel, T, 0>, context);
    parallel(p.threads, kernel.key_tasks(1), &run_backward_task<Kernel, T, 1>, context);
  } else {
    // The query pass writes the softmax statistics the key pass reads.
    parallel(p.threads, kernel.query_tasks(), &run_backward_task<Kernel, T, -2>, context);
    parallel(p.threads, kernel.key_tasks(), &run_backward_task<Kernel, T, -1>, context);
  }

  // Per-task slope and sink gradients, summed in task order: the same bits for any thread count.
  for (int64_t task = 0; task < p.batch * p.kv_heads * tiles; ++task)
    for (int64_t hh = 0; hh < p.group(); ++hh) {
      const int64_t g = task_in_order(task, p.kv_heads, tiles).g;
      const auto at = static_cast<std::size_t>(task * p.group() + hh);
      if (dslopes) dslopes[g * p.group() + hh] += slope_partials[at];
      if (dsinks) dsinks[g * p.group() + hh] += sink_partials[at];
    }
}

// Runs the composition of the score layer this call asks for, with ALiBi standing in for every
// bias (slope 0 without slopes): one multiply-add per score is nothing next to the 14 products
// of D. dslopes and dsinks, when not null, receive the H slope and sink gradients (added to
// what they hold).
template <class T, class Arch>
void run_backward(const Problem& p, const BackwardInputs<T>& io, double* dslopes, double* dsinks, Parallel parallel) {
  const RopeAngles angles = RopeAngles::of(p);
  compose<T, Arch, Biases::alibi>(
      p, [&](auto score) { run_backward_with<T, Arch, decltype(score)>(p, io, angles, dslopes, dsinks, parallel); });
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
