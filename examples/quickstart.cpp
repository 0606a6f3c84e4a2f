// quickstart: one SWAT attention layer (sliding window + sigmoid + balanced ALiBi + RoPE) with
// swat::forward, timed, and checked against the library's naive double-precision reference.
//
// Build: link swat::swat (header-only) and, for the best SIMD path of the running CPU whatever
// your compile flags, swat::dispatch:
//   target_link_libraries(my_app PRIVATE swat::swat swat::dispatch)
#include <swat/reference.hpp>  // the naive oracle: O(rows * keys * D), for checking small slices
#include <swat/swat.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

int main() {
  // 1. Shapes of one layer: batch, sequence length, query heads, key/value heads (GQA: 4 query
  //    heads share each kv head), head dimension.
  const int64_t B = 1, n = 4096, H = 8, Hkv = 2, D = 64;

  // 2. Inputs in the usual contiguous [B, S, H, D] layout; random unit-scale values here.
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> q(B * n * H * D), k(B * n * Hkv * D), v(B * n * Hkv * D), o(B * n * H * D);
  for (std::vector<float>* tensor : {&q, &k, &v})
    for (float& x : *tensor) x = unit(rng);

  // Views tell swat the shape and strides; the memory stays yours. (swat::bhsd for [B, H, S, D].)
  const swat::View4<float> qv = swat::bshd(q.data(), B, n, H, D);
  const swat::View4<float> kv = swat::bshd(k.data(), B, n, Hkv, D);
  const swat::View4<float> vv = swat::bshd(v.data(), B, n, Hkv, D);
  const swat::View4<float> ov = swat::bshd(o.data(), B, n, H, D);

  // 3. SWAT options: each token sees itself and the 511 before it; sigmoid instead of softmax;
  //    the paper's balanced ALiBi slopes (half the heads favour recent tokens, half older ones);
  //    RoPE in the GPT-NeoX / Llama "rotate half" layout. Scale defaults to 1/sqrt(D).
  swat::Options opt;
  opt.window = 512;
  opt.activation = swat::Activation::sigmoid;
  opt.alibi_slopes = swat::balanced_alibi_slopes(static_cast<int>(H));
  opt.rope = swat::RopeLayout::half;
  // opt.threads = 0 (the default) uses every hardware thread.

  // 4. The forward pass. The first call also starts the thread pool, so time the best of a few.
  double best_seconds = 1e30;
  for (int run = 0; run < 4; ++run) {
    const auto start = std::chrono::steady_clock::now();
    swat::forward<float>(qv, kv, vv, ov, opt);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    if (run > 0) best_seconds = std::min(best_seconds, took.count());
  }
  const double flops = swat::forward_flops(B, n, n, H, D, opt);  // 4 * D * (visible query-key pairs)

  // 5. Check rows against the reference. Rows [i0, i0 + rows) only see keys [i0 - window + 1,
  //    i0 + rows), so the reference runs on those slices alone: a view's data pointer moves to the
  //    first row, and k_pos0 / q_pos0 keep the absolute positions (RoPE and ALiBi depend on them).
  const int64_t rows = 32;
  double max_diff = 0, max_ref = 0;
  for (int64_t i0 : {int64_t(0), n / 2, n - rows}) {
    const int64_t k0 = std::max<int64_t>(0, i0 - opt.window + 1);
    swat::View4<float> q_rows = qv, k_rows = kv, v_rows = vv;
    q_rows.data += i0 * qv.stride[1];
    q_rows.shape[1] = rows;
    k_rows.data += k0 * kv.stride[1];
    v_rows.data += k0 * vv.stride[1];
    k_rows.shape[1] = v_rows.shape[1] = i0 + rows - k0;

    swat::Options slice = opt;
    slice.k_pos0 = k0;
    slice.q_pos0 = i0;
    std::vector<double> expected(B * rows * H * D);
    swat::reference::forward<float, double>(q_rows, k_rows, v_rows, swat::bshd(expected.data(), B, rows, H, D),
                                            slice);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t d = 0; d < D; ++d) {
            const double want = expected[((b * rows + i) * H + h) * D + d];
            const double got = ov.at(b, i0 + i, h)[d];
            max_diff = std::max(max_diff, std::fabs(got - want));
            max_ref = std::max(max_ref, std::fabs(want));
          }
  }
  const double error = max_diff / std::max(1.0, max_ref);  // the accuracy measure of the spec
  const double tolerance = 2e-5;                           // float32 forward bound

  // 6. What happened.
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::printf("swat quickstart: one sliding-window attention layer, forward\n");
  std::printf("  q [B=%lld, n=%lld, H=%lld, D=%lld], k and v [B, n, Hkv=%lld, D], float32, BSHD\n",
              static_cast<long long>(B), static_cast<long long>(n), static_cast<long long>(H),
              static_cast<long long>(D), static_cast<long long>(Hkv));
  std::printf("  window %lld, sigmoid, balanced ALiBi slopes [", static_cast<long long>(opt.window));
  for (std::size_t h = 0; h < opt.alibi_slopes.size(); ++h)
    std::printf("%s%g", h ? ", " : "", opt.alibi_slopes[h]);
  std::printf("], RoPE half (base %g)\n", opt.rope_base);
  std::printf("  SIMD path %s, %u threads\n", swat::isa_name(swat::best_isa()), threads);
  std::printf("  time %.2f ms (best of 3), %.1f GFLOP/s (%.2f GFLOP of useful work)\n", best_seconds * 1e3,
              flops / best_seconds * 1e-9, flops * 1e-9);
  std::printf("  max error vs reference on %lld rows x %lld heads: %.2e (tolerance %.0e) -> %s\n",
              static_cast<long long>(3 * rows), static_cast<long long>(H), error, tolerance,
              error <= tolerance ? "OK" : "FAIL");
  return error <= tolerance ? 0 : 1;
}
