// The oracle proven: swat::reference::backward (SPEC section 3, written by hand) against central
// finite differences of swat::reference::forward, in double, for L = sum(dout * o). Every
// option that enters the gradient is covered: RoPE of both pairings (dq, dk rotated back),
// ALiBi of both signs (and dslopes), the sigmoid offset, both activations, window edges, GQA.
#include "tester.hpp"

#include <functional>

using swat::Activation;
using swat::RopeLayout;
using swat_test::AttentionTester;
using swat_test::kActivations;

namespace {

struct Case {
  AttentionTester t;
  const char* name;
};

// L(q, k, v, slopes) = sum over o of dout * o, o from the double reference.
double loss(const AttentionTester& t, const std::vector<double>& q, const std::vector<double>& k,
            const std::vector<double>& v, const std::vector<float>& slopes, const std::vector<double>& dout) {
  const int64_t B = t.batch(), Sq = t.q_len(), Sk = t.k_len(), H = t.heads(), Hkv = t.kv_heads(), D = t.dim();
  swat::Options opt = t.options();
  opt.alibi_slopes = slopes;
  std::vector<double> o(dout.size());
  swat::reference::forward<double, double>(swat::bshd(q.data(), B, Sq, H, D), swat::bshd(k.data(), B, Sk, Hkv, D),
                                           swat::bshd(v.data(), B, Sk, Hkv, D), swat::bshd(o.data(), B, Sq, H, D), opt);
  double total = 0.0;
  for (std::size_t n = 0; n < o.size(); ++n) total += dout[n] * o[n];
  return total;
}

// Central difference of L along every element of x, step h.
template <class X>
std::vector<double> numeric_gradient(const std::function<double()>& f, std::vector<X>& x, X h) {
  std::vector<double> g(x.size());
  for (std::size_t n = 0; n < x.size(); ++n) {
    const X keep = x[n];
    x[n] = keep + h;
    const double up = f();
    x[n] = keep - h;
    const double down = f();
    x[n] = keep;
    g[n] = (up - down) / (2.0 * static_cast<double>(h));
  }
  return g;
}

void check_close(const std::vector<double>& analytic, const std::vector<double>& numeric, double bound,
                 const std::string& what) {
  const swat_test::Comparison c = swat_test::compare(analytic, numeric);
  INFO(what << ": err=" << c.err << " at flat index " << c.worst << " analytic=" << c.got << " numeric=" << c.expected);
  CHECK(c.err <= bound);
}

void check_reference_gradients(const AttentionTester& t) {
  const int64_t B = t.batch(), Sq = t.q_len(), Sk = t.k_len(), H = t.heads(), Hkv = t.kv_heads(), D = t.dim();
  const auto in = t.inputs<double>();
  std::vector<double> q = in.q.logical(), k = in.k.logical(), v = in.v.logical();
  std::vector<double> dout(q.size());
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> dist(-1, 1);
  for (double& x : dout) x = dist(rng);
  std::vector<float> slopes = t.options().alibi_slopes;

  std::vector<double> o(q.size()), dq(q.size()), dk(k.size()), dv(v.size()), dslopes(static_cast<std::size_t>(H), 0.25);
  swat::reference::forward<double, double>(swat::bshd(q.data(), B, Sq, H, D), swat::bshd(k.data(), B, Sk, Hkv, D),
                                           swat::bshd(v.data(), B, Sk, Hkv, D), swat::bshd(o.data(), B, Sq, H, D),
                                           t.options());
  swat::reference::backward<double, double>(
      swat::bshd(q.data(), B, Sq, H, D), swat::bshd(k.data(), B, Sk, Hkv, D), swat::bshd(v.data(), B, Sk, Hkv, D),
      swat::bshd(o.data(), B, Sq, H, D), swat::bshd(dout.data(), B, Sq, H, D), swat::bshd(dq.data(), B, Sq, H, D),
      swat::bshd(dk.data(), B, Sk, Hkv, D), swat::bshd(dv.data(), B, Sk, Hkv, D), t.options(), dslopes.data());

  INFO(t.describe());
  const auto f = [&] { return loss(t, q, k, v, slopes, dout); };
  // Step 1e-5: truncation ~h^2 = 1e-10, rounding ~1e-16 / h = 1e-11.
  check_close(dq, numeric_gradient(f, q, 1e-5), 1e-8, "dq");
  check_close(dk, numeric_gradient(f, k, 1e-5), 1e-8, "dk");
  check_close(dv, numeric_gradient(f, v, 1e-5), 1e-8, "dv");
  if (!slopes.empty()) {
    // Slopes are floats: steps of 2^-12 are exact, so only truncation (~h^2) remains.
    std::vector<double> numeric = numeric_gradient(f, slopes, 1.f / 4096);
    for (double& x : numeric) x += 0.25;  // dslopes was accumulated onto 0.25
    check_close(dslopes, numeric, 1e-6, "dslopes");
  }
}

}  // namespace

TEST_CASE("reference gradients match central finite differences", "[reference-gradients]") {
  for (Activation act : kActivations) {
    const auto base = [&] { return AttentionTester().heads(2).kv_heads(1).dim(6).activation(act); };
    check_reference_gradients(base().q_len(7).window(3));
    check_reference_gradients(base().q_len(7).window(3).slopes({0.5f, -0.75f}).rope(RopeLayout::half));
    check_reference_gradients(base().q_len(6).window(0).slopes({1.25f, -0.5f}).rope(RopeLayout::interleaved)
                                  .sigmoid_bias(-1.5f));
    // Window edge at 1 and past the sequence, Sq != Sk, partial RoPE, explicit scale.
    check_reference_gradients(base().q_len(5).window(1).slopes({-2.f, 2.f}).rope(RopeLayout::half));
    check_reference_gradients(base().q_len(4).k_len(8).window(5).slopes({0.25f, -0.25f}).rope(RopeLayout::half)
                                  .rope_dim(4).scale(0.7f).k_pos0(9));
    check_reference_gradients(base().q_len(8).k_len(5).window(9).slopes({0.125f, 0.5f}).rope(RopeLayout::interleaved)
                                  .q_pos0(2));
    check_reference_gradients(AttentionTester().heads(4).kv_heads(2).dim(4).q_len(6).window(2).activation(act)
                                  .slopes({0.5f, -0.5f, 1.f, -1.f}).batch(2));
  }
}
