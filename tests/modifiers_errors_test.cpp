// SPEC 8's bad inputs: a negative or non-finite softcap; sinks of the wrong length, non-finite or
// with sigmoid; rope_freqs of the wrong length, non-finite or without rope. Each throws
// swat::Error naming the option, from every entry point, with every output untouched.
#include "tester.hpp"

#include <swat/swat.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using swat::Activation;
using swat::Options;
using swat::RopeLayout;

namespace {

using swat_test::error_of;

constexpr int64_t B = 1, S = 6, H = 4, Hkv = 2, D = 8;

// A valid softmax call with every modifier set; each bad case breaks exactly one thing.
Options valid() {
  Options o;
  o.activation = Activation::softmax;
  o.window = 3;
  o.softcap = 30.f;
  o.sinks = {0.f, 1.f, -1.f, 2.f};
  o.rope = RopeLayout::half;
  o.rope_freqs = {1.f, 0.1f, 0.01f, 0.001f};
  o.threads = 1;
  return o;
}

struct Bad {
  const char* what;      // the case
  const char* argument;  // the option the message must name
  Options opt;
};

std::vector<Bad> bad_cases() {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<Bad> out;
  const auto add = [&](const char* what, const char* argument, auto change) {
    Options o = valid();
    change(o);
    out.push_back({what, argument, o});
  };
  add("negative softcap", "options.softcap", [](Options& o) { o.softcap = -1.f; });
  add("infinite softcap", "options.softcap", [&](Options& o) { o.softcap = inf; });
  add("NaN softcap", "options.softcap", [&](Options& o) { o.softcap = nan; });
  add("too few sinks", "options.sinks", [](Options& o) { o.sinks.pop_back(); });
  add("too many sinks", "options.sinks", [](Options& o) { o.sinks.push_back(0.f); });
  add("infinite sink", "options.sinks[2]", [&](Options& o) { o.sinks[2] = -inf; });
  add("NaN sink", "options.sinks[0]", [&](Options& o) { o.sinks[0] = nan; });
  add("sinks with sigmoid", "options.sinks", [](Options& o) { o.activation = Activation::sigmoid; });
  add("too few rope_freqs", "options.rope_freqs", [](Options& o) { o.rope_freqs.pop_back(); });
  add("rope_freqs for a shorter rope_dim", "options.rope_freqs", [](Options& o) { o.rope_dim = 4; });
  add("infinite rope_freq", "options.rope_freqs[1]", [&](Options& o) { o.rope_freqs[1] = inf; });
  add("NaN rope_freq", "options.rope_freqs[3]", [&](Options& o) { o.rope_freqs[3] = nan; });
  add("rope_freqs without rope", "options.rope_freqs", [](Options& o) { o.rope = RopeLayout::none; });
  return out;
}

bool names(const std::string& message, const char* argument) {
  return message.find(argument) != std::string::npos && message.find("expected") != std::string::npos;
}

struct Tensors {
  std::vector<float> q = std::vector<float>(B * S * H * D, 0.25f), k = std::vector<float>(B * S * Hkv * D, 0.5f),
                     v = std::vector<float>(B * S * Hkv * D, 1.f);
  swat::View4<const float> qv() const { return swat::bshd<const float>(q.data(), B, S, H, D); }
  swat::View4<const float> kv() const { return swat::bshd<const float>(k.data(), B, S, Hkv, D); }
  swat::View4<const float> vv() const { return swat::bshd<const float>(v.data(), B, S, Hkv, D); }
};

}  // namespace

TEST_CASE("the valid modifier options are accepted everywhere", "[modifiers-errors]") {
  const Tensors in;
  std::vector<float> o(in.q.size()), dq(in.q.size()), dk(in.k.size()), dv(in.v.size()), dsinks(H);
  const Options opt = valid();
  CHECK(error_of([&] { swat::forward<float>(in.qv(), in.kv(), in.vv(), swat::bshd(o.data(), B, S, H, D), opt); }) == "");
  CHECK(error_of([&] {
          swat::backward<float>(in.qv(), in.kv(), in.vv(), swat::bshd<const float>(o.data(), B, S, H, D),
                                swat::bshd<const float>(o.data(), B, S, H, D), swat::bshd(dq.data(), B, S, H, D),
                                swat::bshd(dk.data(), B, S, Hkv, D), swat::bshd(dv.data(), B, S, Hkv, D), opt, nullptr,
                                dsinks.data());
        }) == "");
  CHECK(error_of([&] { swat::SlidingKVCache<float>(B, Hkv, D, opt); }) == "");
}

TEST_CASE("forward, varlen and backward refuse bad modifiers and write nothing", "[modifiers-errors]") {
  const Tensors in;
  for (const Bad& bad : bad_cases()) {
    INFO(bad.what);
    std::vector<float> o(in.q.size(), -7.f), dq(in.q.size(), -7.f), dk(in.k.size(), -7.f), dv(in.v.size(), -7.f);
    std::vector<float> dslopes(H, -7.f), dsinks(H, -7.f);
    const std::vector<float> dout(in.q.size(), 1.f);
    CHECK(names(error_of([&] {
                  swat::forward<float>(in.qv(), in.kv(), in.vv(), swat::bshd(o.data(), B, S, H, D), bad.opt);
                }),
                bad.argument));
    CHECK(names(error_of([&] {
                  swat::forward_varlen<float>(in.qv(), in.kv(), in.vv(), swat::bshd(o.data(), B, S, H, D), {0, 2, S},
                                              bad.opt);
                }),
                bad.argument));
    CHECK(names(error_of([&] {
                  swat::backward<float>(in.qv(), in.kv(), in.vv(), swat::bshd<const float>(in.q.data(), B, S, H, D),
                                        swat::bshd<const float>(dout.data(), B, S, H, D),
                                        swat::bshd(dq.data(), B, S, H, D), swat::bshd(dk.data(), B, S, Hkv, D),
                                        swat::bshd(dv.data(), B, S, Hkv, D), bad.opt, dslopes.data(), dsinks.data());
                }),
                bad.argument));
    CHECK(names(error_of([&] {
                  swat::backward_varlen<float>(in.qv(), in.kv(), in.vv(), swat::bshd<const float>(in.q.data(), B, S, H, D),
                                               swat::bshd<const float>(dout.data(), B, S, H, D),
                                               swat::bshd(dq.data(), B, S, H, D), swat::bshd(dk.data(), B, S, Hkv, D),
                                               swat::bshd(dv.data(), B, S, Hkv, D), {0, S}, bad.opt, dslopes.data(),
                                               dsinks.data());
                }),
                bad.argument));
    for (const std::vector<float>* out : {&o, &dq, &dk, &dv, &dslopes, &dsinks})
      CHECK(std::all_of(out->begin(), out->end(), [](float x) { return x == -7.f; }));
  }
}

TEST_CASE("the cache refuses bad modifiers when built", "[modifiers-errors]") {
  for (const Bad& bad : bad_cases()) {
    INFO(bad.what);
    CHECK(names(error_of([&] { swat::SlidingKVCache<float>(B, Hkv, D, bad.opt); }), bad.argument));
  }
}

TEST_CASE("backward refuses a dsinks that overlaps an input or another output", "[modifiers-errors]") {
  const Tensors in;
  std::vector<float> o(in.q.size()), dq(in.q.size()), dk(in.k.size()), dv(in.v.size()), dslopes(H);
  Options opt = valid();
  const auto call = [&](float* dsinks, float* slopes) {
    return error_of([&] {
      swat::backward<float>(in.qv(), in.kv(), in.vv(), swat::bshd<const float>(o.data(), B, S, H, D),
                            swat::bshd<const float>(o.data(), B, S, H, D), swat::bshd(dq.data(), B, S, H, D),
                            swat::bshd(dk.data(), B, S, Hkv, D), swat::bshd(dv.data(), B, S, Hkv, D), opt, slopes,
                            dsinks);
    });
  };
  CHECK(names(call(dq.data() + 3, nullptr), "dsinks"));
  CHECK(names(call(const_cast<float*>(in.k.data()), nullptr), "dsinks"));
  CHECK(names(call(dslopes.data() + 1, dslopes.data()), "dsinks"));
  CHECK(names(call(opt.sinks.data(), nullptr), "dsinks"));
}
