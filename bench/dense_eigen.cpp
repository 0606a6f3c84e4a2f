// The dense Eigen baseline (see dense_eigen.hpp). Single-threaded: Eigen without OpenMP.
#include "dense_eigen.hpp"

#include <cmath>
#include <limits>

#include <Eigen/Dense>

namespace swat_bench {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Strided = Eigen::OuterStride<>;
using ConstHead = Eigen::Map<const RowMatrix, 0, Strided>;  // one head's [n, D] slice of [n, H, D]
using Head = Eigen::Map<RowMatrix, 0, Strided>;

class DenseAttention {
 public:
  DenseAttention(int64_t n, int64_t heads, int64_t kv_heads, int64_t dim, int64_t window, bool softmax)
      : n_(n), heads_(heads), kv_heads_(kv_heads), dim_(dim), softmax_(softmax),
        scale_(1.0f / std::sqrt(static_cast<float>(dim))), scores_(n, n), mask_(n, n) {
    // softmax: additive mask (0 visible, -inf hidden); sigmoid: multiplicative (1 / 0).
    const float hidden = softmax ? -std::numeric_limits<float>::infinity() : 0.0f;
    const float shown = softmax ? 0.0f : 1.0f;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const int64_t distance = i - j;
        mask_(i, j) = distance >= 0 && (window == 0 || distance < window) ? shown : hidden;
      }
  }

  void run(const float* q, const float* k, const float* v, float* o) {
    const int64_t group = heads_ / kv_heads_;
    for (int64_t h = 0; h < heads_; ++h) {
      const int64_t g = h / group;
      ConstHead Q(q + h * dim_, n_, dim_, Strided(heads_ * dim_));
      ConstHead K(k + g * dim_, n_, dim_, Strided(kv_heads_ * dim_));
      ConstHead V(v + g * dim_, n_, dim_, Strided(kv_heads_ * dim_));
      Head O(o + h * dim_, n_, dim_, Strided(heads_ * dim_));
      auto S = scores_.array();
      scores_.noalias() = (Q * scale_) * K.transpose();
      if (softmax_) {
        S += mask_.array();
        const Eigen::VectorXf row_max = scores_.rowwise().maxCoeff();
        S = (S.colwise() - row_max.array()).exp();
        const Eigen::VectorXf row_sum = scores_.rowwise().sum();
        S.colwise() /= row_sum.array();
      } else {
        S = mask_.array() / (1.0f + (-S).exp());
      }
      O.noalias() = scores_ * V;
    }
  }

 private:
  int64_t n_, heads_, kv_heads_, dim_;
  bool softmax_;
  float scale_;
  RowMatrix scores_, mask_;
};

DenseAttention* dense_create(int64_t n, int64_t heads, int64_t kv_heads, int64_t dim, int64_t window,
                             bool softmax) {
  return new DenseAttention(n, heads, kv_heads, dim, window, softmax);
}
void dense_run(DenseAttention* dense, const float* q, const float* k, const float* v, float* o) {
  dense->run(q, k, v, o);
}
void dense_destroy(DenseAttention* dense) { delete dense; }
const char* dense_simd() { return Eigen::SimdInstructionSetsInUse(); }

}  // namespace swat_bench
