// SlidingKVCache as a new user meets it: query heads fixed at construction, messages that say
// what to do (q_pos0, swapped q and k), the memory kept after a long prompt bounded by the
// rings plus the scratch of one max_step_rows piece, and steady decoding free of allocations,
// as the README states.
#include <catch2/catch.hpp>

#include "tester.hpp"

#include <swat/reference.hpp>
#include <swat/swat.hpp>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

// Every operator new of this executable, counted while `counting` is set (on any thread).
namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void* allocate(std::size_t bytes, std::size_t alignment) {
  if (counting.load()) allocations.fetch_add(1);
  if (bytes == 0) bytes = 1;
  void* p = alignment > alignof(std::max_align_t)
                ? std::aligned_alloc(alignment, (bytes + alignment - 1) / alignment * alignment)
                : std::malloc(bytes);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
// Out of line: inlined into a delete, GCC takes free() on memory from operator new for a
// mismatch (-Wmismatched-new-delete), not knowing that new comes from malloc here.
[[gnu::noinline]] void deallocate(void* p) noexcept { std::free(p); }
}  // namespace

void* operator new(std::size_t bytes) { return allocate(bytes, 0); }
void* operator new[](std::size_t bytes) { return allocate(bytes, 0); }
void* operator new(std::size_t bytes, std::align_val_t a) { return allocate(bytes, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t bytes, std::align_val_t a) { return allocate(bytes, static_cast<std::size_t>(a)); }
// The nothrow forms too: their defaults (a sanitizer's, say) would hand out memory that the
// deletes below could not free.
void* operator new(std::size_t bytes, const std::nothrow_t&) noexcept {
  try {
    return allocate(bytes, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t bytes, const std::nothrow_t& tag) noexcept { return operator new(bytes, tag); }
void* operator new(std::size_t bytes, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return allocate(bytes, static_cast<std::size_t>(a));
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t bytes, std::align_val_t a, const std::nothrow_t& tag) noexcept {
  return operator new(bytes, a, tag);
}
void operator delete(void* p) noexcept { deallocate(p); }
void operator delete[](void* p) noexcept { deallocate(p); }
void operator delete(void* p, std::size_t) noexcept { deallocate(p); }
void operator delete[](void* p, std::size_t) noexcept { deallocate(p); }
void operator delete(void* p, std::align_val_t) noexcept { deallocate(p); }
void operator delete[](void* p, std::align_val_t) noexcept { deallocate(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { deallocate(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { deallocate(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { deallocate(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { deallocate(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { deallocate(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { deallocate(p); }

using swat::Options;
using swat::SlidingKVCache;

namespace {

using swat_test::error_of;

bool contains(const std::string& message, const std::string& part) { return message.find(part) != std::string::npos; }

std::vector<float> random_vector(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(static_cast<std::size_t>(n));
  for (float& e : x) e = normal(rng);
  return x;
}

// What the README promises a cache holds after any prompt: its rings, the scratch of one
// piece of max_step_rows positions (new keys and values; partial sums when the window is
// longer than one 512-position split), the object and its copy of the slopes.
template <class T>
std::size_t promised_bytes(const SlidingKVCache<T>& cache, int64_t B, int64_t H, int64_t Hkv, int64_t D, int64_t window,
                           std::size_t slopes) {
  const int64_t rows = 16;  // the README's number, not the code's constant
  const int64_t splits = (window + rows + 511) / 512;
  std::size_t bytes = sizeof(cache) + slopes * sizeof(float);
  bytes += static_cast<std::size_t>(2 * B * Hkv * window * D) * sizeof(T);  // rings
  bytes += static_cast<std::size_t>(2 * B * Hkv * rows * D) * sizeof(T);    // new keys and values
  if (splits > 1) bytes += static_cast<std::size_t>(B * H * rows * splits * (D + 2)) * sizeof(float);
  return bytes;
}

}  // namespace

TEST_CASE("a cache told its query heads refuses a step of other heads from the first step", "[cache-usability]") {
  Options opt;
  opt.window = 16;
  SlidingKVCache<float> cache(1, 8, 2, 4, opt);
  CHECK(cache.heads() == 8);
  std::vector<float> q(4 * 4), k(2 * 4, 1.f), v(2 * 4, 1.f), o(4 * 4, -7.f);
  const std::string message =
      error_of([&] { cache.step(swat::bshd(q, 1, 1, 4, 4), swat::bshd(k, 1, 1, 2, 4), swat::bshd(v, 1, 1, 2, 4),
                                swat::bshd(o, 1, 1, 4, 4)); });
  INFO(message);
  CHECK(contains(message, "q.shape[2] (heads): expected 8 (the cache's heads), got 4"));
  CHECK(cache.position() == 0);
  CHECK(o == std::vector<float>(4 * 4, -7.f));

  // The right heads work, and agree with a cache that learnt them from its first step.
  std::vector<float> q8 = random_vector(8 * 4, 5), o8(8 * 4), o8_late(8 * 4);
  SlidingKVCache<float> late(1, 2, 4, opt);
  cache.step(swat::bshd(q8, 1, 1, 8, 4), swat::bshd(k, 1, 1, 2, 4), swat::bshd(v, 1, 1, 2, 4), swat::bshd(o8, 1, 1, 8, 4));
  late.step(swat::bshd(q8, 1, 1, 8, 4), swat::bshd(k, 1, 1, 2, 4), swat::bshd(v, 1, 1, 2, 4),
            swat::bshd(o8_late, 1, 1, 8, 4));
  CHECK(o8 == o8_late);
  CHECK(late.heads() == 8);

  CHECK(contains(error_of([&] { SlidingKVCache<float>(1, 3, 2, 4, opt); }),
                 "heads: expected a positive multiple of kv_heads = 2, got 3"));
  CHECK(contains(error_of([&] { SlidingKVCache<float>(1, 0, 2, 4, opt); }), "heads: expected"));
  Options sloped = opt;
  sloped.alibi_slopes = swat::balanced_alibi_slopes(4);
  CHECK(contains(error_of([&] { SlidingKVCache<float>(1, 8, 2, 4, sloped); }),
                 "heads: expected 4 (the number of options.alibi_slopes), got 8"));
  CHECK(SlidingKVCache<float>(1, 4, 2, 4, sloped).heads() == 4);
  // The other checks still come first: kv_heads 0 is named, not divided by.
  CHECK(contains(error_of([&] { SlidingKVCache<float>(1, 8, 0, 4, opt); }), "kv_heads: expected >= 1"));
}

TEST_CASE("the cache's messages say how to resume a stream and when q and k look swapped", "[cache-usability]") {
  Options opt;
  opt.window = 16;
  Options resumed = opt;
  resumed.q_pos0 = 600;
  const std::string q_pos0 = error_of([&] { SlidingKVCache<float>(1, 2, 4, resumed); });
  INFO(q_pos0);
  CHECK(contains(q_pos0, "options.q_pos0: expected none"));
  CHECK(contains(q_pos0, "set options.k_pos0 = p"));
  CHECK(contains(q_pos0, "got 600"));

  // q [1,1,8,4] and k, v [1,1,2,4], passed as q = k and k = q.
  std::vector<float> q(8 * 4, 0.5f), k(2 * 4, 1.f), v8(8 * 4, 1.f), o(2 * 4, -7.f);
  for (bool heads_known : {true, false}) {
    SlidingKVCache<float> cache = heads_known ? SlidingKVCache<float>(1, 8, 2, 4, opt) : SlidingKVCache<float>(1, 2, 4, opt);
    const std::string swapped =
        error_of([&] { cache.step(swat::bshd(k, 1, 1, 2, 4), swat::bshd(q, 1, 1, 8, 4), swat::bshd(v8, 1, 1, 8, 4),
                                  swat::bshd(o, 1, 1, 2, 4)); });
    INFO("heads known: " << heads_known << ", message: " << swapped);
    CHECK(contains(swapped, heads_known ? "q.shape[2] (heads): expected 8" : "k.shape[2] (heads): expected 2"));
    CHECK(contains(swapped, "k has 8 heads, q 2: are q and k swapped?"));
    CHECK(cache.position() == 0);
  }
  // A plain mismatch gets no such hint.
  SlidingKVCache<float> cache(1, 8, 2, 4, opt);
  std::vector<float> q4(4 * 4), o4(4 * 4);
  const std::string plain = error_of([&] {
    cache.step(swat::bshd(q4, 1, 1, 4, 4), swat::bshd(k, 1, 1, 2, 4), swat::bshd(k, 1, 1, 2, 4), swat::bshd(o4, 1, 1, 4, 4));
  });
  CHECK(contains(plain, "q.shape[2] (heads)"));
  CHECK(!contains(plain, "swapped"));
}

TEST_CASE("after a 32k-token append the cache holds its rings plus one piece of scratch", "[cache-usability]") {
  const int64_t B = 1, H = 8, Hkv = 2, D = 64, window = 256, prompt = 32768;
  Options opt;
  opt.window = window;
  opt.activation = swat::Activation::softmax;
  opt.rope = swat::RopeLayout::half;
  SlidingKVCache<float> cache(B, H, Hkv, D, opt);
  const std::vector<float> k = random_vector(B * prompt * Hkv * D, 1), v = random_vector(B * prompt * Hkv * D, 2);
  cache.append(swat::bshd(k, B, prompt, Hkv, D), swat::bshd(v, B, prompt, Hkv, D));
  const std::size_t after_prompt = cache.bytes();
  const std::size_t promised = promised_bytes(cache, B, H, Hkv, D, window, 0);
  INFO("bytes after the prompt " << after_prompt << ", promised at most " << promised);
  CHECK(after_prompt <= promised);
  // (Keeping the prompt's scratch, as the cache once did, would be 2 * 32768 * 2 * 64 * 4 = 33.5 MB.)

  // Decoding after it allocates nothing, and sees the prompt's last window: checked against
  // the reference over the window of the last token.
  const std::vector<float> q = random_vector(B * H * D, 3), k1 = random_vector(B * Hkv * D, 4),
                           v1 = random_vector(B * Hkv * D, 5);
  std::vector<float> o(q.size());
  for (int step = 0; step < 5; ++step) {
    cache.step(swat::bshd(q, B, 1, H, D), swat::bshd(k1, B, 1, Hkv, D), swat::bshd(v1, B, 1, Hkv, D),
               swat::bshd(o, B, 1, H, D));
    CHECK(cache.bytes() == after_prompt);
  }
  // The last query sees the prompt's last window - 5 positions and the 5 steps' keys.
  const int64_t n = window;
  std::vector<float> kw(static_cast<std::size_t>(n * Hkv * D)), vw(kw.size()), qw(static_cast<std::size_t>(n * H * D));
  const int64_t from_prompt = n - 5;
  std::copy(k.end() - from_prompt * Hkv * D, k.end(), kw.begin());
  std::copy(v.end() - from_prompt * Hkv * D, v.end(), vw.begin());
  for (int64_t i = from_prompt; i < n; ++i) {
    std::copy(k1.begin(), k1.end(), kw.begin() + i * Hkv * D);
    std::copy(v1.begin(), v1.end(), vw.begin() + i * Hkv * D);
  }
  std::copy(q.begin(), q.end(), qw.end() - H * D);
  Options last = opt;
  last.k_pos0 = prompt + 5 - n;
  std::vector<double> ref(qw.size());
  swat::reference::forward(swat::bshd(qw, B, n, H, D), swat::bshd(kw, B, n, Hkv, D), swat::bshd(vw, B, n, Hkv, D),
                           swat::bshd(ref, B, n, H, D), last);
  double err = 0, scale = 1;
  for (int64_t i = 0; i < H * D; ++i) {
    const double r = ref[static_cast<std::size_t>((n - 1) * H * D + i)];
    err = std::max(err, std::abs(o[static_cast<std::size_t>(i)] - r));
    scale = std::max(scale, std::abs(r));
  }
  CHECK(err / scale <= 2e-5);
}

TEST_CASE("after a long step over a window of several splits the cache keeps one piece of scratch",
          "[cache-usability]") {
  const int64_t B = 1, H = 4, Hkv = 2, D = 16, window = 1100, prompt = 3000;
  Options opt;
  opt.window = window;
  opt.alibi_slopes = swat::balanced_alibi_slopes(H);
  SlidingKVCache<float> cache(B, Hkv, D, opt);
  const std::vector<float> q = random_vector(B * prompt * H * D, 1), k = random_vector(B * prompt * Hkv * D, 2),
                           v = random_vector(B * prompt * Hkv * D, 3);
  std::vector<float> o(q.size());
  cache.step(swat::bshd(q, B, prompt, H, D), swat::bshd(k, B, prompt, Hkv, D), swat::bshd(v, B, prompt, Hkv, D),
             swat::bshd(o, B, prompt, H, D));
  const std::size_t after_prompt = cache.bytes();
  const std::size_t promised = promised_bytes(cache, B, H, Hkv, D, window, opt.alibi_slopes.size());
  INFO("bytes after the prompt " << after_prompt << ", promised at most " << promised);
  CHECK(after_prompt <= promised);
  for (int step = 0; step < 3; ++step) {
    cache.step(swat::bshd(q.data(), B, 1, H, D), swat::bshd(k.data(), B, 1, Hkv, D), swat::bshd(v.data(), B, 1, Hkv, D),
               swat::bshd(o.data(), B, 1, H, D));
    CHECK(cache.bytes() == after_prompt);
  }
}

// "Steady decoding allocates nothing": once a step as long as the longest to come has run, steps
// call no operator new (the checks of a good call included), on one thread and on two, with a
// window of one split and of several (partial sums), sigmoid and softmax with sinks.
TEST_CASE("steady decoding steps allocate nothing", "[cache-usability]") {
  const int64_t B = 2, H = 4, Hkv = 2, D = 32, prompt = 600;
  for (int threads : {1, 2})
    for (int64_t window : {256, 1500})
      for (swat::Activation act : {swat::Activation::sigmoid, swat::Activation::softmax}) {
        INFO("threads " << threads << ", window " << window << ", "
                        << (act == swat::Activation::sigmoid ? "sigmoid" : "softmax with sinks"));
        Options opt;
        opt.window = window;
        opt.activation = act;
        opt.rope = swat::RopeLayout::half;
        opt.alibi_slopes = swat::balanced_alibi_slopes(H);
        if (act == swat::Activation::softmax) opt.sinks = std::vector<float>(H, 0.5f);
        opt.threads = threads;
        SlidingKVCache<float> cache(B, H, Hkv, D, opt);
        const std::vector<float> k = random_vector(B * prompt * Hkv * D, 1), v = random_vector(B * prompt * Hkv * D, 2);
        cache.append(swat::bshd(k, B, prompt, Hkv, D), swat::bshd(v, B, prompt, Hkv, D));
        const int64_t longest = SlidingKVCache<float>::max_step_rows;
        const std::vector<float> q = random_vector(B * longest * H * D, 3), kn = random_vector(B * longest * Hkv * D, 4),
                                 vn = random_vector(B * longest * Hkv * D, 5);
        std::vector<float> o(q.size());
        const auto step = [&](int64_t rows) {
          cache.step(swat::bshd(q.data(), B, rows, H, D), swat::bshd(kn.data(), B, rows, Hkv, D),
                     swat::bshd(vn.data(), B, rows, Hkv, D), swat::bshd(o.data(), B, rows, H, D));
        };
        step(longest);  // the scratch of the longest piece, and the thread pool's workers
        step(1);
        allocations = 0;
        counting = true;
        for (int64_t rows : {int64_t(1), int64_t(1), int64_t(3), int64_t(1), longest, int64_t(1)}) step(rows);
        counting = false;
        CHECK(allocations.load() == 0);
      }
}
