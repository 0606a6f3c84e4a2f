// Determinism: every task writes its own output rows, so the bits must not depend on the
// thread count, and a repeated call must give the same bits.
#include "tester.hpp"

#include <swat/detail/forward_kernel.hpp>

#include <algorithm>
#include <atomic>
#include <thread>

using swat::Activation;
using swat::Isa;
using swat::RopeLayout;
using swat_test::AttentionTester;
using swat_test::kActivations;
using swat_test::Layout;
using swat_test::Tensor;
using swat_test::make_tensor;

// The order in which the threads of a call take forward's tiles: a permutation for any task
// and thread count, stripes dealt out in turn.
TEST_CASE("stripe_order deals every task out once, a stripe apart", "[threads]") {
  using swat::detail::stripe_order;
  for (int64_t threads = 1; threads <= 6; ++threads)
    for (int64_t all = 0; all <= 40; ++all) {
      std::vector<int64_t> seen;
      for (int64_t k = 0; k < all; ++k) seen.push_back(stripe_order(k, all, threads));
      std::sort(seen.begin(), seen.end());
      for (int64_t k = 0; k < all; ++k) {
        INFO("all " << all << ", threads " << threads << ", position " << k);
        REQUIRE(seen[static_cast<std::size_t>(k)] == k);
        if (threads == 1) CHECK(stripe_order(k, all, threads) == k);
      }
    }
  // By hand: 10 tasks, 2 threads: stripes [0, 5) and [5, 10) in turn.
  const std::vector<int64_t> two = {0, 5, 1, 6, 2, 7, 3, 8, 4, 9};
  // 7 tasks, 3 threads: stripes [0, 3), [3, 5), [5, 7); the longer first stripe ends the order.
  const std::vector<int64_t> three = {0, 3, 5, 1, 4, 6, 2};
  for (int64_t k = 0; k < 10; ++k) CHECK(stripe_order(k, 10, 2) == two[static_cast<std::size_t>(k)]);
  for (int64_t k = 0; k < 7; ++k) CHECK(stripe_order(k, 7, 3) == three[static_cast<std::size_t>(k)]);
}

TEMPLATE_TEST_CASE("forward gives bit-identical outputs for 1, 2 and 3 threads", "[threads]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (Layout layout : {Layout::bshd, Layout::transposed}) {
      // 2 batches x 2 kv heads x 4 query tiles: more tasks than threads.
      AttentionTester t;
      t.batch(2).q_len(200).heads(8).kv_heads(2).dim(40).window(17).activation(act)
          .slopes(swat::balanced_alibi_slopes(8)).rope(RopeLayout::half).sigmoid_bias(-1.f).layout(layout)
          .isa(isa);
      const auto in = t.inputs<TestType>();
      const std::vector<TestType> one = t.threads(1).output_for(in);
      for (int threads : {2, 3, 0}) {
        INFO(t.threads(threads).describe());
        CHECK(swat_test::same_bits(one, t.threads(threads).output_for(in)));
      }
    }
}

TEMPLATE_TEST_CASE("forward gives bit-identical outputs on repeated calls", "[threads]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (int threads : {1, 2}) {
      AttentionTester t;
      t.batch(2).q_len(130).k_len(150).heads(4).kv_heads(2).dim(64).window(33).activation(act)
          .slopes(swat::balanced_alibi_slopes(4)).rope(RopeLayout::interleaved).threads(threads).isa(isa);
      const auto in = t.inputs<TestType>();
      const std::vector<TestType> first = t.output_for(in);
      // A differently shaped call in between reshapes the per-thread scratch.
      AttentionTester().q_len(300).heads(2).dim(256).window(0).activation(act).rope(RopeLayout::half)
          .threads(threads).isa(isa).output<TestType>();
      INFO(t.describe());
      CHECK(swat_test::same_bits(first, t.output_for(in)));
      CHECK(swat_test::same_bits(first, t.output_for(in)));
    }
}

TEMPLATE_TEST_CASE("forward gives the same bits when called from several threads at once", "[threads]", float,
                   double) {
  // One caller owns the worker pool, the others fall back to running alone: same bits either way.
  const swat::Isa isa = GENERATE(swat_test::isas());
  AttentionTester t;
  t.batch(2).q_len(130).heads(8).kv_heads(2).dim(40).window(17).slopes(swat::balanced_alibi_slopes(8))
      .rope(RopeLayout::half).isa(isa);
  const auto in = t.inputs<TestType>();
  const std::vector<TestType> expected = t.threads(1).output_for(in);
  t.threads(2);
  // Catch2 assertions are not thread-safe: count mismatches, check after the join.
  std::atomic<int> mismatches{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c)
    callers.emplace_back([&] {
      for (int repeat = 0; repeat < 4; ++repeat) {
        Tensor<TestType> o = make_tensor<TestType>(Layout::bshd, 2, 130, 8, 40, TestType(0));
        swat::forward<TestType>(in.q.cview(), in.k.cview(), in.v.cview(), o.view, t.options(), isa);
        if (!swat_test::same_bits(expected, o.memory)) ++mismatches;
      }
    });
  for (auto& caller : callers) caller.join();
  INFO(t.describe() << " from 3 threads at once, 4 calls each");
  CHECK(mismatches == 0);
}
