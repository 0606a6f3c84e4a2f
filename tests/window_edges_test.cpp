// Window edges against a mask written by hand: windows equal to the longest query-key distance
// of the call, one more and one less, through forward, backward and the cache, on every SIMD
// path. The expected results do not use any window code: each query row is sent alone to the
// reference with an unlimited window, with exactly the keys its hand-written row of the mask
// lists, and the gradients of the rows are summed.
#include "tester.hpp"

#include <swat/cache.hpp>

using swat::Activation, swat::Isa, swat::RopeLayout;
using swat_test::kActivations;

namespace {

constexpr int64_t B = 2, H = 4, Hkv = 2, D = 20;

// One call's shapes and window, with the visible keys of each query row, [first, last], by hand.
struct Edge {
  int64_t q_len, k_len, k_pos0, window;
  std::vector<std::pair<int64_t, int64_t>> keys;  // per query row
};

// Sq = Sk = 5: the longest distance is 4 (query 4, key 0).
// Sq = 3, Sk = 6 from position 1000: queries at 1003 .. 1005, the longest distance is 5.
const std::vector<Edge> kEdges = {
    {5, 5, 0, 5, {{0, 0}, {0, 1}, {0, 2}, {0, 3}, {0, 4}}},
    {5, 5, 0, 4, {{0, 0}, {0, 1}, {0, 2}, {0, 3}, {1, 4}}},
    {5, 5, 0, 3, {{0, 0}, {0, 1}, {0, 2}, {1, 3}, {2, 4}}},
    {3, 6, 1000, 6, {{0, 3}, {0, 4}, {0, 5}}},
    {3, 6, 1000, 5, {{0, 3}, {0, 4}, {1, 5}}},
    {3, 6, 1000, 4, {{0, 3}, {1, 4}, {2, 5}}},
};

swat::Options options(const Edge& e, Activation act) {
  swat::Options opt;
  opt.window = e.window;
  opt.activation = act;
  opt.alibi_slopes = {0.5f, -0.25f, 1.f, -0.75f};
  opt.sigmoid_bias = -0.5f;
  opt.rope = RopeLayout::half;
  opt.k_pos0 = e.k_pos0;
  opt.threads = 1;
  return opt;
}

template <class T>
std::vector<T> random_values(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-1, 1);
  std::vector<T> out(static_cast<std::size_t>(n));
  for (T& x : out) x = static_cast<T>(dist(rng));
  return out;
}

// Rows [s, s + n) of a contiguous [B, S, heads, D] tensor.
template <class T>
swat::View4<T> rows(T* data, int64_t S, int64_t heads, int64_t s, int64_t n) {
  return swat::View4<T>{data + s * heads * D, {B, n, heads, D}, {S * heads * D, heads * D, D, 1}};
}

template <class T>
struct Problem {
  std::vector<T> q, k, v, dout;
};

template <class T>
Problem<T> make_problem(const Edge& e) {
  return {random_values<T>(B * e.q_len * H * D, 1), random_values<T>(B * e.k_len * Hkv * D, 2),
          random_values<T>(B * e.k_len * Hkv * D, 3), random_values<T>(B * e.q_len * H * D, 4)};
}

struct Expected {
  std::vector<double> o, dq, dk, dv, dslopes;
};

// Row i alone against keys [first, last] with no window: the mask of the table, nothing else.
template <class T>
Expected hand_masked(const Edge& e, const swat::Options& opt, Problem<T>& p) {
  const int64_t Sq = e.q_len, Sk = e.k_len, q_pos0 = e.k_pos0 + Sk - Sq;
  Expected x;
  x.o.assign(p.q.size(), 0.0);
  x.dq.assign(p.q.size(), 0.0);
  x.dk.assign(p.k.size(), 0.0);
  x.dv.assign(p.k.size(), 0.0);
  x.dslopes.assign(H, 0.0);
  for (int64_t i = 0; i < Sq; ++i) {
    const int64_t first = e.keys[i].first, n = e.keys[i].second - first + 1;
    swat::Options row = opt;
    row.window = 0;
    row.q_pos0 = q_pos0 + i;
    row.k_pos0 = e.k_pos0 + first;
    std::vector<double> o(B * H * D), dq(o.size()), dk(B * n * Hkv * D), dv(dk.size());
    const auto q = rows<const T>(p.q.data(), Sq, H, i, 1), dout = rows<const T>(p.dout.data(), Sq, H, i, 1);
    const auto k = rows<const T>(p.k.data(), Sk, Hkv, first, n), v = rows<const T>(p.v.data(), Sk, Hkv, first, n);
    swat::reference::forward<T, double>(q, k, v, swat::bshd(o.data(), B, 1, H, D), row);
    std::vector<T> o_t(o.begin(), o.end());
    swat::reference::backward<T, double>(q, k, v, swat::bshd<const T>(o_t.data(), B, 1, H, D), dout,
                                         swat::bshd(dq.data(), B, 1, H, D), swat::bshd(dk.data(), B, n, Hkv, D),
                                         swat::bshd(dv.data(), B, n, Hkv, D), row, x.dslopes.data());
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t m = 0; m < H * D; ++m) {
        x.o[(b * Sq + i) * H * D + m] = o[b * H * D + m];
        x.dq[(b * Sq + i) * H * D + m] = dq[b * H * D + m];
      }
      for (int64_t j = 0; j < n; ++j)
        for (int64_t m = 0; m < Hkv * D; ++m) {
          x.dk[(b * Sk + first + j) * Hkv * D + m] += dk[(b * n + j) * Hkv * D + m];
          x.dv[(b * Sk + first + j) * Hkv * D + m] += dv[(b * n + j) * Hkv * D + m];
        }
    }
  }
  return x;
}

template <class T>
void check(const std::vector<T>& got, const std::vector<double>& expected, double bound, const char* name) {
  const swat_test::Comparison c = swat_test::compare(got, expected);
  INFO(name << ": err=" << c.err << " at flat index " << c.worst << " got=" << c.got << " expected=" << c.expected);
  CHECK(c.nonfinite == 0);
  CHECK(c.err <= bound);
}

template <class T>
void check_edges(bool cache_only) {
  const Isa isa = GENERATE(swat_test::isas());
  for (const Edge& e : kEdges)
    for (Activation act : kActivations) {
        const swat::Options opt = options(e, act);
        Problem<T> p = make_problem<T>(e);
        const Expected x = hand_masked(e, opt, p);
        INFO("q_len=" << e.q_len << " k_len=" << e.k_len << " k_pos0=" << e.k_pos0 << " window=" << e.window
                      << " activation=" << swat_test::activation_name(act) << " isa=" << swat::isa_name(isa)
                      << " type=" << swat_test::type_name<T>());
        const auto q = swat::bshd<const T>(p.q.data(), B, e.q_len, H, D);
        const auto k = swat::bshd<const T>(p.k.data(), B, e.k_len, Hkv, D);
        const auto v = swat::bshd<const T>(p.v.data(), B, e.k_len, Hkv, D);
        std::vector<T> o(p.q.size());
        if (cache_only) {
          // The cache starts at position 0, so only the Sq = Sk cases; fed one row at a time and
          // two rows at a time, the window edge falls inside and between steps.
          if (e.q_len != e.k_len || e.k_pos0 != 0) continue;
          for (int64_t chunk : {1, 2}) {
            swat::SlidingKVCache<T> cache(B, Hkv, D, opt, isa);
            for (int64_t s = 0; s < e.q_len; s += chunk) {
              const int64_t n = std::min(chunk, e.q_len - s);
              cache.step(rows<const T>(p.q.data(), e.q_len, H, s, n), rows<const T>(p.k.data(), e.k_len, Hkv, s, n),
                         rows<const T>(p.v.data(), e.k_len, Hkv, s, n), rows<T>(o.data(), e.q_len, H, s, n));
            }
            INFO("cache steps of " << chunk);
            check(o, x.o, swat_test::error_bound<T>(), "o");
          }
          continue;
        }
        swat::forward<T>(q, k, v, swat::bshd(o.data(), B, e.q_len, H, D), opt, isa);
        check(o, x.o, swat_test::error_bound<T>(), "o");
        // The hand-masked o, in T, is the o that backward is given.
        const std::vector<T> o_t(x.o.begin(), x.o.end());
        std::vector<T> dq(p.q.size()), dk(p.k.size()), dv(p.k.size());
        std::vector<float> dslopes(H, 0.f);
        swat::backward<T>(q, k, v, swat::bshd<const T>(o_t.data(), B, e.q_len, H, D),
                          swat::bshd<const T>(p.dout.data(), B, e.q_len, H, D), swat::bshd(dq.data(), B, e.q_len, H, D),
                          swat::bshd(dk.data(), B, e.k_len, Hkv, D), swat::bshd(dv.data(), B, e.k_len, Hkv, D), opt,
                          dslopes.data(), nullptr, isa);
        const double bound = std::is_same<T, float>::value ? 1e-4 : 1e-12;
        check(dq, x.dq, bound, "dq");
        check(dk, x.dk, bound, "dk");
        check(dv, x.dv, bound, "dv");
        check(dslopes, x.dslopes, 1e-4, "dslopes");  // float whatever T is
      }
}

}  // namespace

TEMPLATE_TEST_CASE("forward and backward place the window edge as a hand-written mask does", "[edges]", float,
                   double) {
  check_edges<TestType>(false);
}

TEMPLATE_TEST_CASE("the cache places the window edge as a hand-written mask does", "[edges]", float, double) {
  check_edges<TestType>(true);
}
