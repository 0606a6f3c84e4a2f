// swat::backward: the checked entry point of the gradients (SPEC sections 3 and 6).
#pragma once

#include <type_traits>
#include <vector>

#include "checks.hpp"
#include "detail/kernel_table.hpp"
#include "detail/schedule.hpp"
#include "forward.hpp"
#include "isa.hpp"
#include "options.hpp"
#include "view.hpp"

namespace swat {
namespace detail {

// Checks every argument of a backward call; returns the problem. Nothing is written.
template <class T>
Problem check_backward_inputs(const BackwardInputs<T>& io, const Options& opt, const float* dslopes,
                              const float* dsinks = nullptr) {
  const Problem p = check_forward_inputs(io.q, io.k, io.v, opt);
  const char* input_names[] = {"q", "k", "v", "o", "dout"};
  for (int n = 3; n < 5; ++n) {
    const View4<const T>& view = n == 3 ? io.o : io.dout;
    const char* name = input_names[n];
    check_equal(view.shape[0], p.batch, name, ".shape[0] (batch)", "q's batch");
    check_equal(view.shape[1], p.q_len, name, ".shape[1] (seq)", "q's seq");
    check_equal(view.shape[2], p.heads, name, ".shape[2] (heads)", "q's heads");
    check_equal(view.shape[3], p.dim, name, ".shape[3] (dim)", "q's dim");
  }
  check_output(io.dq, p, "dq", p.q_len, p.heads);
  check_output(io.dk, p, "dk", p.k_len, p.kv_heads);
  check_output(io.dv, p, "dv", p.k_len, p.kv_heads);
  const Span inputs[] = {checked_span(io.q, "q"), checked_span(io.k, "k"), checked_span(io.v, "v"),
                         checked_span(io.o, "o"), checked_span(io.dout, "dout")};
  const Span outputs[] = {checked_span(io.dq, "dq"), checked_span(io.dk, "dk"), checked_span(io.dv, "dv")};
  const char* output_names[] = {"dq", "dk", "dv"};
  // The H floats of a per-head gradient, as a span (empty when not asked for).
  const auto head_span = [&](const float* at) {
    Span span;
    if (at != nullptr && p.heads > 0) {
      span.lo = reinterpret_cast<std::uintptr_t>(at);
      span.hi = span.lo + static_cast<std::uintptr_t>(p.heads) * sizeof(float);
    }
    return span;
  };
  const auto vector_span = [](const std::vector<float>& values) {
    return Span{reinterpret_cast<std::uintptr_t>(values.data()),
                reinterpret_cast<std::uintptr_t>(values.data() + values.size())};
  };
  const Span heads[] = {head_span(dslopes), head_span(dsinks)};
  const char* head_names[] = {"dslopes", "dsinks"};
  for (int out = 0; out < 3; ++out) {
    for (int in = 0; in < 5; ++in) check_no_overlap(outputs[out], output_names[out], inputs[in], input_names[in]);
    for (int other = out + 1; other < 3; ++other)
      check_no_overlap(outputs[other], output_names[other], outputs[out], output_names[out]);
  }
  for (int n = 0; n < 2; ++n) {
    for (int out = 0; out < 3; ++out) check_no_overlap(heads[n], head_names[n], outputs[out], output_names[out]);
    for (int in = 0; in < 5; ++in) check_no_overlap(heads[n], head_names[n], inputs[in], input_names[in]);
    if (!opt.alibi_slopes.empty())
      check_no_overlap(heads[n], head_names[n], vector_span(opt.alibi_slopes), "options.alibi_slopes");
    if (!opt.sinks.empty()) check_no_overlap(heads[n], head_names[n], vector_span(opt.sinks), "options.sinks");
  }
  check_no_overlap(heads[1], "dsinks", heads[0], "dslopes");
  return p;
}

}  // namespace detail

inline namespace SWAT_API_NAMESPACE {

// Gradients of swat::forward (SPEC section 3) with respect to the un-rotated q, k and v:
// q, o, dout, dq [B,Sq,H,D]; k, v, dk, dv [B,Sk,Hkv,D]; o is forward's output for these inputs
// and options (softmax uses D_i = <dout_i, o_i>). dk and dv sum over the query heads of each kv
// head. dslopes, when not null, points to H floats to which dL/dm_h is ADDED (accumulate over
// calls, zero it yourself); it is computed whether or not options.alibi_slopes is set (slopes
// of 0). dsinks likewise receives dL/dsigma_h (SPEC 8; 0 without options.sinks or under
// sigmoid, where no sink joins the rows). The outputs are overwritten, never accumulated. Throws swat::Error, writing nothing,
// on bad input; the outputs (and dslopes) must not overlap any input or each other.
// Gradients are recomputed tile by tile (no n-by-w matrix); scratch is O(tile) per thread plus,
// for softmax, two values per (batch, head, query row). Bit-identical for any thread count.
template <class T>
void backward(View4<const T> q, View4<const T> k, View4<const T> v, View4<const T> o, View4<const T> dout,
              View4<T> dq, View4<T> dk, View4<T> dv, const Options& opt, float* dslopes = nullptr,
              float* dsinks = nullptr, Isa isa = Isa::automatic) {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                "swat::backward: T must be float or double");
  const detail::BackwardInputs<T> io{q, k, v, o, dout, dq, dk, dv};
  const Problem p = detail::check_backward_inputs(io, opt, dslopes, dsinks);
  const auto run = detail::kernel_of<detail::BackwardFn<T>>(detail::checked_isa(isa));
  if (p.batch == 0 || p.dim == 0 || p.kv_heads == 0) return;
  std::vector<double> slopes(dslopes ? static_cast<std::size_t>(p.heads) : 0, 0.0);
  // Without sinks the gradient is 0: nothing to add, nothing to compute.
  std::vector<double> sinks(dsinks && p.sinks ? static_cast<std::size_t>(p.heads) : 0, 0.0);
  run(p, io, dslopes ? slopes.data() : nullptr, sinks.empty() ? nullptr : sinks.data(), &detail::parallel_for);
  for (std::size_t h = 0; h < slopes.size(); ++h) dslopes[h] += static_cast<float>(slopes[h]);
  for (std::size_t h = 0; h < sinks.size(); ++h) dsinks[h] += static_cast<float>(sinks[h]);
}

// Convenience overload for mutable inputs.
template <class T>
void backward(View4<T> q, View4<T> k, View4<T> v, View4<T> o, View4<T> dout, View4<T> dq, View4<T> dk, View4<T> dv,
              const Options& opt, float* dslopes = nullptr, float* dsinks = nullptr, Isa isa = Isa::automatic) {
  backward<T>(View4<const T>(q), View4<const T>(k), View4<const T>(v), View4<const T>(o), View4<const T>(dout), dq, dk,
              dv, opt, dslopes, dsinks, isa);
}

// Any other mix of read-only and mutable inputs (users hold both); T from dq.
template <class Q, class K, class V, class O, class G, class T,
          class = std::enable_if_t<!std::is_const<T>::value && detail::all_elements_are<T, Q, K, V, O, G> &&
                                   detail::mixed_constness<Q, K, V, O, G>>>
void backward(View4<Q> q, View4<K> k, View4<V> v, View4<O> o, View4<G> dout, View4<T> dq, View4<T> dk, View4<T> dv,
              const Options& opt, float* dslopes = nullptr, float* dsinks = nullptr, Isa isa = Isa::automatic) {
  backward<T>(View4<const T>(q), View4<const T>(k), View4<const T>(v), View4<const T>(o), View4<const T>(dout), dq, dk,
              dv, opt, dslopes, dsinks, isa);
}

}  // namespace SWAT_API_NAMESPACE
}  // namespace swat
