// Tensors of the tests: caller-owned memory and a swat::View4 over it in one of several memory
// layouts, every element outside the view (padding, slack) holding a NaN sentinel. A kernel
// reading such an element turns its output into NaN; one writing it is seen by comparing bytes.
// Shared by the Catch2 tests (tester.hpp) and the fuzz target: no Catch2 here.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include <swat/swat.hpp>

namespace swat_test {

using Shape = std::array<int64_t, 4>;  // logical [B, S, H, D]

// Memory layouts of one tensor, all seen as logical [B, S, H, D]. The fuzz target decodes a
// layout from a byte by its position in this list: add new ones before `count` only.
enum class Layout {
  bshd,        // contiguous [B, S, H, D]
  bhsd,        // contiguous [B, H, S, D]
  padded,      // [B, S, H, D] with every stride but D's larger than needed (see Padding)
  transposed,  // memory [B, H, D, S]: the D stride is not 1, so k and v go through packing
  reversed,    // [B, S, H, D] read backwards: every stride negative
  broadcast,   // [B, S, H, D] with one axis's stride 0 (inputs only: its indices share elements)
  count
};

inline const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::bshd: return "bshd";
    case Layout::bhsd: return "bhsd";
    case Layout::padded: return "padded";
    case Layout::transposed: return "transposed";
    case Layout::reversed: return "reversed";
    case Layout::broadcast: return "broadcast";
    case Layout::count: break;
  }
  return "?";
}

// What a layout leaves open: the extra elements after each head, row (all heads of one position)
// and batch of Layout::padded, and the axis whose stride Layout::broadcast sets to 0.
struct LayoutDetail {
  int64_t head_pad = 0, row_pad = 0, batch_pad = 0;
  int broadcast_axis = 0;
};

// The padding of the Catch2 tests' padded tensors.
constexpr LayoutDetail kTestPadding{3, 5, 7, 0};

inline Shape strides_of(Layout layout, const Shape& shape, const LayoutDetail& detail = {}) {
  const int64_t S = shape[1], H = shape[2], D = shape[3];
  Shape stride{S * H * D, H * D, D, 1};
  switch (layout) {
    case Layout::bshd: break;
    case Layout::bhsd: stride = {H * S * D, D, S * D, 1}; break;
    case Layout::transposed: stride = {H * D * S, 1, D * S, S}; break;
    case Layout::reversed: stride = {-S * H * D, -H * D, -D, -1}; break;
    case Layout::padded: {
      const int64_t head = D + detail.head_pad, row = H * head + detail.row_pad;
      stride = {S * row + detail.batch_pad, row, head, 1};
      break;
    }
    case Layout::broadcast: stride[detail.broadcast_axis] = 0; break;
    case Layout::count: break;
  }
  return stride;
}

// The lowest and highest element offsets a view of this shape and these strides reaches
// (meaningful when no extent is 0).
struct Reach {
  int64_t low = 0, high = 0;
};

inline Reach reach_of(const Shape& shape, const Shape& stride) {
  Reach r;
  for (int a = 0; a < 4; ++a) {
    const int64_t reach = (shape[a] - 1) * stride[a];
    (reach < 0 ? r.low : r.high) += reach;
  }
  return r;
}

// A quiet NaN with a payload of its own, in each storage type (std::numeric_limits knows only
// the built-in types): an output element still holding it was never written.
template <class T>
T nan_value() {
  if constexpr (std::is_same<T, swat::bf16>::value || std::is_same<T, swat::f16>::value) {
    return T::from_bits(0x7fe5u);  // a quiet NaN in bf16 and in f16 alike
  } else if constexpr (std::is_same<T, float>::value) {
    const uint32_t bits = 0x7fc5a5a5u;
    float x;
    std::memcpy(&x, &bits, 4);
    return x;
  } else {
    static_assert(std::is_same<T, double>::value, "a storage type of swat");
    const uint64_t bits = 0x7ff8a5a5a5a5a5a5ull;
    double x;
    std::memcpy(&x, &bits, 8);
    return x;
  }
}

// Each element of a view, in logical [B, S, H, D] order: f(element).
template <class T, class F>
void for_each_element(const swat::View4<T>& v, F f) {
  for (int64_t b = 0; b < v.shape[0]; ++b)
    for (int64_t s = 0; s < v.shape[1]; ++s)
      for (int64_t h = 0; h < v.shape[2]; ++h)
        for (int64_t d = 0; d < v.shape[3]; ++d) f(v.at(b, s, h)[d * v.stride[3]]);
}

// The view's elements in logical [B, S, H, D] order.
template <class T>
std::vector<std::remove_const_t<T>> logical(const swat::View4<T>& v) {
  std::vector<std::remove_const_t<T>> out;
  out.reserve(static_cast<std::size_t>(std::max<int64_t>(v.shape[0] * v.shape[1] * v.shape[2] * v.shape[3], 0)));
  for_each_element(v, [&](T& x) { out.push_back(x); });
  return out;
}

// Caller-owned memory and the view over it.
template <class T>
struct Tensor {
  std::vector<T> memory;
  swat::View4<T> view;
  Layout layout = Layout::bshd;

  swat::View4<const T> cview() const { return view; }
  T& at(int64_t b, int64_t s, int64_t h, int64_t d) const { return view.at(b, s, h)[d * view.stride[3]]; }

  // f(b, s, h, d, element) for each element, in logical order.
  template <class F>
  void for_each(F f) const {
    for (int64_t b = 0; b < view.shape[0]; ++b)
      for (int64_t s = 0; s < view.shape[1]; ++s)
        for (int64_t h = 0; h < view.shape[2]; ++h)
          for (int64_t d = 0; d < view.shape[3]; ++d) f(b, s, h, d, at(b, s, h, d));
  }

  std::vector<T> logical() const { return swat_test::logical(view); }
};

// Sentinel elements an allocation holds besides those the view reaches: `front` before the
// lowest, `back` after the highest. An empty view (an extent 0) gets a null data pointer with
// `null_when_empty`, otherwise a pointer into an allocation of at least one element.
struct Slack {
  int64_t front = 0, back = 0;
  bool null_when_empty = false;
};

template <class T>
Tensor<T> make_tensor(Layout layout, const Shape& shape, const LayoutDetail& detail, T fill, const Slack& slack = {}) {
  Tensor<T> t;
  t.layout = layout;
  t.view.shape = shape;
  t.view.stride = strides_of(layout, shape, detail);
  const bool empty = shape[0] * shape[1] * shape[2] * shape[3] == 0;
  if (empty && slack.null_when_empty) return t;  // data stays nullptr
  const Reach reach = empty ? Reach{} : reach_of(shape, t.view.stride);
  const int64_t elements = empty ? 0 : reach.high - reach.low + 1;
  t.memory.assign(static_cast<std::size_t>(std::max<int64_t>(slack.front + elements + slack.back, 1)), fill);
  t.view.data = t.memory.data() + slack.front - reach.low;
  return t;
}

// The Catch2 tests' tensors: a padded one has kTestPadding, two sentinels before its first
// element and, after its last, the padding that closes its last batch and two more sentinels.
template <class T>
Tensor<T> make_tensor(Layout layout, int64_t B, int64_t S, int64_t H, int64_t D, T fill) {
  Slack slack;
  if (layout == Layout::padded) {
    slack.front = 2;
    slack.back = kTestPadding.head_pad + kTestPadding.row_pad + kTestPadding.batch_pad + 2;
  }
  return make_tensor<T>(layout, {B, S, H, D}, kTestPadding, fill, slack);
}

template <class T>
void fill_uniform(Tensor<T>& t, std::mt19937_64& rng, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> dist(lo, hi);
  t.for_each([&](int64_t, int64_t, int64_t, int64_t, T& x) { x = static_cast<T>(dist(rng)); });
}

template <class T>
void fill_constant(Tensor<T>& t, T value) {
  t.for_each([&](int64_t, int64_t, int64_t, int64_t, T& x) { x = value; });
}

// What a call wrote into an output, judged against its memory before the call (`before`, filled
// with a sentinel): elements outside the view that changed, and elements of the view that still
// hold their old bytes (not written), each with the memory index of the first.
struct Writes {
  std::size_t outside = 0, first_outside = 0;
  std::size_t unwritten = 0, first_unwritten = 0;
};

template <class T>
Writes writes_of(const Tensor<T>& t, const std::vector<T>& before) {
  std::vector<unsigned char> inside(t.memory.size(), 0);
  for_each_element(t.view, [&](T& x) { inside[static_cast<std::size_t>(&x - t.memory.data())] = 1; });
  Writes w;
  for (std::size_t n = 0; n < t.memory.size(); ++n) {
    const bool same = std::memcmp(&t.memory[n], &before[n], sizeof(T)) == 0;
    if (!inside[n] && !same && w.outside++ == 0) w.first_outside = n;
    if (inside[n] && same && w.unwritten++ == 0) w.first_unwritten = n;
  }
  return w;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

}  // namespace swat_test
