// Catch2 (v2) main for every swat test executable.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  // Errors near 1e-12 must be readable in failure expansions.
  Catch::StringMaker<double>::precision = 17;
  Catch::StringMaker<float>::precision = 9;
  return Catch::Session().run(argc, argv);
}
