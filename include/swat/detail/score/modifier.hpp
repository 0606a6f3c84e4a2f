// Modifiers of the content term scale * <q~, k~>, applied before the biases (SPEC 8). Each
// gives its value and the factor its gradient puts on dS before dS reaches dq~ and dk~; the
// slope gradient uses dS itself (the biases are outside the modifier).
#pragma once

#include "../isa_namespace.hpp"

#include "../../checks.hpp"
#include "../math.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

template <class T, class Arch>
struct NoCap {
  static constexpr bool active = false;
  using V = Vec<T, Arch>;
  using vec = typename V::type;
  static NoCap make(const Problem&) { return {}; }
  vec value(vec x) const { return x; }
  // The gradient factor from the modified value (what the kernels keep); 1 here.
  vec gradient(vec /*value*/) const { return V::broadcast(T(1)); }
};

// Soft-capping (Gemma 2): c * tanh(x / c); gradient factor 1 - tanh^2 = 1 - (value / c)^2.
template <class T, class Arch>
struct SoftCap {
  static constexpr bool active = true;
  using V = Vec<T, Arch>;
  using vec = typename V::type;
  vec cap, inverse;
  static SoftCap make(const Problem& p) {
    return {V::broadcast(static_cast<T>(p.softcap)), V::broadcast(static_cast<T>(1.0 / p.softcap))};
  }
  SWAT_INLINE vec value(vec x) const { return cap * tanh_vec<T, Arch>(x * inverse); }
  // Clamped so that a masked (-inf) value gives 0, not NaN.
  vec gradient(vec value) const {
    const vec t = V::min(V::max(value * inverse, V::broadcast(T(-1))), V::broadcast(T(1)));
    return V::fma(-t, t, V::broadcast(T(1)));
  }
};

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
