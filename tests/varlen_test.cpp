// Packed variable-length batches: forward_varlen and backward_varlen give exactly what separate
// calls per sequence give (bit for bit), so windows and positions restart at every sequence
// and nothing crosses a boundary; those separate calls match the reference; bad offsets throw.
#include "backward_tester.hpp"

using swat::Activation;
using swat::Isa;
using swat::RopeLayout;
using swat_test::kActivations;
using swat_test::Layout;
using swat_test::Tensor;
using swat_test::make_tensor;

namespace {

constexpr int64_t kHeads = 4, kKvHeads = 2, kDim = 24;
template <class T>
constexpr double kBackward = swat_test::error_bound<T>(swat_test::Operation::backward);

// Shorter than the window (5, 1), empty (0), longer than the window (40, 19).
const std::vector<int64_t> kLengths = {5, 1, 40, 0, 19};

std::vector<int64_t> offsets(const std::vector<int64_t>& lengths) {
  std::vector<int64_t> cu = {0};
  for (int64_t n : lengths) cu.push_back(cu.back() + n);
  return cu;
}

template <class T>
Tensor<T> random(int64_t S, int64_t H, uint64_t seed, Layout layout = Layout::bshd) {
  Tensor<T> t = make_tensor<T>(layout, 1, S, H, kDim, swat_test::nan_value<T>());
  std::mt19937_64 rng(seed);
  swat_test::fill_uniform(t, rng);
  return t;
}

template <class T>
swat::View4<T> rows(swat::View4<T> view, int64_t first, int64_t count) {
  view.data += first * view.stride[1];
  view.shape[1] = count;
  return view;
}

template <class T>
void check_against_separate_calls(Activation act, Isa isa, int threads) {
  const std::vector<int64_t> cu = offsets(kLengths);
  const int64_t S = cu.back();
  swat::Options opt;
  opt.window = 8;
  opt.activation = act;
  opt.alibi_slopes = swat::balanced_alibi_slopes(kHeads);
  opt.rope = RopeLayout::half;
  opt.sigmoid_bias = -1.f;
  opt.k_pos0 = 3;
  opt.threads = threads;
  const Tensor<T> q = random<T>(S, kHeads, 1, Layout::padded), k = random<T>(S, kKvHeads, 2), v = random<T>(S, kKvHeads, 3);
  const Tensor<T> dout = random<T>(S, kHeads, 4);
  Tensor<T> o = make_tensor<T>(Layout::bshd, 1, S, kHeads, kDim, T(0));
  swat::forward_varlen<T>(q.cview(), k.cview(), v.cview(), o.view, cu, opt, isa);
  Tensor<T> dq = make_tensor<T>(Layout::bhsd, 1, S, kHeads, kDim, T(0));
  Tensor<T> dk = make_tensor<T>(Layout::bshd, 1, S, kKvHeads, kDim, T(0)), dv = dk;
  dv.view.data = dv.memory.data();
  std::vector<float> dslopes(kHeads, 1.f);
  swat::backward_varlen<T>(q.cview(), k.cview(), v.cview(), o.cview(), dout.cview(), dq.view, dk.view, dv.view, cu, opt,
                           dslopes.data(), nullptr, isa);

  std::vector<double> expected_dslopes(kHeads, 1.0);
  std::vector<float> separate_dslopes(kHeads, 1.f);
  for (std::size_t s = 0; s + 1 < cu.size(); ++s) {
    const int64_t first = cu[s], n = cu[s + 1] - first;
    if (n == 0) continue;
    INFO("type=" << swat_test::type_name<T>() << " isa=" << swat::isa_name(isa) << " activation="
                 << swat_test::activation_name(act) << " threads=" << threads << " sequence " << s << " rows [" << first
                 << ", " << first + n << ")");
    // The same sequence alone, in fresh contiguous buffers.
    std::vector<T> o1(n * kHeads * kDim), dq1(o1.size()), dk1(n * kKvHeads * kDim), dv1(dk1.size());
    const auto qs = rows(q.cview(), first, n), ks = rows(k.cview(), first, n), vs = rows(v.cview(), first, n);
    swat::forward<T>(qs, ks, vs, swat::bshd(o1.data(), 1, n, kHeads, kDim), opt, isa);
    swat::backward<T>(qs, ks, vs, rows(o.cview(), first, n), rows(dout.cview(), first, n),
                      swat::bshd(dq1.data(), 1, n, kHeads, kDim), swat::bshd(dk1.data(), 1, n, kKvHeads, kDim),
                      swat::bshd(dv1.data(), 1, n, kKvHeads, kDim), opt, separate_dslopes.data(), nullptr, isa);
    const auto same_rows = [&](const Tensor<T>& packed, const std::vector<T>& alone, int64_t heads) {
      std::vector<T> got;
      packed.for_each([&](int64_t, int64_t i, int64_t, int64_t, T x) {
        if (i >= first && i < first + n) got.push_back(x);
      });
      (void)heads;
      return swat_test::same_bits(got, alone);
    };
    CHECK(same_rows(o, o1, kHeads));
    CHECK(same_rows(dq, dq1, kHeads));
    CHECK(same_rows(dk, dk1, kKvHeads));
    CHECK(same_rows(dv, dv1, kKvHeads));
    // And the sequence alone is what the reference says, positions starting at k_pos0.
    std::vector<double> ro(o1.size()), rdq(o1.size()), rdk(dk1.size()), rdv(dk1.size());
    swat::reference::forward<T, double>(qs, ks, vs, swat::bshd(ro.data(), 1, n, kHeads, kDim), opt);
    swat::reference::backward<T, double>(qs, ks, vs, rows(o.cview(), first, n), rows(dout.cview(), first, n),
                                         swat::bshd(rdq.data(), 1, n, kHeads, kDim),
                                         swat::bshd(rdk.data(), 1, n, kKvHeads, kDim),
                                         swat::bshd(rdv.data(), 1, n, kKvHeads, kDim), opt, expected_dslopes.data());
    CHECK(swat_test::compare(o1, ro).err <= swat_test::error_bound<T>());
    CHECK(swat_test::compare(dq1, rdq).err <= kBackward<T>);
    CHECK(swat_test::compare(dk1, rdk).err <= kBackward<T>);
    CHECK(swat_test::compare(dv1, rdv).err <= kBackward<T>);
  }
  CHECK(swat_test::same_bits(dslopes, separate_dslopes));
  CHECK(swat_test::compare(dslopes, expected_dslopes).err <= kBackward<float>);
}

}  // namespace

TEMPLATE_TEST_CASE("varlen forward and backward equal separate calls per sequence", "[varlen]", float, double) {
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (int threads : {1, 2}) check_against_separate_calls<TestType>(act, isa, threads);
}

// The varlen calls run sequences of up to detail::varlen_short_rows rows one thread each,
// several at once, when there are two or more per thread; longer ones (513, 600) on every
// thread in turn. backward_varlen's dslopes and dsinks still add up sequence by sequence.
TEST_CASE("varlen with short and long sequences on 2 threads equals separate calls", "[varlen]") {
  static_assert(swat::detail::varlen_short_rows == 512, "the lengths below straddle the limit");
  const std::vector<int64_t> cu = offsets({600, 3, 0, 513, 512, 7, 1, 30, 2, 511});
  const int64_t S = cu.back();
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations) {
    swat::Options opt;
    opt.window = 8;
    opt.activation = act;
    opt.alibi_slopes = swat::balanced_alibi_slopes(kHeads);
    opt.rope = RopeLayout::half;
    if (act == Activation::softmax) opt.sinks = {0.5f, -1.f, 2.f, 0.f};
    opt.threads = 2;
    const Tensor<float> q = random<float>(S, kHeads, 5), k = random<float>(S, kKvHeads, 6), v = random<float>(S, kKvHeads, 7);
    const Tensor<float> dout = random<float>(S, kHeads, 8);
    std::vector<float> o(S * kHeads * kDim, 0.f), dq(o.size(), 0.f), dk(S * kKvHeads * kDim, 0.f), dv(dk.size(), 0.f);
    swat::forward_varlen<float>(q.cview(), k.cview(), v.cview(), swat::bshd(o.data(), 1, S, kHeads, kDim), cu, opt, isa);
    const auto o_view = swat::bshd<const float>(o.data(), 1, S, kHeads, kDim);
    // Start from values that an addition in another order would round differently.
    std::vector<float> dslopes = {1e-3f, -2.5f, 1e4f, -0.f}, dsinks = {3.f, -1e-4f, 0.f, 7e3f};
    std::vector<float> separate_dslopes = dslopes, separate_dsinks = dsinks;
    swat::backward_varlen<float>(q.cview(), k.cview(), v.cview(), o_view, dout.cview(),
                                 swat::bshd(dq.data(), 1, S, kHeads, kDim), swat::bshd(dk.data(), 1, S, kKvHeads, kDim),
                                 swat::bshd(dv.data(), 1, S, kKvHeads, kDim), cu, opt, dslopes.data(), dsinks.data(), isa);
    for (std::size_t s = 0; s + 1 < cu.size(); ++s) {
      const int64_t first = cu[s], n = cu[s + 1] - first;
      if (n == 0) continue;
      INFO("isa=" << swat::isa_name(isa) << " activation=" << swat_test::activation_name(act) << " sequence " << s
                  << " rows [" << first << ", " << first + n << ")");
      const auto qs = rows(q.cview(), first, n), ks = rows(k.cview(), first, n), vs = rows(v.cview(), first, n);
      std::vector<float> alone(n * kHeads * kDim), dq1(alone.size()), dk1(n * kKvHeads * kDim), dv1(dk1.size());
      swat::forward<float>(qs, ks, vs, swat::bshd(alone.data(), 1, n, kHeads, kDim), opt, isa);
      swat::backward<float>(qs, ks, vs, rows(o_view, first, n), rows(dout.cview(), first, n),
                            swat::bshd(dq1.data(), 1, n, kHeads, kDim), swat::bshd(dk1.data(), 1, n, kKvHeads, kDim),
                            swat::bshd(dv1.data(), 1, n, kKvHeads, kDim), opt, separate_dslopes.data(),
                            separate_dsinks.data(), isa);
      const auto packed = [&](const std::vector<float>& all, int64_t heads) {
        return std::vector<float>(all.begin() + first * heads * kDim, all.begin() + (first + n) * heads * kDim);
      };
      // (A sequence alone matches the reference: the test above, and the kernels' own grids.)
      CHECK(swat_test::same_bits(packed(o, kHeads), alone));
      CHECK(swat_test::same_bits(packed(dq, kHeads), dq1));
      CHECK(swat_test::same_bits(packed(dk, kKvHeads), dk1));
      CHECK(swat_test::same_bits(packed(dv, kKvHeads), dv1));
    }
    INFO("isa=" << swat::isa_name(isa) << " activation=" << swat_test::activation_name(act));
    CHECK(swat_test::same_bits(dslopes, separate_dslopes));
    CHECK(swat_test::same_bits(dsinks, separate_dsinks));
  }
}

TEST_CASE("varlen rejects bad cu_seqlens and shapes, writing nothing", "[varlen]") {
  const int64_t S = 10;
  std::vector<float> q(S * 2 * 8, 0.5f), k(S * 8, 0.25f), o(q.size(), 7.f), dq(q.size(), 7.f), dk(k.size(), 7.f),
      dv(k.size(), 7.f);
  const auto call = [&](const std::vector<int64_t>& cu, int64_t batch, int64_t k_len, swat::Options opt) {
    swat::forward_varlen<float>(swat::bshd<const float>(q.data(), batch, S / batch, 2, 8),
                                swat::bshd<const float>(k.data(), batch, k_len / batch, 1, 8),
                                swat::bshd<const float>(k.data(), batch, k_len / batch, 1, 8),
                                swat::bshd(o.data(), batch, S / batch, 2, 8), cu, opt);
  };
  const auto call_backward = [&](const std::vector<int64_t>& cu) {
    swat::backward_varlen<float>(swat::bshd<const float>(q.data(), 1, S, 2, 8), swat::bshd<const float>(k.data(), 1, S, 1, 8),
                                 swat::bshd<const float>(k.data(), 1, S, 1, 8), swat::bshd<const float>(q.data(), 1, S, 2, 8),
                                 swat::bshd<const float>(q.data(), 1, S, 2, 8), swat::bshd(dq.data(), 1, S, 2, 8),
                                 swat::bshd(dk.data(), 1, S, 1, 8), swat::bshd(dv.data(), 1, S, 1, 8), cu, swat::Options());
  };
  const auto expect = [&](const std::function<void()>& f, const std::string& argument) {
    INFO("expected an error naming " << argument);
    try {
      f();
      FAIL("no error");
    } catch (const swat::Error& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains(argument) && Catch::Contains("expected") && Catch::Contains("got"));
    }
    for (const auto* out : {&o, &dq, &dk, &dv}) CHECK(*out == std::vector<float>(out->size(), 7.f));
  };
  expect([&] { call({1, 4, 10}, 1, S, {}); }, "cu_seqlens[0]");
  expect([&] { call({}, 1, S, {}); }, "cu_seqlens[0]");
  expect([&] { call({0, 6, 4, 10}, 1, S, {}); }, "cu_seqlens[2]");
  expect([&] { call({0, 4, 9}, 1, S, {}); }, "cu_seqlens[2]");
  expect([&] { call({0, 4, 11}, 1, S, {}); }, "cu_seqlens[2]");
  expect([&] { call({0, 5}, 2, S, {}); }, "batch");
  expect([&] { call({0, 10}, 1, 8, {}); }, "k.shape[1]");
  swat::Options with_q_pos0;
  with_q_pos0.q_pos0 = 0;
  expect([&] { call({0, 10}, 1, S, with_q_pos0); }, "q_pos0");
  expect([&] { call_backward({0, 3, 2, 10}); }, "cu_seqlens[2]");
  expect([&] { call_backward({0, 3}); }, "cu_seqlens[1]");
}
