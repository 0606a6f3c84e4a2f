// The naive reference: SPEC sections 2 (forward), 3 (gradients) and 8 (soft-capping, sinks, RoPE
// frequencies) transcribed loop by loop, in double with the score math and RoPE angles in long
// double. It shares no code with the kernels or their checks: it resolves every default itself,
// straight from SPEC, so a slip there cannot hide by being repeated here. It is the oracle of the
// tests and a tool for users checking an integration; O(B * H * Sq * Sk * D), for small sizes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "error.hpp"
#include "options.hpp"
#include "view.hpp"

namespace swat {
namespace reference {
namespace detail {

// The call with SPEC's defaults applied.
struct Call {
  int64_t batch = 0, q_len = 0, k_len = 0, heads = 0, kv_heads = 0, dim = 0;
  int64_t window = 0;  // 0 = unlimited
  bool softmax = false;
  long double scale = 1, bias = 0, softcap = 0;
  std::vector<long double> slopes;  // H values (zeros without ALiBi)
  std::vector<long double> sinks;   // H values, or empty
  RopeLayout rope = RopeLayout::none;
  std::vector<long double> freqs;  // r/2 inverse frequencies; r = 2 * freqs.size()
  int64_t k_pos0 = 0, q_pos0 = 0;

  int64_t group() const { return heads / kv_heads; }
  bool visible(int64_t distance) const { return distance >= 0 && (window == 0 || distance < window); }
};

template <class T>
void check_view(const View4<T>& view, const char* name) {
  bool any = true;
  for (int axis = 0; axis < 4; ++axis) {
    if (view.shape[axis] < 0) swat::detail::fail(name, ".shape[", axis, "]: expected >= 0, got ", view.shape[axis]);
    any = any && view.shape[axis] > 0;
  }
  if (any && view.data == nullptr) swat::detail::fail(name, ".data: expected non-null, got nullptr");
}

inline void check_extent(int64_t actual, int64_t expected, const char* what) {
  if (actual != expected) swat::detail::fail(what, ": expected ", expected, ", got ", actual);
}

template <class T>
void check_output(const View4<T>& view, const char* name, int64_t batch, int64_t seq, int64_t heads, int64_t dim) {
  check_view(view, name);
  const int64_t expected[4] = {batch, seq, heads, dim};
  for (int axis = 0; axis < 4; ++axis)
    if (view.shape[axis] != expected[axis])
      swat::detail::fail(name, ".shape[", axis, "]: expected ", expected[axis], ", got ", view.shape[axis]);
}

inline std::vector<long double> per_head(const std::vector<float>& values, int64_t heads, const char* name) {
  if (values.empty()) return {};
  if (static_cast<int64_t>(values.size()) != heads)
    swat::detail::fail("options.", name, ": expected ", heads, " values (one per query head) or none, got ", values.size());
  std::vector<long double> out;
  for (float x : values) {
    if (!std::isfinite(x)) swat::detail::fail("options.", name, ": expected finite values, got ", x);
    out.push_back(x);
  }
  return out;
}

// Shapes and options of SPEC sections 2, 6 and 8, and their defaults.
template <class Tq, class Tk>
Call resolve(const View4<Tq>& q, const View4<Tk>& k, const View4<Tk>& v, const Options& opt) {
  check_view(q, "q");
  check_view(k, "k");
  check_view(v, "v");
  Call c;
  c.batch = q.shape[0];
  c.q_len = q.shape[1];
  c.heads = q.shape[2];
  c.dim = q.shape[3];
  c.k_len = k.shape[1];
  c.kv_heads = k.shape[2];
  check_extent(k.shape[0], c.batch, "k.shape[0] (batch)");
  check_extent(k.shape[3], c.dim, "k.shape[3] (dim)");
  for (int axis = 0; axis < 4; ++axis) check_extent(v.shape[axis], k.shape[axis], "v.shape (as k's)");
  if (c.heads > 0 && (c.kv_heads == 0 || c.heads % c.kv_heads != 0))
    swat::detail::fail("q.shape[2] (heads): expected a multiple of k's heads ", c.kv_heads, ", got ", c.heads);

  if (opt.window < 0) swat::detail::fail("options.window: expected >= 0, got ", opt.window);
  c.window = opt.window;
  if (opt.activation != Activation::sigmoid && opt.activation != Activation::softmax)
    swat::detail::fail("options.activation: expected sigmoid or softmax, got ", static_cast<int>(opt.activation));
  c.softmax = opt.activation == Activation::softmax;
  if (!std::isfinite(opt.scale)) swat::detail::fail("options.scale: expected a finite value, got ", opt.scale);
  c.scale = opt.scale != 0.f ? static_cast<long double>(opt.scale) : 1.0L / std::sqrt(static_cast<long double>(c.dim));
  if (!std::isfinite(opt.sigmoid_bias)) swat::detail::fail("options.sigmoid_bias: expected a finite value, got ", opt.sigmoid_bias);
  c.bias = opt.sigmoid_bias;
  if (!(opt.softcap >= 0.f) || !std::isfinite(opt.softcap))
    swat::detail::fail("options.softcap: expected a finite value >= 0, got ", opt.softcap);
  c.softcap = opt.softcap;

  c.slopes = per_head(opt.alibi_slopes, c.heads, "alibi_slopes");
  if (c.slopes.empty()) c.slopes.assign(static_cast<std::size_t>(c.heads), 0.0L);
  c.sinks = per_head(opt.sinks, c.heads, "sinks");
  if (!c.sinks.empty() && !c.softmax) swat::detail::fail("options.sinks: expected none with sigmoid, got ", c.sinks.size());

  c.rope = opt.rope;
  if (opt.rope == RopeLayout::half || opt.rope == RopeLayout::interleaved) {
    const int64_t r = opt.rope_dim == 0 ? c.dim : opt.rope_dim;
    if (r < 0 || r > c.dim || r % 2 != 0)
      swat::detail::fail("options.rope_dim: expected 0 or an even value in [2, D = ", c.dim, "], got ", opt.rope_dim);
    if (opt.rope_freqs.empty()) {
      if (!(opt.rope_base > 0.f) || !std::isfinite(opt.rope_base))
        swat::detail::fail("options.rope_base: expected a finite value > 0, got ", opt.rope_base);
      // a_k(p) = p * theta^(-2k/r), k = 0 .. r/2 - 1.
      for (int64_t pair = 0; pair < r / 2; ++pair)
        c.freqs.push_back(std::pow(static_cast<long double>(opt.rope_base),
                                   -static_cast<long double>(2 * pair) / static_cast<long double>(r)));
    } else {
      if (static_cast<int64_t>(opt.rope_freqs.size()) != r / 2)
        swat::detail::fail("options.rope_freqs: expected r/2 = ", r / 2, " values, got ", opt.rope_freqs.size());
      for (float f : opt.rope_freqs) {
        if (!std::isfinite(f)) swat::detail::fail("options.rope_freqs: expected finite values, got ", f);
        c.freqs.push_back(f);
      }
    }
  } else if (opt.rope != RopeLayout::none) {
    swat::detail::fail("options.rope: expected none, half or interleaved, got ", static_cast<int>(opt.rope));
  } else if (!opt.rope_freqs.empty()) {
    swat::detail::fail("options.rope_freqs: expected none without rope, got ", opt.rope_freqs.size(), " values");
  }

  c.k_pos0 = opt.k_pos0;
  c.q_pos0 = opt.q_pos0 ? *opt.q_pos0 : opt.k_pos0 + c.k_len - c.q_len;
  // Positions within +-2^62, so every distance p_i - p_j is an int64_t.
  constexpr int64_t limit = int64_t(1) << 62;
  for (int64_t first : {c.k_pos0, c.q_pos0})
    if (first <= -limit || first >= limit - std::max(c.k_len, c.q_len))
      swat::detail::fail("options.k_pos0 / q_pos0: expected positions within +-2^62, got first position ", first);
  return c;
}

// cos and sin of RoPE's angle a = p * f, reduced modulo 2 pi. a = a_hi + a_lo exactly (the FMA
// gives the product's rounding error), and 2 pi is c1 + c2 + c3 with c1, c2 of 24 bits, so n * c1
// and n * c2 are exact for |n| < 2^40 and the reduced angle keeps about 1e-18 rad for |a| up to
// ~6e12 (positions up to ~2^42 at f = 1). A plain fmod of p * f would lose ~1e-7 rad at p = 2^40.
// What remains is f's own rounding (relative 2^-64), which the angle inherits as p * f * 2^-64.
inline void angle_cos_sin(int64_t position, long double f, long double* cos_out, long double* sin_out) {
  constexpr long double c1 = 0x1.921fb6p+2L;
  constexpr long double c2 = -0x1.777a5cp-23L;
  constexpr long double c3 = -0x1.ee59d9cceba3f92p-48L;
  const long double p = static_cast<long double>(position);  // exact: |p| < 2^64
  const long double a_hi = p * f;
  const long double a_lo = std::fma(p, f, -a_hi);
  const long double n = std::nearbyint(a_hi / c1);
  const long double r = ((a_hi - n * c1) - n * c2) - n * c3 + a_lo;
  *cos_out = std::cos(r);
  *sin_out = std::sin(r);
}

// RoPE of one row x[0..D) at absolute position `position` (SPEC 2 step 1; the inverse rotation
// is the rotation at -position).
inline void rotate(std::vector<double>& x, int64_t position, const Call& c) {
  if (c.rope == RopeLayout::none) return;
  const int64_t half = static_cast<int64_t>(c.freqs.size());
  for (int64_t pair = 0; pair < half; ++pair) {
    long double cs, sn;
    angle_cos_sin(position, c.freqs[pair], &cs, &sn);
    const int64_t i1 = c.rope == RopeLayout::half ? pair : 2 * pair;
    const int64_t i2 = c.rope == RopeLayout::half ? pair + half : 2 * pair + 1;
    const long double x1 = x[i1], x2 = x[i2];
    x[i1] = static_cast<double>(x1 * cs - x2 * sn);
    x[i2] = static_cast<double>(x1 * sn + x2 * cs);
  }
}

// Any arithmetic type, or a 16-bit storage type (which converts through float, exactly).
template <class T>
double to_double(T x) {
  if constexpr (std::is_arithmetic<T>::value)
    return static_cast<double>(x);
  else
    return static_cast<double>(static_cast<float>(x));
}

template <class T>
std::vector<double> load_row(const View4<T>& view, int64_t b, int64_t s, int64_t h) {
  std::vector<double> row(static_cast<std::size_t>(view.shape[3]));
  const T* p = view.at(b, s, h);
  for (int64_t d = 0; d < view.shape[3]; ++d) row[d] = to_double(p[d * view.stride[3]]);
  return row;
}

template <class T>
void store_row(const View4<T>& view, int64_t b, int64_t s, int64_t h, const std::vector<double>& row) {
  T* p = view.at(b, s, h);
  for (int64_t d = 0; d < view.shape[3]; ++d) p[d * view.stride[3]] = static_cast<T>(row[d]);
}

inline double dot(const std::vector<double>& x, const std::vector<double>& y) {
  long double sum = 0;
  for (std::size_t d = 0; d < x.size(); ++d) sum += static_cast<long double>(x[d]) * y[d];
  return static_cast<double>(sum);
}

// Query row i of head h against its visible keys: SPEC 2 steps 2 to 4 and SPEC 8.
struct Row {
  std::vector<int64_t> keys;          // the visible key indices j
  std::vector<int64_t> distance;      // p_i - p_j
  std::vector<long double> content;   // scale * <q~_i, k~_j>, before the cap
  std::vector<long double> weight;    // a_ij
  long double sink = 0;               // P_i^sink (softmax with sinks)
};

inline Row score_row(const Call& c, int64_t h, int64_t pos_i, const std::vector<double>& query,
                     const std::vector<std::vector<double>>& keys) {
  Row row;
  for (int64_t j = 0; j < c.k_len; ++j) {
    const int64_t distance = pos_i - (c.k_pos0 + j);
    if (!c.visible(distance)) continue;
    row.keys.push_back(j);
    row.distance.push_back(distance);
    row.content.push_back(c.scale * dot(query, keys[j]));
  }
  const long double m = c.slopes[h];
  const auto capped = [&](long double x) { return c.softcap > 0 ? c.softcap * std::tanh(x / c.softcap) : x; };
  if (!c.softmax) {
    for (std::size_t t = 0; t < row.keys.size(); ++t) {
      const long double s = capped(row.content[t]) - m * static_cast<long double>(row.distance[t]) + c.bias;
      row.weight.push_back(1.0L / (1.0L + std::exp(-s)));
    }
    return row;
  }
  if (row.keys.empty()) return row;  // no visible key: zeros, whatever the sink
  // Softmax is a ratio of exponentials, so every logit (the sink's too, SPEC 8.2) is taken
  // relative to the nearest visible key's bias -m * d0 + beta: the ALiBi terms that remain,
  // m * (d - d0), are exact in long double, however large the positions.
  const int64_t d0 = row.distance.back();
  std::vector<long double> logit;
  for (std::size_t t = 0; t < row.keys.size(); ++t)
    logit.push_back(capped(row.content[t]) - m * static_cast<long double>(row.distance[t] - d0));
  const bool sink = !c.sinks.empty();
  const long double sink_logit = sink ? c.sinks[h] + m * static_cast<long double>(d0) - c.bias : 0;
  long double top = *std::max_element(logit.begin(), logit.end());
  if (sink) top = std::max(top, sink_logit);
  long double total = sink ? std::exp(sink_logit - top) : 0;
  for (long double s : logit) total += std::exp(s - top);
  for (long double s : logit) row.weight.push_back(std::exp(s - top) / total);
  if (sink) row.sink = std::exp(sink_logit - top) / total;
  return row;
}

// Rotated rows of k (or plain rows of v) of one (batch, kv head).
template <class T>
std::vector<std::vector<double>> load_keys(const View4<const T>& view, int64_t b, int64_t g, const Call& c, bool rotated) {
  std::vector<std::vector<double>> rows(static_cast<std::size_t>(c.k_len));
  for (int64_t j = 0; j < c.k_len; ++j) {
    rows[j] = load_row(view, b, j, g);
    if (rotated) rotate(rows[j], c.k_pos0 + j, c);
  }
  return rows;
}

}  // namespace detail

// o[b, i, h, :] = sum over visible j of a_ij * v[b, j, g, :], as SPEC sections 2 and 8 define it.
// Inputs of any arithmetic type; the output may be double (to compare against) or T.
template <class T, class U>
void forward(View4<const T> q, View4<const T> k, View4<const T> v, View4<U> o, const Options& opt) {
  const detail::Call c = detail::resolve(q, k, v, opt);
  detail::check_output(o, "o", c.batch, c.q_len, c.heads, c.dim);
  if (c.batch == 0 || c.q_len == 0 || c.heads == 0 || c.dim == 0) return;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t h = 0; h < c.heads; ++h) {
      const int64_t g = h / c.group();
      const auto keys = detail::load_keys(k, b, g, c, true), values = detail::load_keys(v, b, g, c, false);
      for (int64_t i = 0; i < c.q_len; ++i) {
        const int64_t pos_i = c.q_pos0 + i;
        std::vector<double> query = detail::load_row(q, b, i, h);
        detail::rotate(query, pos_i, c);
        const detail::Row row = detail::score_row(c, h, pos_i, query, keys);
        std::vector<double> out(static_cast<std::size_t>(c.dim));
        for (int64_t d = 0; d < c.dim; ++d) {
          long double acc = 0;
          for (std::size_t t = 0; t < row.keys.size(); ++t) acc += row.weight[t] * values[row.keys[t]][d];
          out[d] = static_cast<double>(acc);
        }
        detail::store_row(o, b, i, h, out);
      }
    }
}

// The same call with mutable input views (a caller's own buffers, not yet made const).
template <class T, class U, class = std::enable_if_t<!std::is_const<T>::value>>
void forward(View4<T> q, View4<T> k, View4<T> v, View4<U> o, const Options& opt) {
  forward<T, U>(View4<const T>(q), View4<const T>(k), View4<const T>(v), o, opt);
}

// The gradients of SPEC sections 3 and 8, transcribed: dq, dk, dv with respect to the un-rotated
// inputs (dk, dv summed over the query heads of each kv head); when not null, dslopes[h] and
// dsinks[h] (H values each) have dm_h and dsigma_h added to them.
//
// Softmax's D_i = <dO_i, O_i> is taken with this reference's own O_i (the exact forward output,
// sum_j a_ij <dO_i, v_j>), not with `o`, which is checked for its shape only. The gradient is then
// exact whatever rounding `o` carries: with D_i taken from a rounded o, sum_j dS_ij is that
// rounding instead of 0 (or D_i P_sink), and dm_h = -sum dS_ij (p_i - p_j) multiplies it by the
// distances (a constant v and slopes near -8 gave -381 for an exact 0).
template <class T, class U>
void backward(View4<const T> q, View4<const T> k, View4<const T> v, View4<const T> o, View4<const T> dout,
              View4<U> dq, View4<U> dk, View4<U> dv, const Options& opt, double* dslopes = nullptr,
              double* dsinks = nullptr) {
  const detail::Call c = detail::resolve(q, k, v, opt);
  detail::check_output(o, "o", c.batch, c.q_len, c.heads, c.dim);
  detail::check_output(dout, "dout", c.batch, c.q_len, c.heads, c.dim);
  detail::check_output(dq, "dq", c.batch, c.q_len, c.heads, c.dim);
  detail::check_output(dk, "dk", c.batch, c.k_len, c.kv_heads, c.dim);
  detail::check_output(dv, "dv", c.batch, c.k_len, c.kv_heads, c.dim);
  if (c.batch == 0 || c.dim == 0 || c.kv_heads == 0) return;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t g = 0; g < c.kv_heads; ++g) {
      const auto keys = detail::load_keys(k, b, g, c, true), values = detail::load_keys(v, b, g, c, false);
      std::vector<std::vector<double>> dkeys(static_cast<std::size_t>(c.k_len), std::vector<double>(c.dim, 0.0));
      std::vector<std::vector<double>> dvalues = dkeys;
      for (int64_t h = g * c.group(); h < (g + 1) * c.group(); ++h) {
        long double dslope = 0, dsink = 0;
        for (int64_t i = 0; i < c.q_len; ++i) {
          const int64_t pos_i = c.q_pos0 + i;
          std::vector<double> query = detail::load_row(q, b, i, h);
          detail::rotate(query, pos_i, c);
          const std::vector<double> grad_out = detail::load_row(dout, b, i, h);
          const detail::Row row = detail::score_row(c, h, pos_i, query, keys);
          const std::size_t n = row.keys.size();
          std::vector<long double> dP(n), dS(n);
          long double row_dot = 0;  // D_i = <dO_i, O_i> = sum_j a_ij dP_ij
          for (std::size_t t = 0; t < n; ++t) {
            dP[t] = detail::dot(grad_out, values[row.keys[t]]);
            row_dot += row.weight[t] * dP[t];
          }
          for (std::size_t t = 0; t < n; ++t) {
            const long double P = row.weight[t];
            dS[t] = c.softmax ? P * (dP[t] - row_dot) : dP[t] * P * (1.0L - P);
          }
          // dm_h = -sum_j dS_ij (p_i - p_j). Under softmax sum_j dS_ij = D_i P_i^sink exactly (0
          // without sinks), so the distances are counted from the nearest key d0 and that sum
          // carries d0: no cancellation between huge terms.
          if (c.softmax && n > 0) {
            const int64_t d0 = row.distance.back();
            for (std::size_t t = 0; t < n; ++t) dslope -= dS[t] * static_cast<long double>(row.distance[t] - d0);
            dslope -= static_cast<long double>(d0) * row_dot * row.sink;
            dsink -= row.sink * row_dot;  // dsigma_h = -sum_i P_i^sink D_i
          } else {
            for (std::size_t t = 0; t < n; ++t) dslope -= dS[t] * static_cast<long double>(row.distance[t]);
          }
          std::vector<double> dquery(static_cast<std::size_t>(c.dim), 0.0);
          for (std::size_t t = 0; t < n; ++t) {
            const int64_t j = row.keys[t];
            // Soft-capping: dS reaches the content term through c * tanh(x / c), slope 1 - tanh^2.
            long double dContent = dS[t];
            if (c.softcap > 0) {
              const long double th = std::tanh(row.content[t] / c.softcap);
              dContent *= 1.0L - th * th;
            }
            for (int64_t d = 0; d < c.dim; ++d) {
              dvalues[j][d] += static_cast<double>(row.weight[t] * grad_out[d]);
              dquery[d] += static_cast<double>(c.scale * dContent * keys[j][d]);
              dkeys[j][d] += static_cast<double>(c.scale * dContent * query[d]);
            }
          }
          detail::rotate(dquery, -pos_i, c);
          detail::store_row(dq, b, i, h, dquery);
        }
        if (dslopes) dslopes[h] += static_cast<double>(dslope);
        if (dsinks && !c.sinks.empty()) dsinks[h] += static_cast<double>(dsink);
      }
      for (int64_t j = 0; j < c.k_len; ++j) {
        detail::rotate(dkeys[j], -(c.k_pos0 + j), c);
        detail::store_row(dk, b, j, g, dkeys[j]);
        detail::store_row(dv, b, j, g, dvalues[j]);
      }
    }
}

}  // namespace reference
}  // namespace swat
