// Buffer: zero-initialised scratch owned by one thread, grown on demand, never shrunk.
// It exists instead of std::vector or std::unique_ptr so that translation units compiled with
// different ISA flags (run-time dispatch) share no std template instantiation that one of them
// compiled with instructions another CPU lacks.
#pragma once

#include <cstddef>

#include "isa_namespace.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

template <class T>
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { delete[] data_; }

  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  std::size_t size() const { return size_; }

  // Ensures room for n elements; contents are zero after growth, kept otherwise.
  void fit(std::size_t n) {
    if (n <= size_) return;
    T* grown = new T[n];
    delete[] data_;
    data_ = grown;
    for (std::size_t i = 0; i < n; ++i) data_[i] = T{};
    size_ = n;
  }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

template <class T>
inline void fill(T* first, T* last, T value) {
  for (; first != last; ++first) *first = value;
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
