// Run-time choice of the peak probe and the timing around it (baseline compile flags).
#include "peak.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <thread>
#include <vector>

namespace swat_bench {

PeakProbe best_peak_probe() {
#if defined(SWAT_BENCH_X86_PEAK)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return {"avx512", "16 chains x 16 floats", &peak_kernel_avx512, 2.0 * 16 * 16 * 2};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {"avx2", "12 chains x 8 floats", &peak_kernel_avx2, 2.0 * 12 * 8 * 2};
  return {"sse2", "12 chains x 4 floats (mul + add)", &peak_kernel_generic, 2.0 * 12 * 4 * 2};
#else
  return {"generic", "12 chains x 4 floats", &peak_kernel_generic, 2.0 * 12 * 4 * 2};
#endif
}

namespace {

volatile double sink;  // keeps the probes' results alive

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// CPU time of the calling thread in seconds, or 0 where there is no such clock.
double thread_cpu_seconds() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
#endif
  return 0.0;
}

struct Timing {
  double wall = 0;     // release to last thread done
  double min_cpu = 0;  // smallest CPU time among the threads (0 = unknown)
};

// Wall time of `threads` threads each running kernel(iterations), released together.
Timing timed_run(const PeakProbe& probe, int threads, int64_t iterations) {
  std::atomic<bool> go{false};
  std::vector<double> results(static_cast<std::size_t>(threads), 0.0);
  std::vector<double> cpu(static_cast<std::size_t>(threads), 0.0);
  auto work = [&](int t) {
    const double cpu_start = thread_cpu_seconds();
    results[static_cast<std::size_t>(t)] = probe.kernel(iterations, 1.0f + 0.1f * static_cast<float>(t));
    cpu[static_cast<std::size_t>(t)] = thread_cpu_seconds() - cpu_start;
  };
  std::vector<std::thread> helpers;
  for (int t = 1; t < threads; ++t)
    helpers.emplace_back([&, t] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      work(t);
    });
  // Give the helpers a moment to reach the start line.
  if (threads > 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  work(0);
  for (auto& h : helpers) h.join();
  Timing timing;
  timing.wall = seconds_since(start);
  timing.min_cpu = *std::min_element(cpu.begin(), cpu.end());
  double total = 0;
  for (double r : results) total += r;
  sink = total;
  return timing;
}

}  // namespace

PeakMeasurement measure_peak(const PeakProbe& probe, int threads, int repetitions, double seconds) {
  PeakMeasurement m;
  m.threads = threads;
  m.repetitions = repetitions;
  if (probe.kernel == nullptr || threads < 1 || repetitions < 1) return m;
  // Calibrate on one thread: grow until a run takes >= 10 ms, then scale to `seconds`.
  int64_t iterations = 1 << 14;
  double t = 0;
  for (;;) {
    t = timed_run(probe, 1, iterations).wall;
    if (t >= 0.01 || iterations >= (int64_t(1) << 40)) break;
    iterations *= 4;
  }
  iterations = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(iterations) * seconds / t));
  const double flops = probe.flops_per_iteration * static_cast<double>(iterations) * threads;
  m.gflops_min = 1e300;
  for (int r = 0; r < repetitions; ++r) {
    const Timing timing = timed_run(probe, threads, iterations);
    const double rate = flops / timing.wall * 1e-9;
    m.gflops = std::max(m.gflops, rate);
    m.gflops_min = std::min(m.gflops_min, rate);
    if (timing.min_cpu > 0)
      m.gflops_per_core_cpu = std::max(m.gflops_per_core_cpu, flops / threads / timing.min_cpu * 1e-9);
  }
  return m;
}

}  // namespace swat_bench
