// The instantiations reference_instances.hpp declares, compiled once for every test (each
// definition follows its extern declaration, as the standard allows in one file).
#include "reference_instances.hpp"

namespace swat {
namespace reference {
template SWAT_TEST_REFERENCE_FORWARD(float)
template SWAT_TEST_REFERENCE_FORWARD(double)
template SWAT_TEST_REFERENCE_FORWARD(bf16)
template SWAT_TEST_REFERENCE_FORWARD(f16)
template SWAT_TEST_REFERENCE_BACKWARD(float)
template SWAT_TEST_REFERENCE_BACKWARD(double)
}  // namespace reference
}  // namespace swat
