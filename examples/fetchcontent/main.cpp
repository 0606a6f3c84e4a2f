// swat from a FetchContent consumer: SWAT attention (sigmoid, sliding window, balanced ALiBi,
// RoPE) over a small random batch, checked against the library's reference implementation.
#include <swat/reference.hpp>
#include <swat/swat.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

int main() {
  const int64_t batch = 1, seq = 64, heads = 8, kv_heads = 2, dim = 64;

  std::mt19937 rng(0);
  std::normal_distribution<float> normal(0.f, 1.f);
  auto random = [&](int64_t n) {
    std::vector<float> x(static_cast<std::size_t>(n));
    for (float& e : x) e = normal(rng);
    return x;
  };
  const std::vector<float> q = random(batch * seq * heads * dim);
  const std::vector<float> k = random(batch * seq * kv_heads * dim);
  const std::vector<float> v = random(batch * seq * kv_heads * dim);
  std::vector<float> o(q.size());

  swat::Options opt;
  opt.window = 16;                                        // each query sees its last 16 positions
  opt.activation = swat::Activation::sigmoid;             // SWAT: sigmoid instead of softmax
  opt.alibi_slopes = swat::balanced_alibi_slopes(heads);  // half the heads favour recent keys
  opt.rope = swat::RopeLayout::half;                      // rotary embeddings, Llama layout

  const auto qv = swat::bshd(q.data(), batch, seq, heads, dim);
  const auto kv = swat::bshd(k.data(), batch, seq, kv_heads, dim);
  const auto vv = swat::bshd(v.data(), batch, seq, kv_heads, dim);
  swat::forward<float>(qv, kv, vv, swat::bshd(o.data(), batch, seq, heads, dim), opt);

  std::vector<double> ref(o.size());
  swat::reference::forward(qv, kv, vv, swat::bshd(ref.data(), batch, seq, heads, dim), opt);
  double error = 0.0, scale = 1.0;
  for (std::size_t i = 0; i < o.size(); ++i) {
    error = std::max(error, std::abs(o[i] - ref[i]));
    scale = std::max(scale, std::abs(ref[i]));
  }

  std::printf("swat on %s: o[0, %lld, 0, 0:4] = %.5f %.5f %.5f %.5f, max relative error %.2g\n",
              swat::isa_name(swat::best_isa()), static_cast<long long>(seq - 1),
              o[(seq - 1) * heads * dim + 0], o[(seq - 1) * heads * dim + 1],
              o[(seq - 1) * heads * dim + 2], o[(seq - 1) * heads * dim + 3], error / scale);
  return error / scale <= 2e-5 ? 0 : 1;
}
