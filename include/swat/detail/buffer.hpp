// Buffer: zero-initialised scratch owned by one thread, grown on demand, never shrunk.
// It exists instead of std::vector or std::unique_ptr so that translation units compiled with
// different ISA flags (run-time dispatch) share no std template instantiation that one of them
// compiled with instructions another CPU lacks. Its memory starts on a cache line: large blocks
// from malloc start 16 bytes into a page, so every 64-byte vector load of a packed panel or
// slab straddled two lines (aligned, the 340M layer's backward ran 3% faster, its forward 1%).
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>

#include "isa_namespace.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

template <class T>
class Buffer {
  static_assert(std::is_trivially_destructible<T>::value, "Buffer holds plain values");
  static constexpr std::align_val_t alignment{64};

 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { release(); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  std::size_t size() const { return size_; }

  // Ensures room for n elements; contents are zero after growth, kept otherwise.
  void fit(std::size_t n) {
    if (n <= size_) return;
    T* grown = static_cast<T*>(::operator new(n * sizeof(T), alignment));
    release();
    data_ = grown;
    for (std::size_t i = 0; i < n; ++i) ::new (static_cast<void*>(data_ + i)) T{};
    size_ = n;
  }

 private:
  void release() {
    if (data_ != nullptr) ::operator delete(data_, alignment);
    data_ = nullptr;
    size_ = 0;
  }

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
