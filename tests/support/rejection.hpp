// Bad input must be rejected with swat::Error and change nothing: the outcome of a call that
// should be rejected, and snapshots of the memory it must leave alone. Shared by the Catch2
// tests (support/expect_error.hpp) and the fuzz target: no Catch2 here.
#pragma once

#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <swat/error.hpp>

namespace swat_test {

// The bytes of some buffers, taken now, to tell later whether anything changed them. The
// buffers must stay where they are (no resize) while the snapshot is in use.
class Snapshot {
 public:
  template <class... Vectors>
  static Snapshot of(const Vectors&... buffers) {
    Snapshot s;
    (s.add(buffers), ...);
    return s;
  }

  template <class T>
  Snapshot& add(const std::vector<T>& buffer) {
    const auto* first = reinterpret_cast<const unsigned char*>(buffer.data());
    parts_.push_back(Part{first, std::vector<unsigned char>(first, first + buffer.size() * sizeof(T))});
    return *this;
  }

  bool unchanged() const {
    for (const Part& p : parts_)
      if (!p.bytes.empty() && std::memcmp(p.at, p.bytes.data(), p.bytes.size()) != 0) return false;
    return true;
  }

 private:
  struct Part {
    const unsigned char* at;
    std::vector<unsigned char> bytes;
  };
  std::vector<Part> parts_;
};

// What a call that should be rejected did.
struct Rejection {
  enum class Kind { accepted, swat_error, other_exception };
  Kind kind = Kind::accepted;
  std::string message;     // what() of the exception
  bool unchanged = false;  // every byte of the snapshot as before
};

template <class F>
Rejection rejection_of(F&& call, const Snapshot& watched) {
  Rejection r;
  try {
    call();
  } catch (const swat::Error& e) {
    r.kind = Rejection::Kind::swat_error;
    r.message = e.what();
  } catch (const std::exception& e) {
    r.kind = Rejection::Kind::other_exception;
    r.message = e.what();
  }
  r.unchanged = watched.unchanged();
  return r;
}

// The message of the swat::Error `f` throws ("" when it throws nothing). Any other exception
// passes through, to fail the test with its own message.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const swat::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace swat_test
