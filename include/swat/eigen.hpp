// Optional Eigen interop: attention on row-major Eigen matrices that hold one sequence as
// [seq, heads * dim] (the layout of a projection's output). Needs Eigen 3.3 or later; the rest
// of the library does not depend on Eigen.
#pragma once

#include <Eigen/Core>

#include "error.hpp"
#include "swat.hpp"

namespace swat {
namespace eigen {

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Any row-major matrix or row block of one (rows may be padded: the outer stride is honoured).
template <class T>
using ConstRef = Eigen::Ref<const RowMatrix<T>, 0, Eigen::OuterStride<>>;
template <class T>
using Ref = Eigen::Ref<RowMatrix<T>, 0, Eigen::OuterStride<>>;

namespace detail {

template <class Matrix>
auto as_view(Matrix& m, int64_t heads, const char* name) {
  using Scalar = std::remove_pointer_t<decltype(m.data())>;
  if (heads <= 0) swat::detail::fail(name, ": expected heads > 0, got ", heads);
  if (m.cols() % heads != 0)
    swat::detail::fail(name, ".cols(): expected a multiple of heads = ", heads, " ([seq, heads * dim]), got ",
                       m.cols());
  const int64_t rows = m.rows(), dim = m.cols() / heads, ld = m.outerStride();
  return View4<Scalar>{m.data(), {1, rows, heads, dim}, {rows * ld, ld, dim, 1}};
}

}  // namespace detail

// The calls differ with the mode (swat::dispatch or not) as swat::forward does (isa_namespace.hpp).
inline namespace SWAT_API_NAMESPACE {

// o = attention(q, k, v): q and o [Sq, heads * D], k and v [Sk, kv_heads * D].
template <class T>
void forward(const ConstRef<T>& q, const ConstRef<T>& k, const ConstRef<T>& v, Ref<T> o, int64_t heads,
             int64_t kv_heads, const Options& opt) {
  // Built one by one so the first bad argument is the one reported.
  const auto qv = detail::as_view(q, heads, "q");
  const auto kv = detail::as_view(k, kv_heads, "k");
  const auto vv = detail::as_view(v, kv_heads, "v");
  const auto ov = detail::as_view(o, heads, "o");
  swat::forward<T>(qv, kv, vv, ov, opt);
}

// Allocating form: returns o.
template <class T>
RowMatrix<T> forward(const ConstRef<T>& q, const ConstRef<T>& k, const ConstRef<T>& v, int64_t heads,
                     int64_t kv_heads, const Options& opt) {
  RowMatrix<T> o(q.rows(), q.cols());
  forward<T>(q, k, v, Ref<T>(o), heads, kv_heads, opt);
  return o;
}

}  // namespace SWAT_API_NAMESPACE
}  // namespace eigen
}  // namespace swat
