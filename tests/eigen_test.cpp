// The Eigen interop header: [seq, heads * dim] row-major matrices and row blocks of them.
#include <catch2/catch.hpp>

#include <swat/eigen.hpp>

#include "support/reference_instances.hpp"

namespace {

using Matrix = swat::eigen::RowMatrix<float>;

}  // namespace

TEST_CASE("eigen forward equals the reference on [seq, heads*dim] matrices", "[eigen]") {
  const int64_t n = 70, H = 4, Hkv = 2, D = 16;
  const Matrix q = Matrix::Random(n, H * D), k = Matrix::Random(n, Hkv * D), v = Matrix::Random(n, Hkv * D);
  swat::Options opt;
  opt.window = 9;
  opt.alibi_slopes = swat::balanced_alibi_slopes(H);
  opt.rope = swat::RopeLayout::half;
  const Matrix o = swat::eigen::forward<float>(q, k, v, H, Hkv, opt);

  swat::eigen::RowMatrix<double> expected(n, H * D);
  swat::reference::forward<float, double>(swat::bshd(q.data(), 1, n, H, D), swat::bshd(k.data(), 1, n, Hkv, D),
                                          swat::bshd(v.data(), 1, n, Hkv, D),
                                          swat::bshd(expected.data(), 1, n, H, D), opt);
  const double scale = std::max(1.0, expected.cwiseAbs().maxCoeff());
  CHECK((o.cast<double>() - expected).cwiseAbs().maxCoeff() / scale <= 2e-5);
}

TEST_CASE("eigen forward honours row blocks of wider matrices (outer stride)", "[eigen]") {
  const int64_t n = 40, H = 2, D = 8;
  const Matrix q = Matrix::Random(n, H * D), k = Matrix::Random(n, H * D), v = Matrix::Random(n, H * D);
  Matrix wide_q = Matrix::Constant(n + 3, H * D + 5, std::nanf(""));
  wide_q.block(2, 1, n, H * D) = q;
  Matrix wide_o = Matrix::Constant(n, H * D + 7, 7.f);
  swat::Options opt;
  opt.window = 5;
  swat::eigen::forward<float>(wide_q.block(2, 1, n, H * D), k, v, wide_o.block(0, 3, n, H * D), H, H, opt);
  const Matrix direct = swat::eigen::forward<float>(q, k, v, H, H, opt);
  CHECK(wide_o.block(0, 3, n, H * D) == direct);
  CHECK((wide_o.leftCols(3).array() == 7.f).all());
  CHECK((wide_o.rightCols(4).array() == 7.f).all());
}

TEST_CASE("eigen forward rejects a column count that is not heads * dim", "[eigen]") {
  const Matrix q = Matrix::Random(10, 12), k = Matrix::Random(10, 12), v = Matrix::Random(10, 12);
  Matrix o = Matrix::Constant(10, 12, 3.f);
  try {
    swat::eigen::forward<float>(q, k, v, o, 5, 5, swat::Options{});
    FAIL("expected swat::Error");
  } catch (const swat::Error& e) {
    CHECK(std::string(e.what()).find("q.cols()") != std::string::npos);
  }
  CHECK((o.array() == 3.f).all());
}
