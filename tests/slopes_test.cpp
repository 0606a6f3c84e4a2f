// The ALiBi slope helpers against values written by hand from SPEC section 2.
#include "tester.hpp"

#include <cmath>

namespace {

void check_slopes(const std::vector<float>& got, const std::vector<double>& expected) {
  INFO("expected " << Catch::Detail::stringify(expected) << ", got " << Catch::Detail::stringify(got));
  REQUIRE(got.size() == expected.size());
  for (std::size_t h = 0; h < got.size(); ++h) {
    INFO("head " << h);
    // Non-dyadic slopes (odd H) are the nearest float of the exact value.
    CHECK(got[h] == static_cast<float>(expected[h]));
  }
}

}  // namespace

TEST_CASE("alibi_slopes for a power of two H are 2^-8k/H", "[slopes]") {
  check_slopes(swat::alibi_slopes(8), {0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625});
  check_slopes(swat::alibi_slopes(4), {0.25, 0.0625, 0.015625, 0.00390625});
  check_slopes(swat::alibi_slopes(1), {0.00390625});
  check_slopes(swat::alibi_slopes(2), {0.0625, 0.00390625});
}

TEST_CASE("alibi_slopes for other H follow Press et al.'s interleaving rule", "[slopes]") {
  // H = 6: the 4 slopes of H = 4, then slopes 1 and 3 of H = 8.
  check_slopes(swat::alibi_slopes(6), {0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125});
  // H = 12: the 8 slopes of H = 8, then slopes 1, 3, 5, 7 of H = 16 (2^-k/2).
  const double r = 0.70710678118654752440;  // 2^-1/2
  check_slopes(swat::alibi_slopes(12), {0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625, r,
                                        r / 2, r / 4, r / 8});
  // H = 3: slopes of H = 2, then slope 1 of H = 4.
  check_slopes(swat::alibi_slopes(3), {0.0625, 0.00390625, 0.25});
}

TEST_CASE("balanced_alibi_slopes (paper) gives recency heads first, history heads second", "[slopes]") {
  check_slopes(swat::balanced_alibi_slopes(8), {0.5, 0.25, 0.125, 0.0625, -0.5, -0.25, -0.125, -0.0625});
  check_slopes(swat::balanced_alibi_slopes(8, swat::SlopeScheme::paper),
               {0.5, 0.25, 0.125, 0.0625, -0.5, -0.25, -0.125, -0.0625});
  // Odd H: ceil(5/2) = 3 recency heads, 2 history heads.
  check_slopes(swat::balanced_alibi_slopes(5), {0.5, 0.25, 0.125, -0.5, -0.25});
  check_slopes(swat::balanced_alibi_slopes(1), {0.5});
  check_slopes(swat::balanced_alibi_slopes(2), {0.5, -0.5});
}

TEST_CASE("balanced_alibi_slopes (released code) gives history heads first, recency heads mirrored", "[slopes]") {
  // a_i = 2^(-8(i+1)/H); h < H/2: -a_h; h >= H/2: +a_(H-1-h).
  check_slopes(swat::balanced_alibi_slopes(8, swat::SlopeScheme::released_code),
               {-0.5, -0.25, -0.125, -0.0625, 0.0625, 0.125, 0.25, 0.5});
  // H = 4: a = 1/4, 1/16, 1/64, 1/256.
  check_slopes(swat::balanced_alibi_slopes(4, swat::SlopeScheme::released_code), {-0.25, -0.0625, 0.0625, 0.25});
  // H = 16: a_i = 2^-(i+1)/2.
  const double r = 0.70710678118654752440;
  check_slopes(swat::balanced_alibi_slopes(16, swat::SlopeScheme::released_code),
               {-r, -0.5, -r / 2, -0.25, -r / 4, -0.125, -r / 8, -0.0625, 0.0625, r / 8, 0.125, r / 4, 0.25, r / 2,
                0.5, r});
}

TEST_CASE("slope helpers reject a non-positive head count", "[slopes][errors]") {
  for (int h : {0, -3}) {
    CHECK_THROWS_AS(swat::alibi_slopes(h), swat::Error);
    CHECK_THROWS_WITH(swat::alibi_slopes(h), Catch::Contains("num_heads"));
    CHECK_THROWS_AS(swat::balanced_alibi_slopes(h), swat::Error);
    CHECK_THROWS_WITH(swat::balanced_alibi_slopes(h, swat::SlopeScheme::released_code), Catch::Contains("num_heads"));
  }
}
