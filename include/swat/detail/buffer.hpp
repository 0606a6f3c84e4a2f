// Buffer: zero-initialised scratch owned by one thread, grown on demand, never shrunk.
// It exists instead of std::vector so that translation units compiled with different ISA
// flags (run-time dispatch) never share a std template instantiation that one of them
// compiled with instructions another CPU lacks.
#pragma once

#include <cstddef>
#include <memory>

#include "isa_namespace.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

template <class T>
class Buffer {
 public:
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  std::size_t size() const { return size_; }

  // Ensures room for n elements; contents are zero after growth, kept otherwise.
  void fit(std::size_t n) {
    if (n <= size_) return;
    data_.reset(new T[n]);
    for (std::size_t i = 0; i < n; ++i) data_[i] = T{};
    size_ = n;
  }

 private:
  std::unique_ptr<T[]> data_;
  std::size_t size_ = 0;
};

template <class T>
inline void fill(T* first, T* last, T value) {
  for (; first != last; ++first) *first = value;
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
