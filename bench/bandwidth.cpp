#include "bandwidth.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace swat_bench {
namespace {

// Sums of 64-bit words four vectors of `Vector` at a time: far more loads than memory can feed,
// so the loop measures memory. The result is returned so the reads cannot be dropped.
template <class Vector>
inline __attribute__((always_inline)) uint64_t sum_words(const uint64_t* data, std::size_t n) {
  constexpr std::size_t lanes = sizeof(Vector) / sizeof(uint64_t);
  Vector a{}, b{}, c{}, d{};
  std::size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    const Vector* x = reinterpret_cast<const Vector*>(data + i);  // may_alias, 8-byte aligned
    a += x[0];
    b += x[1];
    c += x[2];
    d += x[3];
  }
  a += b + c + d;
  uint64_t sum = 0;
  for (std::size_t l = 0; l < lanes; ++l) sum += a[l];
  for (; i < n; ++i) sum += data[i];
  return sum;
}

using Words2 = uint64_t __attribute__((vector_size(16), aligned(8), may_alias));
using Words8 = uint64_t __attribute__((vector_size(64), aligned(8), may_alias));

// One slice read front to back, and the two halves of a slice in turns of `turn` words.
template <class Vector>
inline __attribute__((always_inline)) uint64_t read_pattern(const uint64_t* data, std::size_t n, std::size_t turn) {
  if (turn == 0) return sum_words<Vector>(data, n);
  const std::size_t half = n / 2;
  const uint64_t* second = data + half;
  uint64_t sum = 0;
  for (std::size_t i = 0; i < half; i += turn) {
    const std::size_t count = std::min(turn, half - i);
    sum += sum_words<Vector>(data + i, count) + sum_words<Vector>(second + i, count);
  }
  return sum + sum_words<Vector>(second + half, n - 2 * half);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) uint64_t read_avx512(const uint64_t* data, std::size_t n, std::size_t turn) {
  return read_pattern<Words8>(data, n, turn);
}
__attribute__((target("avx2"))) uint64_t read_avx2(const uint64_t* data, std::size_t n, std::size_t turn) {
  return read_pattern<Words8>(data, n, turn);
}
#endif
uint64_t read_baseline(const uint64_t* data, std::size_t n, std::size_t turn) {
  return read_pattern<Words2>(data, n, turn);
}

// One stream reads fastest in 16-byte loads here (64-byte ones: about a tenth slower), two
// streams in turns in the widest (16-byte ones: about half the speed), so each pattern takes
// its own; the CPU's widest is chosen at run time (the file is built for the baseline).
uint64_t read_slice(const uint64_t* data, std::size_t n, std::size_t turn) {
#if defined(__x86_64__) || defined(__i386__)
  static const bool avx512 = __builtin_cpu_supports("avx512f"), avx2 = __builtin_cpu_supports("avx2");
  if (turn > 0 && avx512) return read_avx512(data, n, turn);
  if (turn > 0 && avx2) return read_avx2(data, n, turn);
#endif
  return read_baseline(data, n, turn);
}

// Seconds for `threads` threads to read `words` words from `data` at once, each its own slice, in
// one pattern (turn 0: one stream a thread; else two in turns of `turn` words). Timed from a
// common start, given once every thread is running, to the last thread's end: starting threads
// is not reading, and a short slice would count it.
double timed_read(const uint64_t* data, std::size_t words, int threads, std::size_t turn, uint64_t* sinks) {
  using Clock = std::chrono::steady_clock;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<Clock::time_point> ends(static_cast<std::size_t>(threads));
  const std::size_t slice = words / static_cast<std::size_t>(threads);
  const auto read = [&](int t) {
    const std::size_t begin = static_cast<std::size_t>(t) * slice, end = t + 1 == threads ? words : begin + slice;
    sinks[t] += read_slice(data + begin, end - begin, turn);
    ends[static_cast<std::size_t>(t)] = Clock::now();
  };
  std::vector<std::thread> helpers;
  for (int t = 1; t < threads; ++t)
    helpers.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      read(t);
    });
  while (ready.load() < threads - 1) std::this_thread::yield();
  const Clock::time_point start = Clock::now();
  go.store(true);
  read(0);
  for (auto& h : helpers) h.join();
  return std::chrono::duration<double>(*std::max_element(ends.begin(), ends.end()) - start).count();
}

constexpr std::size_t kTurn = 4096 / sizeof(uint64_t);

// The sums are kept, so that the reads cannot be dropped.
void keep(const std::vector<uint64_t>& sinks) {
  static volatile uint64_t sink;
  for (uint64_t s : sinks) sink = sink + s;
}

}  // namespace

ReadBandwidthProbe::ReadBandwidthProbe(std::size_t bytes)
    : storage_(bytes / sizeof(uint64_t)) {
  for (std::size_t i = 0; i < storage_.size(); ++i) storage_[i] = i * 0x9E3779B97F4A7C15ull;  // every page touched
}

BandwidthMeasurement ReadBandwidthProbe::measure(int threads, int repetitions) const {
  BandwidthMeasurement out;
  out.threads = threads;
  out.bytes = storage_.size() * sizeof(uint64_t);
  out.gbps_min = 1e300;
  std::vector<uint64_t> sinks(static_cast<std::size_t>(threads));
  for (int r = 0; r < repetitions; ++r)
    for (bool two_streams : {false, true}) {
      const double seconds = timed_read(storage_.data(), storage_.size(), threads, two_streams ? kTurn : 0, sinks.data());
      const double gbps = static_cast<double>(out.bytes) / seconds * 1e-9;
      double& best = two_streams ? out.gbps_two_streams : out.gbps_one_stream;
      best = std::max(best, gbps);
      out.gbps_min = std::min(out.gbps_min, gbps);
    }
  out.gbps = std::max(out.gbps_one_stream, out.gbps_two_streams);
  keep(sinks);
  return out;
}

BandwidthMeasurement ReadBandwidthProbe::measure_part(int threads, std::size_t bytes, std::size_t part) const {
  const std::size_t words = std::min(bytes / sizeof(uint64_t), storage_.size() / 2);
  const std::size_t parts = storage_.size() / (2 * words);
  const uint64_t* at = storage_.data() + part % parts * 2 * words;
  BandwidthMeasurement out;
  out.threads = threads;
  out.bytes = words * sizeof(uint64_t);
  std::vector<uint64_t> sinks(static_cast<std::size_t>(threads));
  out.gbps_one_stream = static_cast<double>(out.bytes) / timed_read(at, words, threads, 0, sinks.data()) * 1e-9;
  out.gbps_two_streams = static_cast<double>(out.bytes) / timed_read(at + words, words, threads, kTurn, sinks.data()) * 1e-9;
  out.gbps = std::max(out.gbps_one_stream, out.gbps_two_streams);
  out.gbps_min = std::min(out.gbps_one_stream, out.gbps_two_streams);
  keep(sinks);
  return out;
}

const ReadBandwidthProbe& read_bandwidth_probe() {
  static const ReadBandwidthProbe probe(std::size_t(1) << 30);
  return probe;
}

}  // namespace swat_bench
