// The mixed-modes test: one program holding a part built with swat::dispatch and a part built
// with the plain header (part.cpp, compiled once into each of two static libraries). Each part
// must run its own entry points and get reference results.
#include <cstdio>

int dispatched_part(const char* label);
int header_part(const char* label);

int main() {
  const int failures = dispatched_part("swat::dispatch part") + header_part("plain header part");
  std::printf("%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
