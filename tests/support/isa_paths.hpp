// The ISA paths this build compiled its per-ISA tests for (support/compiled_paths.hpp), and which
// of them this CPU runs. A path compiled but not runnable here is reported as "not run", never
// left out silently.
#pragma once

#include <string>
#include <vector>

#include <swat/isa.hpp>

#include "compiled_paths.hpp"

namespace swat_test {

inline std::vector<swat::Isa> compiled_isas() {
  std::vector<swat::Isa> out;
#define SWAT_TEST_ADD_PATH(path) out.push_back(swat::Isa::path);
  SWAT_TEST_COMPILED_PATHS(SWAT_TEST_ADD_PATH)
#undef SWAT_TEST_ADD_PATH
  return out;
}

// "avx512 avx2" or "none".
inline std::string isa_list(const std::vector<swat::Isa>& isas) {
  std::string out;
  for (swat::Isa isa : isas) out += (out.empty() ? "" : " ") + std::string(swat::isa_name(isa));
  return out.empty() ? "none" : out;
}

}  // namespace swat_test
