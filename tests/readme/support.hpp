// What the README's snippets assume around them (see CMakeLists.txt here): random inputs, and
// a check that an output matches the reference within the SPEC 4 bound.
#pragma once

#include <swat/reference.hpp>
#include <swat/swat.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "../support/accuracy.hpp"

namespace readme {

inline std::vector<float> random_vector(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(static_cast<std::size_t>(n));
  for (float& e : x) e = normal(rng);
  return x;
}

// Throws unless `got` (a std::vector) is within `bound` of `expected` in SPEC 4's measure.
template <class Got>
void check_close(const char* what, const Got& got, const std::vector<double>& expected, double bound) {
  if (got.size() != expected.size()) throw std::runtime_error(std::string(what) + ": sizes differ");
  const double err = swat_test::compare(got, expected).err;  // infinite when a value is not finite
  std::printf("  %s: max relative error %.3g\n", what, err);
  if (!(err <= bound)) throw std::runtime_error(std::string(what) + ": error above the bound");
}

}  // namespace readme
