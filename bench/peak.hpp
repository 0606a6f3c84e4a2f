// FP32 FMA peak of the running machine, measured in-process (SPEC section 5: the forward
// benchmarks are reported as a percentage of this number, measured in the same run).
#pragma once

#include <cstdint>
#include <string>

namespace swat_bench {

// One probe: `iterations` rounds of independent FMA chains held in registers; returns a value
// derived from the accumulators so the work cannot be optimised away.
using PeakKernel = double (*)(int64_t iterations, float seed);

struct PeakProbe {
  const char* isa = "none";      // "avx512", "avx2", "sse2" or "generic"
  const char* shape = "";        // e.g. "12 chains x 8 floats"
  PeakKernel kernel = nullptr;
  double flops_per_iteration = 0;  // FMA = 2 FLOPs per lane
};

// The widest probe this CPU runs, whatever this program's own compile flags.
PeakProbe best_peak_probe();

struct PeakMeasurement {
  double gflops = 0;      // best of the repetitions
  double gflops_min = 0;  // worst, to show the noise
  // Best per-thread rate over the thread's own CPU time: what one core does while it is actually
  // scheduled, i.e. the hardware's rate even on a loaded machine (0 where unsupported).
  double gflops_per_core_cpu = 0;
  int threads = 0;
  int repetitions = 0;
};

// Runs the probe on `threads` threads at once (the caller is one of them), `repetitions` times
// about `seconds` each, and returns the best aggregate rate.
PeakMeasurement measure_peak(const PeakProbe& probe, int threads, int repetitions, double seconds);

// Per-ISA kernels (defined in peak_<isa>.cpp, each compiled with that ISA's flags).
double peak_kernel_generic(int64_t iterations, float seed);
double peak_kernel_avx2(int64_t iterations, float seed);
double peak_kernel_avx512(int64_t iterations, float seed);

}  // namespace swat_bench
