// Bad input to swat::backward: swat::Error naming the argument with what was expected and what
// came, and not one byte of any output (or input) changed. Empty calls are valid no-ops.
#include "support/expect_error.hpp"
#include "tester.hpp"

#include <functional>

using swat::Isa;

namespace {

// A valid call over one shared buffer: q, k, v, o, dout, then dq, dk, dv, then H dslopes.
template <class T>
struct BackwardCall {
  std::vector<T> memory;
  std::vector<float> slopes_memory;
  swat::View4<T> q, k, v, o, dout, dq, dk, dv;
  float* dslopes = nullptr;
  swat::Options opt;

  BackwardCall(int64_t B = 2, int64_t Sq = 8, int64_t Sk = 8, int64_t H = 4, int64_t Hkv = 2, int64_t D = 8) {
    const int64_t nq = B * Sq * H * D, nk = B * Sk * Hkv * D;
    memory.assign(static_cast<std::size_t>(4 * nq + 4 * nk), T(7.25));
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> dist(-1, 1);
    for (int64_t n = 0; n < 3 * nq + 2 * nk; ++n) memory[n] = static_cast<T>(dist(rng));
    T* p = memory.data();
    q = swat::bshd(p, B, Sq, H, D);
    o = swat::bshd(p + nq, B, Sq, H, D);
    dout = swat::bshd(p + 2 * nq, B, Sq, H, D);
    k = swat::bshd(p + 3 * nq, B, Sk, Hkv, D);
    v = swat::bshd(p + 3 * nq + nk, B, Sk, Hkv, D);
    dq = swat::bshd(p + 3 * nq + 2 * nk, B, Sq, H, D);
    dk = swat::bshd(p + 4 * nq + 2 * nk, B, Sk, Hkv, D);
    dv = swat::bshd(p + 4 * nq + 3 * nk, B, Sk, Hkv, D);
    slopes_memory.assign(static_cast<std::size_t>(H), 0.5f);
    dslopes = slopes_memory.data();
    if (H > 0) opt.alibi_slopes = swat::balanced_alibi_slopes(static_cast<int>(H));
  }

  using value_type = T;
  void run(Isa isa) {
    swat::backward<T>(q, k, v, o, dout, dq, dk, dv, opt, dslopes, nullptr, isa);
  }
  swat_test::Snapshot snapshot() const { return swat_test::Snapshot::of(memory, slopes_memory); }
};

// Breaks a valid call with `mutate`, expects swat::Error naming `argument`, and that no byte
// of the buffers (outputs, inputs and dslopes alike) changed.
template <class T>
void expect_error(const std::function<void(BackwardCall<T>&)>& mutate, const std::string& argument,
                  std::function<BackwardCall<T>()> make = [] { return BackwardCall<T>(); }) {
  swat_test::expect_error_on_every_path<BackwardCall<T>>(mutate, argument, make);
}

}  // namespace

TEMPLATE_TEST_CASE("backward rejects o and dout of the wrong shape", "[errors]", float, double) {
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.o.shape[1] = 7; }, "o.shape[1]");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dout.shape[2] = 2; }, "dout.shape[2]");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dout.shape[0] = 1; }, "dout.shape[0]");
}

TEMPLATE_TEST_CASE("backward rejects gradients of the wrong shape", "[errors]", float, double) {
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dq.shape[3] = 4; }, "dq.shape[3]");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dk.shape[2] = 4; }, "dk.shape[2]");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dv.shape[1] = 9; }, "dv.shape[1]");
}

TEMPLATE_TEST_CASE("backward rejects bad inputs and options as forward does", "[errors]", float, double) {
  expect_error<TestType>([](BackwardCall<TestType>&) {}, "q.shape[2]",
                         [] { return BackwardCall<TestType>(2, 8, 8, 4, 3, 8); });
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.v.shape[1] = 7; }, "v.shape[1]");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.opt.window = -1; }, "window");
  expect_error<TestType>(
      [](BackwardCall<TestType>& c) {
        c.opt.rope = swat::RopeLayout::half;
        c.opt.rope_dim = 5;
      },
      "rope_dim");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.opt.alibi_slopes = {0.5f}; }, "alibi_slopes");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.opt.scale = std::nanf(""); }, "scale");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.opt.threads = -2; }, "threads");
}

TEMPLATE_TEST_CASE("backward rejects null data with a non-zero extent", "[errors]", float, double) {
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.o.data = nullptr; }, "o.data");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dout.data = nullptr; }, "dout.data");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dq.data = nullptr; }, "dq.data");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dk.data = nullptr; }, "dk.data");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dv.data = nullptr; }, "dv.data");
}

TEMPLATE_TEST_CASE("backward rejects a gradient overlapping an input", "[errors]", float, double) {
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dq.data = c.q.data; }, "dq: expected memory disjoint from q");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dq.data = c.o.data + 3; }, "disjoint from o");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dk.data = c.dout.data + 1; }, "disjoint from dout");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dv.data = c.v.data; }, "disjoint from v");
}

TEMPLATE_TEST_CASE("backward rejects gradients overlapping each other", "[errors]", float, double) {
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dv.data = c.dk.data + 8; }, "dv: expected memory disjoint from dk");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dk.data = c.dq.data; }, "disjoint from dq");
}

TEMPLATE_TEST_CASE("backward rejects a gradient whose elements share memory", "[errors]", float, double) {
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dk.stride[1] = 0; }, "dk.stride");
}

TEMPLATE_TEST_CASE("backward rejects dslopes overlapping a tensor", "[errors]", float, double) {
  if (!std::is_same<TestType, float>::value) return;  // dslopes is float: only float tensors can share its memory
  expect_error<TestType>(
      [](BackwardCall<TestType>& c) { c.dslopes = reinterpret_cast<float*>(c.dq.data) + 2; }, "dslopes");
  expect_error<TestType>([](BackwardCall<TestType>& c) { c.dslopes = reinterpret_cast<float*>(c.q.data); }, "dslopes");
}

TEMPLATE_TEST_CASE("backward rejects forcing an isa this machine cannot run", "[errors]", float, double) {
  const std::vector<Isa> available = swat::available_isas();
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::sse2, Isa::neon}) {
    if (std::find(available.begin(), available.end(), isa) != available.end()) continue;
    BackwardCall<TestType> call;
    const std::vector<TestType> before = call.memory;
    CHECK_THROWS_AS(call.run(isa), swat::Error);
    CHECK(swat_test::same_bits(before, call.memory));
  }
}

TEMPLATE_TEST_CASE("backward of empty calls writes zeros where gradients exist", "[errors]", float, double) {
  // No query rows: dk and dv are zero; dslopes unchanged.
  BackwardCall<TestType> call(2, 8, 8, 4, 2, 8);
  call.q.shape[1] = call.o.shape[1] = call.dout.shape[1] = call.dq.shape[1] = 0;
  call.run(Isa::automatic);
  for (const auto* view : {&call.dk, &call.dv})
    for (int64_t n = 0; n < 2 * 8 * 2 * 8; ++n) CHECK(view->data[n] == TestType(0));
  CHECK(call.slopes_memory == std::vector<float>(4, 0.5f));
  // Queries before every key (q_pos0 far back): no key visible, every gradient is zero.
  BackwardCall<TestType> early;
  early.opt.q_pos0 = -100;
  early.run(Isa::automatic);
  // Every element of each gradient (dq has H = 4 heads, dk and dv Hkv = 2), and dslopes unchanged.
  for (const auto* view : {&early.dq, &early.dk, &early.dv}) {
    const int64_t count = view->shape[0] * view->shape[1] * view->shape[2] * view->shape[3];
    CHECK(count == 2 * 8 * (view == &early.dq ? 4 : 2) * 8);
    for (int64_t n = 0; n < count; ++n) CHECK(view->data[n] == TestType(0));
  }
  CHECK(early.slopes_memory == std::vector<float>(4, 0.5f));
  // Zero heads: a valid call with nothing to compute (every tensor is empty).
  BackwardCall<TestType> none(2, 8, 8, 0, 0, 8);
  CHECK(none.memory.empty());
  CHECK_NOTHROW(none.run(Isa::automatic));
}
