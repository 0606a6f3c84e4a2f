// Memory bandwidth of the running machine, measured in-process (SPEC section 5: decode is
// reported as a percentage of it, measured in the same run).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <swat/detail/streamed_memory.hpp>

namespace swat_bench {

struct BandwidthMeasurement {
  double gbps = 0;      // best of the repetitions and of both read patterns, 1e9 bytes per second
  double gbps_min = 0;  // worst, to show the noise
  double gbps_one_stream = 0, gbps_two_streams = 0;  // best of each pattern
  int threads = 0;
  std::size_t bytes = 0;
};

// A buffer of `bytes` (much larger than the last-level cache), every page touched once, kept so
// that the bandwidth can be taken again and again in one run without allocating each time.
class ReadBandwidthProbe {
 public:
  explicit ReadBandwidthProbe(std::size_t bytes);
  // `threads` threads read disjoint slices of the buffer at once, `repetitions` times in each of
  // two patterns: every thread one sequential stream, or two streams (the halves of its slice)
  // in turns of 4 KB, the way a decode step reads key and value rows. Which is faster moves with
  // the machine's state (one core: 27.5 against 27.9 GB/s in one run, 25 against 30 with other
  // loads in another), so the bandwidth is the best of both. Each pass reads every byte once.
  BandwidthMeasurement measure(int threads, int repetitions) const;
  // One short sample for pairing with a step (swat_bench's decode rows): `bytes` read in each
  // pattern, once, from the `part`-th stretch of 2 * bytes of the buffer (parts in turn, so that
  // consecutive samples read different memory).
  BandwidthMeasurement measure_part(int threads, std::size_t bytes, std::size_t part) const;

 private:
  // On the memory the cache's rings get (2 MiB pages where the system gives them: they read
  // faster, one core 32.6 against 29.6 GB/s here), so that decode is measured against what
  // memory delivers to the same pages. Its start is on a page (2 MiB), so that no vector load
  // straddles two lines: with the 16-byte offset of a plain allocation, two streams in turns
  // read at half the speed.
  std::vector<uint64_t, swat::detail::StreamedAllocator<uint64_t>> storage_;
};

// The probe of the run (1 GiB), made on first use: the start-up measurement and every decode
// row read the same buffer.
const ReadBandwidthProbe& read_bandwidth_probe();

}  // namespace swat_bench
