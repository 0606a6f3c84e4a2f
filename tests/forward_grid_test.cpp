// swat::forward against the double reference over a grid of shapes and options, on every
// SIMD path this machine runs (Highway style), for float and double.
#include "tester.hpp"

#include <cmath>
#include <type_traits>

using swat::Activation;
using swat::Isa;
using swat::RopeLayout;
using swat_test::AttentionTester;
using swat_test::kActivations;
using swat_test::Layout;

namespace {
struct Lengths {
  int64_t q, k, w;
};
}  // namespace

TEST_CASE("available_isas lists the paths this CPU runs, portable last", "[isa]") {
  const std::vector<Isa> isas = swat::available_isas();
  REQUIRE(!isas.empty());
  CHECK(isas.back() == Isa::portable);
  CHECK(swat::best_isa() == isas.front());
  const auto cpu = xsimd::available_architectures();
  auto has = [&](Isa isa) { return std::find(isas.begin(), isas.end(), isa) != isas.end(); };
  // Tests build with baseline flags, so these come from run-time dispatch: every path it
  // compiled (SWAT_DISPATCH_ONLY may leave some out) and this CPU runs must be listed.
#if defined(SWAT_DISPATCH_HAS_AVX2)
  if (cpu.avx2 && cpu.fma3_avx2) CHECK(has(Isa::avx2));
#endif
#if defined(SWAT_DISPATCH_HAS_SSE2)
  if (cpu.sse2) CHECK(has(Isa::sse2));
#endif
#if defined(SWAT_DISPATCH_HAS_AVX512)
  if (cpu.avx512f) CHECK(has(Isa::avx512));
#endif
  CHECK_FALSE(has(Isa::automatic));
}

TEMPLATE_TEST_CASE("forward matches the reference when the sequence is shorter than the window", "[grid][window]",
                   float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations) {
    AttentionTester().q_len(10).heads(4).kv_heads(2).dim(16).window(17).activation(act).isa(isa).test<TestType>();
    AttentionTester().q_len(5).k_len(12).heads(2).dim(40).window(17).activation(act).isa(isa).test<TestType>();
    AttentionTester().q_len(16).heads(8).kv_heads(1).dim(40).window(17).activation(act)
        .slopes(swat::balanced_alibi_slopes(8)).rope(RopeLayout::half).isa(isa).test<TestType>();
  }
}

TEMPLATE_TEST_CASE("forward with window 1 attends to the query's own position only", "[grid][window]", float,
                   double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations) {
    AttentionTester().batch(2).q_len(70).heads(8).kv_heads(2).dim(40).window(1).activation(act).isa(isa)
        .test<TestType>();
    AttentionTester().q_len(70).heads(4).kv_heads(2).dim(40).window(1).activation(act)
        .slopes(swat::balanced_alibi_slopes(4)).rope(RopeLayout::interleaved).sigmoid_bias(-1.5f).isa(isa)
        .test<TestType>();
    // Sq != Sk: the diagonal moves, still one key per row.
    AttentionTester().q_len(9).k_len(70).heads(2).dim(17).window(1).activation(act).isa(isa).test<TestType>();
  }
}

TEMPLATE_TEST_CASE("forward with window 0 is unlimited causal attention", "[grid][window]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations) {
    AttentionTester().q_len(130).heads(4).kv_heads(2).dim(40).window(0).activation(act).isa(isa).test<TestType>();
    AttentionTester().q_len(70).heads(8).kv_heads(2).dim(64).window(0).activation(act)
        .slopes(swat::balanced_alibi_slopes(8)).rope(RopeLayout::half).isa(isa).test<TestType>();
  }
}

TEMPLATE_TEST_CASE("forward with window at least Sk equals unlimited causal attention", "[grid][window]", float,
                   double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (int64_t w : {70, 71, 700}) {
      AttentionTester().q_len(70).heads(4).kv_heads(2).dim(40).window(w).activation(act).isa(isa).test<TestType>();
      AttentionTester().q_len(20).k_len(70).heads(4).dim(40).window(w).activation(act)
          .slopes(swat::alibi_slopes(4)).rope(RopeLayout::half).isa(isa).test<TestType>();
    }
}

TEMPLATE_TEST_CASE("forward with Sq != Sk places the queries at the last positions", "[grid][shape]", float,
                   double) {
  // Sq < Sk (the last rows of a sequence), and Sq > Sk (the first rows see no key).
  const Lengths shapes[] = {{5, 100, 17}, {5, 100, 0}, {100, 5, 0}, {100, 5, 3}, {70, 30, 17}, {30, 200, 64}};
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (const Lengths& s : shapes)
      AttentionTester().q_len(s.q).k_len(s.k).heads(4).kv_heads(2).dim(40).window(s.w).activation(act)
          .slopes(swat::balanced_alibi_slopes(4)).rope(RopeLayout::half).isa(isa).test<TestType>();
}

TEMPLATE_TEST_CASE("forward across several query tiles, short and long windows", "[grid][shape]", float, double) {
  // Tiles of 512 queries (Tiling::query_tile): more than two of them, a last tile cut short,
  // windows within a tile, past it and unlimited, and the keys' RoPE angles tabled or, for a
  // key range past 4 tiles and a key block (64 queries at w 2200 see 2263 keys), streamed block
  // by block.
  const Lengths shapes[] = {{1100, 1100, 512}, {1100, 1100, 513}, {1100, 1100, 0}, {1300, 1400, 700}, {64, 2300, 2200}};
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (const Lengths& s : shapes)
    AttentionTester().q_len(s.q).k_len(s.k).heads(2).kv_heads(1).dim(8).window(s.w)
        .slopes(swat::balanced_alibi_slopes(2)).rope(RopeLayout::half).isa(isa).test<TestType>();
}

TEMPLATE_TEST_CASE("forward with one query row (decode) matches the reference", "[grid][shape]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (int64_t k : {1, 63, 65, 200})
      for (int64_t w : {0, 17, 64})
        AttentionTester().batch(2).q_len(1).k_len(k).heads(8).kv_heads(2).dim(64).window(w).activation(act)
            .slopes(swat::balanced_alibi_slopes(8)).rope(RopeLayout::half).isa(isa).test<TestType>();
}

TEMPLATE_TEST_CASE("forward handles every head dim", "[grid][dim]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations) {
    for (int64_t d : {8, 40, 64, 80, 128, 256})
      AttentionTester().q_len(65).heads(4).kv_heads(2).dim(d).window(17).activation(act)
          .slopes(swat::balanced_alibi_slopes(4)).rope(RopeLayout::half).isa(isa).test<TestType>();
    AttentionTester().q_len(65).heads(4).kv_heads(2).dim(17).window(17).activation(act).isa(isa).test<TestType>();
    // Odd D with an even partial rotation is legal: rope_dim 16 of 17.
    AttentionTester().q_len(65).heads(4).kv_heads(2).dim(17).window(17).activation(act)
        .rope(RopeLayout::interleaved).rope_dim(16).isa(isa).test<TestType>();
  }
}

TEMPLATE_TEST_CASE("forward handles lengths that are not multiples of the SIMD width or the query tile",
                   "[grid][shape]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (int64_t s : {1, 3, 63, 65, 130, 200})
      for (int64_t w : {0, 17, 64})
        AttentionTester().q_len(s).heads(4).kv_heads(1).dim(40).window(w).activation(act)
            .slopes(swat::balanced_alibi_slopes(4)).isa(isa).test<TestType>();
  // The forward kernel's query tile is 512 rows (Tiling::query_tile): lengths either side of one
  // tile (the tiles test above takes more), with windows inside it and across its edge, and
  // unlimited past it.
  for (Activation act : kActivations) {
    for (int64_t s : {511, 512, 513})
      for (int64_t w : {17, 300})
        AttentionTester().q_len(s).heads(2).kv_heads(1).dim(24).window(w).activation(act)
            .slopes({0.01f, -0.02f}).isa(isa).test<TestType>();
    AttentionTester().q_len(513).heads(2).kv_heads(1).dim(24).window(0).activation(act)
        .slopes({0.01f, -0.02f}).isa(isa).test<TestType>();
  }
}

TEMPLATE_TEST_CASE("forward shares kv heads across query heads (MHA, GQA, MQA)", "[grid][heads]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (int64_t kv : {8, 2, 1})
      AttentionTester().batch(2).q_len(70).heads(8).kv_heads(kv).dim(40).window(17).activation(act)
          .slopes(swat::balanced_alibi_slopes(8)).rope(RopeLayout::half).isa(isa).test<TestType>();
}

TEMPLATE_TEST_CASE("forward reads and writes any strided layout", "[grid][layout]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (Layout layout : {Layout::bhsd, Layout::padded, Layout::transposed})
      for (RopeLayout rope : {RopeLayout::none, RopeLayout::half, RopeLayout::interleaved}) {
        AttentionTester().batch(2).q_len(70).heads(8).kv_heads(2).dim(40).window(17).activation(act).rope(rope)
            .slopes(swat::balanced_alibi_slopes(8)).layout(layout).isa(isa).test<TestType>();
        AttentionTester().q_len(5).k_len(67).heads(2).dim(17).window(0).activation(act)
            .rope(rope).rope_dim(rope == RopeLayout::none ? 0 : 10).layout(layout).isa(isa).test<TestType>();
      }
}

TEMPLATE_TEST_CASE("forward stays finite and accurate with slopes of both signs up to magnitude 8",
                   "[grid][slopes]", float, double) {
  const std::vector<std::vector<float>> slope_sets = {
      {8, 8, 8, 8},
      {-8, -8, -8, -8},
      {8, -8, 0.5f, -0.5f},
      {0.f, -3.f, 1e-3f, -1e-3f},
      swat_test::random_slopes(4, 8.f),
      swat_test::random_slopes(4, 1.f, 11),
  };
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (const auto& slopes : slope_sets)
      for (int64_t w : {0, 17}) {
        // Distances up to 129: logits near +-1000, far into saturation.
        AttentionTester().q_len(130).heads(4).kv_heads(2).dim(40).window(w).activation(act).slopes(slopes)
            .isa(isa).test<TestType>();
        AttentionTester().q_len(7).k_len(130).heads(4).kv_heads(1).dim(64).window(w).activation(act)
            .slopes(slopes).rope(RopeLayout::half).sigmoid_bias(-2.f).isa(isa).test<TestType>();
      }
}

TEMPLATE_TEST_CASE("forward with balanced slopes of both schemes matches the reference", "[grid][slopes]", float,
                   double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations) {
    for (swat::SlopeScheme scheme : {swat::SlopeScheme::paper, swat::SlopeScheme::released_code})
      AttentionTester().batch(2).q_len(70).heads(8).kv_heads(2).dim(40).window(33).activation(act)
          .slopes(swat::balanced_alibi_slopes(8, scheme)).rope(RopeLayout::half).isa(isa).test<TestType>();
    // Odd H, paper scheme: 3 recency heads and 2 history heads.
    AttentionTester().q_len(70).heads(5).kv_heads(1).dim(40).window(33).activation(act)
        .slopes(swat::balanced_alibi_slopes(5)).isa(isa).test<TestType>();
  }
}

TEMPLATE_TEST_CASE("forward adds the sigmoid bias to every logit", "[grid][bias]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (float beta : {-std::log(17.f), 2.5f}) {
      // Without slopes (offset-only bias) and with them.
      AttentionTester().q_len(70).heads(4).kv_heads(2).dim(40).window(17).activation(act).sigmoid_bias(beta)
          .isa(isa).test<TestType>();
      AttentionTester().q_len(70).heads(4).kv_heads(2).dim(40).window(17).activation(act).sigmoid_bias(beta)
          .slopes(swat::balanced_alibi_slopes(4)).rope(RopeLayout::half).isa(isa).test<TestType>();
    }
}

TEMPLATE_TEST_CASE("forward uses an explicit scale instead of 1/sqrt(D)", "[grid][scale]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (float scale : {0.3f, 1.7f, -0.5f})
      AttentionTester().q_len(70).heads(4).kv_heads(2).dim(40).window(17).activation(act).scale(scale)
          .slopes(swat::balanced_alibi_slopes(4)).rope(RopeLayout::interleaved).isa(isa).test<TestType>();
}

TEMPLATE_TEST_CASE("forward rotates q and k with RoPE of either pairing, partial rope_dim and any base",
                   "[grid][rope]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (RopeLayout rope : {RopeLayout::half, RopeLayout::interleaved})
      for (int rope_dim : {0, 16})
        for (float base : {10000.f, 500.f, 1e6f})
          AttentionTester().q_len(70).heads(4).kv_heads(2).dim(64).window(33).activation(act).rope(rope)
              .rope_dim(rope_dim).rope_base(base).isa(isa).test<TestType>();
}

namespace {

template <class T>
void test_large_positions(Isa isa, int64_t k_pos0, RopeLayout rope, std::vector<float> slopes) {
  for (Activation act : kActivations)
    for (int64_t w : {0, 17}) {
      // Queries at the last positions (default q_pos0).
      AttentionTester().q_len(70).heads(4).kv_heads(2).dim(64).window(w).activation(act).k_pos0(k_pos0)
          .slopes(slopes).rope(rope).isa(isa).test<T>();
      // Explicit q_pos0 a little after the keys, and before them (early rows see nothing).
      for (int64_t shift : {3, -20})
        AttentionTester().q_len(40).k_len(70).heads(4).kv_heads(2).dim(64).window(w).activation(act)
            .k_pos0(k_pos0).q_pos0(k_pos0 + 30 + shift).slopes(slopes).rope(rope).isa(isa).test<T>();
    }
}

constexpr int64_t kBeyond31 = (int64_t(1) << 31) + 5;

}  // namespace

TEMPLATE_TEST_CASE("forward is accurate at large absolute positions", "[grid][positions]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (RopeLayout rope : {RopeLayout::half, RopeLayout::interleaved}) {
    test_large_positions<TestType>(isa, 1000000, rope, swat::balanced_alibi_slopes(4));
    // Beyond 2^31 in double: see the [large-rope] case below.
    if (std::is_same<TestType, float>::value) test_large_positions<TestType>(isa, kBeyond31, rope, swat::balanced_alibi_slopes(4));
  }
  // Without RoPE only integer distances matter, which stay exact at any position.
  test_large_positions<TestType>(isa, kBeyond31, RopeLayout::none, swat::balanced_alibi_slopes(4));
}

TEST_CASE("forward in double keeps RoPE within 1e-12 beyond position 2^31", "[grid][large-rope]") {
  const swat::Isa isa = GENERATE(swat_test::isas());
  // SPEC 4 puts no limit on positions. Angles near 2^31 rad need about 84 bits to give
  // cos/sin to 1e-16, so the kernel and the reference must agree on how they get them.
  for (RopeLayout rope : {RopeLayout::half, RopeLayout::interleaved})
    test_large_positions<double>(isa, kBeyond31, rope, swat::balanced_alibi_slopes(4));
}

TEMPLATE_TEST_CASE("forward is accurate with queries far after the keys (unlimited window)", "[grid][positions]",
                   float, double) {
  // Every key is ~1e6 positions back. Sigmoid saturates cleanly for any slope; softmax only
  // with small slopes here (large ones: see the case below).
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (const std::vector<float>& slopes : {std::vector<float>{}, std::vector<float>{1e-6f, -1e-6f, 2e-6f, 0.f},
                                           swat::balanced_alibi_slopes(4)})
    AttentionTester().q_len(20).k_len(70).heads(4).kv_heads(2).dim(40).window(0).q_pos0(1000000).slopes(slopes)
        .rope(RopeLayout::half).isa(isa).test<TestType>();
  for (const std::vector<float>& slopes : {std::vector<float>{}, std::vector<float>{1e-6f, -1e-6f, 2e-6f, 0.f}})
    AttentionTester().q_len(20).k_len(70).heads(4).kv_heads(2).dim(40).window(0).activation(Activation::softmax)
        .q_pos0(1000000).slopes(slopes).rope(RopeLayout::half).isa(isa).test<TestType>();
}

// Softmax with ALiBi when every visible key is ~1e6 positions back: the logits -m * 1e6 would
// carry rounding of ~0.03 in float if formed from the true distance, although softmax only
// needs their differences; the kernels count each row's distances from its reference key
// (ReferenceKey, score/bias.hpp) instead.
TEMPLATE_TEST_CASE("softmax with ALiBi keeps its precision when every visible key is far back", "[grid][positions]",
                   float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  AttentionTester().q_len(20).k_len(70).heads(4).kv_heads(2).dim(40).window(0).activation(Activation::softmax)
      .q_pos0(1000000).slopes(swat::balanced_alibi_slopes(4)).isa(isa).test<TestType>();
}

// Softmax with steep positive slopes over a long window: logits fall by m per position back,
// to about -4100 at the window's far edge (m 2), and only their differences within a row
// count. Counted from the row's reference key (its last visible key here) they stay exact
// where they matter; counted from a point a query tile away (up to 512 + 2047 positions back,
// logits past -4096, where float's spacing is 2^-11) they would be rounded by up to 2.4e-4 and
// the output would miss the bound several times over (an earlier forward that did so gave
// 1.7e-4 at w 8192, m 0.5).
TEST_CASE("softmax with steep positive slopes keeps float precision over a long window", "[grid][slopes]") {
  const swat::Isa isa = GENERATE(swat_test::isas());
  AttentionTester().q_len(2100).heads(2).dim(16).window(2048).activation(Activation::softmax).slopes({2.f, 0.5f})
      .isa(isa).test<float>();
}

// Found by the fuzzer: queries ~2^35 (float) or ~2^55 (double) positions after the keys, with a
// window that ends inside the key range. Distances that large are not exact in T, so the
// window edge must be measured from the window itself, not from the query.
TEMPLATE_TEST_CASE("forward places the window edge exactly when window and distances are huge", "[grid][positions]",
                   float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (int64_t far : {int64_t(47429913350), (int64_t(1) << 55) + 3})
    for (Activation act : kActivations)
      for (const std::vector<float>& slopes : {std::vector<float>{}, swat::balanced_alibi_slopes(4)}) {
        if (act == Activation::sigmoid && !slopes.empty()) continue;  // weights ~0 that far back
        // Query i sees key j iff i - j < 28: the edge cuts through every key block.
        AttentionTester().q_len(33).k_len(33).heads(4).kv_heads(1).dim(25).window(far + 28).q_pos0(far)
            .activation(act).slopes(slopes).isa(isa).test<TestType>();
      }
}

TEMPLATE_TEST_CASE("forward handles batches of 1 and 3", "[grid][batch]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (int64_t b : {1, 3})
      AttentionTester().batch(b).q_len(65).k_len(90).heads(6).kv_heads(3).dim(40).window(20).activation(act)
          .slopes(swat_test::random_slopes(6, 2.f)).rope(RopeLayout::half).sigmoid_bias(-1.f)
          .layout(Layout::padded).isa(isa).test<TestType>();
}
