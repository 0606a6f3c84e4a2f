// The score layer: everything between the product q~ . k~ and the weight a_ij, shared by the
// forward, backward and decode kernels (SPEC sections 2, 3 and 8):
//   window.hpp      which keys a query sees, and the mask;
//   modifier.hpp    what changes the content term (soft-capping), value and gradient factor;
//   bias.hpp        ALiBi slope and sigmoid offset, and the softmax reference key;
//   normaliser.hpp  sigmoid, and softmax online with its optional sink, value and gradient.
// A logit is bias.apply(cap.value(scale * <q~, k~>), distance from the reference key).
// compose() below is the one place where run-time options become compile-time types.
#pragma once

#include "../isa_namespace.hpp"

#include "../../checks.hpp"
#include "bias.hpp"
#include "modifier.hpp"
#include "normaliser.hpp"
#include "window.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// One composition: the types a kernel is instantiated with.
template <class Normaliser_, class Bias_, class Cap_>
struct Score {
  using Normaliser = Normaliser_;
  using Bias = Bias_;
  using Cap = Cap_;
};

// Which bias types a kernel is built with: every one (forward, where a sigmoid without slopes
// should not pay a multiply-add per score), or ALiBi alone with slope 0 standing in for none
// (backward and decode, where one multiply-add is nothing next to the products of D, and fewer
// compositions keep swat::dispatch small). The forward's sigmoid without slopes adds its
// offset even when it is 0: one add per vector of scores, where a composition of its own
// (NoBias, as softmax has) took a tenth of the compile time of the forward and backward
// kernels (AVX2 at -O3: 65.9 s of a core against 59.2, a Zen 3 EPYC VM).
enum class Biases { all, alibi };

// Calls run(Score<...>{}) with the composition the problem asks for.
template <class T, class Arch, Biases biases, class Run>
void compose(const Problem& p, Run&& run) {
  const auto with_cap = [&](auto normaliser, auto bias) {
    using N = decltype(normaliser);
    using B = decltype(bias);
    if (p.softcap > 0)
      run(Score<N, B, SoftCap<T, Arch>>{});
    else
      run(Score<N, B, NoCap<T, Arch>>{});
  };
  const auto with_bias = [&](auto normaliser) {
    using N = decltype(normaliser);
    if constexpr (biases == Biases::alibi) {
      with_cap(normaliser, AlibiBias<T, Arch>{});
    } else if (p.slopes) {
      with_cap(normaliser, AlibiBias<T, Arch>{});
    } else if constexpr (!N::normalises) {  // softmax cancels the offset
      with_cap(normaliser, OffsetBias<T, Arch>{});
    } else {
      with_cap(normaliser, NoBias<T, Arch>{});
    }
  };
  if (p.activation == Activation::sigmoid)
    with_bias(SigmoidActivation<T, Arch>{});
  else
    with_bias(SoftmaxActivation<T, Arch>{});
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
