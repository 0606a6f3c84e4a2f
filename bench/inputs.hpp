// Benchmark inputs: random unit-scale tensors with fixed seeds, made once and shared by every
// benchmark of the same size (filling 64 MB takes longer than some of the runs), so nothing is
// allocated or filled inside a timed loop. Each starts on a 64-byte line, as PyTorch's CPU
// allocator places tensors: malloc would start a large block 16 bytes into a page, and a row
// of 64 floats would then span five cache lines instead of four (the 340M layer's backward on
// 2 threads ran 1.1-1.17x as long so; the forward was level).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

namespace swat_bench {

template <class T>
struct LineAligned {
  using value_type = T;
  LineAligned() = default;
  template <class U>
  LineAligned(const LineAligned<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <class U>
  bool operator==(const LineAligned<U>&) const { return true; }
  template <class U>
  bool operator!=(const LineAligned<U>&) const { return false; }
};

using Tensor = std::shared_ptr<std::vector<float, LineAligned<float>>>;

// `count` floats uniform in [-1, 1), the same values for the same (count, seed) on every run.
Tensor random_tensor(int64_t count, uint64_t seed);

// `count` zeros (already touched, so the first timed run pays no page faults); `tag` tells
// apart outputs of the same size that must not alias.
Tensor output_tensor(int64_t count, uint64_t tag);

}  // namespace swat_bench
