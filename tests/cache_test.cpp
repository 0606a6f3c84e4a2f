// SlidingKVCache: a sequence fed through step() in chunks of any sizes gives what forward gives
// on the whole sequence, within SPEC 4 of the double reference; for every activation and
// positional option, chunk patterns 1, w-1, w, w+1 and random, windows 1 and 0 (unlimited,
// growing), MHA/GQA/MQA, float, double, bf16 and f16, every SIMD path; the bits do not depend on
// the thread count; memory does not depend on the position.
#include "tester.hpp"

#include <swat/cache.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>

using swat::Activation, swat::Isa, swat::RopeLayout;
using swat_test::AttentionTester, swat_test::kActivations, swat_test::Layout, swat_test::Tensor;

namespace {

// Rows [s, s + t) of a [B, S, H, D] view.
template <class T>
swat::View4<T> rows(const swat::View4<T>& view, int64_t s, int64_t t) {
  swat::View4<T> out = view;
  out.data = view.data + s * view.stride[1];
  out.shape[1] = t;
  return out;
}

// Chunk sizes covering n tokens: a named pattern, the last chunk cut to fit.
std::vector<int64_t> chunks(const std::string& pattern, int64_t n, int64_t window, uint64_t seed = 3) {
  std::vector<int64_t> out;
  std::mt19937_64 rng(seed);
  const int64_t w = std::max<int64_t>(window, 1);
  for (int64_t s = 0, k = 0; s < n; ++k) {
    int64_t t = 1;
    if (pattern == "w-1") t = std::max<int64_t>(w - 1, 1);
    if (pattern == "w") t = w;
    if (pattern == "w+1") t = w + 1;
    if (pattern == "random") t = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * w + 3));
    if (pattern == "mixed") t = k % 3 == 0 ? 2 * w + 1 : 1;  // long prefill chunks between decode steps
    if (pattern == "whole") t = n;
    t = std::min(t, n - s);
    out.push_back(t);
    s += t;
  }
  return out;
}

// Streams the tester's inputs through a cache in the given chunks; o in logical order.
template <class T>
std::vector<T> stream(const AttentionTester& t, const AttentionTester::Inputs<T>& in, const std::vector<int64_t>& sizes,
                      int threads, Isa isa = Isa::automatic, std::size_t* bytes = nullptr) {
  swat::Options opt = t.options();
  opt.threads = threads;
  swat::SlidingKVCache<T> cache(t.batch(), t.kv_heads(), t.dim(), opt, isa);
  Tensor<T> o = swat_test::make_tensor<T>(Layout::bshd, t.batch(), t.q_len(), t.heads(), t.dim(),
                                          swat_test::nan_value<T>());
  int64_t s = 0;
  for (int64_t size : sizes) {
    cache.step(rows(in.q.cview(), s, size), rows(in.k.cview(), s, size), rows(in.v.cview(), s, size),
               rows(o.view, s, size));
    s += size;
    CHECK(cache.position() == s);
  }
  if (bytes) *bytes = cache.bytes();
  return o.logical();
}

template <class T>
void check_streams(AttentionTester t, Isa isa, const std::vector<std::string>& patterns) {
  t.isa(isa);
  const auto in = t.template inputs<T>();
  const std::vector<double> ref = t.template expected<T>(in);
  for (bool products : swat_test::product_settings<T>(isa, swat::Bf16Call::step))
    for (const auto arithmetic : swat_test::pair_arithmetics(isa, products))
      for (const std::string& pattern : patterns) {
        const swat_test::PairArithmeticScope scope(arithmetic);
        t.bf16_products(products);
        const std::vector<int64_t> sizes = chunks(pattern, t.q_len(), t.options().window);
        const swat_test::Comparison c = swat_test::compare(stream<T>(t, in, sizes, 1, isa), ref);
        INFO(t.describe() << " type=" << swat_test::type_name<T>() << " chunks=" << pattern
                          << " pair arithmetic=" << swat_test::arithmetic_name(arithmetic));
        INFO(swat_test::report(c, t.q_len(), t.heads(), t.dim(), "expected"));
        CHECK(c.nonfinite == 0);
        CHECK(c.err <= swat_test::error_bound<T>());
      }
}

// The option sets every stream test goes through.
struct Positional {
  const char* name;
  bool slopes;
  RopeLayout rope;
  int rope_dim;
  float bias;
};
constexpr Positional kPositional[] = {
    {"plain", false, RopeLayout::none, 0, 0.f},
    {"alibi both signs", true, RopeLayout::none, 0, 0.f},
    {"rope half", false, RopeLayout::half, 0, 0.f},
    {"rope interleaved partial", false, RopeLayout::interleaved, 8, 0.f},
    {"bias", false, RopeLayout::none, 0, -1.5f},
    {"alibi + rope + bias", true, RopeLayout::half, 12, -0.5f},
};

AttentionTester stream_case(Activation act, const Positional& pos, int64_t window, int64_t heads, int64_t kv_heads,
                            int64_t dim) {
  AttentionTester t;
  t.batch(2).q_len(37).heads(heads).kv_heads(kv_heads).dim(dim).window(window).activation(act).rope(pos.rope)
      .rope_dim(pos.rope_dim).sigmoid_bias(pos.bias).layout(Layout::padded);
  if (pos.slopes) t.slopes(swat_test::random_slopes(heads, 1.f));
  return t;
}

}  // namespace

TEMPLATE_TEST_CASE("streaming in chunks equals forward for every activation and positional option", "[cache]",
                   float, double, swat::bf16, swat::f16) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (const Positional& pos : kPositional)
      for (int64_t window : {int64_t(1), int64_t(6), int64_t(0)}) {
        const std::vector<std::string> patterns =
            window == 0 ? std::vector<std::string>{"1", "random", "whole"}
                        : std::vector<std::string>{"1", "w-1", "w", "w+1", "random", "mixed"};
        check_streams<TestType>(stream_case(act, pos, window, 4, 2, 16), isa, patterns);
      }
}

// Dims 128 and 136: whole passes of the shared-row p.v (on AVX-512 64 dims a pass with four
// heads per kv head, 128 with two, and four heads as two pairs at D 128) and a tail. In bf16
// where pair products exist, p.v goes in pairs along the keys for dims 64 and 128 with four
// heads per kv head and 128 with two (32 and 64 at 16 emulated lanes), 136 in float.
TEMPLATE_TEST_CASE("streaming shares kv heads like forward (MHA, GQA, MQA) at head dims off the SIMD width",
                   "[cache]", float, swat::bf16) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (auto [heads, kv_heads, dim] :
         {std::tuple<int64_t, int64_t, int64_t>{3, 3, 40}, {8, 2, 33}, {4, 1, 64}, {4, 2, 136}, {4, 2, 128}, {8, 2, 136},
          {8, 2, 128}})
      check_streams<TestType>(stream_case(act, kPositional[5], 9, heads, kv_heads, dim), isa, {"1", "random"});
}

// Windows that fill whole blocks: with four (or two) query heads per kv head the scores of 16
// keys of a block leave per head through the chunk transpose (transpose.hpp) on AVX-512, and with
// the sigmoid a block's p.v runs after the next block's scores. Dim 64 gives blocks of at least
// 16 keys in float and bf16.
TEMPLATE_TEST_CASE("streaming with GQA over windows of whole key blocks matches the reference", "[cache]", float,
                   swat::bf16) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (auto [heads, kv_heads] : {std::pair<int64_t, int64_t>{8, 2}, {4, 2}})
      check_streams<TestType>(stream_case(act, kPositional[5], 45, heads, kv_heads, 64), isa, {"1", "random"});
}

TEMPLATE_TEST_CASE("streaming keeps RoPE and ALiBi accurate near position 2^40", "[cache]", float, swat::bf16) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations) {
    AttentionTester t = stream_case(act, kPositional[5], 11, 4, 2, 32);
    t.k_pos0((int64_t(1) << 40) - 17);
    check_streams<TestType>(t, isa, {"1", "random"});
  }
}

// Windows longer than DecodeRange::split_keys are cut into splits combined in a fixed order.
TEMPLATE_TEST_CASE("streaming over windows longer than one split matches the reference", "[cache-split]", float,
                   swat::bf16) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (int64_t window : {int64_t(600), int64_t(0)}) {
      AttentionTester t;
      t.q_len(700).heads(2).kv_heads(1).dim(8).window(window).activation(act).rope(RopeLayout::half)
          .slopes({0.001f, -0.001f});
      check_streams<TestType>(t, isa, {"mixed"});
    }
}

// bf16 pair products (where the path has them) over several splits. Dim 56 at 16 lanes: 32
// dims of q.k in pairs, a float vector, a scalar tail; four query heads per kv head take the
// shared-row path, one the other.
TEST_CASE("streaming bf16 over several splits at a head dim of pair and float dims matches the reference",
          "[cache-split]") {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (int64_t heads : {4, 2}) {
      AttentionTester t;
      t.q_len(560).heads(heads).kv_heads(heads == 4 ? 1 : 2).dim(56).window(530).activation(act)
          .rope(RopeLayout::half).slopes(swat::balanced_alibi_slopes(static_cast<int>(heads)));
      check_streams<swat::bf16>(t, isa, {"mixed"});
    }
}

TEST_CASE("the bf16 cache multiplies in bf16 pairs exactly where has_bf16_products(isa, step) says", "[cache]") {
  const swat::Isa isa = GENERATE(swat_test::isas());
  AttentionTester t;
  t.q_len(50).heads(8).kv_heads(2).dim(64).window(20).rope(RopeLayout::half).slopes(swat::balanced_alibi_slopes(8))
      .isa(isa);
  const auto in = t.inputs<swat::bf16>();
  const std::vector<int64_t> sizes = chunks("random", t.q_len(), 20);
  const auto on = stream<swat::bf16>(t.bf16_products(true), in, sizes, 1, isa);
  const auto off = stream<swat::bf16>(t.bf16_products(false), in, sizes, 1, isa);
  swat_test::check_products_change_bits(on, off, isa, swat::Bf16Call::step);
}

// Which pair arithmetic a bf16 step takes on the avx512 path (detail::pair_arithmetic_taken: the
// two give the same bits, so the outputs cannot tell): the one it is told to, and by itself the
// FMAs exactly where the instruction does not pay (has_bf16_products(forward) says whether it
// does) and query heads share key rows.
TEST_CASE("a bf16 cache step takes vdpbf16ps where it pays or a head is alone, else the FMA pair products",
          "[cache]") {
  using swat::detail::PairArithmetic;
  const std::vector<Isa> available = swat::available_isas();
  // has_bf16_products throws for a path the CPU lacks: ask only where avx512 runs.
  if (std::find(available.begin(), available.end(), Isa::avx512) == available.end() ||
      !swat::has_bf16_products(Isa::avx512, swat::Bf16Call::step)) {
    WARN("not run: this CPU has no bf16 pair products on the avx512 path");
    return;
  }
  const bool pays = swat::has_bf16_products(Isa::avx512, swat::Bf16Call::forward);
  for (int64_t heads : {2, 4})
    for (PairArithmetic told : {PairArithmetic::automatic, PairArithmetic::instruction, PairArithmetic::fma}) {
      AttentionTester t;
      t.q_len(20).heads(heads).kv_heads(2).dim(64).window(8).isa(Isa::avx512);
      const auto in = t.inputs<swat::bf16>();
      const swat_test::PairArithmeticScope scope(told);
      swat::detail::pair_arithmetic_taken().store(PairArithmetic::automatic);
      stream<swat::bf16>(t, in, {20}, 1, Isa::avx512);
      const PairArithmetic want = told != PairArithmetic::automatic ? told
                                  : !pays && heads == 4          ? PairArithmetic::fma
                                                                 : PairArithmetic::instruction;
      INFO("heads " << heads << " over 2, told " << swat_test::arithmetic_name(told) << ", the instruction pays: " << pays);
      CHECK(swat_test::arithmetic_name(swat::detail::pair_arithmetic_taken().load()) == std::string(swat_test::arithmetic_name(want)));
    }
}

TEMPLATE_TEST_CASE("streaming below the threading threshold gives the same bits whatever threads says, one split "
                   "or several", "[cache-threads]", float, swat::bf16) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (int64_t window : {int64_t(7), int64_t(600)}) {
      AttentionTester t;
      t.batch(2).q_len(window > 100 ? 700 : 60).heads(4).kv_heads(2).dim(16).window(window).activation(act)
          .rope(RopeLayout::half).slopes(swat::balanced_alibi_slopes(4));
      const auto in = t.template inputs<TestType>();
      const std::vector<int64_t> sizes = chunks("mixed", t.q_len(), window);
      INFO(t.describe());
      CHECK(swat_test::same_bits(stream<TestType>(t, in, sizes, 1, isa), stream<TestType>(t, in, sizes, 2, isa)));
    }
}

TEST_CASE("cache memory stays flat with a window and grows without one", "[cache-threads]") {
  AttentionTester t;
  t.q_len(300).heads(2).kv_heads(1).dim(8).window(16);
  const auto in = t.inputs<float>();
  std::size_t short_run = 0, long_run = 0;
  AttentionTester shorter = t;
  shorter.q_len(40);
  const auto in_short = shorter.inputs<float>();
  stream<float>(shorter, in_short, chunks("1", 40, 16), 1, Isa::automatic, &short_run);
  stream<float>(t, in, chunks("1", 300, 16), 1, Isa::automatic, &long_run);
  CHECK(short_run == long_run);
  CHECK(long_run < 16 * 8 * 2 * sizeof(float) + 4096);  // the rings and a few rows of scratch

  t.window(0);
  shorter.window(0);
  stream<float>(shorter, in_short, chunks("1", 40, 0), 1, Isa::automatic, &short_run);
  stream<float>(t, in, chunks("1", 300, 0), 1, Isa::automatic, &long_run);
  CHECK(long_run > short_run + (300 - 64) * 8 * 2 * sizeof(float));  // every position kept
}

// The prompt's keys and values appended in pieces (`pieces`: their lengths), the rest of the
// sequence stepped `chunk` tokens at a time, the stepped outputs against the reference.
namespace {
template <class T>
void check_append_then_step(const AttentionTester& t, swat::Isa isa, const std::vector<int64_t>& pieces,
                            int64_t chunk) {
  const auto in = t.template inputs<T>();
  swat::SlidingKVCache<T> cache(t.batch(), t.kv_heads(), t.dim(), t.options(), isa);
  int64_t prompt = 0;
  for (int64_t piece : pieces) {
    cache.append(rows(in.k.cview(), prompt, piece), rows(in.v.cview(), prompt, piece));
    prompt += piece;
  }
  CHECK(cache.position() == prompt);
  const int64_t rest = t.q_len() - prompt;
  std::vector<T> got(static_cast<std::size_t>(rest * t.heads() * t.dim()));
  for (int64_t s = prompt; s < t.q_len(); s += chunk) {
    const int64_t n = std::min(chunk, t.q_len() - s);
    cache.step(rows(in.q.cview(), s, n), rows(in.k.cview(), s, n), rows(in.v.cview(), s, n),
               swat::bshd(got.data() + (s - prompt) * t.heads() * t.dim(), 1, n, t.heads(), t.dim()));
  }
  // The reference of the stepped rows alone (its queries default to the last positions of the
  // keys): the prompt's rows would be most of the test's time.
  std::vector<double> tail(got.size());
  swat::reference::forward<T, double>(rows(in.q.cview(), prompt, rest), in.k.cview(), in.v.cview(),
                                      swat::bshd(tail.data(), 1, rest, t.heads(), t.dim()), t.options());
  const swat_test::Comparison c = swat_test::compare(got, tail);
  INFO(t.describe() << " type=" << swat_test::type_name<T>());
  INFO(swat_test::report(c, rest, t.heads(), t.dim(), "expected"));
  CHECK(c.nonfinite == 0);
  CHECK(c.err <= swat_test::error_bound<T>());
}
}  // namespace

// append keeps a prompt without attending (its outputs come from elsewhere, e.g. forward);
// the steps after it see exactly what they would have seen after stepping the prompt.
TEMPLATE_TEST_CASE("append then step equals the reference on the stepped positions", "[cache-split]", float,
                   swat::bf16) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (int64_t window : {int64_t(5), int64_t(600), int64_t(0)}) {
      AttentionTester t;
      t.q_len(700).heads(4).kv_heads(2).dim(8).window(window).activation(act).rope(RopeLayout::interleaved)
          .slopes(swat::balanced_alibi_slopes(4)).sigmoid_bias(-1.f).isa(isa);
      check_append_then_step<TestType>(t, isa, {100, 550}, 10);
    }
}

// A task of the step kernel takes a run of consecutive splits (about 16 tasks per thread):
// here 7 kv heads x 5 splits on one thread, 2 splits a task, the third task of each kv head
// with 1. A long prompt appended, then steps whose windows cover it, against the reference.
// The runs do not depend on the activation.
TEMPLATE_TEST_CASE("streaming over tasks of several splits, the last one short, matches the reference",
                   "[cache-split]", float, swat::bf16) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  AttentionTester t;
  t.q_len(2100).heads(7).kv_heads(7).dim(8).window(0).activation(Activation::sigmoid).rope(RopeLayout::half)
      .slopes(swat_test::random_slopes(7, 0.01f)).isa(isa);
  check_append_then_step<TestType>(t, isa, {2090}, 5);
}

// A step runs on several threads only above SlidingKVCache's threshold of 2^20 multiply-adds
// (visible positions x batch x heads x dim): here 4 x 32 x 128 = 2^14 per position, so every step
// that sees 64 or more positions is cut between the threads. Each thread keeps its own decode
// scratch (thread_local); a scratch shared between them garbles the outputs, and ThreadSanitizer
// (scripts/test's tsan stage runs [cache-threads]) reports the race.
TEMPLATE_TEST_CASE("streaming above the threading threshold gives the same bits on 1 and 2 threads",
                   "[cache-threads]", float, swat::bf16) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (int64_t window : {int64_t(70), int64_t(0)}) {  // 70: the rings wrap
    AttentionTester t;
    t.batch(4).q_len(76).heads(32).kv_heads(8).dim(128).window(window).activation(Activation::softmax)
        .rope(RopeLayout::half).slopes(swat::balanced_alibi_slopes(32)).isa(isa);
    REQUIRE(64.0 * t.batch() * t.heads() * t.dim() >= double(1 << 20));
    const auto in = t.template inputs<TestType>();
    // A prefill of 66, then 10 single tokens: every step sees at least 64 positions.
    std::vector<int64_t> sizes{66};
    sizes.resize(11, 1);
    INFO(t.describe());
    CHECK(swat_test::same_bits(stream<TestType>(t, in, sizes, 1, isa), stream<TestType>(t, in, sizes, 2, isa)));
  }
}

// Rings of 4 MiB or more sit on 2 MiB pages with the values 16 KiB past the keys' end
// (detail/ring_layout.hpp, streamed_memory.hpp): 8 x 8 kv groups of D 128 over a window of 128
// (float 8 MiB of rings, bf16 4 MiB; the rings wrap), and unlimited over 70 positions (the rings
// grow from 64 rows, below that size, to 128, above it), against the reference. The layout is
// the same whatever the heads per kv head, so one head per kv head keeps the reference short.
// (RingLayout's own test checks that rings of this size get the gap.)
TEMPLATE_TEST_CASE("streaming with rings large enough for huge pages matches the reference", "[cache-split]", float,
                   swat::bf16) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (int64_t window : {int64_t(128), int64_t(0)}) {
    AttentionTester t;
    t.batch(8).q_len(window == 0 ? 70 : 130).heads(8).kv_heads(8).dim(128).window(window)
        .activation(Activation::sigmoid).rope(RopeLayout::half).slopes(swat::balanced_alibi_slopes(8));
    check_streams<TestType>(t, isa, {"mixed"});
  }
}

// Per-thread state (RoPE tables, scratch) must follow each call's options: caches of different
// types, activations, windows, RoPE bases and dims, stepped in turn on one thread, each match
// their own reference. A table kept across calls that differ only in rope_base, or only in
// rope_dim, shows here.
TEST_CASE("caches stepped in turn on one thread each match their reference", "[cache-threads]") {
  const swat::Isa isa = GENERATE(swat_test::isas());
  struct Stream {
    AttentionTester t;
    std::function<void(int64_t, int64_t)> step;  // rows [s, s + n)
    std::function<void()> check;
  };
  std::vector<Stream> streams;
  auto add = [&](auto type, AttentionTester t) {
    using T = decltype(type);
    t.isa(isa).threads(1);
    auto in = std::make_shared<AttentionTester::Inputs<T>>(t.template inputs<T>());
    auto cache = std::make_shared<swat::SlidingKVCache<T>>(t.batch(), t.kv_heads(), t.dim(), t.options(), isa);
    auto o = std::make_shared<Tensor<T>>(swat_test::make_tensor<T>(Layout::bshd, t.batch(), t.q_len(), t.heads(),
                                                                   t.dim(), swat_test::nan_value<T>()));
    auto step = [in, cache, o](int64_t s, int64_t n) {
      cache->step(rows(in->q.cview(), s, n), rows(in->k.cview(), s, n), rows(in->v.cview(), s, n), rows(o->view, s, n));
    };
    auto check = [t, in, o] {
      const swat_test::Comparison c = swat_test::compare(o->logical(), t.template expected<T>(*in));
      INFO(t.describe() << " type=" << swat_test::type_name<T>());
      INFO(swat_test::report(c, t.q_len(), t.heads(), t.dim(), "expected"));
      CHECK(c.nonfinite == 0);
      CHECK(c.err <= swat_test::error_bound<T>());
    };
    streams.push_back({t, step, check});
  };
  const auto base = [] { return AttentionTester().q_len(24).heads(4).kv_heads(2).dim(16); };
  add(float(), base().window(6).rope(RopeLayout::half).rope_base(10000.f));
  add(float(), base().window(6).rope(RopeLayout::half).rope_base(500.f).activation(Activation::softmax));
  add(float(), base().window(0).rope(RopeLayout::half).rope_dim(8).rope_base(500.f));
  add(swat::bf16(), base().window(3).rope(RopeLayout::interleaved).rope_base(20.f).slopes(swat::balanced_alibi_slopes(4)));
  add(double(), base().window(9).rope(RopeLayout::interleaved).rope_dim(12).rope_base(10000.f)
                    .activation(Activation::softmax));
  add(swat::f16(), base().window(2).sigmoid_bias(-1.f));
  add(float(), base().window(5).rope(RopeLayout::half).rope_base(2.f).dim(24).heads(2).kv_heads(1));
  // Chunks of 1, 2 and 3 tokens, every cache stepped before the next chunk.
  for (int64_t s = 0, n = 1; s < 24; s += n, n = n % 3 + 1)
    for (Stream& stream : streams) stream.step(s, n);
  for (Stream& stream : streams) stream.check();
}
