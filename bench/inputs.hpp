// Benchmark inputs: random unit-scale tensors with fixed seeds, made once and shared by every
// benchmark of the same size (filling 64 MB takes longer than some of the runs), so nothing is
// allocated or filled inside a timed loop.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace swat_bench {

using Tensor = std::shared_ptr<std::vector<float>>;

// `count` floats uniform in [-1, 1), the same values for the same (count, seed) on every run.
Tensor random_tensor(int64_t count, uint64_t seed);

// `count` zeros (already touched, so the first timed run pays no page faults); `tag` tells
// apart outputs of the same size that must not alias.
Tensor output_tensor(int64_t count, uint64_t tag);

}  // namespace swat_bench
