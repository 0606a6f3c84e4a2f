// Known-answer tests of the SIMD primitives the kernels are written in, one table per ISA path.
// primitives_isa.cpp is compiled once per path with that path's flags (as swat::dispatch is) and
// exports its table; primitives_test.cpp, built with baseline flags, runs each table only on a
// CPU that can execute it. Only plain data crosses between the two, never Catch2 or std types,
// so no inline function is ever compiled with one ISA's flags and linked into another's code.
#pragma once

#include "../support/compiled_paths.hpp"

namespace swat_test {
namespace primitives {

// What one primitive's checks found on one path.
struct Outcome {
  long checks;
  long failures;
  double worst;     // the largest error seen, in ulps where the check measures them
  char first[768];  // the first failure, with its inputs
};

// Every primitive, in the order of the tables.
#define SWAT_PRIMITIVES(X)                                                                                  \
  X(load_store) X(broadcast_iota) X(fma) X(min_max_abs) X(compare_select) X(all_lanes) X(exp2_of_biased) X(load_scalar) \
  X(store_scalar) X(load_as) X(convert_to_float) X(convert_from_float) X(horizontal_sum) X(transpose_sum) \
  X(transpose_block) X(transpose_chunks) X(exp_nonpositive) X(sigmoid) X(tanh) X(micro_gemm) X(bf16_pairs) X(bf16_pair_gemm) \
  X(bf16_fma_pairs)

enum class Primitive {
#define SWAT_PRIMITIVE_ENUM(name) name,
  SWAT_PRIMITIVES(SWAT_PRIMITIVE_ENUM)
#undef SWAT_PRIMITIVE_ENUM
  count
};

using Check = void (*)(Outcome*);

// Tables of the paths this build compiled (support/compiled_paths.hpp).
#define SWAT_DECLARE_PRIMITIVE_TABLE(isa) \
  namespace isa_##isa {                   \
  const Check* table();                   \
  }
SWAT_TEST_COMPILED_PATHS(SWAT_DECLARE_PRIMITIVE_TABLE)
#undef SWAT_DECLARE_PRIMITIVE_TABLE

}  // namespace primitives
}  // namespace swat_test
