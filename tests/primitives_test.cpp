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
#define SWAT_TEST_TABLE_CASE(path) \
  case swat::Isa::path: return p::isa_##path::table();
    SWAT_TEST_COMPILED_PATHS(SWAT_TEST_TABLE_CASE)
#undef SWAT_TEST_TABLE_CASE
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
