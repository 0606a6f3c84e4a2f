#include "inputs.hpp"

#include <list>
#include <map>
#include <tuple>
#include <utility>

namespace swat_bench {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Tensors by (count, seed, is_output), oldest evicted first beyond the budget. A benchmark keeps
// its shared_ptr while it runs, so eviction never frees memory in use.
class Cache {
 public:
  Tensor get(int64_t count, uint64_t seed, bool output) {
    const Key key{count, seed, output};
    auto found = tensors_.find(key);
    if (found != tensors_.end()) return found->second;
    auto tensor = std::make_shared<Tensor::element_type>(static_cast<std::size_t>(count), 0.0f);
    if (!output) {
      uint64_t state = seed * 0x2545F4914F6CDD1Dull + static_cast<uint64_t>(count);
      for (float& x : *tensor)
        x = static_cast<float>(static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-52 - 1.0);
    }
    bytes_ += count * static_cast<int64_t>(sizeof(float));
    order_.push_back(key);
    tensors_.emplace(key, tensor);
    while (bytes_ > budget_ && order_.size() > 1) {
      const Key oldest = order_.front();
      order_.pop_front();
      bytes_ -= std::get<0>(oldest) * static_cast<int64_t>(sizeof(float));
      tensors_.erase(oldest);
    }
    return tensor;
  }

 private:
  using Key = std::tuple<int64_t, uint64_t, bool>;
  std::map<Key, Tensor> tensors_;
  std::list<Key> order_;
  int64_t bytes_ = 0;
  const int64_t budget_ = int64_t(2) << 30;  // 2 GiB
};

Cache& cache() {
  static Cache instance;
  return instance;
}

}  // namespace

Tensor random_tensor(int64_t count, uint64_t seed) { return cache().get(count, seed, false); }
Tensor output_tensor(int64_t count, uint64_t tag) { return cache().get(count, tag, true); }

}  // namespace swat_bench
