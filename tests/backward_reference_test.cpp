// The oracle proven. swat::reference::backward (SPEC sections 3 and 8, written by hand) against
// central finite differences of swat::reference::forward, in double, for L = sum(dout * o). Every
// option that enters the gradient is covered: RoPE of both pairings and frequency tables (dq, dk
// rotated back), ALiBi of both signs (and dslopes), the sigmoid offset, soft-capping, sinks (and
// dsinks), both activations, window edges, GQA. Then swat::reference::forward against values
// worked out by hand from the formulas: rotated vectors, a capped logit, a row with a sink.
#include "tester.hpp"

#include <functional>

using swat::Activation;
using swat::RopeLayout;
using swat_test::AttentionTester;
using swat_test::kActivations;

namespace {

// SPEC section 8's options, added to a tester's.
struct Modifiers {
  float softcap = 0.f;
  std::vector<float> sinks, rope_freqs;

  swat::Options apply(swat::Options opt) const {
    opt.softcap = softcap;
    opt.sinks = sinks;
    opt.rope_freqs = rope_freqs;
    return opt;
  }
};

// L(q, k, v, slopes, sinks) = sum over o of dout * o, o from the double reference.
double loss(const AttentionTester& t, const Modifiers& mods, const std::vector<double>& q, const std::vector<double>& k,
            const std::vector<double>& v, const std::vector<float>& slopes, const std::vector<float>& sinks,
            const std::vector<double>& dout) {
  const int64_t B = t.batch(), Sq = t.q_len(), Sk = t.k_len(), H = t.heads(), Hkv = t.kv_heads(), D = t.dim();
  swat::Options opt = mods.apply(t.options());
  opt.alibi_slopes = slopes;
  opt.sinks = sinks;
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

void check_reference_gradients(const AttentionTester& t, const Modifiers& mods = {}) {
  const int64_t B = t.batch(), Sq = t.q_len(), Sk = t.k_len(), H = t.heads(), Hkv = t.kv_heads(), D = t.dim();
  const auto in = t.inputs<double>();
  std::vector<double> q = in.q.logical(), k = in.k.logical(), v = in.v.logical();
  std::vector<double> dout(q.size());
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> dist(-1, 1);
  for (double& x : dout) x = dist(rng);
  const swat::Options opt = mods.apply(t.options());
  std::vector<float> slopes = opt.alibi_slopes, sinks = opt.sinks;

  std::vector<double> o(q.size()), dq(q.size()), dk(k.size()), dv(v.size());
  std::vector<double> dslopes(static_cast<std::size_t>(H), 0.25), dsinks(static_cast<std::size_t>(H), -0.5);
  swat::reference::forward<double, double>(swat::bshd(q.data(), B, Sq, H, D), swat::bshd(k.data(), B, Sk, Hkv, D),
                                           swat::bshd(v.data(), B, Sk, Hkv, D), swat::bshd(o.data(), B, Sq, H, D), opt);
  swat::reference::backward<double, double>(
      swat::bshd(q.data(), B, Sq, H, D), swat::bshd(k.data(), B, Sk, Hkv, D), swat::bshd(v.data(), B, Sk, Hkv, D),
      swat::bshd(o.data(), B, Sq, H, D), swat::bshd(dout.data(), B, Sq, H, D), swat::bshd(dq.data(), B, Sq, H, D),
      swat::bshd(dk.data(), B, Sk, Hkv, D), swat::bshd(dv.data(), B, Sk, Hkv, D), opt, dslopes.data(), dsinks.data());

  INFO(t.describe() << " softcap=" << mods.softcap << " sinks=" << mods.sinks.size()
                    << " rope_freqs=" << mods.rope_freqs.size());
  const auto f = [&] { return loss(t, mods, q, k, v, slopes, sinks, dout); };
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
  if (!sinks.empty()) {
    std::vector<double> numeric = numeric_gradient(f, sinks, 1.f / 4096);
    for (double& x : numeric) x -= 0.5;  // dsinks was accumulated onto -0.5
    check_close(dsinks, numeric, 1e-6, "dsinks");
  } else {
    CHECK(dsinks == std::vector<double>(static_cast<std::size_t>(H), -0.5));  // untouched without sinks
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

TEST_CASE("reference gradients with soft-capping, sinks and RoPE tables match finite differences",
          "[reference-gradients]") {
  const auto base = [](Activation act) { return AttentionTester().heads(2).kv_heads(1).dim(6).activation(act); };
  for (Activation act : kActivations) {
    // A cap near the logits' size, so that tanh bends them; with ALiBi outside the cap.
    Modifiers capped;
    capped.softcap = 0.75f;
    check_reference_gradients(base(act).q_len(7).window(4).slopes({0.5f, -0.75f}).rope(RopeLayout::half)
                                  .scale(1.5f).sigmoid_bias(0.25f), capped);
    // A frequency table (partial RoPE, 2 pairs) with the cap.
    Modifiers table = capped;
    table.rope_freqs = {0.9f, 0.3f};
    check_reference_gradients(base(act).q_len(6).k_len(8).window(0).rope(RopeLayout::interleaved).rope_dim(4)
                                  .slopes({-1.f, 0.25f}).k_pos0(3), table);
  }
  // Sinks (softmax only): with and without ALiBi, the cap and a window; one sink large enough to
  // take most of the weight. sigmoid_bias is part of s_ij, so with a sink it no longer cancels.
  Modifiers sinks;
  sinks.sinks = {0.5f, 2.5f};
  check_reference_gradients(base(Activation::softmax).q_len(7).window(3), sinks);
  check_reference_gradients(base(Activation::softmax).q_len(6).k_len(9).window(5).slopes({0.75f, -1.25f})
                                .rope(RopeLayout::half).sigmoid_bias(-0.5f).k_pos0(4), sinks);
  Modifiers grouped;
  grouped.softcap = 1.f;
  grouped.sinks = {-1.f, 0.f, 1.f, 3.f};
  check_reference_gradients(AttentionTester().heads(4).kv_heads(2).dim(4).q_len(6).window(2)
                                .activation(Activation::softmax).slopes({0.5f, -0.5f, 1.f, -1.f}).batch(2),
                            grouped);
}

namespace {

// Softmax dslopes of swat::backward and the reference for inputs whose exact slope gradient is 0:
// v constant, so every o_i is that constant and does not depend on the slopes. The o given is
// the float kernel's, rounded: the reference must not let its rounding through (it once gave
// 0.037 here, and -381 on a fuzzer case, by multiplying it by the distances).
void check_zero_softmax_slope_gradient(int64_t k_pos0) {
  const int64_t B = 2, S = 600, H = 2, D = 16;
  swat::Options opt;
  opt.window = 500;
  opt.activation = Activation::softmax;
  opt.alibi_slopes = {-8.f, -7.75f};
  opt.k_pos0 = k_pos0;
  std::vector<float> q(B * S * H * D, 0.37f), k(B * S * D, -0.61f), v(k.size(), 0.1f), o(q.size()), dout(q.size());
  for (std::size_t n = 0; n < dout.size(); ++n) dout[n] = 0.9f - 0.001f * static_cast<float>(n % 37);
  const auto qv = swat::bshd(q.data(), B, S, H, D), ov = swat::bshd(o.data(), B, S, H, D);
  const auto kv = swat::bshd(k.data(), B, S, 1, D), vv = swat::bshd(v.data(), B, S, 1, D);
  const auto dov = swat::bshd(dout.data(), B, S, H, D);
  swat::forward<float>(qv, kv, vv, ov, opt);
  std::vector<double> rq(q.size()), rk(k.size()), rv(k.size()), ref(H, 0.0);
  swat::reference::backward<float, double>(qv, kv, vv, ov, dov, swat::bshd(rq.data(), B, S, H, D),
                                           swat::bshd(rk.data(), B, S, 1, D), swat::bshd(rv.data(), B, S, 1, D), opt,
                                           ref.data());
  std::vector<float> dq(q.size()), dk(k.size()), dv(k.size()), got(H, 0.f);
  swat::backward<float>(qv, kv, vv, ov, dov, swat::bshd(dq.data(), B, S, H, D), swat::bshd(dk.data(), B, S, 1, D),
                        swat::bshd(dv.data(), B, S, 1, D), opt, got.data());
  for (int64_t h = 0; h < H; ++h) {
    INFO("k_pos0=" << k_pos0 << " head " << h << ": reference " << ref[h] << ", kernel " << got[h]);
    CHECK(std::fabs(ref[h]) <= 1e-9);
    CHECK(std::fabs(got[h]) <= 1e-4);
  }
}

}  // namespace

TEST_CASE("softmax dslopes is 0 when v is constant, whatever the rounding of o", "[reference-gradients]") {
  check_zero_softmax_slope_gradient(0);
  check_zero_softmax_slope_gradient(123456);
}

// ---- forward against values worked out by hand ---------------------------------------------

namespace {

constexpr double kPi = 3.14159265358979323846;

// One query row against keys, all of one head, in double: o [Sq = 1, D] of the reference.
std::vector<double> attend(const std::vector<double>& q, const std::vector<std::vector<double>>& keys,
                           const std::vector<std::vector<double>>& values, const swat::Options& opt) {
  const int64_t D = static_cast<int64_t>(q.size()), Sk = static_cast<int64_t>(keys.size());
  std::vector<double> k, v, o(q.size());
  for (int64_t j = 0; j < Sk; ++j) {
    k.insert(k.end(), keys[j].begin(), keys[j].end());
    v.insert(v.end(), values[j].begin(), values[j].end());
  }
  swat::reference::forward<double, double>(swat::bshd(q.data(), 1, 1, 1, D), swat::bshd(k.data(), 1, Sk, 1, D),
                                           swat::bshd(v.data(), 1, Sk, 1, D), swat::bshd(o.data(), 1, 1, 1, D), opt);
  return o;
}

// RoPE of x at `position`, read back through the reference's output: the other side of the
// product is the unit vector e_d at position 0 (not rotated), v = 1, sigmoid, scale 1/16, so
// o = sigmoid(<R(p) x, e_d> / 16). A query at p >= 0 meets a key at 0; a key at p <= 0 a query at 0.
std::vector<double> rotated(const std::vector<double>& x, int64_t position, swat::Options opt) {
  opt.activation = Activation::sigmoid;
  opt.scale = 0.0625f;
  opt.window = 0;
  const std::size_t D = x.size();
  std::vector<double> out(D);
  for (std::size_t d = 0; d < D; ++d) {
    std::vector<double> unit(D, 0.0), ones(D, 1.0);
    unit[d] = 1.0;
    opt.q_pos0 = std::max<int64_t>(position, 0);
    opt.k_pos0 = std::min<int64_t>(position, 0);
    const double o = position >= 0 ? attend(x, {unit}, {ones}, opt)[0] : attend(unit, {x}, {ones}, opt)[0];
    out[d] = 16.0 * std::log(o / (1.0 - o));
  }
  return out;
}

void check_rotated(const std::vector<double>& x, int64_t position, const swat::Options& opt,
                   const std::vector<double>& expected, double tolerance) {
  const std::vector<double> got = rotated(x, position, opt);
  for (std::size_t d = 0; d < x.size(); ++d) {
    INFO("rope=" << swat_test::rope_name(opt.rope) << " rope_dim=" << opt.rope_dim << " position=" << position
                 << " dim " << d << ": got " << got[d] << ", expected " << expected[d]);
    CHECK(std::fabs(got[d] - expected[d]) <= tolerance);
  }
}

swat::Options rope_options(RopeLayout layout, int rope_dim, std::vector<float> freqs) {
  swat::Options opt;
  opt.rope = layout;
  opt.rope_dim = rope_dim;
  opt.rope_freqs = std::move(freqs);
  return opt;
}

}  // namespace

TEST_CASE("reference RoPE rotates pairs by the angles of SPEC, worked out by hand", "[reference-values]") {
  // Table {pi/2, pi/4} at position 2: pair 0 turns by pi, (x1, x2) -> (-x1, -x2); pair 1 by
  // pi/2, (x1, x2) -> (-x2, x1); at -2 by -pi and -pi/2, (x1, x2) -> (x2, -x1). pi/2 as a float
  // is off by 4e-8, hence the tolerance.
  const std::vector<float> quarter_turns = {static_cast<float>(kPi / 2), static_cast<float>(kPi / 4)};
  const std::vector<double> x = {1, 2, 3, 4};
  // half: pairs (x0, x2) and (x1, x3).
  check_rotated(x, 2, rope_options(RopeLayout::half, 0, quarter_turns), {-1, -4, -3, 2}, 1e-6);
  check_rotated(x, -2, rope_options(RopeLayout::half, 0, quarter_turns), {-1, 4, -3, -2}, 1e-6);
  // interleaved: pairs (x0, x1) and (x2, x3).
  check_rotated(x, 2, rope_options(RopeLayout::interleaved, 0, quarter_turns), {-1, -2, -4, 3}, 1e-6);
  check_rotated(x, -2, rope_options(RopeLayout::interleaved, 0, quarter_turns), {-1, -2, 4, -3}, 1e-6);
  // rope_dim 4 of D 6: dims 4 and 5 pass through.
  const std::vector<double> x6 = {1, 2, 3, 4, 5, 6};
  check_rotated(x6, 2, rope_options(RopeLayout::half, 4, quarter_turns), {-1, -4, -3, 2, 5, 6}, 1e-6);
  check_rotated(x6, 2, rope_options(RopeLayout::interleaved, 4, quarter_turns), {-1, -2, -4, 3, 5, 6}, 1e-6);

  // Default frequencies theta^(-2k/r), theta = 10000, r = 8: 1, 0.1, 0.01, 0.001; at position 3
  // the angles are 3, 0.3, 0.03, 0.003 (half pairs (x_k, x_{k+4})).
  swat::Options base;
  base.rope = RopeLayout::half;
  const std::vector<double> x8 = {1, 2, 3, 4, 5, 6, 7, 8};
  const double angle[4] = {3.0, 0.3, 0.03, 0.003};
  std::vector<double> expected(8);
  for (int k = 0; k < 4; ++k) {
    expected[k] = x8[k] * std::cos(angle[k]) - x8[k + 4] * std::sin(angle[k]);
    expected[k + 4] = x8[k] * std::sin(angle[k]) + x8[k + 4] * std::cos(angle[k]);
  }
  check_rotated(x8, 3, base, expected, 1e-12);
  // Base 16, r = 4: frequencies 1 and 1/4 exactly.
  base.rope_base = 16.f;
  base.rope = RopeLayout::interleaved;
  check_rotated(x, 2, base,
                {std::cos(2.0) - 2 * std::sin(2.0), std::sin(2.0) + 2 * std::cos(2.0),
                 3 * std::cos(0.5) - 4 * std::sin(0.5), 3 * std::sin(0.5) + 4 * std::cos(0.5)},
                1e-12);

  // Far positions: the angle must be reduced modulo 2 pi without losing the product's bits.
  // cos and sin of 2^40 and of (2^40 + 3) / 4, to 22 digits (computed with 80-digit arithmetic).
  const double c40 = -0.9140040719915570022990, s40 = -0.4057050115328287198200;
  const double cq = 0.9976177307334504138148, sq = 0.0689845151192702496556;
  const int64_t p40 = int64_t(1) << 40;
  check_rotated(x, p40, rope_options(RopeLayout::half, 0, {1.f, 0.f}), {c40 - 3 * s40, 2, s40 + 3 * c40, 4}, 1e-12);
  check_rotated(x, -p40, rope_options(RopeLayout::half, 0, {1.f, 0.f}), {c40 + 3 * s40, 2, -s40 + 3 * c40, 4}, 1e-12);
  check_rotated(x, p40 + 3, rope_options(RopeLayout::interleaved, 0, {0.25f, 0.f}), {cq - 2 * sq, sq + 2 * cq, 3, 4},
                1e-12);
}

TEST_CASE("reference soft-capping caps the content term before the biases, by hand", "[reference-values]") {
  // <q, k> = 2, scale 1, c = 2: content 2 tanh(1) = 1.52318831191152977624; then the ALiBi term
  // -0.25 * 3 and beta -0.5 outside the cap.
  swat::Options opt;
  opt.scale = 1.f;
  opt.softcap = 2.f;
  opt.alibi_slopes = {0.25f};
  opt.sigmoid_bias = -0.5f;
  opt.q_pos0 = 3;
  const std::vector<double> o = attend({1, 1}, {{1, 1}}, {{1, -2}}, opt);
  const double a = 1.0 / (1.0 + std::exp(-(1.52318831191152977624 - 0.75 - 0.5)));
  CHECK(std::fabs(o[0] - a) <= 1e-15);
  CHECK(std::fabs(o[1] + 2 * a) <= 1e-15);
}

TEST_CASE("reference sinks join the softmax denominator, by hand", "[reference-values]") {
  // q = 0: every content term is 0. Sink logit 0 and two keys of logit 0: a = 1/3 each, and
  // o = (v0 + v1) / 3. With dO = (1, 1): D = <dO, o> = 3 and dsigma = -P_sink D = -1.
  swat::Options opt;
  opt.activation = Activation::softmax;
  opt.sinks = {0.f};
  std::vector<double> o = attend({0, 0}, {{1, 2}, {-3, 1}}, {{3, 0}, {0, 6}}, opt);
  CHECK(std::fabs(o[0] - 1) <= 1e-15);
  CHECK(std::fabs(o[1] - 2) <= 1e-15);
  {
    std::vector<double> q = {0, 0}, k = {1, 2, -3, 1}, v = {3, 0, 0, 6}, dout = {1, 1};
    std::vector<double> dq(2), dk(4), dv(4), dsinks = {0.5};
    swat::reference::backward<double, double>(
        swat::bshd(q.data(), 1, 1, 1, 2), swat::bshd(k.data(), 1, 2, 1, 2), swat::bshd(v.data(), 1, 2, 1, 2),
        swat::bshd(o.data(), 1, 1, 1, 2), swat::bshd(dout.data(), 1, 1, 1, 2), swat::bshd(dq.data(), 1, 1, 1, 2),
        swat::bshd(dk.data(), 1, 2, 1, 2), swat::bshd(dv.data(), 1, 2, 1, 2), opt, nullptr, dsinks.data());
    CHECK(std::fabs(dsinks[0] - (0.5 - 1.0)) <= 1e-15);
  }
  // The sink is in the units of s_ij, biases included: query at 10, keys at 0 and 1, slope 0.5:
  // logits -5 and -4.5, sink -4.5. With x = exp(-0.5): a0 = x / (x + 2), a1 = 1 / (x + 2).
  opt.sinks = {-4.5f};
  opt.alibi_slopes = {0.5f};
  opt.q_pos0 = 10;
  o = attend({0, 0}, {{1, 2}, {-3, 1}}, {{3, 0}, {0, 6}}, opt);
  const double x = std::exp(-0.5);
  CHECK(std::fabs(o[0] - 3 * x / (x + 2)) <= 1e-15);
  CHECK(std::fabs(o[1] - 6 / (x + 2)) <= 1e-15);
  // A row that sees no key outputs zeros, sink or not.
  opt.q_pos0 = -1;
  o = attend({0, 0}, {{1, 2}, {-3, 1}}, {{3, 0}, {0, 6}}, opt);
  CHECK(o == std::vector<double>{0, 0});
}
