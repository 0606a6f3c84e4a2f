// swat::forward: the checked entry point of the forward pass, and the choice of SIMD path.
#pragma once

#include <vector>

#include "checks.hpp"
#include "detail/kernel_table.hpp"
#include "detail/schedule.hpp"
#include "isa.hpp"
#include "options.hpp"
#include "types.hpp"
#include "view.hpp"

namespace swat {
inline namespace SWAT_API_NAMESPACE {

// The paths this build has and this CPU runs: the native ones best first, then (with
// swat::dispatch built with SWAT_DISPATCH_EMULATED) emulated16/8, and emulated4 where no native
// path has 4 lanes; the last is always `portable`.
inline std::vector<Isa> available_isas() { return detail::isa_list(); }

// The path `Isa::automatic` takes: the best native path, never an emulated one.
inline Isa best_isa() { return detail::best_path(); }

// The calls that may multiply bf16 storage in bf16 pairs (has_bf16_products).
enum class Bf16Call { forward, step };

// Whether `call` (forward<bf16>, or SlidingKVCache<bf16>::step) on this path (Isa::automatic: the
// one a call would take) multiplies in bf16 pairs when Options::bf16_products is set. The step:
// on the avx512 path on a CPU with AVX-512 BF16, and the 16-lane emulated test path. forward:
// the same, but not on Intel's cores, which run the pairs at half the rate of float products
// (see cpu_bf16_products_pay in isa.hpp). Throws swat::Error for a path this build or CPU lacks.
inline bool has_bf16_products(Isa isa = Isa::automatic, Bf16Call call = Bf16Call::forward) {
  const Isa path = detail::checked_isa(isa);
#if defined(__GNUC__) || defined(__clang__)
  if (path == Isa::avx512) return call == Bf16Call::step ? detail::cpu_has_avx512_bf16() : detail::cpu_bf16_products_pay();
#endif
  return path == Isa::emulated16;
}

// Attention forward pass (SPEC sections 2 and 6): q [B,Sq,H,D], k and v [B,Sk,Hkv,D],
// o [B,Sq,H,D]. T is float, double, bf16 or f16; 16-bit storage is computed in float and the
// output rounded once (to nearest even), except that bf16 multiplies in bf16 pairs where
// has_bf16_products() (Options::bf16_products). Throws swat::Error, leaving o untouched, on bad input. `isa` forces a SIMD
// path (for testing and comparison); it must be one of available_isas().
template <class T>
void forward(View4<const T> q, View4<const T> k, View4<const T> v, View4<T> o, const Options& opt,
             Isa isa = Isa::automatic) {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value || std::is_same<T, bf16>::value ||
                    std::is_same<T, f16>::value,
                "swat::forward: T must be float, double, swat::bf16 or swat::f16");
  const Problem p = detail::check_attention_call(q, k, v, o, opt);
  const auto run = detail::kernel_of<detail::ForwardFn<T>>(detail::checked_isa(isa));
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

}  // namespace SWAT_API_NAMESPACE
}  // namespace swat
