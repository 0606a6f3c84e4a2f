// The forward kernel: one tile of queries (all query heads of one kv head, `query_tile` rows)
// against the keys of its window only, and the loop that hands tiles to threads.
//
// Per tile: Q is rotated, scaled and transposed once (queries along SIMD lanes); keys are
// visited in blocks, each block rotated once and shared by the heads of the GQA group. Per
// block and head: scores S^T = K Q^T, weights in place (bias, mask on edge blocks only,
// activation), then O^T += V^T-by-column times P^T. Only lane blocks that see a key block do
// any work, and each lane block's key range is exact, so the window's diagonal edges cost
// little. No matrix larger than a tile is ever formed.
#pragma once

#include "isa_namespace.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "../checks.hpp"
#include "../view.hpp"
#include "buffer.hpp"
#include "microkernel.hpp"
#include "positional.hpp"
#include "rope.hpp"
#include "schedule.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// Tile sizes, in one place.
template <class T, class Arch>
struct ForwardTiling {
  static constexpr int64_t query_tile = 64;  // queries per tile (multiple of every Blocking::lanes)
  static constexpr int64_t key_block = 64;   // keys per packed block
};

// Per-thread scratch, grown on first use and reused by later calls on the same thread.
template <class T>
struct ForwardWorkspace {
  Buffer<T> row, q_t, o_t, scores, keys, values, max, sum, q_cos, q_sin, k_cos, k_sin;
  RopeAngles::Cursor q_angles, k_angles;

  static void fit(Buffer<T>& buffer, int64_t n) { buffer.fit(static_cast<std::size_t>(n)); }
};

template <class T, class Arch, class Activation, class Bias>
class ForwardKernel {
  using V = Vec<T, Arch>;
  using vec = typename V::type;
  using Tiling = ForwardTiling<T, Arch>;
  static constexpr int NV = Blocking<T, Arch>::vectors;
  static constexpr int64_t W = static_cast<int64_t>(V::width);
  static constexpr int64_t lanes = Blocking<T, Arch>::lanes;

 public:
  ForwardKernel(const Problem& p, const ForwardInputs<T>& io, const RopeAngles& angles)
      : p_(p), io_(io), angles_(angles), window_{p.window, p.k_pos0, p.k_len} {
    const bool rope = p.rope != RopeLayout::none;
    pack_keys_ = rope || io.k.stride[3] != 1;
    pack_values_ = io.v.stride[3] != 1;
    tiles_per_head_ = (p.q_len + Tiling::query_tile - 1) / Tiling::query_tile;
  }

  int64_t tasks() const { return p_.batch * p_.kv_heads * tiles_per_head_; }

  void run_task(int64_t task, ForwardWorkspace<T>& ws) const {
    const int64_t tile = task % tiles_per_head_;
    const int64_t g = (task / tiles_per_head_) % p_.kv_heads;
    const int64_t b = task / (tiles_per_head_ * p_.kv_heads);
    run_tile(b, g, tile * Tiling::query_tile, ws);
  }

 private:
  void run_tile(int64_t b, int64_t g, int64_t i0, ForwardWorkspace<T>& ws) const {
    const int64_t G = p_.group(), D = p_.dim;
    const int64_t rows = std::min(Tiling::query_tile, p_.q_len - i0);
    const int64_t padded = (rows + lanes - 1) / lanes * lanes;
    const int64_t first_pos = p_.q_pos0 + i0;
    const int64_t key_lo = window_.first_key(first_pos);
    const int64_t key_hi = window_.end_key(first_pos + rows - 1);
    if (key_lo >= key_hi) {
      for (int64_t hh = 0; hh < G; ++hh) store_zero_rows(b, g * G + hh, i0, rows);
      return;
    }
    const int64_t pairs = angles_.pairs();
    ForwardWorkspace<T>::fit(ws.q_t, G * D * padded);
    ForwardWorkspace<T>::fit(ws.o_t, G * D * padded);
    ForwardWorkspace<T>::fit(ws.scores, Tiling::key_block * padded);
    ForwardWorkspace<T>::fit(ws.max, G * padded);
    ForwardWorkspace<T>::fit(ws.sum, G * padded);
    if (pack_keys_) ForwardWorkspace<T>::fit(ws.keys, Tiling::key_block * D);
    if (pack_values_) ForwardWorkspace<T>::fit(ws.values, Tiling::key_block * D);
    if (pairs > 0) {
      ForwardWorkspace<T>::fit(ws.q_cos, rows * pairs);
      ForwardWorkspace<T>::fit(ws.q_sin, rows * pairs);
      ForwardWorkspace<T>::fit(ws.k_cos, Tiling::key_block * pairs);
      ForwardWorkspace<T>::fit(ws.k_sin, Tiling::key_block * pairs);
      ws.q_angles.start(angles_, first_pos);
      ws.q_angles.fill(rows, ws.q_cos.data(), ws.q_sin.data());
      ws.k_angles.start(angles_, p_.k_pos0 + key_lo);
    }

    // Q^T per head, rotated and scaled; padding lanes are zero.
    ForwardWorkspace<T>::fit(ws.row, D);
    T* row = ws.row.data();
    for (int64_t hh = 0; hh < G; ++hh) {
      T* qt = ws.q_t.data() + hh * D * padded;
      for (int64_t i = 0; i < rows; ++i) {
        rotate_row(row, io_.q.at(b, i0 + i, g * G + hh), io_.q.stride[3], D, p_.rope, p_.rope_dim,
                   ws.q_cos.data() + i * pairs, ws.q_sin.data() + i * pairs, static_cast<T>(p_.scale));
        for (int64_t d = 0; d < D; ++d) qt[d * padded + i] = row[d];
      }
      for (int64_t d = 0; d < D; ++d) fill(qt + d * padded + rows, qt + (d + 1) * padded, T(0));
    }
    fill(ws.o_t.data(), ws.o_t.data() + G * D * padded, T(0));
    fill(ws.max.data(), ws.max.data() + G * padded, -std::numeric_limits<T>::infinity());
    fill(ws.sum.data(), ws.sum.data() + G * padded, T(0));

    for (int64_t kb = key_lo; kb < key_hi; kb += Tiling::key_block) {
      const int64_t nk = std::min(Tiling::key_block, key_hi - kb);
      const T* keys;
      int64_t key_ld;
      const T* values;
      int64_t value_ld;
      prepare_keys(b, g, kb, nk, ws, &keys, &key_ld);
      prepare_values(b, g, kb, nk, ws, &values, &value_ld);
      for (int64_t hh = 0; hh < G; ++hh)
        attend_block(g * G + hh, first_pos, rows, padded, kb, nk, keys, key_ld, values, value_ld,
                     ws.q_t.data() + hh * D * padded, ws.o_t.data() + hh * D * padded, ws.scores.data(),
                     ws.max.data() + hh * padded, ws.sum.data() + hh * padded);
    }
    for (int64_t hh = 0; hh < G; ++hh)
      store_rows(b, g * G + hh, i0, rows, padded, ws.o_t.data() + hh * D * padded, ws.sum.data() + hh * padded);
  }

  void prepare_keys(int64_t b, int64_t g, int64_t kb, int64_t nk, ForwardWorkspace<T>& ws, const T** keys,
                    int64_t* ld) const {
    const int64_t D = p_.dim, pairs = angles_.pairs();
    if (!pack_keys_) {
      *keys = io_.k.at(b, kb, g);
      *ld = io_.k.stride[1];
      return;
    }
    if (pairs > 0) ws.k_angles.fill(nk, ws.k_cos.data(), ws.k_sin.data());
    for (int64_t j = 0; j < nk; ++j)
      rotate_row(ws.keys.data() + j * D, io_.k.at(b, kb + j, g), io_.k.stride[3], D, p_.rope, p_.rope_dim,
                 ws.k_cos.data() + j * pairs, ws.k_sin.data() + j * pairs, T(1));
    *keys = ws.keys.data();
    *ld = D;
  }

  void prepare_values(int64_t b, int64_t g, int64_t kb, int64_t nk, ForwardWorkspace<T>& ws, const T** values,
                      int64_t* ld) const {
    const int64_t D = p_.dim;
    if (!pack_values_) {
      *values = io_.v.at(b, kb, g);
      *ld = io_.v.stride[1];
      return;
    }
    for (int64_t j = 0; j < nk; ++j) {
      const T* src = io_.v.at(b, kb + j, g);
      for (int64_t d = 0; d < D; ++d) ws.values[j * D + d] = src[d * io_.v.stride[3]];
    }
    *values = ws.values.data();
    *ld = D;
  }

  Bias make_bias(int64_t h) const {
    if constexpr (std::is_same<Bias, AlibiBias<T, Arch>>::value)
      return Bias{V::broadcast(-static_cast<T>(p_.slopes[h])), V::broadcast(offset())};
    else if constexpr (std::is_same<Bias, OffsetBias<T, Arch>>::value)
      return Bias{V::broadcast(offset())};
    else
      return Bias{};
  }
  T offset() const { return Activation::normalises ? T(0) : static_cast<T>(p_.sigmoid_bias); }

  // One head against one key block, lane block by lane block.
  void attend_block(int64_t h, int64_t first_pos, int64_t rows, int64_t padded, int64_t kb, int64_t nk,
                    const T* keys, int64_t key_ld, const T* values, int64_t value_ld, const T* q_t, T* o_t,
                    T* scores, T* max, T* sum) const {
    const int64_t D = p_.dim;
    const Bias bias = make_bias(h);
    const vec iota = V::iota();
    for (int64_t l0 = 0; l0 < rows; l0 += lanes) {
      const int64_t lane_first = first_pos + l0;
      const int64_t lane_last = first_pos + std::min(l0 + lanes, rows) - 1;
      const int64_t lo = std::max(window_.first_key(lane_first), kb) - kb;
      const int64_t hi = std::min(window_.end_key(lane_last), kb + nk) - kb;
      if (lo >= hi) continue;
      // Scores for keys [lo, hi) of this block and the lanes [l0, l0 + lanes).
      gemm_rows<T, Arch>(hi - lo, D, keys + lo * key_ld, key_ld, 1, q_t + l0, padded, scores + lo * padded + l0,
                         padded, false);
      ScoreRows<T, Arch, NV> s{scores + l0, padded, lo, hi, {}, V::broadcast(window_.limit<T>())};
      const T base = static_cast<T>(lane_first - (p_.k_pos0 + kb));
      for (int v = 0; v < NV; ++v) s.distance0[v] = iota + V::broadcast(base + static_cast<T>(v * W));
      if (window_.covers(lane_first, lane_last, kb + lo, kb + hi))
        Activation::template weigh<false>(s, bias, max + l0, sum + l0, o_t + l0, D, padded);
      else
        Activation::template weigh<true>(s, bias, max + l0, sum + l0, o_t + l0, D, padded);
      // O^T[d][lanes] += sum over keys of V[key][d] * P^T[key][lanes].
      gemm_rows<T, Arch>(D, hi - lo, values + lo * value_ld, 1, value_ld, scores + lo * padded + l0, padded,
                         o_t + l0, padded, true);
    }
  }

  void store_rows(int64_t b, int64_t h, int64_t i0, int64_t rows, int64_t padded, const T* o_t,
                  const T* sum) const {
    for (int64_t i = 0; i < rows; ++i) {
      T factor = T(1);
      if (Activation::normalises) factor = sum[i] > T(0) ? T(1) / sum[i] : T(0);
      T* out = io_.o.at(b, i0 + i, h);
      for (int64_t d = 0; d < p_.dim; ++d) out[d * io_.o.stride[3]] = o_t[d * padded + i] * factor;
    }
  }

  void store_zero_rows(int64_t b, int64_t h, int64_t i0, int64_t rows) const {
    for (int64_t i = 0; i < rows; ++i) {
      T* out = io_.o.at(b, i0 + i, h);
      for (int64_t d = 0; d < p_.dim; ++d) out[d * io_.o.stride[3]] = T(0);
    }
  }

  const Problem& p_;
  ForwardInputs<T> io_;
  const RopeAngles& angles_;
  Window window_;
  bool pack_keys_ = false, pack_values_ = false;
  int64_t tiles_per_head_ = 0;
};

template <class T, class Arch, class Activation, class Bias>
void run_forward_with(const Problem& p, const ForwardInputs<T>& io, const RopeAngles& angles) {
  const ForwardKernel<T, Arch, Activation, Bias> kernel(p, io, angles);
  parallel_for(p.threads, kernel.tasks(), [&](int64_t task) {
    thread_local ForwardWorkspace<T> workspace;
    kernel.run_task(task, workspace);
  });
}

// Chooses the compile-time composition for this call: activation times bias.
template <class T, class Arch>
void run_forward(const Problem& p, const ForwardInputs<T>& io) {
  const RopeAngles angles = p.rope != RopeLayout::none ? RopeAngles(p.rope_dim, p.rope_base) : RopeAngles();
  const bool sigmoid = p.activation == Activation::sigmoid;
  const bool offset = sigmoid && p.sigmoid_bias != 0.0;
  if (sigmoid) {
    if (p.slopes)
      run_forward_with<T, Arch, SigmoidActivation<T, Arch>, AlibiBias<T, Arch>>(p, io, angles);
    else if (offset)
      run_forward_with<T, Arch, SigmoidActivation<T, Arch>, OffsetBias<T, Arch>>(p, io, angles);
    else
      run_forward_with<T, Arch, SigmoidActivation<T, Arch>, NoBias<T, Arch>>(p, io, angles);
  } else {
    if (p.slopes)
      run_forward_with<T, Arch, SoftmaxActivation<T, Arch>, AlibiBias<T, Arch>>(p, io, angles);
    else
      run_forward_with<T, Arch, SoftmaxActivation<T, Arch>, NoBias<T, Arch>>(p, io, angles);
  }
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
