// Memory bandwidth of the running machine, measured in-process (SPEC section 5: decode is
// reported as a percentage of it, measured in the same run).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace swat_bench {

struct BandwidthMeasurement {
  double gbps = 0;      // best of the repetitions, 1e9 bytes per second
  double gbps_min = 0;  // worst, to show the noise
  int threads = 0;
  std::size_t bytes = 0;
};

// A buffer of `bytes` (much larger than the last-level cache), every page touched once, kept so
// that the bandwidth can be taken again and again in one run without allocating each time.
class ReadBandwidthProbe {
 public:
  explicit ReadBandwidthProbe(std::size_t bytes);
  // `threads` threads read disjoint slices of the buffer at once, `repetitions` times; each pass
  // reads every byte once.
  BandwidthMeasurement measure(int threads, int repetitions) const;

 private:
  std::vector<uint64_t> buffer_;
};

// A probe of `bytes` made, measured once, and freed.
BandwidthMeasurement measure_read_bandwidth(std::size_t bytes, int threads, int repetitions);

}  // namespace swat_bench
