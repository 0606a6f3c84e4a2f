// swat::backward against the double reference's gradients over the forward edge-case grid, on
// every SIMD path this machine runs, for float and double. Each case checks dq, dk, dv (and
// dslopes where slopes are set) within the SPEC section 4 backward bound.
#include "backward_tester.hpp"

using swat::Activation;
using swat::Isa;
using swat::RopeLayout;
using swat_test::AttentionTester;
using swat_test::BackwardTester;
using swat_test::kActivations;
using swat_test::Layout;

namespace {

// Runs `make` on one path (each test case GENERATEs it) with both activations, checking dslopes when the
// case has slopes.
template <class T, class Make>
void for_every_path(Isa isa, Make make) {
  for (Activation act : kActivations) {
    AttentionTester t = make(AttentionTester().isa(isa).activation(act));
    const std::size_t heads = t.options().alibi_slopes.empty() ? 0 : static_cast<std::size_t>(t.heads());
    BackwardTester(t).dslopes_start(std::vector<float>(heads, 0.5f)).template test<T>();
  }
}

}  // namespace

TEMPLATE_TEST_CASE("backward matches the reference at the window's edges", "[backward][bwd-window]", float, double) {
  const Isa isa = GENERATE(swat_test::isas());
  for (int64_t w : {1, 17, 0, 70, 700})
    for_every_path<TestType>(isa, [&](AttentionTester t) {
      return t.q_len(70).heads(4).kv_heads(2).dim(40).window(w).slopes(swat::balanced_alibi_slopes(4))
          .rope(RopeLayout::half);
    });
  // The sequence shorter than the window.
  for_every_path<TestType>(isa, [](AttentionTester t) { return t.q_len(10).heads(2).dim(16).window(17); });
}

TEMPLATE_TEST_CASE("backward handles Sq != Sk, one query row and lengths off the tiles", "[backward][bwd-shape]",
                   float, double) {
  const Isa isa = GENERATE(swat_test::isas());
  struct Lengths {
    int64_t q, k, w;
  };
  for (const Lengths& s : {Lengths{5, 100, 17}, Lengths{100, 5, 0}, Lengths{70, 30, 17}, Lengths{1, 200, 64},
                           Lengths{1, 1, 0}, Lengths{130, 130, 33}, Lengths{3, 3, 2}})
    for_every_path<TestType>(isa, [&](AttentionTester t) {
      return t.q_len(s.q).k_len(s.k).heads(4).kv_heads(2).dim(24).window(s.w).slopes(swat::balanced_alibi_slopes(4))
          .rope(RopeLayout::interleaved).sigmoid_bias(-1.f);
    });
}

TEMPLATE_TEST_CASE("backward handles every head dim", "[backward][bwd-dim]", float, double) {
  const Isa isa = GENERATE(swat_test::isas());
  for (int64_t d : {8, 40, 64, 80, 128, 256})
    for_every_path<TestType>(isa, [&](AttentionTester t) {
      return t.q_len(40).heads(2).kv_heads(1).dim(d).window(17).slopes({0.5f, -0.5f}).rope(RopeLayout::half);
    });
  for_every_path<TestType>(isa, [](AttentionTester t) { return t.q_len(40).heads(2).dim(17).window(17); });
}

TEMPLATE_TEST_CASE("backward sums dk and dv over the query heads of a group (MHA, GQA, MQA)", "[backward][bwd-heads]",
                   float, double) {
  const Isa isa = GENERATE(swat_test::isas());
  for (int64_t kv : {8, 2, 1})
    for_every_path<TestType>(isa, [&](AttentionTester t) {
      return t.batch(2).q_len(40).heads(8).kv_heads(kv).dim(16).window(9).slopes(swat::balanced_alibi_slopes(8))
          .rope(RopeLayout::half);
    });
}

TEMPLATE_TEST_CASE("backward reads and writes any strided layout", "[backward][bwd-layout]", float, double) {
  const Isa isa = GENERATE(swat_test::isas());
  for (Layout layout : {Layout::bhsd, Layout::padded, Layout::transposed})
    for_every_path<TestType>(isa, [&](AttentionTester t) {
      return t.batch(2).q_len(33).k_len(40).heads(4).kv_heads(2).dim(20).window(12).layout(layout)
          .slopes(swat::balanced_alibi_slopes(4)).rope(RopeLayout::interleaved).rope_dim(8);
    });
}

TEMPLATE_TEST_CASE("backward stays accurate with slopes of both signs up to magnitude 8, bias and scale",
                   "[backward][bwd-slopes]", float, double) {
  const Isa isa = GENERATE(swat_test::isas());
  for (const std::vector<float>& slopes :
       {std::vector<float>{8, -8, 0.5f, -0.5f}, swat_test::random_slopes(4, 8.f), std::vector<float>{0, 0, 0, 0}})
    for (int64_t w : {0, 17})
      for_every_path<TestType>(isa, [&](AttentionTester t) {
        return t.q_len(70).heads(4).kv_heads(2).dim(32).window(w).slopes(slopes).sigmoid_bias(-2.f).scale(0.3f)
            .rope(RopeLayout::half).rope_base(500.f);
      });
}

TEMPLATE_TEST_CASE("backward is accurate at large absolute positions", "[backward][bwd-positions]", float, double) {
  const Isa isa = GENERATE(swat_test::isas());
  for (int64_t k_pos0 : {int64_t(1000000), (int64_t(1) << 31) + 5}) {
    for_every_path<TestType>(isa, [&](AttentionTester t) {
      return t.q_len(40).k_len(50).heads(4).kv_heads(2).dim(32).window(17).k_pos0(k_pos0)
          .slopes(swat::balanced_alibi_slopes(4));
    });
    // Queries far after the keys, unlimited window: every key ~k_pos0 positions back.
    for_every_path<TestType>(isa, [&](AttentionTester t) {
      return t.q_len(20).k_len(50).heads(4).kv_heads(2).dim(32).window(0).q_pos0(k_pos0)
          .slopes(t.options().activation == Activation::softmax ? swat::balanced_alibi_slopes(4)
                                                                  : std::vector<float>{1e-6f, -1e-6f, 0.f, 2e-6f});
    });
  }
  // RoPE at positions past 10^6 (double keeps 1e-12 there, see the forward grid).
  for_every_path<TestType>(isa, [](AttentionTester t) {
    return t.q_len(30).heads(2).kv_heads(1).dim(32).window(9).k_pos0(1000000).rope(RopeLayout::half);
  });
}

TEMPLATE_TEST_CASE("backward spans several query tiles, key tiles and row chunks", "[backward][bwd-tiles]", float,
                   double) {
  const Isa isa = GENERATE(swat_test::isas());
  // Key tiles of 256 and 512 (odd ones between two even ones: the fused sigmoid pass adds their
  // share of dq to rows the even tiles on both sides stored), query tiles of 1024 and row chunks
  // meeting at their edges, with windows that cut across them; the queries the last ones of a
  // longer key sequence.
  static_assert(swat::detail::backward_key_tile(70) * 4 < 1130, "five key tiles");
  static_assert(swat::detail::backward_key_tile(300) * 2 < 1130, "three key tiles");
  for (int64_t w : {70, 300})
    for_every_path<TestType>(isa, [&](AttentionTester t) {
      return t.q_len(1100).k_len(1130).heads(2).kv_heads(1).dim(8).window(w)
          .slopes({0.25f, -0.125f}).rope(RopeLayout::half).sigmoid_bias(-1.f);
    });
  // The first key tile's 600 query rows are too many for the key pass's angle
  // table: a cursor streams them per head across its row chunks (the second tile's 88 rows
  // take the table). The sigmoid alone: softmax's key pass takes the same branches, and the
  // case would be a third of this test's time.
  static_assert(600 > swat::detail::backward_tabled_query_rows, "streamed angles");
  static_assert(88 <= swat::detail::backward_tabled_query_rows, "tabled angles");
  static_assert(swat::detail::backward_key_tile(300) == 512, "two key tiles");
  BackwardTester(AttentionTester().isa(isa).q_len(600).heads(1).kv_heads(1).dim(64).window(300).slopes({-0.5f})
                     .rope(RopeLayout::half))
      .dslopes_start({0.5f})
      .template test<TestType>();
  // Windows at the fused pass's limit (the largest tile + 1: the row at the second tile's first
  // key sees both tiles to their far ends) and one past it (sigmoid in two passes); 40 rows
  // around it. The query pass (softmax; the sigmoid past the limit) sees all tile + 20 keys,
  // more than it keeps angles for in a table, and streams them a key block at a time.
  const int64_t tile = swat::detail::backward_key_tile_max;
  static_assert(swat::detail::backward_key_tile_max + 20 > swat::detail::backward_tabled_pass_keys,
                "streamed key angles");
  for (int64_t w : {tile + 1, tile + 2})
    for_every_path<TestType>(isa, [&](AttentionTester t) {
      return t.q_len(40).k_len(tile + 20).heads(2).kv_heads(1).dim(8).window(w).slopes({0.5f, -0.25f})
          .rope(RopeLayout::half);
    });
}
