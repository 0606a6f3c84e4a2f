// The conveniences a first program reaches for: views built straight from containers (with
// their size checked), and every entry point taking any mix of read-only and mutable views
// without spelling the element type. Compile-time checks (which calls resolve) and run-time
// checks (the mixed calls compute exactly what the all-const calls compute).
#include <catch2/catch.hpp>

#include "tester.hpp"

#include <swat/reference.hpp>
#include <swat/swat.hpp>

#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using swat::View4;

namespace {

using swat_test::error_of;

// ---- compile time: which calls resolve -----------------------------------------------------

template <class... Args>
using forward_call = decltype(swat::forward(std::declval<Args>()..., std::declval<const swat::Options&>()));
template <class... Args>
using reference_call = decltype(swat::reference::forward(std::declval<Args>()..., std::declval<const swat::Options&>()));
template <class C>
using bshd_call = decltype(swat::bshd(std::declval<C>(), 1, 1, 1, 1));

template <template <class...> class Call, class Void, class... Args>
struct resolves_impl : std::false_type {};
template <template <class...> class Call, class... Args>
struct resolves_impl<Call, std::void_t<Call<Args...>>, Args...> : std::true_type {};
template <template <class...> class Call, class... Args>
constexpr bool resolves = resolves_impl<Call, void, Args...>::value;

using F = View4<float>;
using CF = View4<const float>;
using CD = View4<const double>;

// Every mix of const and mutable inputs, without <float>.
static_assert(resolves<forward_call, CF, CF, CF, F>);
static_assert(resolves<forward_call, F, F, F, F>);
static_assert(resolves<forward_call, F, CF, CF, F>);
static_assert(resolves<forward_call, CF, F, CF, F>);
static_assert(resolves<forward_call, CF, CF, F, F>);
static_assert(resolves<forward_call, F, F, CF, F>);
// Still refused: mixed element types, a read-only output.
static_assert(!resolves<forward_call, F, CD, CF, F>);
static_assert(!resolves<forward_call, F, CF, CF, CF>);
// The reference: any mix of inputs, a double output (to compare against) or the input type.
static_assert(resolves<reference_call, CF, CF, CF, View4<double>>);
static_assert(resolves<reference_call, F, CF, F, View4<double>>);
static_assert(resolves<reference_call, F, F, F, View4<double>>);
static_assert(resolves<reference_call, F, F, F, F>);
static_assert(!resolves<reference_call, F, CD, F, View4<double>>);
// Views from lvalue containers, const when the container is; never from a temporary.
static_assert(std::is_same<bshd_call<std::vector<float>&>, F>::value);
static_assert(std::is_same<bshd_call<const std::vector<float>&>, CF>::value);
static_assert(std::is_same<bshd_call<std::array<double, 1>&>, View4<double>>::value);
static_assert(!resolves<bshd_call, std::vector<float>>);
static_assert(!resolves<bshd_call, std::vector<float>&&>);

// ---- run time ----------------------------------------------------------------------------

std::vector<float> random_vector(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(n);
  for (float& e : x) e = normal(rng);
  return x;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct Case {
  int64_t B = 2, n = 19, H = 4, Hkv = 2, D = 12;
  swat::Options opt;
  std::vector<float> q, k, v, dout;
  Case() {
    opt.window = 7;
    opt.alibi_slopes = swat::balanced_alibi_slopes(static_cast<int>(H));
    opt.rope = swat::RopeLayout::half;
    q = random_vector(static_cast<std::size_t>(B * n * H * D), 1);
    k = random_vector(static_cast<std::size_t>(B * n * Hkv * D), 2);
    v = random_vector(static_cast<std::size_t>(B * n * Hkv * D), 3);
    dout = random_vector(q.size(), 4);
  }
  std::vector<float> q_sized() const { return std::vector<float>(q.size(), NAN); }
  std::vector<float> kv_sized() const { return std::vector<float>(k.size(), NAN); }
};

}  // namespace

TEST_CASE("bshd and bhsd over containers give the pointer views and check the size", "[convenience]") {
  std::vector<float> x(2 * 3 * 4 * 5);
  const std::vector<float>& cx = x;
  const View4<float> a = swat::bshd(x, 2, 3, 4, 5), b = swat::bshd(x.data(), 2, 3, 4, 5);
  CHECK((a.data == b.data && a.shape == b.shape && a.stride == b.stride));
  const View4<const float> c = swat::bhsd(cx, 2, 3, 4, 5);
  const View4<const float> d = swat::bhsd(cx.data(), 2, 3, 4, 5);
  CHECK((c.data == d.data && c.shape == d.shape && c.stride == d.stride));
  std::array<double, 6> small{};
  CHECK(swat::bshd(small, 1, 2, 3, 1).data == small.data());

  const std::string short_by_one = error_of([&] { swat::bshd(x, 2, 3, 4, 6); });
  INFO(short_by_one);
  CHECK(short_by_one.find("bshd: container.size(): expected B*S*H*D = 2*3*4*6 = 144 elements, got 120") !=
        std::string::npos);
  const std::string wrong_bhsd = error_of([&] { swat::bhsd(cx, 1, 3, 4, 5); });
  CHECK(wrong_bhsd.find("bhsd: container.size(): expected B*S*H*D = 1*3*4*5 = 60 elements, got 120") !=
        std::string::npos);
  CHECK(error_of([&] { swat::bshd(x, 2, -3, 4, 5); }).find("bshd: S: expected >= 0, got -3") != std::string::npos);
  const int64_t huge = int64_t(1) << 40;
  CHECK(error_of([&] { swat::bshd(x, huge, huge, 1, 1); }).find("more than 2^64") != std::string::npos);
  std::vector<float> empty;
  CHECK(swat::bshd(empty, 0, 3, 4, 5).shape[0] == 0);
}

TEST_CASE("forward, varlen and the reference take any mix of const and mutable views", "[convenience]") {
  Case c;
  const std::vector<float>& q = c.q;
  std::vector<float> k = c.k, v = c.v;  // mutable copies: views of them are View4<float>
  std::vector<float> expected = c.q_sized(), got = c.q_sized();
  swat::forward<float>(swat::bshd(q, c.B, c.n, c.H, c.D), swat::bshd<const float>(k.data(), c.B, c.n, c.Hkv, c.D),
                       swat::bshd<const float>(v.data(), c.B, c.n, c.Hkv, c.D), swat::bshd(expected, c.B, c.n, c.H, c.D),
                       c.opt);
  swat::forward(swat::bshd(q, c.B, c.n, c.H, c.D), swat::bshd(k, c.B, c.n, c.Hkv, c.D),
                swat::bshd(v, c.B, c.n, c.Hkv, c.D), swat::bshd(got, c.B, c.n, c.H, c.D), c.opt);
  CHECK(same_bits(got, expected));

  // The reference agrees (the mixed call reaches the same kernel, with the same options).
  std::vector<double> ref(q.size());
  swat::reference::forward(swat::bshd(q, c.B, c.n, c.H, c.D), swat::bshd(k, c.B, c.n, c.Hkv, c.D),
                           swat::bshd(v, c.B, c.n, c.Hkv, c.D), swat::bshd(ref, c.B, c.n, c.H, c.D), c.opt);
  double err = 0, scale = 1;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    err = std::max(err, std::abs(got[i] - ref[i]));
    scale = std::max(scale, std::abs(ref[i]));
  }
  CHECK(err / scale <= 2e-5);

  // Packed sequences: batch 1, the same rows as two sequences.
  const std::vector<int64_t> cu_seqlens = {0, 8, c.B * c.n};
  std::vector<float> packed_expected = c.q_sized(), packed_got = c.q_sized();
  const int64_t rows = c.B * c.n;
  swat::forward_varlen<float>(swat::bshd<const float>(q.data(), 1, rows, c.H, c.D),
                              swat::bshd<const float>(k.data(), 1, rows, c.Hkv, c.D),
                              swat::bshd<const float>(v.data(), 1, rows, c.Hkv, c.D),
                              swat::bshd(packed_expected, 1, rows, c.H, c.D), cu_seqlens, c.opt);
  swat::forward_varlen(swat::bshd(q, 1, rows, c.H, c.D), swat::bshd(k, 1, rows, c.Hkv, c.D),
                       swat::bshd(v, 1, rows, c.Hkv, c.D), swat::bshd(packed_got, 1, rows, c.H, c.D), cu_seqlens,
                       c.opt);
  CHECK(same_bits(packed_got, packed_expected));
  // All mutable works for varlen too (it had only the all-const overload).
  std::vector<float> q_mutable = c.q, all_mutable = c.q_sized();
  swat::forward_varlen(swat::bshd(q_mutable, 1, rows, c.H, c.D), swat::bshd(k, 1, rows, c.Hkv, c.D),
                       swat::bshd(v, 1, rows, c.Hkv, c.D), swat::bshd(all_mutable, 1, rows, c.H, c.D), cu_seqlens,
                       c.opt);
  CHECK(same_bits(all_mutable, packed_expected));
}

TEST_CASE("backward and backward_varlen take any mix of const and mutable views", "[convenience]") {
  Case c;
  std::vector<float> o = c.q_sized();
  swat::forward(swat::bshd(c.q, c.B, c.n, c.H, c.D), swat::bshd(c.k, c.B, c.n, c.Hkv, c.D),
                swat::bshd(c.v, c.B, c.n, c.Hkv, c.D), swat::bshd(o, c.B, c.n, c.H, c.D), c.opt);
  const std::vector<float>& dout = c.dout;
  std::vector<float> dq[2] = {c.q_sized(), c.q_sized()}, dk[2] = {c.kv_sized(), c.kv_sized()},
                     dv[2] = {c.kv_sized(), c.kv_sized()};
  std::vector<float> dslopes[2] = {std::vector<float>(4, 0.f), std::vector<float>(4, 0.f)};
  const std::vector<float>& q = c.q;
  swat::backward<float>(swat::bshd(q, c.B, c.n, c.H, c.D), swat::bshd<const float>(c.k.data(), c.B, c.n, c.Hkv, c.D),
                        swat::bshd<const float>(c.v.data(), c.B, c.n, c.Hkv, c.D),
                        swat::bshd<const float>(o.data(), c.B, c.n, c.H, c.D), swat::bshd(dout, c.B, c.n, c.H, c.D),
                        swat::bshd(dq[0], c.B, c.n, c.H, c.D), swat::bshd(dk[0], c.B, c.n, c.Hkv, c.D),
                        swat::bshd(dv[0], c.B, c.n, c.Hkv, c.D), c.opt, dslopes[0].data());
  swat::backward(swat::bshd(q, c.B, c.n, c.H, c.D), swat::bshd(c.k, c.B, c.n, c.Hkv, c.D),
                 swat::bshd(c.v, c.B, c.n, c.Hkv, c.D), swat::bshd(o, c.B, c.n, c.H, c.D),
                 swat::bshd(dout, c.B, c.n, c.H, c.D), swat::bshd(dq[1], c.B, c.n, c.H, c.D),
                 swat::bshd(dk[1], c.B, c.n, c.Hkv, c.D), swat::bshd(dv[1], c.B, c.n, c.Hkv, c.D), c.opt,
                 dslopes[1].data());
  CHECK(same_bits(dq[1], dq[0]));
  CHECK(same_bits(dk[1], dk[0]));
  CHECK(same_bits(dv[1], dv[0]));
  CHECK(same_bits(dslopes[1], dslopes[0]));
  CHECK(dslopes[0] != std::vector<float>(4, 0.f));

  const int64_t rows = c.B * c.n;
  const std::vector<int64_t> cu_seqlens = {0, 11, rows};
  for (auto* g : {&dq[1], &dk[1], &dv[1]}) std::fill(g->begin(), g->end(), NAN);
  swat::backward_varlen<float>(swat::bshd(q, 1, rows, c.H, c.D), swat::bshd<const float>(c.k.data(), 1, rows, c.Hkv, c.D),
                               swat::bshd<const float>(c.v.data(), 1, rows, c.Hkv, c.D),
                               swat::bshd<const float>(o.data(), 1, rows, c.H, c.D), swat::bshd(dout, 1, rows, c.H, c.D),
                               swat::bshd(dq[0], 1, rows, c.H, c.D), swat::bshd(dk[0], 1, rows, c.Hkv, c.D),
                               swat::bshd(dv[0], 1, rows, c.Hkv, c.D), cu_seqlens, c.opt);
  swat::backward_varlen(swat::bshd(q, 1, rows, c.H, c.D), swat::bshd(c.k, 1, rows, c.Hkv, c.D),
                        swat::bshd(c.v, 1, rows, c.Hkv, c.D), swat::bshd(o, 1, rows, c.H, c.D),
                        swat::bshd(dout, 1, rows, c.H, c.D), swat::bshd(dq[1], 1, rows, c.H, c.D),
                        swat::bshd(dk[1], 1, rows, c.Hkv, c.D), swat::bshd(dv[1], 1, rows, c.Hkv, c.D), cu_seqlens,
                        c.opt);
  CHECK(same_bits(dq[1], dq[0]));
  CHECK(same_bits(dk[1], dk[0]));
  CHECK(same_bits(dv[1], dv[0]));

  // The reference's backward takes the mix too, and its dq agrees with the kernel's.
  std::vector<double> rq(q.size()), rk(c.k.size()), rv(c.v.size());
  swat::reference::backward(swat::bshd(q, c.B, c.n, c.H, c.D), swat::bshd(c.k, c.B, c.n, c.Hkv, c.D),
                            swat::bshd(c.v, c.B, c.n, c.Hkv, c.D), swat::bshd(o, c.B, c.n, c.H, c.D),
                            swat::bshd(dout, c.B, c.n, c.H, c.D), swat::bshd(rq, c.B, c.n, c.H, c.D),
                            swat::bshd(rk, c.B, c.n, c.Hkv, c.D), swat::bshd(rv, c.B, c.n, c.Hkv, c.D), c.opt);
  std::vector<float> dq_full = c.q_sized();
  std::vector<float> dk_full = c.kv_sized(), dv_full = c.kv_sized();
  swat::backward(swat::bshd(q, c.B, c.n, c.H, c.D), swat::bshd(c.k, c.B, c.n, c.Hkv, c.D),
                 swat::bshd(c.v, c.B, c.n, c.Hkv, c.D), swat::bshd(o, c.B, c.n, c.H, c.D),
                 swat::bshd(dout, c.B, c.n, c.H, c.D), swat::bshd(dq_full, c.B, c.n, c.H, c.D),
                 swat::bshd(dk_full, c.B, c.n, c.Hkv, c.D), swat::bshd(dv_full, c.B, c.n, c.Hkv, c.D), c.opt);
  double err = 0, scale = 1;
  for (std::size_t i = 0; i < rq.size(); ++i) {
    err = std::max(err, std::abs(dq_full[i] - rq[i]));
    scale = std::max(scale, std::abs(rq[i]));
  }
  CHECK(err / scale <= 1e-4);
}

TEST_CASE("the cache's step and append take any mix of const and mutable views", "[convenience]") {
  Case c;
  c.B = 1;
  std::vector<float> q(c.q.begin(), c.q.begin() + c.n * c.H * c.D);
  std::vector<float> k(c.k.begin(), c.k.begin() + c.n * c.Hkv * c.D), v(c.v.begin(), c.v.begin() + c.n * c.Hkv * c.D);
  const std::vector<float>& ck = k;
  const std::vector<float>& cv = v;
  swat::SlidingKVCache<float> mixed(1, c.Hkv, c.D, c.opt), plain(1, c.Hkv, c.D, c.opt);
  const int64_t half = 9, rest = c.n - half;
  std::vector<float> o_mixed(static_cast<std::size_t>(rest * c.H * c.D), NAN), o_plain = o_mixed;
  mixed.append(swat::bshd(k.data(), 1, half, c.Hkv, c.D), swat::bshd(cv.data(), 1, half, c.Hkv, c.D));
  plain.append(swat::bshd(ck.data(), 1, half, c.Hkv, c.D), swat::bshd(cv.data(), 1, half, c.Hkv, c.D));
  mixed.step(swat::bshd(q.data() + half * c.H * c.D, 1, rest, c.H, c.D),
             swat::bshd(ck.data() + half * c.Hkv * c.D, 1, rest, c.Hkv, c.D),
             swat::bshd(v.data() + half * c.Hkv * c.D, 1, rest, c.Hkv, c.D), swat::bshd(o_mixed, 1, rest, c.H, c.D));
  plain.step(swat::bshd<const float>(q.data() + half * c.H * c.D, 1, rest, c.H, c.D),
             swat::bshd(ck.data() + half * c.Hkv * c.D, 1, rest, c.Hkv, c.D),
             swat::bshd(cv.data() + half * c.Hkv * c.D, 1, rest, c.Hkv, c.D), swat::bshd(o_plain, 1, rest, c.H, c.D));
  CHECK(same_bits(o_mixed, o_plain));
  CHECK(mixed.position() == c.n);
}
