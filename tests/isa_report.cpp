// Prints the ISA paths the suite executes on this CPU and those it compiled but cannot run here
// (scripts/test puts both in its summary), e.g.
//   run: avx512 avx2 sse2 portable
//   not run: none
//   kernels: avx512 avx2 sse2 portable
// "run" and "not run" split the compiled paths (the primitives' known-answer tests); "kernels"
// is swat::available_isas(), the paths every kernel test goes through.
#include <cstdio>

#include <swat/swat.hpp>

#include "support/isa_paths.hpp"

int main() {
  std::vector<swat::Isa> run, not_run;
  for (swat::Isa isa : swat_test::compiled_isas()) (swat::detail::cpu_runs(isa) ? run : not_run).push_back(isa);
  std::printf("run: %s\nnot run: %s\nkernels: %s\n", swat_test::isa_list(run).c_str(),
              swat_test::isa_list(not_run).c_str(), swat_test::isa_list(swat::available_isas()).c_str());
  return 0;
}
