// Bad input: swat::Error (a std::invalid_argument) naming the argument, and no output written.
// Zero extents: a valid no-op; no keys: rows of zeros.
#include "support/expect_error.hpp"
#include "tester.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <type_traits>

using swat::Isa;

static_assert(std::is_base_of<std::invalid_argument, swat::Error>::value, "swat::Error must be an invalid_argument");

namespace {

using swat_test::isas_and_automatic;

// A valid call over one shared buffer (so aliasing cases can point views anywhere in it);
// each bad-input test breaks one thing.
template <class T>
struct Call {
  static constexpr T sentinel = T(7.25);
  std::vector<T> memory;
  swat::View4<T> q, k, v, o;
  swat::Options opt;

  Call(int64_t B = 2, int64_t Sq = 8, int64_t Sk = 8, int64_t H = 4, int64_t Hkv = 2, int64_t D = 8) {
    const int64_t nq = B * Sq * H * D, nk = B * Sk * Hkv * D;
    memory.assign(static_cast<std::size_t>(2 * nq + 2 * nk + 1), sentinel);
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> dist(-1, 1);
    for (int64_t n = 0; n < nq + 2 * nk; ++n) memory[n] = static_cast<T>(dist(rng));
    T* p = memory.data();
    q = swat::bshd(p, B, Sq, H, D);
    k = swat::bshd(p + nq, B, Sk, Hkv, D);
    v = swat::bshd(p + nq + nk, B, Sk, Hkv, D);
    o = swat::bshd(p + nq + 2 * nk, B, Sq, H, D);  // sentinel-filled
  }

  using value_type = T;
  void run(Isa isa) const { swat::forward<T>(q, k, v, o, opt, isa); }
  swat_test::Snapshot snapshot() const { return swat_test::Snapshot::of(memory); }
};

// Breaks a valid call with `mutate`, expects swat::Error naming `argument`, and that no byte
// of the buffer (outputs and inputs alike) changed.
template <class T>
void expect_error(const std::function<void(Call<T>&)>& mutate, const std::string& argument,
                  std::function<Call<T>()> make = [] { return Call<T>(); }) {
  swat_test::expect_error_on_every_path<Call<T>>(mutate, argument, make);
}

}  // namespace

TEMPLATE_TEST_CASE("forward rejects mismatched batch", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.k.shape[0] = 1; }, "k.shape[0]");
  expect_error<TestType>([](Call<TestType>& c) { c.v.shape[0] = 1; }, "v.shape[0]");
  expect_error<TestType>([](Call<TestType>& c) { c.o.shape[0] = 1; }, "o.shape[0]");
}

TEMPLATE_TEST_CASE("forward rejects mismatched head dim", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.k.shape[3] = 4; }, "k.shape[3]");
  expect_error<TestType>([](Call<TestType>& c) { c.v.shape[3] = 4; }, "v.shape[3]");
  expect_error<TestType>([](Call<TestType>& c) { c.o.shape[3] = 4; }, "o.shape[3]");
}

TEMPLATE_TEST_CASE("forward rejects k and v of different lengths", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.v.shape[1] = 7; }, "v.shape[1]");
  expect_error<TestType>([](Call<TestType>& c) { c.v.shape[2] = 1; }, "v.shape[2]");
}

TEMPLATE_TEST_CASE("forward rejects an output of the wrong shape", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.o.shape[1] = 7; }, "o.shape[1]");
  expect_error<TestType>([](Call<TestType>& c) { c.o.shape[2] = 2; }, "o.shape[2]");
}

TEMPLATE_TEST_CASE("forward rejects query heads that are not a multiple of the kv heads", "[errors]", float,
                   double) {
  expect_error<TestType>([](Call<TestType>&) {}, "q.shape[2]", [] { return Call<TestType>(2, 8, 8, 4, 3, 8); });
  expect_error<TestType>([](Call<TestType>& c) { c.k.shape[2] = c.v.shape[2] = 0; }, "k.shape[2]");
}

TEMPLATE_TEST_CASE("forward rejects a negative window", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.opt.window = -1; }, "window");
}

TEMPLATE_TEST_CASE("forward rejects an odd rope_dim", "[errors]", float, double) {
  expect_error<TestType>(
      [](Call<TestType>& c) {
        c.opt.rope = swat::RopeLayout::half;
        c.opt.rope_dim = 5;
      },
      "rope_dim");
  // D odd and rope_dim defaulting to D.
  expect_error<TestType>([](Call<TestType>& c) { c.opt.rope = swat::RopeLayout::interleaved; }, "rope_dim",
                         [] { return Call<TestType>(2, 8, 8, 4, 2, 9); });
}

TEMPLATE_TEST_CASE("forward rejects rope_dim larger than D or negative", "[errors]", float, double) {
  for (int r : {10, -2})
    expect_error<TestType>(
        [r](Call<TestType>& c) {
          c.opt.rope = swat::RopeLayout::half;
          c.opt.rope_dim = r;
        },
        "rope_dim");
}

TEMPLATE_TEST_CASE("forward rejects a non-positive or non-finite rope_base", "[errors]", float, double) {
  for (float base : {0.f, -10000.f, std::nanf(""), INFINITY})
    expect_error<TestType>(
        [base](Call<TestType>& c) {
          c.opt.rope = swat::RopeLayout::interleaved;
          c.opt.rope_base = base;
        },
        "rope_base");
}

TEMPLATE_TEST_CASE("forward rejects a wrong number of slopes", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.opt.alibi_slopes = {0.5f, 0.25f, 0.125f}; }, "alibi_slopes");
  expect_error<TestType>([](Call<TestType>& c) { c.opt.alibi_slopes = swat::alibi_slopes(8); }, "alibi_slopes");
  expect_error<TestType>([](Call<TestType>& c) { c.opt.alibi_slopes = {0.5f, std::nanf(""), 0.f, 1.f}; },
                         "alibi_slopes[1]");
}

TEMPLATE_TEST_CASE("forward rejects null data with a non-zero extent", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.q.data = nullptr; }, "q.data");
  expect_error<TestType>([](Call<TestType>& c) { c.k.data = nullptr; }, "k.data");
  expect_error<TestType>([](Call<TestType>& c) { c.v.data = nullptr; }, "v.data");
  expect_error<TestType>([](Call<TestType>& c) { c.o.data = nullptr; }, "o.data");
}

TEMPLATE_TEST_CASE("forward rejects a NaN scale", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.opt.scale = std::nanf(""); }, "scale");
}

TEMPLATE_TEST_CASE("forward rejects an infinite scale", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.opt.scale = INFINITY; }, "scale");
  expect_error<TestType>([](Call<TestType>& c) { c.opt.scale = -INFINITY; }, "scale");
}

TEMPLATE_TEST_CASE("forward rejects a non-finite sigmoid_bias", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.opt.sigmoid_bias = std::nanf(""); }, "sigmoid_bias");
}

TEMPLATE_TEST_CASE("forward rejects an output aliasing q", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.o.data = c.q.data; }, "disjoint from q");
  // o starting in the middle of q.
  expect_error<TestType>([](Call<TestType>& c) { c.o.data = c.q.data + 100; }, "disjoint from q");
}

TEMPLATE_TEST_CASE("forward rejects an output overlapping k or v", "[errors]", float, double) {
  // Long k and v (2048 elements each) so that o (512) can sit inside one of them only.
  const auto long_kv = [] { return Call<TestType>(2, 8, 64, 4, 2, 8); };
  expect_error<TestType>([](Call<TestType>& c) { c.o.data = c.k.data + 100; }, "disjoint from k", long_kv);
  expect_error<TestType>([](Call<TestType>& c) { c.o.data = c.v.data + 5; }, "disjoint from v", long_kv);
  // Overlap through the strides only: o starts after k's first row but its batch stride reaches back.
  expect_error<TestType>(
      [](Call<TestType>& c) {
        c.o.data = c.k.data + 2 * 64 * 2 * 8 - 1;  // k's last element
        c.o.stride = {-600, 16 * 4, 16, 1};
      },
      "disjoint from k", long_kv);
}

TEMPLATE_TEST_CASE("forward rejects a negative extent", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.q.shape[1] = -1; }, "q.shape[1]");
  expect_error<TestType>([](Call<TestType>& c) { c.k.shape[1] = c.v.shape[1] = -3; }, "k.shape[1]");
  expect_error<TestType>([](Call<TestType>& c) { c.o.shape[3] = -8; }, "o.shape[3]");
}

TEMPLATE_TEST_CASE("forward rejects negative threads", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.opt.threads = -1; }, "threads");
}

TEMPLATE_TEST_CASE("forward rejects forcing an isa this machine cannot run", "[errors]", float, double) {
  const std::vector<Isa> available = swat::available_isas();
  int rejected = 0;
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::sse2, Isa::neon}) {
    if (std::find(available.begin(), available.end(), isa) != available.end()) continue;
    ++rejected;
    Call<TestType> call;
    const std::vector<TestType> before = call.memory;
    INFO("isa=" << swat::isa_name(isa));
    CHECK_THROWS_AS(call.run(isa), swat::Error);
    CHECK_THROWS_WITH(call.run(isa), Catch::Contains("isa") && Catch::Contains(swat::isa_name(isa)));
    CHECK(swat_test::same_bits(before, call.memory));
  }
#if defined(__x86_64__) || defined(_M_X64)
  CHECK(rejected >= 1);  // at least neon
#endif
}

TEST_CASE("a native x86 path runs only where the CPU has all its features and the OS saves its registers",
          "[errors][isa]") {
  using swat::detail::X86Features;
  using swat::detail::x86_features_run;
  // CPUID.1:ECX FMA, OSXSAVE, AVX, F16C; CPUID.(7,0):EBX AVX2, AVX-512 F, DQ, CD, BW; XCR0.
  constexpr uint32_t ecx = 1u << 12 | 1u << 27 | 1u << 28 | 1u << 29;
  constexpr uint32_t avx2 = 1u << 5, f = 1u << 16, dq = 1u << 17, cd = 1u << 28, bw = 1u << 30;
  const X86Features zen4{ecx, avx2 | f | dq | cd | bw, 1u << 5, 0xe7};
  // zen4 with `bits` of one CPUID word cleared, or with another XCR0.
  const auto without = [&](uint32_t X86Features::*word, uint32_t bits) {
    X86Features cpu = zen4;
    cpu.*word &= ~bits;
    return cpu;
  };
  const auto saving = [&](uint64_t xcr0) {
    X86Features cpu = zen4;
    cpu.xcr0 = xcr0;
    return cpu;
  };
  CHECK(x86_features_run(Isa::avx512, zen4));
  CHECK(x86_features_run(Isa::avx2, zen4));
  // AVX-512 F without CD, BW or DQ (Knights Landing has F and CD only), which the avx512 path is
  // compiled with: AVX2 only.
  for (uint32_t missing : {dq, cd, bw, f, dq | bw}) {
    INFO("leaf 7 ebx without bit mask " << missing);
    CHECK_FALSE(x86_features_run(Isa::avx512, without(&X86Features::leaf7_ebx, missing)));
    CHECK(x86_features_run(Isa::avx2, without(&X86Features::leaf7_ebx, missing)));
  }
  // An OS (or hypervisor) that saves the AVX registers but not all of AVX-512's: opmask, upper
  // halves of ZMM0-15, ZMM16-31.
  for (uint64_t xcr0 : {0x7, 0x67, 0xa7, 0xc7}) {
    INFO("xcr0 " << xcr0);
    CHECK_FALSE(x86_features_run(Isa::avx512, saving(xcr0)));
    CHECK(x86_features_run(Isa::avx2, saving(xcr0)));
  }
  // Without the AVX state, OSXSAVE (no XCR0 to read), FMA, AVX, F16C or AVX2: neither path.
  std::vector<X86Features> no_avx2 = {saving(0x3), saving(0xe3), without(&X86Features::leaf7_ebx, avx2)};
  for (uint32_t missing : {1u << 27, 1u << 12, 1u << 28, 1u << 29})
    no_avx2.push_back(without(&X86Features::leaf1_ecx, missing));
  for (const X86Features& cpu : no_avx2) {
    INFO("leaf 1 ecx " << cpu.leaf1_ecx << ", leaf 7 ebx " << cpu.leaf7_ebx << ", xcr0 " << cpu.xcr0);
    CHECK_FALSE(x86_features_run(Isa::avx2, cpu));
    CHECK_FALSE(x86_features_run(Isa::avx512, cpu));
  }
  // The other paths are not x86 vector paths.
  for (Isa isa : {Isa::sse2, Isa::neon, Isa::portable})
    CHECK_FALSE(x86_features_run(isa, zen4));
  // bf16 pair products: AVX-512 BF16 (CPUID.(7,1):EAX bit 5) on the avx512 path; forward takes
  // them on AMD ("Auth") and any vendor but Intel ("Genu"), whose cores run them at half the
  // rate of float products.
  using swat::detail::x86_bf16_products_pay;
  using swat::detail::x86_has_avx512_bf16;
  X86Features amd = zen4, intel = zen4;
  amd.vendor_ebx = 0x68747541;  // "Auth", AuthenticAMD
  intel.vendor_ebx = 0x756e6547;  // "Genu", GenuineIntel
  for (const X86Features& cpu : {zen4, amd, intel}) {
    INFO("vendor " << cpu.vendor_ebx);
    CHECK(x86_has_avx512_bf16(cpu));
    CHECK(x86_bf16_products_pay(cpu) == (cpu.vendor_ebx != 0x756e6547));
    X86Features no_bf16 = cpu;
    no_bf16.leaf7_1_eax = 0;
    CHECK_FALSE(x86_has_avx512_bf16(no_bf16));
    CHECK_FALSE(x86_bf16_products_pay(no_bf16));
    X86Features no_avx512 = cpu;
    no_avx512.leaf7_ebx &= ~bw;
    CHECK_FALSE(x86_has_avx512_bf16(no_avx512));
    CHECK_FALSE(x86_bf16_products_pay(no_avx512));
  }
  // A lone head's cache step asks for its rows itself on Intel's cores and on AMD's from Zen 5
  // (family 26: base family 15 plus extended family 11) on, whatever the features.
  using swat::detail::x86_decode_asks_for_rows;
  using swat::detail::x86_family;
  const auto with_family = [](X86Features cpu, uint32_t eax) {
    cpu.leaf1_eax = eax;
    return cpu;
  };
  const X86Features zen3 = with_family(amd, 0x00a00f11), zen4_amd = with_family(amd, 0x00a10f11),
                    zen5 = with_family(amd, 0x00b00f20), xeon = with_family(intel, 0x000c06f0);
  CHECK(x86_family(zen3) == 25);
  CHECK(x86_family(zen4_amd) == 25);
  CHECK(x86_family(zen5) == 26);
  CHECK(x86_family(xeon) == 6);  // base family 6: the extended family does not count
  CHECK(x86_family(with_family(amd, 0x00800f82)) == 23);  // Zen 2
  CHECK(x86_decode_asks_for_rows(intel));
  CHECK(x86_decode_asks_for_rows(xeon));
  CHECK(x86_decode_asks_for_rows(zen5));
  CHECK(x86_decode_asks_for_rows(with_family(amd, 0x00b40f40)));  // family 26, another model
  CHECK_FALSE(x86_decode_asks_for_rows(amd));
  CHECK_FALSE(x86_decode_asks_for_rows(zen3));
  CHECK_FALSE(x86_decode_asks_for_rows(zen4_amd));
  CHECK_FALSE(x86_decode_asks_for_rows(zen4));
  // Another vendor with family 26 in its CPUID: not asked.
  X86Features other = with_family(zen4, 0x00b00f20);
  other.vendor_ebx = 0x746e6543;  // "Cent", CentaurHauls
  CHECK_FALSE(x86_decode_asks_for_rows(other));
  X86Features old_intel = X86Features{};
  old_intel.vendor_ebx = intel.vendor_ebx;
  CHECK(x86_decode_asks_for_rows(old_intel));
  // This machine: the paths offered are the ones its features run.
  const std::vector<Isa> available = swat::available_isas();
  for (Isa isa : {Isa::avx512, Isa::avx2}) {
    INFO("isa=" << swat::isa_name(isa));
    const bool offered = std::find(available.begin(), available.end(), isa) != available.end();
    if (offered) CHECK(x86_features_run(isa, swat::detail::read_x86_features()));
  }
  // ... and has_bf16_products says what its vendor and features give.
  if (std::find(available.begin(), available.end(), Isa::avx512) != available.end()) {
    const X86Features here = swat::detail::read_x86_features();
    CHECK(swat::has_bf16_products(Isa::avx512) == x86_bf16_products_pay(here));
    CHECK(swat::has_bf16_products(Isa::avx512, swat::Bf16Call::step) == x86_has_avx512_bf16(here));
  }
}

TEMPLATE_TEST_CASE("forward with a zero extent is a no-op that leaves o untouched", "[errors][empty]", float,
                   double) {
  struct Shape {
    int64_t B, Sq, Sk, H, Hkv, D;
  };
  const Shape shapes[] = {{0, 8, 8, 4, 2, 8}, {2, 0, 8, 4, 2, 8}, {2, 0, 0, 4, 2, 8}, {2, 8, 8, 0, 0, 8}, {2, 8, 8, 4, 2, 0}};
  for (Isa isa : isas_and_automatic())
    for (const Shape& s : shapes)
      for (swat::Activation act : swat_test::kActivations) {
        Call<TestType> call(s.B, s.Sq, s.Sk, s.H, s.Hkv, s.D);
        call.opt.activation = act;
        // o gets its own sentinel buffer so "untouched" is observable for a zero-size view.
        std::vector<TestType> out(64, Call<TestType>::sentinel);
        call.o.data = out.data();
        const std::vector<TestType> before = call.memory, out_before = out;
        INFO("isa=" << swat::isa_name(isa) << " B=" << s.B << " Sq=" << s.Sq << " Sk=" << s.Sk << " H=" << s.H
                    << " Hkv=" << s.Hkv << " D=" << s.D);
        CHECK_NOTHROW(call.run(isa));
        CHECK(swat_test::same_bits(out_before, out));
        CHECK(swat_test::same_bits(before, call.memory));
        // Null data is fine when there is nothing to read.
        if (s.B == 0) {
          call.q.data = call.k.data = call.v.data = call.o.data = nullptr;
          CHECK_NOTHROW(call.run(isa));
        }
      }
}

TEMPLATE_TEST_CASE("forward with no keys writes zero rows", "[errors][empty]", float, double) {
  for (Isa isa : isas_and_automatic())
    for (swat::Activation act : swat_test::kActivations)
      for (bool extras : {false, true}) {
        Call<TestType> call(2, 8, 0, 4, 2, 8);
        call.opt.activation = act;
        if (extras) {
          call.opt.alibi_slopes = swat::balanced_alibi_slopes(4);
          call.opt.rope = swat::RopeLayout::half;
          call.opt.window = 3;
          call.k.data = call.v.data = nullptr;  // nothing to read
        }
        INFO("isa=" << swat::isa_name(isa) << " activation=" << swat_test::activation_name(act)
                    << " slopes+rope+window=" << extras);
        REQUIRE_NOTHROW(call.run(isa));
        int64_t nonzero = 0;
        for (int64_t n = 0; n < 2 * 8 * 4 * 8; ++n) nonzero += !(call.o.data[n] == TestType(0));
        CHECK(nonzero == 0);
      }
}

TEMPLATE_TEST_CASE("forward rejects shapes whose element count overflows 64 bits", "[errors][overflow]", float,
                   double) {
  static constexpr int64_t big = int64_t(1) << 40;
  expect_error<TestType>([](Call<TestType>& c) { c.q.shape[1] = c.q.shape[2] = big; }, "q.shape");
  expect_error<TestType>([](Call<TestType>& c) { c.k.shape[0] = big, c.k.shape[3] = big; }, "k.shape");
  // Consistent with every other tensor, so the count is what fails first.
  expect_error<TestType>(
      [](Call<TestType>& c) {
        for (auto* v : {&c.q, &c.o}) v->shape[1] = v->shape[2] = int64_t(1) << 31, v->shape[3] = int64_t(1) << 31;
      },
      "q.shape");
  expect_error<TestType>([](Call<TestType>& c) { c.o.shape[1] = c.o.shape[3] = big; }, "o.shape");
}

TEMPLATE_TEST_CASE("forward rejects strides whose offsets overflow 64 bits", "[errors][overflow]", float, double) {
  static constexpr int64_t max = std::numeric_limits<int64_t>::max(), min = std::numeric_limits<int64_t>::min();
  static constexpr int64_t e62 = int64_t(1) << 62;
  // (extent - 1) * stride alone.
  expect_error<TestType>([](Call<TestType>& c) { c.q.stride[1] = e62; }, "q.stride");
  expect_error<TestType>([](Call<TestType>& c) { c.k.stride[1] = -e62; }, "k.stride");
  // Each axis fits, their sum does not.
  expect_error<TestType>([](Call<TestType>& c) { c.v.stride[0] = c.v.stride[2] = e62; }, "v.stride");
  expect_error<TestType>([](Call<TestType>& c) { c.o.stride[0] = c.o.stride[2] = -e62; }, "o.stride");
  // The last offset is INT64_MAX: one past it, or its bytes, overflow.
  expect_error<TestType>([](Call<TestType>& c) { c.q.stride = {max, 0, 0, 0}; }, "q.stride");
  expect_error<TestType>([](Call<TestType>& c) { c.k.stride = {min, 0, 0, 0}; }, "k.stride");
  // Element offsets fit, byte offsets do not.
  expect_error<TestType>([](Call<TestType>& c) { c.v.stride[0] = int64_t(1) << 61; }, "v.stride");
  // Byte offsets fit, but reach below address 0.
  expect_error<TestType>([](Call<TestType>& c) { c.o.stride[0] = -(int64_t(1) << 59); }, "o.stride");
}

TEMPLATE_TEST_CASE("forward rejects an output whose elements share memory", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.o.stride[1] = 0; }, "o.stride");  // broadcast row
  expect_error<TestType>([](Call<TestType>& c) { c.o.stride[2] = 4; }, "o.stride");  // heads overlap
  expect_error<TestType>([](Call<TestType>& c) { c.o.stride[3] = 0; }, "o.stride");
  // Inputs may share memory freely: k and v the same tensor, q broadcast over the batch.
  Call<TestType> call;
  call.v = call.k;
  call.q.stride[0] = 0;
  CHECK_NOTHROW(call.run(Isa::automatic));
  // ...and an empty output has no two elements to share memory.
  Call<TestType> empty(2, 0, 8, 4, 2, 8);
  empty.o.stride = {0, 0, 0, 0};
  CHECK_NOTHROW(empty.run(Isa::automatic));
}

TEMPLATE_TEST_CASE("forward rejects positions beyond +-2^62", "[errors][overflow]", float, double) {
  static constexpr int64_t max = std::numeric_limits<int64_t>::max(), min = std::numeric_limits<int64_t>::min();
  expect_error<TestType>([](Call<TestType>& c) { c.opt.k_pos0 = max; }, "k_pos0");
  expect_error<TestType>([](Call<TestType>& c) { c.opt.k_pos0 = min; }, "k_pos0");
  expect_error<TestType>([](Call<TestType>& c) { c.opt.k_pos0 = int64_t(1) << 62; }, "k_pos0");
  expect_error<TestType>([](Call<TestType>& c) { c.opt.q_pos0 = min; }, "q_pos0");
  // In range, but the last query position is not.
  expect_error<TestType>([](Call<TestType>& c) { c.opt.q_pos0 = (int64_t(1) << 62) - 4; }, "q_pos0");
  // The default q_pos0 = k_pos0 + Sk - Sq itself overflows.
  expect_error<TestType>([](Call<TestType>& c) { c.opt.k_pos0 = max - 10; }, "k_pos0",
                         [] { return Call<TestType>(2, 8, 64, 4, 2, 8); });
}

TEMPLATE_TEST_CASE("forward rejects enum values outside their range", "[errors]", float, double) {
  expect_error<TestType>([](Call<TestType>& c) { c.opt.activation = static_cast<swat::Activation>(7); }, "activation");
  expect_error<TestType>([](Call<TestType>& c) { c.opt.rope = static_cast<swat::RopeLayout>(9); }, "options.rope");
  Call<TestType> call;
  const std::vector<TestType> before = call.memory;
  CHECK_THROWS_AS(call.run(static_cast<Isa>(42)), swat::Error);
  CHECK(swat_test::same_bits(before, call.memory));
}

TEMPLATE_TEST_CASE("forward is exact at the extremes of positions and windows", "[errors][overflow]", float,
                   double) {
  constexpr int64_t max = std::numeric_limits<int64_t>::max();
  const int64_t edge = (int64_t(1) << 62) - 100;
  using swat_test::AttentionTester;
  const swat::Isa isa = GENERATE(swat_test::isas());
  for (swat::Activation act : swat_test::kActivations)
    for (int64_t window : {int64_t(0), int64_t(5), max, max - 1, edge}) {
      // Keys and queries at the opposite ends of the range: distances near 2^63.
      AttentionTester t;
      t.q_len(9).k_len(12).heads(4).kv_heads(2).dim(8).window(window).activation(act).isa(isa);
      t.slopes(swat::balanced_alibi_slopes(4)).sigmoid_bias(0.5f);
      t.k_pos0(-edge).q_pos0(edge - 20).test<TestType>();
      t.k_pos0(edge - 20).q_pos0(-edge).test<TestType>();  // no key visible: zero rows
      t.k_pos0(edge - 12).q_pos0(std::nullopt).test<TestType>();
      t.k_pos0(-edge).q_pos0(-edge + 3).test<TestType>();
    }
}
