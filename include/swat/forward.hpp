// swat::forward: the checked entry point of the forward pass, and the choice of SIMD path.
#pragma once

#include <algorithm>
#include <vector>

#include "checks.hpp"
#include "detail/forward_kernel.hpp"
#include "detail/schedule.hpp"
#include "dispatch.hpp"
#include "isa.hpp"
#include "options.hpp"
#include "types.hpp"
#include "view.hpp"

namespace swat {
namespace detail {

// The kernel of one path, or nullptr when this translation unit cannot build it.
template <Isa isa, class T>
ForwardFn<T> header_forward() {
  if constexpr (compiled_here<isa>)
    return &run_forward<T, typename arch_of<isa>::type>;
  else
    return nullptr;
}

}  // namespace detail
}  // namespace swat

namespace swat {
namespace detail {

// With run-time dispatch (link swat::dispatch), per-ISA kernels come from translation units
// compiled with each ISA's flags; without it, from this header under the caller's flags.
template <class T>
ForwardFn<T> forward_path(Isa isa) {
#if defined(SWAT_RUNTIME_DISPATCH)
  return dispatched_forward<T>(isa);
#else
  switch (isa) {
    case Isa::avx512: return header_forward<Isa::avx512, T>();
    case Isa::avx2: return header_forward<Isa::avx2, T>();
    case Isa::sse2: return header_forward<Isa::sse2, T>();
    case Isa::neon: return header_forward<Isa::neon, T>();
    case Isa::portable: return header_forward<Isa::portable, T>();
    case Isa::automatic: break;
  }
  return nullptr;
#endif
}

inline const std::vector<Isa>& all_isas() {
  static const std::vector<Isa> order = {Isa::avx512, Isa::avx2, Isa::neon, Isa::sse2, Isa::portable};
  return order;
}

}  // namespace detail

// The paths this build has and this CPU runs, best first; the last is always `portable`.
inline std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa isa : detail::all_isas())
    if (detail::forward_path<float>(isa) != nullptr && detail::cpu_runs(isa)) out.push_back(isa);
  return out;
}

// The path `Isa::automatic` takes.
inline Isa best_isa() { return available_isas().front(); }

namespace detail {

// The path a call asked for, resolved and checked against the paths this build and CPU have.
inline Isa checked_isa(Isa isa) {
  const Isa path = isa == Isa::automatic ? best_isa() : isa;
  const std::vector<Isa> have = available_isas();
  if (std::find(have.begin(), have.end(), path) == have.end()) {
    std::string names;
    for (Isa a : have) names += std::string(names.empty() ? "" : ", ") + isa_name(a);
    fail("isa: expected one of the available paths (", names, "), got ", isa_name(path));
  }
  return path;
}

}  // namespace detail

// Attention forward pass (SPEC sections 2 and 6): q [B,Sq,H,D], k and v [B,Sk,Hkv,D],
// o [B,Sq,H,D]. T is float, double, bf16 or f16; 16-bit storage is computed in float and the
// output rounded once (to nearest even). Throws swat::Error, leaving o untouched, on bad input. `isa` forces a SIMD
// path (for testing and comparison); it must be one of available_isas().
template <class T>
void forward(View4<const T> q, View4<const T> k, View4<const T> v, View4<T> o, const Options& opt,
             Isa isa = Isa::automatic) {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value || std::is_same<T, bf16>::value ||
                    std::is_same<T, f16>::value,
                "swat::forward: T must be float, double, swat::bf16 or swat::f16");
  const Problem p = detail::check_attention_call(q, k, v, o, opt);
  const Isa path = detail::checked_isa(isa);
  const detail::ForwardFn<T> run = detail::forward_path<T>(path);
  if (p.empty()) return;
  run(p, detail::ForwardInputs<T>{q, k, v, o}, &detail::parallel_for);
}

// Convenience overload for mutable inputs.
template <class T>
void forward(View4<T> q, View4<T> k, View4<T> v, View4<T> o, const Options& opt, Isa isa = Isa::automatic) {
  forward<T>(View4<const T>(q), View4<const T>(k), View4<const T>(v), o, opt, isa);
}

// Any other mix of read-only and mutable inputs (users hold both); T from o.
template <class Q, class K, class V, class T,
          class = std::enable_if_t<!std::is_const<T>::value && detail::all_elements_are<T, Q, K, V> &&
                                   detail::mixed_constness<Q, K, V>>>
void forward(View4<Q> q, View4<K> k, View4<V> v, View4<T> o, const Options& opt, Isa isa = Isa::automatic) {
  forward<T>(View4<const T>(q), View4<const T>(k), View4<const T>(v), o, opt, isa);
}

}  // namespace swat
