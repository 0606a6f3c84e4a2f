// Index arithmetic is 64-bit: views whose element offsets pass 2^31 and 2^32, made of sparse
// strides over a large reserved mapping (MAP_NORESERVE: only the pages holding elements are
// ever touched, a few MB), compared with the reference.
#include "tester.hpp"

#include <cerrno>
#include <cstring>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define SWAT_TEST_HAVE_MMAP 1
#endif

using swat::Isa;

namespace {

#if defined(SWAT_TEST_HAVE_MMAP)
// An anonymous private mapping, reserved but not committed.
class Mapping {
 public:
  explicit Mapping(std::size_t bytes) : bytes_(bytes) {
#if defined(MAP_NORESERVE)
    const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
#else
    const int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#endif
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED)
      error_ = std::strerror(errno);
    else
      data_ = p;
  }
  ~Mapping() {
    if (data_ != nullptr) munmap(data_, bytes_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  void* data() const { return data_; }
  const std::string& error() const { return error_; }

 private:
  std::size_t bytes_;
  void* data_ = nullptr;
  std::string error_;
};
#endif

template <class T>
void run_large_offsets() {
#if !defined(SWAT_TEST_HAVE_MMAP)
  WARN("no mmap on this platform: the > 2^31 offset test is skipped");
#else
  constexpr int64_t B = 3, Sq = 24, Sk = 40, H = 4, Hkv = 2, D = 20;
  // Offsets in elements. Inputs: batch b at b * E, so the last batch lies past 2^32; o lives
  // above every input (its range must be disjoint) and walks down with negative strides.
  constexpr int64_t E = (int64_t(1) << 31) + 4099;
  constexpr int64_t inputs_end = 2 * E + (int64_t(1) << 27);
  constexpr int64_t OB = (int64_t(1) << 31) + 12345, OS = (int64_t(1) << 20) + 99;
  constexpr int64_t o_start = inputs_end + 2 * OB + Sq * OS + 4096;  // o[0, 0, 0, 0]
  constexpr int64_t total = o_start + 4096;
  static_assert(2 * E > (int64_t(1) << 32), "the last batch must sit past 2^32 elements");

  Mapping map(static_cast<std::size_t>(total) * sizeof(T));
  if (map.data() == nullptr) {
    WARN("mmap of " << total * int64_t(sizeof(T)) / (int64_t(1) << 30) << " GiB (MAP_NORESERVE) failed: "
                    << map.error() << "; the > 2^31 offset test is skipped");
    return;
  }
  T* base = static_cast<T*>(map.data());
  // q: plain rows; k: dim stride 2 (the packing path for strided rows); v: wide rows.
  const swat::View4<T> q{base, {B, Sq, H, D}, {E, (int64_t(1) << 20) + 31, 64, 1}};
  const swat::View4<T> k{base + 1000, {B, Sk, Hkv, D}, {E, (int64_t(1) << 20) + 517, 48, 2}};
  const swat::View4<T> v{base + 5000, {B, Sk, Hkv, D}, {E, (int64_t(1) << 21) + 3, 200, 1}};
  const swat::View4<T> o{base + o_start, {B, Sq, H, D}, {-OB, -OS, 32, 1}};

  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  for (const swat::View4<T>* t : {&q, &k, &v})
    for (int64_t b = 0; b < t->shape[0]; ++b)
      for (int64_t s = 0; s < t->shape[1]; ++s)
        for (int64_t h = 0; h < t->shape[2]; ++h)
          for (int64_t d = 0; d < D; ++d) t->at(b, s, h)[d * t->stride[3]] = static_cast<T>(unit(rng));
  // The largest offsets really are beyond 32 bits.
  CHECK(k.at(B - 1, Sk - 1, Hkv - 1) - base > (int64_t(1) << 32));
  CHECK(o.at(0, 0, 0) - o.at(B - 1, Sq - 1, 0) > (int64_t(1) << 32));

  const swat::Isa isa = GENERATE(swat_test::isas());
  for (swat::Activation act : swat_test::kActivations) {
    swat::Options opt;
    opt.window = 13;
    opt.activation = act;
    opt.alibi_slopes = swat::balanced_alibi_slopes(H);
    opt.rope = swat::RopeLayout::half;
    opt.threads = 2;
    swat::forward<T>(q, k, v, o, opt, isa);
    std::vector<double> ref(static_cast<std::size_t>(B * Sq * H * D));
    swat::reference::forward<T, double>(q, k, v, swat::bshd(ref.data(), B, Sq, H, D), opt);
    std::vector<T> got;
    int64_t stray = 0;  // non-zero elements between o's heads (dims D..31): must stay untouched
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < Sq; ++s)
        for (int64_t h = 0; h < H; ++h) {
          for (int64_t d = 0; d < D; ++d) got.push_back(o.at(b, s, h)[d]);
          for (int64_t d = D; d < 32; ++d) stray += !(o.at(b, s, h)[d] == T(0));
        }
    const swat_test::Comparison c = swat_test::compare(got, ref);
    INFO("type=" << swat_test::type_name<T>() << " isa=" << swat::isa_name(isa)
                 << " activation=" << swat_test::activation_name(act));
    INFO(swat_test::report(c, Sq, H, D, "expected"));
    CHECK(c.nonfinite == 0);
    CHECK(c.err <= swat_test::error_bound<T>());
    CHECK(stray == 0);
  }
#endif
}

}  // namespace

TEMPLATE_TEST_CASE("forward is correct with element offsets beyond 2^31 and 2^32", "[offsets]", float, double) {
  run_large_offsets<TestType>();
}
