// Properties of the forward pass that do not go through swat::reference: a dense Eigen
// formulation, invariance to shifting all positions, and softmax rows summing to one.
#include "tester.hpp"

#include <Eigen/Dense>

using swat::Activation;
using swat::Isa;
using swat::RopeLayout;
using swat_test::AttentionTester;
using swat_test::kActivations;
using swat_test::Layout;

namespace {

// Row-major [rows, D] matrix of one (batch, head) slice of a tensor, in double.
template <class T>
Eigen::MatrixXd slice(const swat_test::Tensor<T>& t, int64_t b, int64_t h) {
  Eigen::MatrixXd m(t.view.shape[1], t.view.shape[3]);
  for (int64_t s = 0; s < m.rows(); ++s)
    for (int64_t d = 0; d < m.cols(); ++d) m(s, d) = static_cast<double>(t.at(b, s, h, d));
  return m;
}

}  // namespace

TEMPLATE_TEST_CASE("sigmoid forward with window >= Sk equals dense causal sigmoid attention from Eigen products",
                   "[property][eigen]", float, double) {
  struct Shape {
    int64_t q, k, heads, kv_heads, dim, window;
  };
  const Shape shapes[] = {{70, 70, 8, 2, 40, 0}, {70, 70, 4, 4, 64, 70}, {20, 130, 4, 1, 17, 500}, {65, 65, 2, 1, 128, 0}};
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (const Shape& s : shapes) {
    AttentionTester t;
    t.batch(2).q_len(s.q).k_len(s.k).heads(s.heads).kv_heads(s.kv_heads).dim(s.dim).window(s.window).isa(isa);
    const auto in = t.inputs<TestType>();
    const std::vector<TestType> got = t.output_for(in);
    const double scale = 1.0 / std::sqrt(static_cast<double>(s.dim));
    const int64_t group = s.heads / s.kv_heads, shift = s.k - s.q;  // query i sits at position i + shift
    std::vector<double> dense(got.size());
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t h = 0; h < s.heads; ++h) {
        const Eigen::MatrixXd Q = slice(in.q, b, h), K = slice(in.k, b, h / group), V = slice(in.v, b, h / group);
        const Eigen::MatrixXd S = Q * K.transpose() * scale;
        Eigen::MatrixXd P = (1.0 + (-S.array()).exp()).inverse().matrix();
        for (int64_t i = 0; i < s.q; ++i)
          for (int64_t j = 0; j < s.k; ++j)
            if (j > i + shift) P(i, j) = 0.0;  // causal mask
        const Eigen::MatrixXd O = P * V;
        for (int64_t i = 0; i < s.q; ++i)
          for (int64_t d = 0; d < s.dim; ++d) dense[((b * s.q + i) * s.heads + h) * s.dim + d] = O(i, d);
      }
    const swat_test::Comparison c = swat_test::compare(got, dense);
    INFO(t.describe() << " type=" << swat_test::type_name<TestType>());
    INFO(swat_test::report(c, s.q, s.heads, s.dim, "dense"));
    CHECK(c.nonfinite == 0);
    CHECK(c.err <= swat_test::error_bound<TestType>());
  }
}

TEMPLATE_TEST_CASE("shifting every position by a constant leaves ALiBi and RoPE outputs unchanged",
                   "[property][positions]", float, double) {
  const int64_t offset = 12345;
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (Activation act : kActivations)
    for (RopeLayout rope : {RopeLayout::half, RopeLayout::interleaved})
      for (bool explicit_q : {false, true}) {
        AttentionTester t;
        t.batch(2).q_len(40).k_len(90).heads(8).kv_heads(2).dim(64).window(33).activation(act)
            .slopes(swat::balanced_alibi_slopes(8)).rope(rope).sigmoid_bias(-1.f).isa(isa);
        const auto in = t.inputs<TestType>();
        if (explicit_q) t.q_pos0(45);  // rows past the last key, some rows out of the window
        const std::vector<TestType> base = t.k_pos0(0).output_for(in);
        if (explicit_q) t.q_pos0(45 + offset);
        const std::vector<TestType> shifted = t.k_pos0(offset).output_for(in);
        const swat_test::Comparison c = swat_test::compare(shifted, base);
        INFO(t.describe() << " type=" << swat_test::type_name<TestType>() << " (compared with positions - "
                          << offset << ")");
        INFO(swat_test::report(c, 40, 8, 64, "unshifted"));
        CHECK(c.nonfinite == 0);
        CHECK(c.err <= swat_test::error_bound<TestType>());
      }
}

TEMPLATE_TEST_CASE("softmax rows with a visible key sum to one, rows without one are zero", "[property][softmax]",
                   float, double) {
  struct Case {
    int64_t q, k, window, k_pos0;
    std::optional<int64_t> q_pos0;
  };
  const Case cases[] = {
      {20, 30, 5, 10, int64_t(0)},    // rows 0..9 sit before every key
      {40, 25, 0, 0, std::nullopt},   // Sq > Sk: the first 15 rows sit before every key
      {70, 70, 17, 0, std::nullopt},  // self-attention: every row sees itself
      {30, 50, 8, 0, int64_t(45)},    // rows past position 56 have left the window of the last key
  };
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (const Case& c : cases)
    for (Layout layout : {Layout::bshd, Layout::transposed}) {
      AttentionTester t;
      t.batch(2).q_len(c.q).k_len(c.k).heads(4).kv_heads(2).dim(40).window(c.window).k_pos0(c.k_pos0)
          .q_pos0(c.q_pos0).activation(Activation::softmax).slopes(swat_test::random_slopes(4, 8.f))
          .rope(RopeLayout::half).constant_values(1.0).layout(layout).isa(isa);
      const std::vector<TestType> o = t.output<TestType>();
      const int64_t q_pos0 = c.q_pos0 ? *c.q_pos0 : c.k_pos0 + c.k - c.q;
      int64_t empty_rows = 0, bad = 0;
      std::string first_bad;
      for (int64_t b = 0; b < 2; ++b)
        for (int64_t i = 0; i < c.q; ++i) {
          bool sees = false;
          for (int64_t j = 0; j < c.k; ++j) {
            const int64_t distance = q_pos0 + i - (c.k_pos0 + j);
            sees = sees || (distance >= 0 && (c.window == 0 || distance < c.window));
          }
          empty_rows += !sees;
          for (int64_t h = 0; h < 4; ++h)
            for (int64_t d = 0; d < 40; ++d) {
              const double x = static_cast<double>(o[((b * c.q + i) * 4 + h) * 40 + d]);
              const bool ok = sees ? std::fabs(x - 1.0) <= swat_test::error_bound<TestType>() : x == 0.0;
              if (!ok && bad++ == 0) {
                std::ostringstream m;
                m.precision(17);
                m << "b=" << b << " i=" << i << " h=" << h << " d=" << d << " sees a key=" << sees << " got=" << x;
                first_bad = m.str();
              }
            }
        }
      INFO(t.describe() << " type=" << swat_test::type_name<TestType>());
      INFO("wrong elements: " << bad << ", first: " << first_bad);
      CHECK(bad == 0);
      // The cases were chosen so that the property is exercised both ways where intended.
      if (c.q_pos0 || c.k < c.q) CHECK(empty_rows > 0);
    }
}
