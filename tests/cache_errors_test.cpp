// SlidingKVCache rejects bad arguments with swat::Error naming the argument, the expected and
// the actual value, and a rejected step leaves the cache and o exactly as they were.
#include "tester.hpp"

#include <swat/cache.hpp>

#include <functional>
#include <string>

using swat::Isa;
using swat::Options;
using swat::SlidingKVCache;

namespace {

using swat_test::error_of;

bool mentions(const std::string& message, const char* argument) {
  return message.find(argument) != std::string::npos && message.find("expected") != std::string::npos;
}

struct Step {
  std::vector<float> q, k, v, o;
  int64_t B, t, H, Hkv, D;
  Step(int64_t B_, int64_t t_, int64_t H_, int64_t Hkv_, int64_t D_)
      : q(B_ * t_ * H_ * D_, 0.25f), k(B_ * t_ * Hkv_ * D_, 0.5f), v(B_ * t_ * Hkv_ * D_, 1.f),
        o(B_ * t_ * H_ * D_, -7.f), B(B_), t(t_), H(H_), Hkv(Hkv_), D(D_) {}
  swat::View4<const float> qv() const { return swat::bshd<const float>(q.data(), B, t, H, D); }
  swat::View4<const float> kv() const { return swat::bshd<const float>(k.data(), B, t, Hkv, D); }
  swat::View4<const float> vv() const { return swat::bshd<const float>(v.data(), B, t, Hkv, D); }
  swat::View4<float> ov() { return swat::bshd<float>(o.data(), B, t, H, D); }
};

}  // namespace

TEST_CASE("cache constructor rejects bad sizes and options", "[cache-errors]") {
  Options ok;
  ok.window = 8;
  CHECK(mentions(error_of([&] { SlidingKVCache<float>(0, 2, 16, ok); }), "batch"));
  CHECK(mentions(error_of([&] { SlidingKVCache<float>(1, 0, 16, ok); }), "kv_heads"));
  CHECK(mentions(error_of([&] { SlidingKVCache<float>(1, 2, 0, ok); }), "head_dim"));
  Options o = ok;
  o.window = -1;
  CHECK(mentions(error_of([&] { SlidingKVCache<float>(1, 2, 16, o); }), "options.window"));
  o = ok;
  o.alibi_slopes = {0.5f, 0.25f, 0.125f};
  CHECK(mentions(error_of([&] { SlidingKVCache<float>(1, 2, 16, o); }), "options.alibi_slopes"));
  o = ok;
  o.q_pos0 = 3;
  CHECK(mentions(error_of([&] { SlidingKVCache<float>(1, 2, 16, o); }), "options.q_pos0"));
  o = ok;
  o.rope = swat::RopeLayout::half;
  o.rope_dim = 7;
  CHECK(mentions(error_of([&] { SlidingKVCache<float>(1, 2, 16, o); }), "options.rope_dim"));
  o = ok;
  o.scale = std::numeric_limits<float>::infinity();
  CHECK(mentions(error_of([&] { SlidingKVCache<float>(1, 2, 16, o); }), "options.scale"));
  o = ok;
  o.threads = -2;
  CHECK(mentions(error_of([&] { SlidingKVCache<float>(1, 2, 16, o); }), "options.threads"));
  o = ok;
  o.window = int64_t(1) << 60;  // valid: a window longer than any text; rings grow with the text
  SlidingKVCache<float> huge(4, 8, 128, o);
  CHECK(huge.bytes() < 64 * 1024);
  const std::vector<Isa> have = swat::available_isas();
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::sse2, Isa::neon})
    if (std::find(have.begin(), have.end(), isa) == have.end())
      CHECK(mentions(error_of([&] { SlidingKVCache<float>(1, 2, 16, ok, isa); }), "isa"));
}

TEST_CASE("cache step rejects mismatched shapes and overlapping outputs, leaving everything untouched",
          "[cache-errors]") {
  Options opt;
  opt.window = 4;
  opt.alibi_slopes = swat::balanced_alibi_slopes(4);
  SlidingKVCache<float> cache(2, 2, 8, opt);
  SlidingKVCache<float> twin(2, 2, 8, opt);  // sees only the valid steps
  Step good(2, 3, 4, 2, 8);
  cache.step(good.qv(), good.kv(), good.vv(), good.ov());
  twin.step(good.qv(), good.kv(), good.vv(), good.ov());
  const std::size_t bytes = cache.bytes();

  struct Bad {
    const char* argument;
    std::function<void(Step&)> call;
  };
  const Bad bad[] = {
      {"q.shape[0]", [&](Step& s) { cache.step(swat::bshd<const float>(s.q.data(), 1, 3, 4, 8), s.kv(), s.vv(), s.ov()); }},
      {"k.shape[2]", [&](Step& s) { cache.step(s.qv(), swat::bshd<const float>(s.k.data(), 2, 3, 1, 8), swat::bshd<const float>(s.v.data(), 2, 3, 1, 8), s.ov()); }},
      {"k.shape[1]", [&](Step& s) { cache.step(s.qv(), swat::bshd<const float>(s.k.data(), 2, 2, 2, 8), swat::bshd<const float>(s.v.data(), 2, 2, 2, 8), s.ov()); }},
      {"v.shape[1]", [&](Step& s) { cache.step(s.qv(), s.kv(), swat::bshd<const float>(s.v.data(), 2, 2, 2, 8), s.ov()); }},
      {"q.shape[2]", [&](Step& s) { cache.step(swat::bshd<const float>(s.q.data(), 2, 3, 2, 8), s.kv(), s.vv(), swat::bshd<float>(s.o.data(), 2, 3, 2, 8)); }},
      {"shape[3]", [&](Step& s) { cache.step(swat::bshd<const float>(s.q.data(), 2, 3, 4, 4), swat::bshd<const float>(s.k.data(), 2, 3, 2, 4), swat::bshd<const float>(s.v.data(), 2, 3, 2, 4), swat::bshd<float>(s.o.data(), 2, 3, 4, 4)); }},
      {"o.shape[1]", [&](Step& s) { cache.step(s.qv(), s.kv(), s.vv(), swat::bshd<float>(s.o.data(), 2, 2, 4, 8)); }},
      {"o: expected memory disjoint from q", [&](Step& s) { cache.step(s.qv(), s.kv(), s.vv(), swat::bshd<float>(s.q.data(), 2, 3, 4, 8)); }},
      {"q.data", [&](Step& s) { cache.step(swat::bshd<const float>(nullptr, 2, 3, 4, 8), s.kv(), s.vv(), s.ov()); }},
  };
  for (const Bad& b : bad) {
    Step s(2, 3, 4, 2, 8);
    const std::vector<float> q_before = s.q, o_before = s.o;
    const std::string message = error_of([&] { b.call(s); });
    INFO("expected an error naming " << b.argument << ", got: " << message);
    CHECK(mentions(message, b.argument));
    CHECK(cache.position() == 3);
    CHECK(cache.bytes() == bytes);
    CHECK(s.o == o_before);
    CHECK(s.q == q_before);
  }
  // The cache that saw the rejected steps continues exactly like its twin.
  Step next(2, 2, 4, 2, 8), twin_next(2, 2, 4, 2, 8);
  for (float& x : next.q) x = 0.75f;
  twin_next.q = next.q;
  cache.step(next.qv(), next.kv(), next.vv(), next.ov());
  twin.step(twin_next.qv(), twin_next.kv(), twin_next.vv(), twin_next.ov());
  CHECK(swat_test::same_bits(next.o, twin_next.o));
  CHECK(cache.position() == 5);
}

TEST_CASE("cache fixes the query heads at the first step when no slopes are given", "[cache-errors]") {
  Options opt;
  opt.window = 4;
  SlidingKVCache<float> cache(1, 2, 8, opt);
  CHECK(cache.heads() == 0);
  Step four(1, 1, 4, 2, 8), six(1, 1, 6, 2, 8);
  cache.step(four.qv(), four.kv(), four.vv(), four.ov());
  CHECK(cache.heads() == 4);
  CHECK(mentions(error_of([&] { cache.step(six.qv(), six.kv(), six.vv(), six.ov()); }), "q.shape[2]"));
  // The first step fixes H, and only as a multiple of Hkv: 3 query heads over 2 kv heads are
  // refused, and the cache stays unfixed and unmoved.
  SlidingKVCache<float> fresh(1, 2, 8, opt);
  Step three(1, 1, 3, 2, 8);
  const std::vector<float> o_before = three.o;
  const std::string message = error_of([&] { fresh.step(three.qv(), three.kv(), three.vv(), three.ov()); });
  INFO(message);
  CHECK(mentions(message, "q.shape[2]"));
  CHECK(message.find("multiple of the kv heads") != std::string::npos);
  CHECK(fresh.heads() == 0);
  CHECK(fresh.position() == 0);
  CHECK(three.o == o_before);
  fresh.step(four.qv(), four.kv(), four.vv(), four.ov());
  CHECK(fresh.heads() == 4);
  // An empty step is valid and changes nothing.
  Step none(1, 0, 4, 2, 8);
  cache.step(none.qv(), none.kv(), none.vv(), none.ov());
  CHECK(cache.position() == 1);
}
