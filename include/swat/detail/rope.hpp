// RoPE, the rotary positional piece: cos/sin tables for runs of consecutive positions, and the
// rotation of one row. Rows are rotated while they are packed, never per score.
#pragma once

#include "isa_namespace.hpp"

#include <atomic>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "../checks.hpp"
#include "angle.hpp"
#include "buffer.hpp"
#include "convert.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// Angles a_k(p) = p * f_k, f_k = base^(-2k/r) or the caller's table (SPEC 8). Each run starts from an anchor computed to 1e-16 (angle.hpp),
// then advances one position at a time by the rotation of one step (angle addition in double).
// Re-anchoring every `reanchor` positions bounds the drift of the recurrence to about
// reanchor * 1e-16.
class RopeAngles {
 public:
  static constexpr int64_t reanchor = 256;

  RopeAngles() = default;
  // freqs: rope_dim / 2 inverse frequencies, or nullptr for base^(-2k/r).
  RopeAngles(int64_t rope_dim, double base, const float* freqs = nullptr) : pairs_(rope_dim / 2), id_(next_id()) {
    freq_.fit(pairs_);
    step_cos_.fit(pairs_);
    step_sin_.fit(pairs_);
    for (int64_t k = 0; k < pairs_; ++k) {
      freq_[k] = freqs ? Frequency{static_cast<double>(freqs[k]), 0.0} : rope_frequency(k, rope_dim, base);
      rope_cos_sin(1, freq_[k], &step_cos_[k], &step_sin_[k]);
    }
  }
  // The angles of a call, or none without RoPE.
  static RopeAngles of(const Problem& p) {
    return p.rope != RopeLayout::none ? RopeAngles(p.rope_dim, p.rope_base, p.rope_freqs) : RopeAngles();
  }

  int64_t pairs() const { return pairs_; }
  // Unique to this object among all RopeAngles constructed with RoPE in the process (0: none),
  // so a table kept across tasks (RopeTable) can tell whose angles it holds.
  uint64_t id() const { return id_; }

  // A cursor over consecutive positions: fill(table) writes cos/sin of the next n positions.
  class Cursor {
   public:
    void start(const RopeAngles& angles, int64_t position) {
      angles_ = &angles;
      position_ = position;
      since_anchor_ = reanchor;  // anchor on first use
      cos_.fit(angles.pairs_);
      sin_.fit(angles.pairs_);
    }
    // cos_out/sin_out: n rows of pairs() values, row t for position start + t.
    template <class T>
    void fill(int64_t n, T* cos_out, T* sin_out) {
      const int64_t P = angles_->pairs_;
      for (int64_t t = 0; t < n; ++t) {
        if (since_anchor_ == reanchor) anchor();
        for (int64_t k = 0; k < P; ++k) {
          cos_out[t * P + k] = static_cast<T>(cos_[k]);
          sin_out[t * P + k] = static_cast<T>(sin_[k]);
          const double c = cos_[k], s = sin_[k];
          cos_[k] = c * angles_->step_cos_[k] - s * angles_->step_sin_[k];
          sin_[k] = s * angles_->step_cos_[k] + c * angles_->step_sin_[k];
        }
        ++position_;
        ++since_anchor_;
      }
    }

   private:
    void anchor() {
      for (int64_t k = 0; k < angles_->pairs_; ++k) rope_cos_sin(position_, angles_->freq_[k], &cos_[k], &sin_[k]);
      since_anchor_ = 0;
    }
    const RopeAngles* angles_ = nullptr;
    int64_t position_ = 0;
    int64_t since_anchor_ = 0;
    Buffer<double> cos_, sin_;
  };

 private:
  static uint64_t next_id() {
    static std::atomic<uint64_t> last{0};
    return last.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  int64_t pairs_ = 0;
  uint64_t id_ = 0;
  Buffer<Frequency> freq_;
  Buffer<double> step_cos_, step_sin_;
};

// cos/sin of a run of consecutive positions, kept for the next task that asks for the same run
// of the same angles. Tasks vary the head fastest, so the tasks of one query tile follow each
// other on a thread and would otherwise recompute the same tables once per head (about a tenth
// of forward's time at D 64). The values are those of a cursor started at `first`, bit for bit.
template <class T>
class RopeTable {
 public:
  void fill(const RopeAngles& angles, int64_t first, int64_t n) {
    if (angles.id() == id_ && first == first_ && n == n_) return;
    const int64_t pairs = angles.pairs();
    cos_.fit(static_cast<std::size_t>(n * pairs));
    sin_.fit(static_cast<std::size_t>(n * pairs));
    cursor_.start(angles, first);
    cursor_.fill(n, cos_.data(), sin_.data());
    id_ = angles.id();
    first_ = first;
    n_ = n;
  }
  // Row r (position first + r) of the last fill.
  const T* cos(int64_t r, int64_t pairs) const { return cos_.data() + r * pairs; }
  const T* sin(int64_t r, int64_t pairs) const { return sin_.data() + r * pairs; }

 private:
  uint64_t id_ = 0;
  int64_t first_ = 0, n_ = -1;
  RopeAngles::Cursor cursor_;
  Buffer<T> cos_, sin_;
};

// The angles of a run of consecutive positions (first .. first + n - 1), read in order a block
// at a time. A run of at most `tabled` positions is kept whole in a RopeTable, so the next task
// that asks for the same run of the same angles finds it; a longer one (long windows) streams
// from a cursor, at most `block` positions at a time, keeping scratch O(block). Each use names
// its own cap, in positions.
template <class T>
class RopeRun {
 public:
  // Rows of pairs() values: position first + offset + r at cos + r * pairs (null without RoPE).
  struct Rows {
    const T* cos;
    const T* sin;
  };

  void start(const RopeAngles& angles, int64_t first, int64_t n, int64_t tabled, int64_t block) {
    pairs_ = angles.pairs();
    if (pairs_ == 0) return;
    tabled_ = n <= tabled;
    if (tabled_) {
      table_.fill(angles, first, n);
    } else {
      cos_.fit(static_cast<std::size_t>(block * pairs_));
      sin_.fit(static_cast<std::size_t>(block * pairs_));
      cursor_.start(angles, first);
      next_ = 0;
    }
  }
  // The angles of positions first + offset .. first + offset + count - 1. A streamed run is read
  // in order: offset is where the last block ended, and count at most `block`.
  Rows at(int64_t offset, int64_t count) {
    if (pairs_ == 0) return {nullptr, nullptr};
    if (tabled_) return {table_.cos(offset, pairs_), table_.sin(offset, pairs_)};
    assert(offset == next_ && count * pairs_ <= static_cast<int64_t>(cos_.size()));
    cursor_.fill(count, cos_.data(), sin_.data());
    next_ = offset + count;
    return {cos_.data(), sin_.data()};
  }

 private:
  int64_t pairs_ = 0, next_ = 0;
  bool tabled_ = true;
  RopeTable<T> table_;
  RopeAngles::Cursor cursor_;
  Buffer<T> cos_, sin_;
};

// out[d * out_stride] = in[d * in_stride] * factor for d < dim, converted from the storage type
// of in and to that of out: the dims a rotation passes through, and plain rows. The rows never
// overlap (__restrict): GCC 12 at -O3 then vectorises the loop without first checking at run
// time that they do not, and a literal unit stride (std::integral_constant) saves a multiply.
template <class Tout, class Tin, class T, class OutStride, class InStride>
inline void scale_row(Tout* __restrict out, OutStride out_stride, const Tin* __restrict in, InStride in_stride,
                      int64_t dim, T factor) {
  for (int64_t d = 0; d < dim; ++d) out[d * out_stride] = store_scalar<Tout>(load_scalar(in[d * in_stride]) * factor);
}
// A literal unit stride.
using unit_stride = std::integral_constant<int64_t, 1>;

// out[0..D) = RoPE(in) * factor, with in read at element stride in_stride. cos/sin hold the
// pairs of this row's position. Dims >= rope_dim pass through (scaled). out, in and the angles
// never overlap (__restrict).
template <class T, class Tin>
inline void rotate_row(T* __restrict out, const Tin* __restrict in, int64_t in_stride, int64_t dim, RopeLayout layout,
                       int64_t rope_dim, const T* __restrict cos, const T* __restrict sin, T factor) {
  const int64_t P = rope_dim / 2;
  if (layout == RopeLayout::half) {
    for (int64_t k = 0; k < P; ++k) {
      const T x1 = load_scalar(in[k * in_stride]), x2 = load_scalar(in[(k + P) * in_stride]);
      out[k] = (x1 * cos[k] - x2 * sin[k]) * factor;
      out[k + P] = (x1 * sin[k] + x2 * cos[k]) * factor;
    }
  } else if (layout == RopeLayout::interleaved) {
    for (int64_t k = 0; k < P; ++k) {
      const T x1 = load_scalar(in[2 * k * in_stride]), x2 = load_scalar(in[(2 * k + 1) * in_stride]);
      out[2 * k] = (x1 * cos[k] - x2 * sin[k]) * factor;
      out[2 * k + 1] = (x1 * sin[k] + x2 * cos[k]) * factor;
    }
  }
  const int64_t first_plain = layout == RopeLayout::none ? 0 : rope_dim;
  scale_row(out + first_plain, unit_stride{}, in + first_plain * in_stride, in_stride, dim - first_plain, factor);
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
