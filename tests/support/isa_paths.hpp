// The ISA paths this build compiled its per-ISA tests for (CMake defines SWAT_TEST_PRIMITIVES_<ISA>
// for each path swat::dispatch also builds), and which of them this CPU runs. A path compiled
// but not runnable here is reported as "not run", never left out silently.
#pragma once

#include <string>
#include <vector>

#include <swat/isa.hpp>

namespace swat_test {

inline std::vector<swat::Isa> compiled_isas() {
  std::vector<swat::Isa> out;
#ifdef SWAT_TEST_PRIMITIVES_AVX512
  out.push_back(swat::Isa::avx512);
#endif
#ifdef SWAT_TEST_PRIMITIVES_AVX2
  out.push_back(swat::Isa::avx2);
#endif
#ifdef SWAT_TEST_PRIMITIVES_SSE2
  out.push_back(swat::Isa::sse2);
#endif
#ifdef SWAT_TEST_PRIMITIVES_NEON
  out.push_back(swat::Isa::neon);
#endif
  out.push_back(swat::Isa::portable);
  return out;
}

// "avx512 avx2" or "none".
inline std::string isa_list(const std::vector<swat::Isa>& isas) {
  std::string out;
  for (swat::Isa isa : isas) out += (out.empty() ? "" : " ") + std::string(swat::isa_name(isa));
  return out.empty() ? "none" : out;
}

}  // namespace swat_test
