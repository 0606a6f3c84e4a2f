// stream: one million tokens through a small multi-layer decoder's attention caches, to show
// what a sliding window buys at inference time: resident memory and time per token stay flat
// however long the stream runs.
//
// Each layer owns a swat::SlidingKVCache (window 256, 4 query heads sharing 2 kv heads, head
// dim 64, bf16 storage, SWAT's sigmoid with balanced ALiBi and RoPE): a small model, so that a
// million tokens take about a minute on two cores (window 1024 and 8 heads take four times as
// long per token, and the same flat memory and speed). Tokens arrive one at a
// time, with a 64-token chunk (a pasted prompt) every 10000 tokens. q, k and v are random: they
// are drawn once into a pool and read at a moving offset, so the loop times attention, not the
// random number generator.
//
//   stream [tokens] [threads]      (defaults 1000000 and 0 = all cores)
#include <swat/swat.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <vector>

namespace {

constexpr int kLayers = 4;
constexpr int64_t kWindow = 256, kHeads = 4, kKvHeads = 2, kDim = 64;
constexpr int64_t kPool = 4096;  // tokens of random q, k, v

using Storage = swat::bf16;

// Resident set size of this process in bytes (Linux), or 0 where unknown.
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return resident * 4096;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t tokens = argc > 1 ? std::atoll(argv[1]) : 1000000;
  swat::Options opt;
  opt.window = kWindow;
  opt.alibi_slopes = swat::balanced_alibi_slopes(kHeads);
  opt.rope = swat::RopeLayout::half;
  opt.threads = argc > 2 ? std::atoi(argv[2]) : 0;
  std::vector<swat::SlidingKVCache<Storage>> layers;
  for (int l = 0; l < kLayers; ++l) layers.emplace_back(1, kKvHeads, kDim, opt);

  std::mt19937 rng(2025);
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  auto pool = [&](int64_t per_token) {
    std::vector<Storage> out(static_cast<std::size_t>((kPool + 64) * per_token));
    for (Storage& x : out) x = Storage(unit(rng));
    return out;
  };
  const std::vector<Storage> q = pool(kHeads * kDim), k = pool(kKvHeads * kDim), v = pool(kKvHeads * kDim);
  std::vector<Storage> o(static_cast<std::size_t>(64 * kHeads * kDim));

  std::printf("stream: %d layers, window %lld, H %lld, Hkv %lld, D %lld, bf16 cache, %s path, %lld tokens\n", kLayers,
              static_cast<long long>(kWindow), static_cast<long long>(kHeads), static_cast<long long>(kKvHeads),
              static_cast<long long>(kDim), swat::isa_name(layers[0].isa()), static_cast<long long>(tokens));
  std::printf("%10s %12s %18s %14s\n", "tokens", "tokens/s", "cache bytes (all)", "process RSS");
  const int64_t report_every = std::max<int64_t>(tokens / 10, 1);
  auto interval_start = std::chrono::steady_clock::now();
  int64_t interval_tokens = 0;
  double checksum = 0;
  for (int64_t done = 0; done < tokens;) {
    const int64_t t = (done % 10000 == 5000) ? std::min<int64_t>(64, tokens - done) : 1;
    const int64_t at = done % kPool;
    for (auto& cache : layers) {
      cache.step(swat::bshd<const Storage>(q.data() + at * kHeads * kDim, 1, t, kHeads, kDim),
                 swat::bshd<const Storage>(k.data() + at * kKvHeads * kDim, 1, t, kKvHeads, kDim),
                 swat::bshd<const Storage>(v.data() + at * kKvHeads * kDim, 1, t, kKvHeads, kDim),
                 swat::bshd<Storage>(o.data(), 1, t, kHeads, kDim));
      checksum += static_cast<float>(o[0]);
    }
    done += t;
    interval_tokens += t;
    if (done / report_every != (done - t) / report_every || done == tokens) {
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - interval_start).count();
      std::size_t cache_bytes = 0;
      for (const auto& cache : layers) cache_bytes += cache.bytes();
      std::printf("%10lld %12.0f %18zu %11.1f MB\n", static_cast<long long>(done), interval_tokens / seconds,
                  cache_bytes, resident_bytes() / 1e6);
      std::fflush(stdout);
      interval_start = now;
      interval_tokens = 0;
    }
  }
  std::printf("checksum of o[0] over all steps: %.6f (%s)\n", checksum, std::isfinite(checksum) ? "finite" : "NOT FINITE");
  return std::isfinite(checksum) ? 0 : 1;
}
