// SPEC section 8 on every entry point: soft-capping, attention sinks and RoPE frequency tables,
// alone and together, on every SIMD path and storage type, against the double reference. Also
// the softmax precision of SPEC 4 on long windows and steep slopes (the reference key policy),
// with and without sinks, for forward and the cache.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <swat/reference.hpp>
#include <swat/swat.hpp>

#include "backward_tester.hpp"
#include "tester.hpp"

namespace {

using swat::Activation;
using swat::Isa;
using swat::Options;
using swat::RopeLayout;
using swat_test::compare;
using swat_test::error_bound;
using swat_test::type_name;

// One call: shapes and options.
struct Case {
  int64_t batch = 1, q_len = 40, k_len = 40, heads = 4, kv_heads = 2, dim = 16;
  Options opt;

  std::string describe() const {
    std::ostringstream s;
    s << "B=" << batch << " Sq=" << q_len << " Sk=" << k_len << " H=" << heads << " Hkv=" << kv_heads << " D=" << dim
      << " window=" << opt.window << " " << swat_test::activation_name(opt.activation) << " softcap=" << opt.softcap
      << " sinks=" << opt.sinks.size() << " slopes=" << opt.alibi_slopes.size()
      << " rope=" << swat_test::rope_name(opt.rope) << " rope_freqs=" << opt.rope_freqs.size()
      << " beta=" << opt.sigmoid_bias << " k_pos0=" << opt.k_pos0;
    return s.str();
  }
};

// Values of unit scale, rounded to the storage type T.
template <class T>
std::vector<T> random_values(std::size_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  std::vector<T> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<T>(uniform(rng)));
  return out;
}

template <class T>
struct Inputs {
  std::vector<T> q, k, v;
  Inputs(const Case& c, std::mt19937_64& rng)
      : q(random_values<T>(c.batch * c.q_len * c.heads * c.dim, rng)),
        k(random_values<T>(c.batch * c.k_len * c.kv_heads * c.dim, rng)),
        v(random_values<T>(c.batch * c.k_len * c.kv_heads * c.dim, rng)) {}
  swat::View4<const T> qv(const Case& c) const { return swat::bshd(q.data(), c.batch, c.q_len, c.heads, c.dim); }
  swat::View4<const T> kv(const Case& c) const { return swat::bshd(k.data(), c.batch, c.k_len, c.kv_heads, c.dim); }
  swat::View4<const T> vv(const Case& c) const { return swat::bshd(v.data(), c.batch, c.k_len, c.kv_heads, c.dim); }
};

template <class T>
std::vector<double> reference_forward(const Case& c, const Inputs<T>& in) {
  std::vector<double> o(c.batch * c.q_len * c.heads * c.dim);
  swat::reference::forward<T, double>(in.qv(c), in.kv(c), in.vv(c), swat::bshd(o.data(), c.batch, c.q_len, c.heads, c.dim),
                                      c.opt);
  return o;
}

// forward on one path against the reference (given, or of the inputs drawn from seed).
template <class T>
void check_forward(const Case& c, const Inputs<T>& in, const std::vector<double>& ref, Isa isa) {
  std::vector<T> o(c.batch * c.q_len * c.heads * c.dim, swat_test::nan_value<T>());
  swat::forward<T>(in.qv(c), in.kv(c), in.vv(c), swat::bshd(o.data(), c.batch, c.q_len, c.heads, c.dim), c.opt, isa);
  const double err = compare(o, ref).err;
  INFO("forward " << type_name<T>() << " isa=" << swat::isa_name(isa) << " " << c.describe() << " err=" << err);
  CHECK(err <= error_bound<T>());
}
template <class T>
void check_forward(const Case& c, Isa isa, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const Inputs<T> in(c, rng);
  check_forward<T>(c, in, reference_forward(c, in), isa);
}

// The stream through SlidingKVCache in chunks of 1, 2, 3, ... positions against the reference
// forward over the whole sequence (q_len == k_len, k_pos0 the stream's first position).
template <class T>
void check_cache(const Case& c, Isa isa, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const Inputs<T> in(c, rng);
  const std::vector<double> ref = reference_forward(c, in);
  swat::SlidingKVCache<T> cache(c.batch, c.kv_heads, c.dim, c.opt, isa);
  std::vector<T> o(c.batch * c.q_len * c.heads * c.dim, swat_test::nan_value<T>());
  const int64_t qrow = c.heads * c.dim, krow = c.kv_heads * c.dim;
  for (int64_t at = 0, chunk = 1; at < c.q_len; at += chunk, ++chunk) {
    const int64_t t = std::min(chunk, c.q_len - at);
    swat::View4<const T> q{in.q.data() + at * qrow, {c.batch, t, c.heads, c.dim}, {c.q_len * qrow, qrow, c.dim, 1}};
    swat::View4<const T> k{in.k.data() + at * krow, {c.batch, t, c.kv_heads, c.dim}, {c.k_len * krow, krow, c.dim, 1}};
    swat::View4<const T> v{in.v.data() + at * krow, {c.batch, t, c.kv_heads, c.dim}, {c.k_len * krow, krow, c.dim, 1}};
    swat::View4<T> out{o.data() + at * qrow, {c.batch, t, c.heads, c.dim}, {c.q_len * qrow, qrow, c.dim, 1}};
    cache.step(q, k, v, out);
  }
  const double err = compare(o, ref).err;
  INFO("cache " << type_name<T>() << " isa=" << swat::isa_name(isa) << " " << c.describe() << " err=" << err);
  CHECK(err <= error_bound<T>());
}

// backward on one path against the reference: dq, dk, dv, dslopes and dsinks.
template <class T>
void check_backward(const Case& c, Isa isa, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const Inputs<T> in(c, rng);
  const std::size_t nq = c.batch * c.q_len * c.heads * c.dim, nk = c.batch * c.k_len * c.kv_heads * c.dim;
  const std::vector<T> dout = random_values<T>(nq, rng);
  std::vector<T> o(nq);
  const auto qshape = [&](auto* p) { return swat::bshd(p, c.batch, c.q_len, c.heads, c.dim); };
  const auto kshape = [&](auto* p) { return swat::bshd(p, c.batch, c.k_len, c.kv_heads, c.dim); };
  swat::forward<T>(in.qv(c), in.kv(c), in.vv(c), qshape(o.data()), c.opt, isa);
  std::vector<T> dq(nq), dk(nk), dv(nk);
  std::vector<float> dslopes(c.heads, 0.5f), dsinks(c.heads, 0.25f);  // accumulated onto
  swat::backward<T>(in.qv(c), in.kv(c), in.vv(c), qshape(static_cast<const T*>(o.data())),
                    qshape(static_cast<const T*>(dout.data())), qshape(dq.data()), kshape(dk.data()),
                    kshape(dv.data()), c.opt, dslopes.data(), dsinks.data(), isa);
  std::vector<double> rq(nq), rk(nk), rv(nk), rslopes(c.heads, 0.5), rsinks(c.heads, 0.25);
  swat::reference::backward<T, double>(in.qv(c), in.kv(c), in.vv(c), qshape(static_cast<const T*>(o.data())),
                                       qshape(static_cast<const T*>(dout.data())), qshape(rq.data()), kshape(rk.data()),
                                       kshape(rv.data()), c.opt, rslopes.data(), rsinks.data());
  const double bound = error_bound<T>(swat_test::Operation::backward);
  INFO("backward " << type_name<T>() << " isa=" << swat::isa_name(isa) << " " << c.describe());
  CHECK(compare(dq, rq).err <= bound);
  CHECK(compare(dk, rk).err <= bound);
  CHECK(compare(dv, rv).err <= bound);
  // dslopes and dsinks are float whatever T is (SPEC 6): held to float's rounding at best.
  CHECK(compare(dslopes, rslopes).err <= std::max(bound, 1e-6));
  CHECK(compare(dsinks, rsinks).err <= std::max(bound, 1e-6));
}

// A table unlike base^(-2k/r): decreasing, one pair stretched (as scaling tables do).
std::vector<float> frequency_table(int64_t pairs) {
  std::vector<float> out;
  for (int64_t k = 0; k < pairs; ++k) out.push_back(static_cast<float>(std::pow(500.0, -double(k) / pairs) / (k == 1 ? 8 : 1)));
  return out;
}

// Every combination of the modifiers for activation a, over the windows given.
template <class F>
void for_each_modifier_case(const std::vector<int64_t>& windows, F check) {
  uint64_t seed = 1;
  for (Activation a : {Activation::sigmoid, Activation::softmax})
    for (int64_t window : windows)
      for (float softcap : {0.f, 1.5f})
        for (bool sinks : {false, true})
          for (bool freqs : {false, true}) {
            if (sinks && a == Activation::sigmoid) continue;
            Case c;
            c.opt.activation = a;
            c.opt.window = window;
            // A cap of 1.5 bends the logits (float's tanh: the series for logits under 0.75,
            // the expm1 quotient for the others, often in one vector); 24, on a third of the
            // cases, leaves every logit under half the cap, where the quotient never runs.
            c.opt.softcap = softcap > 0 && seed % 3 == 0 ? 24.f : softcap;
            // Slopes on every other case: the reference key moves the sink only with slopes.
            if (seed % 2 == 1) c.opt.alibi_slopes = swat::balanced_alibi_slopes(static_cast<int>(c.heads));
            if (sinks) c.opt.sinks = {0.5f, -1.f, 2.f, -3.f};
            // beta on some cases: it cancels under plain softmax but not against a sink.
            if (seed % 4 == 2) c.opt.sigmoid_bias = -0.75f;
            c.opt.rope = freqs || seed % 3 == 0 ? RopeLayout::half : RopeLayout::none;
            if (freqs) c.opt.rope_freqs = frequency_table(c.dim / 2);
            c.opt.threads = 1;
            check(c, seed++);
          }
}

template <class T>
void forward_grid() {
  const Isa isa = GENERATE(swat_test::isas());
  for_each_modifier_case({0, 1, 6}, [&](Case c, uint64_t seed) {
    check_forward<T>(c, isa, seed);
    c.q_len = 13;  // queries at the end of the keys, and a k_pos0 far from 0
    c.opt.k_pos0 = 1000;
    check_forward<T>(c, isa, seed);
  });
}

TEST_CASE("forward matches the reference with softcap, sinks and rope_freqs (float)", "[modifiers]") {
  forward_grid<float>();
}
TEST_CASE("forward matches the reference with softcap, sinks and rope_freqs (double)", "[modifiers]") {
  forward_grid<double>();
}
TEST_CASE("forward matches the reference with softcap, sinks and rope_freqs (bf16)", "[modifiers]") {
  forward_grid<swat::bf16>();
}
TEST_CASE("forward matches the reference with softcap, sinks and rope_freqs (f16)", "[modifiers]") {
  forward_grid<swat::f16>();
}

TEST_CASE("forward with modifiers crosses query tiles and key blocks", "[modifiers]") {
  {
    const Isa isa = GENERATE(swat_test::isas());
    Case c;
    c.q_len = c.k_len = 300;  // past one query tile (256) and several key blocks
    c.opt.activation = Activation::softmax;
    c.opt.window = 100;
    c.opt.softcap = 2.f;
    c.opt.sinks = {1.f, -0.5f, 0.f, 3.f};
    c.opt.alibi_slopes = swat::balanced_alibi_slopes(4);
    c.opt.rope = RopeLayout::interleaved;
    c.opt.rope_freqs = frequency_table(c.dim / 2);
    check_forward<float>(c, isa, 7);
    c.opt.activation = Activation::sigmoid;
    c.opt.sinks.clear();
    check_forward<float>(c, isa, 8);
  }
}

template <class T>
void cache_grid() {
  const Isa isa = GENERATE(swat_test::isas());
  for_each_modifier_case({0, 1, 9}, [&](Case c, uint64_t seed) { check_cache<T>(c, isa, seed); });
}

TEST_CASE("the cache matches the reference with softcap, sinks and rope_freqs (float)", "[modifiers]") {
  cache_grid<float>();
}
TEST_CASE("the cache matches the reference with softcap, sinks and rope_freqs (double)", "[modifiers]") {
  cache_grid<double>();
}
TEST_CASE("the cache matches the reference with softcap, sinks and rope_freqs (bf16)", "[modifiers]") {
  cache_grid<swat::bf16>();
}
TEST_CASE("the cache matches the reference with softcap, sinks and rope_freqs (f16)", "[modifiers]") {
  cache_grid<swat::f16>();
}

TEST_CASE("the cache's window splits carry the sink once", "[modifiers]") {
  {
    const Isa isa = GENERATE(swat_test::isas());
    Case c;
    c.q_len = c.k_len = 1100;  // > 2 splits of 512 positions
    c.heads = 2;
    c.kv_heads = 1;
    c.dim = 8;
    c.opt.activation = Activation::softmax;
    c.opt.sinks = {2.f, -1.f};
    c.opt.softcap = 3.f;
    c.opt.alibi_slopes = {0.01f, -0.01f};
    check_cache<float>(c, isa, 11);
  }
}

template <class T>
void backward_grid() {
  const Isa isa = GENERATE(swat_test::isas());
  for_each_modifier_case({0, 1, 7}, [&](Case c, uint64_t seed) {
    check_backward<T>(c, isa, seed);
    c.q_len = 11;
    c.opt.k_pos0 = -300;
    check_backward<T>(c, isa, seed);
  });
}

TEST_CASE("backward matches the reference with softcap, sinks and rope_freqs (float)", "[modifiers]") {
  backward_grid<float>();
}
TEST_CASE("backward matches the reference with softcap, sinks and rope_freqs (double)", "[modifiers]") {
  backward_grid<double>();
}

TEST_CASE("backward with modifiers crosses query tiles and key tiles", "[modifiers]") {
  {
    const Isa isa = GENERATE(swat_test::isas());
    Case c;
    c.q_len = c.k_len = 1100;  // past one backward query tile (1024) and several key tiles
    c.heads = 2;
    c.kv_heads = 1;
    c.dim = 8;
    c.opt.activation = Activation::softmax;
    c.opt.window = 300;
    c.opt.softcap = 2.f;
    c.opt.sinks = {1.f, -2.f};
    c.opt.alibi_slopes = {0.05f, -0.05f};
    check_backward<float>(c, isa, 21);
  }
}

TEST_CASE("varlen carries softcap, sinks and dsinks per sequence", "[modifiers]") {
  const std::vector<int64_t> cu = {0, 5, 5, 23, 40};
  Case c;
  c.opt.activation = Activation::softmax;
  c.opt.window = 6;
  c.opt.softcap = 1.5f;
  c.opt.sinks = {0.5f, -1.f, 2.f, -3.f};
  c.opt.alibi_slopes = swat::balanced_alibi_slopes(4);
  c.opt.rope = RopeLayout::half;
  c.opt.rope_freqs = frequency_table(c.dim / 2);
  std::mt19937_64 rng(5);
  const Inputs<float> in(c, rng);
  const std::size_t n = c.q_len * c.heads * c.dim;
  std::vector<float> o(n), dout = random_values<float>(n, rng), dq(n), dk(in.k.size()), dv(in.v.size());
  std::vector<float> dsinks(4, 0.f);
  const auto qv = [&](auto* p) { return swat::bshd(p, 1, c.q_len, c.heads, c.dim); };
  const auto kv = [&](auto* p) { return swat::bshd(p, 1, c.k_len, c.kv_heads, c.dim); };
  swat::forward_varlen<float>(in.qv(c), in.kv(c), in.vv(c), qv(o.data()), cu, c.opt);
  swat::backward_varlen<float>(in.qv(c), in.kv(c), in.vv(c), qv(static_cast<const float*>(o.data())),
                               qv(static_cast<const float*>(dout.data())), qv(dq.data()), kv(dk.data()), kv(dv.data()), cu,
                               c.opt, nullptr, dsinks.data());
  // Each sequence on its own through the reference, positions restarting at its first row.
  std::vector<double> ro(n), rq(n), rk(in.k.size()), rv(in.v.size()), rsinks(4, 0.0);
  for (std::size_t s = 0; s + 1 < cu.size(); ++s) {
    const int64_t first = cu[s], count = cu[s + 1] - first;
    if (count == 0) continue;
    const auto rows = [&](auto view) {
      view.data += first * view.stride[1];
      view.shape[1] = count;
      return view;
    };
    swat::reference::forward<float, double>(rows(in.qv(c)), rows(in.kv(c)), rows(in.vv(c)), rows(qv(ro.data())), c.opt);
    swat::reference::backward<float, double>(rows(in.qv(c)), rows(in.kv(c)), rows(in.vv(c)),
                                             rows(qv(static_cast<const float*>(o.data()))),
                                             rows(qv(static_cast<const float*>(dout.data()))), rows(qv(rq.data())),
                                             rows(kv(rk.data())), rows(kv(rv.data())), c.opt, nullptr, rsinks.data());
  }
  CHECK(compare(o, ro).err <= 2e-5);
  CHECK(compare(dq, rq).err <= 1e-4);
  CHECK(compare(dk, rk).err <= 1e-4);
  CHECK(compare(dv, rv).err <= 1e-4);
  CHECK(compare(dsinks, rsinks).err <= 1e-4);
}

// SPEC 4 for softmax at its limits: windows up to 65536, |slopes| up to 8, with and without a
// sink, on forward and on the cache (which reaches the last rows through many splits).
TEST_CASE("softmax stays within 2e-5 on long windows and steep slopes", "[modifiers][precision]") {
  for (int64_t window : {2048, 65536})
    for (bool sinks : {false, true}) {
      Case c;
      c.q_len = 8;
      c.k_len = window + 8;
      c.heads = 6;
      c.kv_heads = 1;
      c.dim = 8;
      c.opt.activation = Activation::softmax;
      c.opt.window = window;
      c.opt.alibi_slopes = {8.f, 0.5f, 0.01f, -0.01f, -0.5f, -8.f};
      if (sinks) c.opt.sinks = {1.f, -2.f, 3.f, 0.5f, -1.f, 2.f};
      // One reference for every path, forward and cache: at these distances it is most of the
      // test's time (long double exp in underflow).
      std::mt19937_64 rng(32);
      const Inputs<float> in(c, rng);
      const std::vector<double> ref = reference_forward(c, in);
      for (Isa isa : swat::available_isas()) check_forward<float>(c, in, ref, isa);
      // The cache: keys appended up to the last 8 positions, then one step of the 8 queries.
      for (Isa isa : swat::available_isas()) {
        swat::SlidingKVCache<float> cache(1, 1, c.dim, c.opt, isa);
        const int64_t head = c.k_len - c.q_len;
        cache.append(swat::bshd(in.k.data(), 1, head, 1, c.dim), swat::bshd(in.v.data(), 1, head, 1, c.dim));
        std::vector<float> o(c.q_len * c.heads * c.dim);
        cache.step(in.qv(c), swat::bshd(in.k.data() + head * c.dim, 1, c.q_len, 1, c.dim),
                   swat::bshd(in.v.data() + head * c.dim, 1, c.q_len, 1, c.dim),
                   swat::bshd(o.data(), 1, c.q_len, c.heads, c.dim));
        const double err = compare(o, ref).err;
        INFO("cache isa=" << swat::isa_name(isa) << " " << c.describe() << " err=" << err);
        CHECK(err <= 2e-5);
      }
    }
}

}  // namespace
