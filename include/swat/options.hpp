// Options: every knob of one attention call (SPEC section 2), with the defaults of the spec.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace swat {

enum class Activation { sigmoid, softmax };

// half: pair k is (x[k], x[k + r/2]) (GPT-NeoX, Llama); interleaved: (x[2k], x[2k+1]) (GPT-J).
enum class RopeLayout { none, half, interleaved };

struct Options {
  int64_t window = 0;  // w: key j is visible to query i iff 0 <= p_i - p_j < w; 0 = unlimited causal
  Activation activation = Activation::sigmoid;
  float scale = 0.f;                // 0 -> 1/sqrt(D)
  float sigmoid_bias = 0.f;         // beta, added to every logit (cancels out under softmax)
  std::vector<float> alibi_slopes;  // empty = none, else one per query head; > 0 favours recent keys
  RopeLayout rope = RopeLayout::none;
  float rope_base = 10000.f;
  int rope_dim = 0;  // 0 -> D; must be even and <= D; dims >= rope_dim pass through
  int64_t k_pos0 = 0;
  std::optional<int64_t> q_pos0;  // default k_pos0 + Sk - Sq: the queries are the last Sq positions
  int threads = 0;                // 0 -> all hardware threads; 1 -> no threads started

  // forward<bf16> on a CPU with AVX-512 BF16 other than Intel's (path avx512; Intel's cores run
  // the products at half the rate of float ones and keep float products): true multiplies both products in
  // bf16 pairs with float sums (vdpbf16ps; queries and rotated keys rounded to bf16 once, the
  // weights rounded to bf16), about 1.5x faster and within SPEC 4's bf16 bound; false keeps
  // products in float. SlidingKVCache<bf16>::step likewise multiplies q.k in pairs, and p.v too
  // when the query heads of a kv head go four at a time (head dim a multiple of 64) or two at a
  // time (a multiple of 128); otherwise, and with one head per kv head, p.v stays in float.
  // Other types, paths and CPUs ignore it (the emulated16 test path follows it).
  // See has_bf16_products().
  bool bf16_products = true;

  // Score modifiers of today's sliding-window models (SPEC section 8); the defaults change nothing.
  float softcap = 0.f;            // c > 0: content term c * tanh(scale * <q, k> / c) (Gemma 2: 50); 0 = off
  std::vector<float> sinks;       // empty = none, else H sink logits joining each softmax row's sum (gpt-oss)
  std::vector<float> rope_freqs;  // empty = rope_base^(-2k/r), else r/2 inverse frequencies (RoPE scaling)
};

}  // namespace swat
