// Known-answer tests of every SIMD primitive, on every ISA path this build compiled (see
// primitives/primitives.hpp): one test case per primitive, one section per path, so a wrong
// primitive fails a test that names it and the path. Paths this CPU cannot execute are reported
// as not run.
#include <catch2/catch.hpp>

#include "primitives/primitives.hpp"
#include "support/isa_paths.hpp"

namespace {

using swat_test::primitives::Check;
using swat_test::primitives::Outcome;
using swat_test::primitives::Primitive;

const Check* table_of(swat::Isa isa) {
  namespace p = swat_test::primitives;
  switch (isa) {
#ifdef SWAT_TEST_PRIMITIVES_AVX512
    case swat::Isa::avx512: return p::isa_avx512::table();
#endif
#ifdef SWAT_TEST_PRIMITIVES_AVX2
    case swat::Isa::avx2: return p::isa_avx2::table();
#endif
#ifdef SWAT_TEST_PRIMITIVES_SSE2
    case swat::Isa::sse2: return p::isa_sse2::table();
#endif
#ifdef SWAT_TEST_PRIMITIVES_NEON
    case swat::Isa::neon: return p::isa_neon::table();
#endif
    case swat::Isa::portable: return p::isa_portable::table();
    default: return nullptr;
  }
}

void check_primitive(Primitive primitive, const char* name) {
  for (swat::Isa isa : swat_test::compiled_isas()) {
    if (!swat::detail::cpu_runs(isa)) {
      WARN(name << " on " << swat::isa_name(isa) << ": not run (compiled, but this CPU cannot execute it)");
      continue;
    }
    DYNAMIC_SECTION(name << " on " << swat::isa_name(isa)) {
      const Check* table = table_of(isa);
      REQUIRE(table != nullptr);
      Outcome outcome{};
      table[static_cast<int>(primitive)](&outcome);
      INFO(name << " on " << swat::isa_name(isa) << ": " << outcome.checks << " checks, " << outcome.failures
                << " failed, worst error " << outcome.worst);
      INFO("first failure: " << outcome.first);
      CHECK(outcome.checks > 0);
      CHECK(outcome.failures == 0);
    }
  }
}

}  // namespace

#define SWAT_PRIMITIVE_TEST(name)                                                                  \
  TEST_CASE("primitive " #name " matches scalar code on every ISA path", "[primitives]") { \
    check_primitive(Primitive::name, #name);                                                       \
  }
SWAT_PRIMITIVES(SWAT_PRIMITIVE_TEST)
#undef SWAT_PRIMITIVE_TEST
