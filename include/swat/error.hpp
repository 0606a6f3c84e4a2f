// swat::Error: the one exception type the library throws for bad input.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace swat {

// Thrown before anything is written to an output; the message names the argument,
// what was expected and what came.
class Error : public std::invalid_argument {
 public:
  explicit Error(const std::string& what) : std::invalid_argument("swat: " + what) {}
};

namespace detail {

// The parts are taken by value so that string literals decay to const char*: one instantiation
// per sequence of part types instead of one per literal length (a test file held 58 copies).
template <class... Parts>
[[noreturn]] inline void fail(Parts... parts) {
  std::ostringstream message;
  (message << ... << parts);
  throw Error(message.str());
}

}  // namespace detail
}  // namespace swat
