// Determinism of backward: each task writes its own rows and slope partials are summed in task
// order, so gradients must not depend on the thread count and repeated calls give the same bits.
#include "backward_tester.hpp"

using swat::Activation;
using swat::Isa;
using swat::RopeLayout;
using swat_test::AttentionTester;
using swat_test::BackwardTester;
using swat_test::Gradients;
using swat_test::kActivations;
using swat_test::Layout;

namespace {

template <class T>
bool same(const Gradients<T>& a, const Gradients<T>& b) {
  return swat_test::same_bits(a.dq, b.dq) && swat_test::same_bits(a.dk, b.dk) && swat_test::same_bits(a.dv, b.dv) &&
         swat_test::same_bits(a.dslopes, b.dslopes);
}

}  // namespace

TEMPLATE_TEST_CASE("backward gives bit-identical gradients for 1, 2 and 3 threads and on repeated calls",
                   "[backward][bwd-threads]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations) {
    // 2 batches x 2 kv heads x 3 key tiles: more tasks than threads in each pass, and rows whose
    // dq sums two key tiles' shares. Tile edges are covered by the grid's [bwd-tiles] case.
    AttentionTester t;
    t.batch(2).q_len(2 * swat::detail::backward_key_tile(40) + 100).heads(4).kv_heads(2).dim(8).window(40).activation(act)
        .slopes(swat::balanced_alibi_slopes(4)).rope(RopeLayout::half).sigmoid_bias(-1.f).isa(isa);
    BackwardTester bt(t);
    bt.dslopes_start({1, 2, 3, 4}).random_output(true);
    const auto in = bt.inputs<TestType>(Layout::bshd);
    bt.attention().threads(1);
    const Gradients<TestType> one = bt.gradients(in, Layout::bshd);
    for (int threads : {2, 3, 1}) {
      bt.attention().threads(threads);
      INFO(bt.attention().describe());
      CHECK(same(one, bt.gradients(in, Layout::bshd)));
    }
  }
}
