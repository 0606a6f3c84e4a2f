// Memory bandwidth of the running machine, measured in-process (SPEC section 5: decode is
// reported as a percentage of it, measured in the same run).
#pragma once

#include <cstddef>

namespace swat_bench {

struct BandwidthMeasurement {
  double gbps = 0;      // best of the repetitions, 1e9 bytes per second
  double gbps_min = 0;  // worst, to show the noise
  int threads = 0;
  std::size_t bytes = 0;
};

// Streams a `bytes` buffer (much larger than the last-level cache) with `threads` threads
// reading disjoint slices at once, `repetitions` times; each pass reads every byte once.
BandwidthMeasurement measure_read_bandwidth(std::size_t bytes, int threads, int repetitions);

}  // namespace swat_bench
