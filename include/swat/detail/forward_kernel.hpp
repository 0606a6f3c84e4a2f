// The forward kernel: one tile of queries (all query heads of one kv head, 512 rows)
// against the keys of its window only, and the loop that hands tiles to threads.
//
// Per tile: Q is rotated, scaled and transposed once (queries along SIMD lanes); keys are
// visited in blocks, each block rotated and copied once into contiguous rows (so the
// micro-kernel streams sequential memory whatever the caller's strides) and shared by the
// heads of the GQA group. Per block, head and lane block: scores S^T = K Q^T, weights in place
// (bias, a mask on the window's edge rows only, activation), then O^T += V^T P^T. Each lane
// block works on the exact key range it sees, and on the window's diagonal edges its products
// skip the vectors of lanes that see none of a key (lane_rows.hpp), so the edges cost little.
// No matrix larger than a tile is ever formed.
#pragma once

#include "isa_namespace.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../checks.hpp"
#include "../view.hpp"
#include "buffer.hpp"
#include "compiler.hpp"
#include "convert.hpp"
#include "forward_products.hpp"
#include "fp_env.hpp"
#include "lane_rows.hpp"
#include "microkernel.hpp"
#include "rope.hpp"
#include "score/score.hpp"
#include "task_order.hpp"
#include "transpose.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// Tile sizes, in one place.
template <class T, class Arch>
struct ForwardTiling {
  // Queries per tile (a multiple of every Blocking::lanes). Each packed key block serves all of
  // them, so a key is packed (window + tile) / tile times, its rows read from the outer caches
  // each time. 512 rows: at w 1024, D 128 a key is packed 3 times instead of 5 with 256, and
  // forward ran about 5% faster (AVX-512, medians of 5, three alternated runs); at w 256, D 64
  // (the 340M layer) 512 rows took 0.98x the time of 256 on 1 thread and 0.97x on 2 on an
  // Intel Xeon, whose cores keep few misses in flight (calls alternated in one process; level
  // on Zen 5 in an earlier check). 1024 rows gained 1% more at w 1024 and were not kept.
  static constexpr int64_t query_tile = 512;
  static constexpr int64_t key_block = 16 * Blocking<T, Arch>::rows;  // keys per packed block
};

// Per-thread scratch, grown on first use and reused by later calls on the same thread.
// Layouts (lanes = queries per lane block, M = micro-kernel rows; the packed operands q_t, keys
// and values as forward_products.hpp describes, here for products in T):
//   q_t, o_t  [head][lane block][D][lanes]   queries along lanes, one slab per lane block
//   scores    [key][lanes]                   one lane block's logits, then weights
//   keys      [key][D]                       rotated rows: the score kernel broadcasts along them
//   values    [key][D]                       rows: the output kernel broadcasts a few dims of one row
//   weights                                  the weights repacked for the output product, if at all
//   rows_out  [lanes][D]                      one lane block of queries before Q^T, of O^T after
template <class T, class Packed>
struct ForwardWorkspace {
  Buffer<T> row, o_t, scores, max, sum, rows_out;
  Buffer<Packed> q_t, keys, values, weights;
  RopeTable<T> q_table;  // the angles of the tile's queries
  RopeRun<T> k_run;      // and of its keys

  template <class E>
  static void fit(Buffer<E>& buffer, int64_t n) {
    buffer.fit(static_cast<std::size_t>(n));
  }
};

// Asks for the cache lines of one row of `count` elements `step` apart, ahead of its use (to
// be written, when Write: the output rows).
template <bool Write = false, class T>
inline void prefetch_row(const T* row, int64_t count, int64_t step) {
  constexpr int64_t line = 64 / static_cast<int64_t>(sizeof(T));
  if (step != 1) count = 1;  // scattered elements: the first one only
  for (int64_t e = 0; e < count; e += line) {
    if (Write)
      SWAT_PREFETCH_WRITE(row + e);
    else
      SWAT_PREFETCH(row + e);
  }
}

// Rows are asked for this many iterations before they are read.
constexpr int64_t prefetch_rows_ahead = 8;

// S is the storage type of q, k, v and o; T the compute type (compute_t<S>): 16-bit storage is
// converted while rows are packed and rounded once when outputs are stored. Score is the
// composition of the score layer (score/score.hpp); Products how the two products multiply
// (forward_products.hpp).
template <class S, class T, class Arch, class Score, class Products>
class ForwardKernel {
  using Activation = typename Score::Normaliser;
  using Bias = typename Score::Bias;
  using Cap = typename Score::Cap;
  using V = Vec<T, Arch>;
  using vec = typename V::type;
  using Tiling = ForwardTiling<T, Arch>;
  using Packed = typename Products::Packed;
  static constexpr int NV = Blocking<T, Arch>::vectors;
  static constexpr int M = Blocking<T, Arch>::rows;
  static constexpr int64_t W = static_cast<int64_t>(V::width);
  static constexpr int64_t lanes = Blocking<T, Arch>::lanes;
  static constexpr int64_t key_block = Tiling::key_block;
  static constexpr int64_t query_tile = Tiling::query_tile;
  // Key ranges up to this long keep their angles in one table (shared by the tile's heads);
  // longer ones (long windows) stream them a block at a time (RopeRun).
  static constexpr int64_t tabled_keys = 4 * query_tile + key_block;

 public:
  using Workspace = ForwardWorkspace<T, Packed>;

  ForwardKernel(const Problem& p, const ForwardInputs<S>& io, const RopeAngles& angles)
      : p_(p), io_(io), angles_(angles), window_{p.window, p.k_pos0, p.k_len}, cap_(Cap::make(p)) {
    tiles_per_head_ = (p.q_len + query_tile - 1) / query_tile;
    packed_dim_ = Products::packed(p.dim);
  }

  int64_t tasks() const { return p_.batch * p_.kv_heads * tiles_per_head_; }

  void run_task(int64_t counter_task, Workspace& ws) const {
    // Heads vary fastest: the rows of one position for every head share a page or a few, so
    // consecutive tasks reuse the pages (and TLB entries) of their predecessor; walking one
    // head down the whole sequence took a TLB miss on nearly every row. Threads work a stripe
    // apart (stripe_order): with two threads on neighbouring heads of the same positions, the
    // 340M layer's forward on 2 threads took 33-35 ms a call instead of 29-30 whenever the
    // machine was in a state that made the two cores' shared lines dear (minutes at a time;
    // a stripe apart: 29.8-31.2 ms then, level otherwise; 1 thread unaffected).
    const TaskAt task = task_at(counter_task, p_.batch, p_.kv_heads, tiles_per_head_, p_.threads);
    run_tile(task.b, task.g, task.tile * query_tile, ws);
  }

 private:
  void run_tile(int64_t b, int64_t g, int64_t i0, Workspace& ws) const {
    const int64_t G = p_.group(), D = p_.dim, PD = packed_dim_;
    const int64_t rows = std::min(query_tile, p_.q_len - i0);
    const int64_t padded = (rows + lanes - 1) / lanes * lanes;
    const int64_t first_pos = p_.q_pos0 + i0;
    const int64_t key_lo = window_.first_key(first_pos);
    const int64_t key_hi = window_.end_key(first_pos + rows - 1);
    if (key_lo >= key_hi) {
      for (int64_t hh = 0; hh < G; ++hh) store_zero_rows(b, g * G + hh, i0, rows);
      return;
    }
    const int64_t pairs = angles_.pairs();
    Workspace::fit(ws.row, D);
    Workspace::fit(ws.q_t, G * PD * padded);
    Workspace::fit(ws.o_t, G * D * padded);
    Workspace::fit(ws.scores, key_block * lanes);
    Workspace::fit(ws.weights, Products::weight_rows(key_block) * lanes);
    Workspace::fit(ws.max, G * padded);
    Workspace::fit(ws.sum, G * padded);
    Workspace::fit(ws.keys, key_block * PD);
    Workspace::fit(ws.values, Products::value_rows(key_block) * D);
    if (pairs > 0) ws.q_table.fill(angles_, first_pos, rows);
    ws.k_run.start(angles_, p_.k_pos0 + key_lo, key_hi - key_lo, tabled_keys, key_block);

    // Q^T per head and lane block, rotated and scaled, a lane block of rows at a time (in
    // rows_out, free until the outputs); padding lanes are zero.
    Workspace::fit(ws.rows_out, lanes * D);
    T* block_rows = ws.rows_out.data();
    for (int64_t hh = 0; hh < G; ++hh) {
      Packed* qt = ws.q_t.data() + hh * PD * padded;
      for (int64_t l0 = 0; l0 < rows; l0 += lanes) {
        const int64_t count = std::min(lanes, rows - l0);
        for (int64_t i = l0; i < l0 + count; ++i) {
          if (i + prefetch_rows_ahead < rows)
            prefetch_row(io_.q.at(b, i0 + i + prefetch_rows_ahead, g * G + hh), D, io_.q.stride[3]);
          const S* stored = io_.q.at(b, i0 + i, g * G + hh);
          const T *cos = ws.q_table.cos(i, pairs), *sin = ws.q_table.sin(i, pairs);
          T* row = block_rows + (i - l0) * D;
          if (io_.q.stride[3] == 1)  // a literal unit stride lets the rotation vectorise
            rotate_row(row, stored, 1, D, p_.rope, p_.rope_dim, cos, sin, static_cast<T>(p_.scale));
          else
            rotate_row(row, stored, io_.q.stride[3], D, p_.rope, p_.rope_dim, cos, sin, static_cast<T>(p_.scale));
        }
        fill(block_rows + count * D, block_rows + lanes * D, T(0));
        Products::put_queries(qt + l0 * PD, block_rows, D);
      }
    }
    fill(ws.o_t.data(), ws.o_t.data() + G * D * padded, T(0));
    for (int64_t hh = 0; hh < G; ++hh) {
      const ReferenceKey key = ReferenceKey::of(p_, g * G + hh);
      for (int64_t i = 0; i < padded; ++i)
        start_row(p_, key, g * G + hh, first_pos + i, ws.max.data() + hh * padded + i, ws.sum.data() + hh * padded + i);
    }

    for (int64_t kb = key_lo; kb < key_hi; kb += key_block) {
      const int64_t nk = std::min(key_block, key_hi - kb);
      pack_keys(b, g, kb, nk, ws.k_run.at(kb - key_lo, nk), ws);
      pack_values(b, g, kb, nk, ws);
      for (int64_t hh = 0; hh < G; ++hh)
        for (int64_t l0 = 0; l0 < rows; l0 += lanes)
          attend(g * G + hh, first_pos + l0, std::min(lanes, rows - l0), kb, nk, ws.keys.data(), ws.values.data(),
                 ws.q_t.data() + hh * PD * padded + l0 * PD, ws.o_t.data() + hh * D * padded + l0 * D,
                 ws.scores.data(), ws.weights.data(), ws.max.data() + hh * padded + l0, ws.sum.data() + hh * padded + l0);
    }
    for (int64_t hh = 0; hh < G; ++hh)
      store_rows(b, g * G + hh, i0, rows, ws.o_t.data() + hh * D * padded, ws.sum.data() + hh * padded,
                 ws.rows_out.data());
  }

  // keys[j][d] = RoPE(k[kb + j])[d] for j < nk. Rows stay rows: the score kernel reads M of
  // them at a time along d, so packing is a contiguous copy (and rotation), not a transpose.
  // angles: those of the nk keys.
  void pack_keys(int64_t b, int64_t g, int64_t kb, int64_t nk, typename RopeRun<T>::Rows angles, Workspace& ws) const {
    const int64_t D = p_.dim, pairs = angles_.pairs(), ds = io_.k.stride[3];
    const bool rope = pairs > 0;
    const T *k_cos = angles.cos, *k_sin = angles.sin;
    for (int64_t j = 0; j < nk; ++j) {
      if (kb + j + prefetch_rows_ahead < p_.k_len) prefetch_row(io_.k.at(b, kb + j + prefetch_rows_ahead, g), D, ds);
      Packed* dst = ws.keys.data() + j * packed_dim_;
      const S* stored = io_.k.at(b, kb + j, g);
      if (!rope) {
        Products::put_stored_key(dst, stored, ds, D);
      } else {
        Products::put_key(dst, ws.row.data(), D, [&](T* out) {
          if (ds == 1)  // a literal unit stride lets the rotation vectorise
            rotate_row(out, stored, 1, D, p_.rope, p_.rope_dim, k_cos + j * pairs, k_sin + j * pairs, T(1));
          else
            rotate_row(out, stored, ds, D, p_.rope, p_.rope_dim, k_cos + j * pairs, k_sin + j * pairs, T(1));
        });
      }
    }
  }

  // values[j][d] = v[kb + j][d] for j < nk: the output kernel reads a few dims of a row per key.
  void pack_values(int64_t b, int64_t g, int64_t kb, int64_t nk, Workspace& ws) const {
    const int64_t D = p_.dim, ds = io_.v.stride[3];
    for (int64_t j = 0; j < nk; ++j) {
      if (kb + j + prefetch_rows_ahead < p_.k_len) prefetch_row(io_.v.at(b, kb + j + prefetch_rows_ahead, g), D, ds);
      Products::put_value(ws.values.data(), j, io_.v.at(b, kb + j, g), ds, D);
    }
  }

  // One head's lane block (queries at positions lane_first .. lane_first + count - 1) against
  // one packed key block. On the window's diagonal edges the products run on the vectors of
  // lanes that see the rows only (lane_rows.hpp).
  void attend(int64_t h, int64_t lane_first, int64_t count, int64_t kb, int64_t nk, const Packed* keys,
              const Packed* values, const Packed* q_t, T* o_t, T* scores, Packed* weights, T* max, T* sum) const {
    const int64_t D = p_.dim;
    const int64_t lane_last = lane_first + count - 1;
    const int64_t lo = std::max(window_.first_key(lane_first), kb) - kb;
    const int64_t hi = std::min(window_.end_key(lane_last), kb + nk) - kb;
    if (lo >= hi) return;
    const auto need = LaneRows<NV>::of(window_, lane_first, W, kb, lo, hi);
    // Scores S^T[key][lane] for whole key panels covering [lo, hi).
    for (int64_t panel = lo / M; panel * M < hi; ++panel) {
      const int64_t panel_rows = std::min<int64_t>(M, nk - panel * M);
      const LaneVectors vectors = need.vectors(std::max(panel * M, lo), std::min(panel * M + panel_rows, hi));
      if (vectors.count > 0)
        Products::scores(vectors, panel_rows, D, keys + panel * M * packed_dim_, q_t, scores + panel * M * lanes);
    }
    const auto s = ScoreRows<T, Arch, NV>::at(scores, lanes, lo, hi, window_, ReferenceKey::of(p_, h), lane_first, kb);
    const Bias bias = Bias::make(p_, h);
    Activation::weigh(s, cap_, bias, max, sum, o_t, D, lanes);
    // O^T[d][lane] += sum over keys [lo, hi) of V[key][d] * P^T[key][lane], Blocking::dim_rows dims at a time.
    Products::outputs(lo, hi, need.edges(lo, hi), scores, weights, values, D, o_t);
  }

  // O^T back into rows a lane block at a time (`rows_out`: lanes rows of D), then stored.
  void store_rows(int64_t b, int64_t h, int64_t i0, int64_t rows, const T* o_t, const T* sum, T* rows_out) const {
    const int64_t D = p_.dim, os = io_.o.stride[3];
    for (int64_t l0 = 0; l0 < rows; l0 += lanes) {
      transpose_matrix<T, Arch>(o_t + l0 * D, D, lanes, rows_out);
      for (int64_t i = l0; i < std::min(rows, l0 + lanes); ++i) {
        if (i + prefetch_rows_ahead < rows)
          prefetch_row<true>(io_.o.at(b, i0 + i + prefetch_rows_ahead, h), D, os);
        T factor = T(1);
        if (Activation::normalises) factor = sum[i] > T(0) ? T(1) / sum[i] : T(0);
        const T* from = rows_out + (i - l0) * D;
        S* out = io_.o.at(b, i0 + i, h);
        if (os == 1)  // a literal unit stride: no multiply per element
          scale_row(out, unit_stride{}, from, unit_stride{}, D, factor);
        else
          scale_row(out, os, from, unit_stride{}, D, factor);
      }
    }
  }

  void store_zero_rows(int64_t b, int64_t h, int64_t i0, int64_t rows) const {
    for (int64_t i = 0; i < rows; ++i) {
      S* out = io_.o.at(b, i0 + i, h);
      for (int64_t d = 0; d < p_.dim; ++d) out[d * io_.o.stride[3]] = store_scalar<S>(T(0));
    }
  }

  const Problem& p_;
  ForwardInputs<S> io_;
  const RopeAngles& angles_;
  Window window_;
  Cap cap_;
  int64_t tiles_per_head_ = 0, packed_dim_ = 0;
};

template <class Kernel, class Workspace>
void run_forward_task(void* kernel, int64_t task) {
  const FlushSubnormalResults flush;
  thread_local Workspace workspace;
  static_cast<const Kernel*>(kernel)->run_task(task, workspace);
}

// Runs the composition of the score layer this call asks for, with the given products.
template <class S, class Arch, class Products>
void run_forward_with(const Problem& p, const ForwardInputs<S>& io, Parallel parallel) {
  using T = compute_t<S>;
  const RopeAngles angles = RopeAngles::of(p);
  compose<T, Arch, Biases::all>(p, [&](auto score) {
    using Kernel = ForwardKernel<S, T, Arch, decltype(score), Products>;
    const Kernel kernel(p, io, angles);
    parallel(p.threads, kernel.tasks(), &run_forward_task<Kernel, typename Kernel::Workspace>,
             const_cast<Kernel*>(&kernel));
  });
}

// S is the storage type (float, double, bf16, f16). bf16 multiplies in bf16 pairs where the
// path and the CPU have them and the call allows it (Options::bf16_products), else in float.
template <class S, class Arch>
void run_forward(const Problem& p, const ForwardInputs<S>& io, Parallel parallel) {
  if constexpr (std::is_same<S, bf16>::value && Bf16Dot<Arch>::available) {
    if (p.bf16_products && Bf16Dot<Arch>::pays()) return run_forward_with<S, Arch, Bf16Products<Arch>>(p, io, parallel);
  }
  run_forward_with<S, Arch, FloatProducts<S, compute_t<S>, Arch>>(p, io, parallel);
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
