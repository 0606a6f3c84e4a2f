// Catch2 checks of bad input (the fuzz target has its own, on support/rejection.hpp): a call must
// throw swat::Error whose message names the argument with what was expected and what came, and
// change no byte of the memory it was given, on every path and through Isa::automatic.
#pragma once

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include <swat/swat.hpp>

#include "accuracy.hpp"
#include "rejection.hpp"

namespace swat_test {

// Every path this build runs here, and Isa::automatic first.
inline std::vector<swat::Isa> isas_and_automatic() {
  std::vector<swat::Isa> isas = swat::available_isas();
  isas.insert(isas.begin(), swat::Isa::automatic);
  return isas;
}

// `call` must be rejected: swat::Error naming `argument`, "expected" and "got", and every byte of
// `watched` unchanged.
template <class F>
void check_rejected(F&& call, const std::string& argument, const Snapshot& watched) {
  const Rejection r = rejection_of(call, watched);
  INFO("expected swat::Error naming \"" << argument << "\"; message: " << r.message);
  CHECK(r.kind == Rejection::Kind::swat_error);
  if (r.kind == Rejection::Kind::swat_error) {
    CHECK_THAT(r.message, Catch::Contains(argument));
    CHECK_THAT(r.message, Catch::Contains("expected") && Catch::Contains("got"));
  }
  CHECK(r.unchanged);
}

// For each path and Isa::automatic: a valid call from `make`, broken by `mutate`, is rejected
// (check_rejected). Call has `value_type` (its storage type), `run(swat::Isa)`, and
// `snapshot()`, the bytes it must leave alone.
template <class Call>
void expect_error_on_every_path(const std::function<void(Call&)>& mutate, const std::string& argument,
                                const std::function<Call()>& make) {
  for (swat::Isa isa : isas_and_automatic()) {
    Call call = make();
    mutate(call);
    const Snapshot watched = call.snapshot();
    INFO("type=" << type_name<typename Call::value_type>() << " isa=" << swat::isa_name(isa));
    check_rejected([&] { call.run(isa); }, argument, watched);
  }
}

}  // namespace swat_test
