// model_layers: the sliding-window attention layer of real models, configured from their
// published configurations, run as a model runs it: a 4096-token prefill through swat::forward,
// then 64 decode steps through swat::SlidingKVCache. Sampled rows of both are checked against
// the double reference. Prints each layer's options, prefill and decode tokens/s and the
// cache's memory.
//
//   model_layers [threads]      (default 0 = all cores)
//
// q, k and v are random (unit scale), the sinks of gpt-oss too: the point is the layer's
// arithmetic and cost, not a checkpoint's numbers.
#include <swat/reference.hpp>
#include <swat/swat.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr int64_t kPrefill = 4096, kDecode = 64, kAppendChunk = 256;  // kPrefill is a multiple

struct Layer {
  std::string name;
  int64_t heads, kv_heads, dim;
  swat::Options opt;
};

std::vector<Layer> layers(int threads) {
  std::vector<Layer> out;
  {  // Mistral 7B: every layer slides over 4096 positions; softmax, RoPE theta 10000.
    Layer l{"Mistral 7B", 32, 8, 128, {}};
    l.opt.window = 4096;
    l.opt.activation = swat::Activation::softmax;
    l.opt.rope = swat::RopeLayout::half;
    l.opt.rope_base = 10000.f;
    out.push_back(l);
  }
  {  // Gemma 2 9B, local (alternate) layers: window 4096, logits soft-capped at 50,
     // query_pre_attn_scalar 256 = head dim (the default scale).
    Layer l{"Gemma 2 9B local", 16, 8, 256, {}};
    l.opt.window = 4096;
    l.opt.activation = swat::Activation::softmax;
    l.opt.softcap = 50.f;
    l.opt.rope = swat::RopeLayout::half;
    l.opt.rope_base = 10000.f;
    out.push_back(l);
  }
  {  // Gemma 3 (12B) local layers: window 1024 and their own RoPE theta of 10000 (global
     // layers use 1000000).
    Layer l{"Gemma 3 12B local", 16, 8, 256, {}};
    l.opt.window = 1024;
    l.opt.activation = swat::Activation::softmax;
    l.opt.rope = swat::RopeLayout::half;
    l.opt.rope_base = 10000.f;
    out.push_back(l);
  }
  {  // gpt-oss-20b sliding layers: window 128, 64 query heads over 8, one learned sink per head,
     // YaRN (factor 32 over 4096 positions, theta 150000, untruncated ramp), whose attention
     // factor multiplies cos and sin of q and k: its square goes into the scale.
    Layer l{"gpt-oss-20b sliding", 64, 8, 64, {}};
    l.opt.window = 128;
    l.opt.activation = swat::Activation::softmax;
    std::mt19937 rng(20);
    std::uniform_real_distribution<float> sink(-1.f, 3.f);
    for (int h = 0; h < 64; ++h) l.opt.sinks.push_back(sink(rng));
    l.opt.rope = swat::RopeLayout::half;
    swat::YarnScaling yarn;
    yarn.factor = 32;
    yarn.original_context = 4096;
    yarn.beta_fast = 32;
    yarn.beta_slow = 1;
    yarn.truncate = false;
    l.opt.rope_freqs = swat::rope_frequencies_yarn(64, 150000, yarn);
    const double mscale = swat::yarn_attention_factor(32);
    l.opt.scale = static_cast<float>(mscale * mscale / std::sqrt(64.0));
    out.push_back(l);
  }
  {  // The SWAT paper's 340M layer: window 256, 16 heads of 64, sigmoid, balanced ALiBi, RoPE.
    Layer l{"SWAT 340M", 16, 16, 64, {}};
    l.opt.window = 256;
    l.opt.activation = swat::Activation::sigmoid;
    l.opt.alibi_slopes = swat::balanced_alibi_slopes(16);
    l.opt.rope = swat::RopeLayout::half;
    out.push_back(l);
  }
  for (Layer& l : out) l.opt.threads = threads;
  return out;
}

std::string describe(const Layer& l) {
  const swat::Options& o = l.opt;
  std::string s = "H " + std::to_string(l.heads) + " over Hkv " + std::to_string(l.kv_heads) + ", D " +
                  std::to_string(l.dim) + ", window " + std::to_string(o.window) + ", " +
                  (o.activation == swat::Activation::softmax ? "softmax" : "sigmoid");
  if (o.softcap > 0) s += ", softcap " + std::to_string(static_cast<int>(o.softcap));
  if (!o.sinks.empty()) s += ", sinks";
  if (!o.alibi_slopes.empty()) s += ", balanced ALiBi";
  if (o.rope != swat::RopeLayout::none)
    s += o.rope_freqs.empty() ? ", RoPE theta " + std::to_string(static_cast<int>(o.rope_base)) : ", RoPE YaRN table";
  if (o.scale != 0) s += ", scale " + std::to_string(o.scale);
  return s;
}

std::vector<float> random_values(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  std::vector<float> out(static_cast<std::size_t>(n));
  for (float& x : out) x = unit(rng);
  return out;
}

// Row i (all heads) of o against the reference over the keys row i sees: SPEC 4's error.
double row_error(const Layer& l, const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                 const float* o_row, int64_t i) {
  const int64_t H = l.heads, Hkv = l.kv_heads, D = l.dim;
  const int64_t first = std::max<int64_t>(0, i - l.opt.window + 1), count = i + 1 - first;
  swat::Options opt = l.opt;
  opt.k_pos0 = first;
  opt.q_pos0 = i;
  std::vector<double> ref(static_cast<std::size_t>(H * D));
  swat::reference::forward<float, double>(swat::bshd<const float>(q.data() + i * H * D, 1, 1, H, D),
                                          swat::bshd<const float>(k.data() + first * Hkv * D, 1, count, Hkv, D),
                                          swat::bshd<const float>(v.data() + first * Hkv * D, 1, count, Hkv, D),
                                          swat::bshd(ref.data(), 1, 1, H, D), opt);
  double diff = 0, top = 1;
  for (int64_t e = 0; e < H * D; ++e) {
    diff = std::max(diff, std::fabs(o_row[e] - ref[e]));
    top = std::max(top, std::fabs(ref[e]));
  }
  return diff / top;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  std::printf("model_layers: %lld-token prefill (swat::forward), then %lld decode steps (SlidingKVCache), float, "
              "path %s\n\n",
              static_cast<long long>(kPrefill), static_cast<long long>(kDecode), swat::isa_name(swat::best_isa()));
  bool all_ok = true;
  for (const Layer& l : layers(threads)) {
    const int64_t H = l.heads, Hkv = l.kv_heads, D = l.dim, n = kPrefill + kDecode;
    std::mt19937 rng(7);
    const std::vector<float> q = random_values(n * H * D, rng), k = random_values(n * Hkv * D, rng),
                             v = random_values(n * Hkv * D, rng);
    std::vector<float> o(static_cast<std::size_t>(n * H * D));

    const auto prefill_start = std::chrono::steady_clock::now();
    swat::forward<float>(swat::bshd<const float>(q.data(), 1, kPrefill, H, D),
                         swat::bshd<const float>(k.data(), 1, kPrefill, Hkv, D),
                         swat::bshd<const float>(v.data(), 1, kPrefill, Hkv, D), swat::bshd(o.data(), 1, kPrefill, H, D),
                         l.opt);
    const double prefill = seconds_since(prefill_start);

    // The prompt's keys and values go into the cache (their outputs came from forward), in
    // chunks, since the cache keeps scratch for its longest step; then one token a step.
    swat::SlidingKVCache<float> cache(1, Hkv, D, l.opt);
    for (int64_t at = 0; at < kPrefill; at += kAppendChunk)
      cache.append(swat::bshd<const float>(k.data() + at * Hkv * D, 1, kAppendChunk, Hkv, D),
                   swat::bshd<const float>(v.data() + at * Hkv * D, 1, kAppendChunk, Hkv, D));
    const auto decode_start = std::chrono::steady_clock::now();
    for (int64_t t = kPrefill; t < n; ++t)
      cache.step(swat::bshd<const float>(q.data() + t * H * D, 1, 1, H, D),
                 swat::bshd<const float>(k.data() + t * Hkv * D, 1, 1, Hkv, D),
                 swat::bshd<const float>(v.data() + t * Hkv * D, 1, 1, Hkv, D), swat::bshd(o.data() + t * H * D, 1, 1, H, D));
    const double decode = seconds_since(decode_start);

    double err = 0;
    for (int64_t i : {int64_t(0), int64_t(1000), kPrefill - 1, kPrefill, n - 1})
      err = std::max(err, row_error(l, q, k, v, o.data() + i * H * D, i));
    const bool ok = err <= 2e-5;
    all_ok = all_ok && ok;
    std::printf("%s\n  %s\n  prefill %8.0f tokens/s   decode %8.1f tokens/s   cache %.1f MiB   "
                "max err vs reference %.1e (%s)\n\n",
                l.name.c_str(), describe(l).c_str(), kPrefill / prefill, kDecode / decode,
                static_cast<double>(cache.bytes()) / (1 << 20), err, ok ? "ok" : "ABOVE the 2e-5 bound");
  }
  return all_ok ? 0 : 1;
}
