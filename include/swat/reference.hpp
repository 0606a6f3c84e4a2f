// The naive reference: SPEC sections 2 (forward) and 3 (gradients) transcribed loop by loop, computed in double
// (RoPE angles reduced exactly, see detail/angle.hpp). It is the oracle of the tests and a tool for users who want to
// check their integration; it is O(Sq * Sk * D) per head and meant for small sizes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "checks.hpp"
#include "detail/angle.hpp"
#include "options.hpp"
#include "view.hpp"

namespace swat {
namespace reference {
namespace detail {

// RoPE of one row x[0..D) at absolute position pos, SPEC section 2 step 1.
inline void rotate(std::vector<double>& x, int64_t pos, RopeLayout layout, int64_t rope_dim, double base) {
  if (layout == RopeLayout::none) return;
  const int64_t half = rope_dim / 2;
  for (int64_t k = 0; k < half; ++k) {
    // cos and sin of pos * base^(-2k/r), the product formed and reduced without rounding loss.
    double c, s;
    swat::detail::rope_cos_sin(pos, swat::detail::rope_frequency(k, rope_dim, base), &c, &s);
    const int64_t i1 = layout == RopeLayout::half ? k : 2 * k;
    const int64_t i2 = layout == RopeLayout::half ? k + half : 2 * k + 1;
    const double x1 = x[i1], x2 = x[i2];
    x[i1] = x1 * c - x2 * s;
    x[i2] = x1 * s + x2 * c;
  }
}

template <class T>
std::vector<double> load_row(const View4<T>& view, int64_t b, int64_t s, int64_t h) {
  std::vector<double> row(view.shape[3]);
  const T* p = view.at(b, s, h);
  for (int64_t d = 0; d < view.shape[3]; ++d) row[d] = static_cast<double>(p[d * view.stride[3]]);
  return row;
}

}  // namespace detail

// o[b, i, h, :] = sum over visible j of a_ij * v[b, j, g, :], as SPEC section 2 defines it.
// Inputs of any arithmetic type; the output may be double (to compare against) or T.
template <class T, class U>
void forward(View4<const T> q, View4<const T> k, View4<const T> v, View4<U> o, const Options& opt) {
  const Problem p = swat::detail::check_forward_inputs(q, k, v, opt);
  swat::detail::check_output(o, p, "o", p.q_len, p.heads);
  if (p.empty()) return;  // no output element (and the data pointers may be null)
  const int64_t D = p.dim;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.heads; ++h) {
      const int64_t g = h / p.group();
      const double slope = p.slopes ? static_cast<double>(p.slopes[h]) : 0.0;
      // Rotated keys of this (batch, kv head), each at its own position.
      std::vector<std::vector<double>> keys(p.k_len);
      for (int64_t j = 0; j < p.k_len; ++j) {
        keys[j] = detail::load_row(k, b, j, g);
        detail::rotate(keys[j], p.k_pos0 + j, p.rope, p.rope_dim, p.rope_base);
      }
      for (int64_t i = 0; i < p.q_len; ++i) {
        const int64_t pos_i = p.q_pos0 + i;
        std::vector<double> query = detail::load_row(q, b, i, h);
        detail::rotate(query, pos_i, p.rope, p.rope_dim, p.rope_base);
        std::vector<int64_t> visible;
        for (int64_t j = 0; j < p.k_len; ++j) {
          const int64_t distance = pos_i - (p.k_pos0 + j);
          if (distance >= 0 && (p.window == 0 || distance < p.window)) visible.push_back(j);
        }
        // Softmax is unchanged by a constant added to a whole row, so its ALiBi distances are
        // counted from the row's nearest visible key: the logits stay small however large the
        // positions. Sigmoid is not, and takes the true distance and the offset beta.
        const bool softmax = p.activation == Activation::softmax;
        const int64_t origin = softmax && !visible.empty() ? pos_i - (p.k_pos0 + visible.back()) : 0;
        std::vector<double> logits;
        for (int64_t j : visible) {
          double dot = 0.0;
          for (int64_t d = 0; d < D; ++d) dot += query[d] * keys[j][d];
          const int64_t distance = pos_i - (p.k_pos0 + j) - origin;
          logits.push_back(p.scale * dot - slope * static_cast<double>(distance) + (softmax ? 0.0 : p.sigmoid_bias));
        }
        std::vector<double> weights(logits.size());
        if (p.activation == Activation::sigmoid) {
          for (std::size_t t = 0; t < logits.size(); ++t) weights[t] = 1.0 / (1.0 + std::exp(-logits[t]));
        } else if (!logits.empty()) {
          const double top = *std::max_element(logits.begin(), logits.end());
          double total = 0.0;
          for (std::size_t t = 0; t < logits.size(); ++t) total += weights[t] = std::exp(logits[t] - top);
          for (double& w : weights) w /= total;
        }
        U* out = o.at(b, i, h);
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0.0;
          for (std::size_t t = 0; t < visible.size(); ++t)
            acc += weights[t] * static_cast<double>(v.at(b, visible[t], g)[d * v.stride[3]]);
          out[d * o.stride[3]] = static_cast<U>(acc);
        }
      }
    }
}

// The gradients of SPEC section 3, transcribed: dq, dk, dv with respect to the un-rotated
// inputs (dk, dv summed over the query heads of each kv head), and, when dslopes is not null,
// dm_h = -sum_ij dS_ij (p_i - p_j) added to dslopes[h] (H values). o is the forward output, used
// by softmax for D_i = <dO_i, O_i>, as in swat::backward.
template <class T, class U>
void backward(View4<const T> q, View4<const T> k, View4<const T> v, View4<const T> o, View4<const T> dout,
              View4<U> dq, View4<U> dk, View4<U> dv, const Options& opt, double* dslopes = nullptr) {
  const Problem p = swat::detail::check_forward_inputs(q, k, v, opt);
  swat::detail::check_output(dq, p, "dq", p.q_len, p.heads);
  swat::detail::check_output(dk, p, "dk", p.k_len, p.kv_heads);
  swat::detail::check_output(dv, p, "dv", p.k_len, p.kv_heads);
  const int64_t D = p.dim;
  if (p.batch == 0 || D == 0 || p.kv_heads == 0) return;
  const bool softmax = p.activation == Activation::softmax;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t g = 0; g < p.kv_heads; ++g) {
      std::vector<std::vector<double>> keys(p.k_len), values(p.k_len);
      std::vector<std::vector<double>> dkeys(p.k_len, std::vector<double>(D, 0.0)), dvalues = dkeys;
      for (int64_t j = 0; j < p.k_len; ++j) {
        keys[j] = detail::load_row(k, b, j, g);
        detail::rotate(keys[j], p.k_pos0 + j, p.rope, p.rope_dim, p.rope_base);
        values[j] = detail::load_row(v, b, j, g);
      }
      for (int64_t h = g * p.group(); h < (g + 1) * p.group(); ++h) {
        const double slope = p.slopes ? static_cast<double>(p.slopes[h]) : 0.0;
        for (int64_t i = 0; i < p.q_len; ++i) {
          const int64_t pos_i = p.q_pos0 + i;
          std::vector<double> query = detail::load_row(q, b, i, h);
          detail::rotate(query, pos_i, p.rope, p.rope_dim, p.rope_base);
          const std::vector<double> grad_out = detail::load_row(dout, b, i, h);
          std::vector<int64_t> visible;
          for (int64_t j = 0; j < p.k_len; ++j) {
            const int64_t distance = pos_i - (p.k_pos0 + j);
            if (distance >= 0 && (p.window == 0 || distance < p.window)) visible.push_back(j);
          }
          // The same logits as forward (softmax distances from the nearest visible key).
          const int64_t origin = softmax && !visible.empty() ? pos_i - (p.k_pos0 + visible.back()) : 0;
          std::vector<double> weights(visible.size());
          for (std::size_t t = 0; t < visible.size(); ++t) {
            double dot = 0.0;
            for (int64_t d = 0; d < D; ++d) dot += query[d] * keys[visible[t]][d];
            const int64_t distance = pos_i - (p.k_pos0 + visible[t]) - origin;
            weights[t] = p.scale * dot - slope * static_cast<double>(distance) + (softmax ? 0.0 : p.sigmoid_bias);
          }
          if (!softmax) {
            for (double& w : weights) w = 1.0 / (1.0 + std::exp(-w));
          } else if (!weights.empty()) {
            const double top = *std::max_element(weights.begin(), weights.end());
            double total = 0.0;
            for (double& w : weights) total += w = std::exp(w - top);
            for (double& w : weights) w /= total;
          }
          double row_dot = 0.0;  // D_i = <dO_i, O_i>
          if (softmax) {
            const std::vector<double> out = detail::load_row(o, b, i, h);
            for (int64_t d = 0; d < D; ++d) row_dot += grad_out[d] * out[d];
          }
          std::vector<double> dquery(D, 0.0);
          double dslope = 0.0;
          for (std::size_t t = 0; t < visible.size(); ++t) {
            const int64_t j = visible[t];
            const double P = weights[t];
            double dP = 0.0;
            for (int64_t d = 0; d < D; ++d) dP += grad_out[d] * values[j][d];
            const double dS = softmax ? P * (dP - row_dot) : dP * P * (1.0 - P);
            for (int64_t d = 0; d < D; ++d) {
              dvalues[j][d] += P * grad_out[d];
              dquery[d] += p.scale * dS * keys[j][d];
              dkeys[j][d] += p.scale * dS * query[d];
            }
            // Softmax: dS sums to 0 over a row, so counting distances from the same origin as
            // the logits changes nothing in exact arithmetic and keeps the sum exact.
            dslope -= dS * static_cast<double>(pos_i - (p.k_pos0 + j) - origin);
          }
          if (dslopes) dslopes[h] += dslope;
          // The inverse rotation is the rotation by the opposite angle.
          detail::rotate(dquery, -pos_i, p.rope, p.rope_dim, p.rope_base);
          for (int64_t d = 0; d < D; ++d) dq.at(b, i, h)[d * dq.stride[3]] = static_cast<U>(dquery[d]);
        }
      }
      for (int64_t j = 0; j < p.k_len; ++j) {
        detail::rotate(dkeys[j], -(p.k_pos0 + j), p.rope, p.rope_dim, p.rope_base);
        for (int64_t d = 0; d < D; ++d) {
          dk.at(b, j, g)[d * dk.stride[3]] = static_cast<U>(dkeys[j][d]);
          dv.at(b, j, g)[d * dv.stride[3]] = static_cast<U>(dvalues[j][d]);
        }
      }
    }
}

// Inputs that are not all read-only: mutable views, or any mix (users hold both); the element
// type comes from q. (An overload for all-mutable inputs, where one exists, is more specialised
// and wins.)
template <class Q, class K, class V, class U,
          class = std::enable_if_t<swat::detail::all_elements_are<std::remove_const_t<Q>, K, V> &&
                                   !(std::is_const<Q>::value && std::is_const<K>::value && std::is_const<V>::value)>>
void forward(View4<Q> q, View4<K> k, View4<V> v, View4<U> o, const Options& opt) {
  using T = std::remove_const_t<Q>;
  reference::forward<T, U>(View4<const T>(q), View4<const T>(k), View4<const T>(v), o, opt);
}

template <class Q, class K, class V, class O, class G, class U,
          class = std::enable_if_t<swat::detail::all_elements_are<std::remove_const_t<Q>, K, V, O, G> &&
                                   !(std::is_const<Q>::value && std::is_const<K>::value && std::is_const<V>::value &&
                                     std::is_const<O>::value && std::is_const<G>::value)>>
void backward(View4<Q> q, View4<K> k, View4<V> v, View4<O> o, View4<G> dout, View4<U> dq, View4<U> dk, View4<U> dv,
              const Options& opt, double* dslopes = nullptr) {
  using T = std::remove_const_t<Q>;
  reference::backward<T, U>(View4<const T>(q), View4<const T>(k), View4<const T>(v), View4<const T>(o),
                            View4<const T>(dout), dq, dk, dv, opt, dslopes);
}

}  // namespace reference
}  // namespace swat
