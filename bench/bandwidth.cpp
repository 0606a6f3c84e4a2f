#include "bandwidth.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace swat_bench {
namespace {

// Four independent sums of 64-bit words: two loads per cycle at most, far above what memory
// delivers, so the loop measures memory. The result is returned so the reads cannot be dropped.
uint64_t read_slice(const uint64_t* data, std::size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += data[i];
    b += data[i + 1];
    c += data[i + 2];
    d += data[i + 3];
  }
  for (; i < n; ++i) a += data[i];
  return a + b + c + d;
}

}  // namespace

ReadBandwidthProbe::ReadBandwidthProbe(std::size_t bytes) : buffer_(bytes / sizeof(uint64_t)) {
  for (std::size_t i = 0; i < buffer_.size(); ++i) buffer_[i] = i * 0x9E3779B97F4A7C15ull;  // every page touched
}

BandwidthMeasurement ReadBandwidthProbe::measure(int threads, int repetitions) const {
  const std::size_t words = buffer_.size();
  BandwidthMeasurement out;
  out.threads = threads;
  out.bytes = words * sizeof(uint64_t);
  out.gbps_min = 1e300;
  std::vector<uint64_t> sinks(static_cast<std::size_t>(threads));
  for (int r = 0; r < repetitions; ++r) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> helpers;
    const std::size_t slice = words / static_cast<std::size_t>(threads);
    for (int t = 1; t < threads; ++t)
      helpers.emplace_back([&, t] {
        const std::size_t end = t + 1 == threads ? words : (t + 1) * slice;
        sinks[t] = read_slice(buffer_.data() + t * slice, end - t * slice);
      });
    sinks[0] = read_slice(buffer_.data(), threads == 1 ? words : slice);
    for (auto& h : helpers) h.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double gbps = static_cast<double>(out.bytes) / seconds * 1e-9;
    out.gbps = std::max(out.gbps, gbps);
    out.gbps_min = std::min(out.gbps_min, gbps);
  }
  static volatile uint64_t sink;  // keeps the sums, hence the reads, observable
  for (uint64_t s : sinks) sink = sink + s;
  return out;
}

BandwidthMeasurement measure_read_bandwidth(std::size_t bytes, int threads, int repetitions) {
  return ReadBandwidthProbe(bytes).measure(threads, repetitions);
}

}  // namespace swat_bench
