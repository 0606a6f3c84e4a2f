// The double reference's instantiations the tests compare against, compiled once, optimised,
// in reference_instances.cpp (the static library swat_test_reference): a test source that
// includes this header calls them instead of instantiating swat/reference.hpp itself. Under
// AddressSanitizer the tests' own code compiles at -O0 (tests/CMakeLists.txt), where the
// reference in every test source took most of the tests' time (318 s against 133 at -O1 on a
// Zen 3 EPYC VM). Any other instantiation still compiles where it is used.
#pragma once

#include <swat/reference.hpp>
#include <swat/types.hpp>

#define SWAT_TEST_REFERENCE_FORWARD(T) \
  void forward<T, double>(View4<const T>, View4<const T>, View4<const T>, View4<double>, const Options&);
#define SWAT_TEST_REFERENCE_BACKWARD(T)                                                                      \
  void backward<T, double>(View4<const T>, View4<const T>, View4<const T>, View4<const T>, View4<const T>, \
                           View4<double>, View4<double>, View4<double>, const Options&, double*, double*);

namespace swat {
namespace reference {
extern template SWAT_TEST_REFERENCE_FORWARD(float)
extern template SWAT_TEST_REFERENCE_FORWARD(double)
extern template SWAT_TEST_REFERENCE_FORWARD(bf16)
extern template SWAT_TEST_REFERENCE_FORWARD(f16)
extern template SWAT_TEST_REFERENCE_BACKWARD(float)
extern template SWAT_TEST_REFERENCE_BACKWARD(double)
}  // namespace reference
}  // namespace swat
