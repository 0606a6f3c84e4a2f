// A reporter that forwards everything to Google Benchmark's usual display reporter (console,
// json or csv per --benchmark_format) and keeps one row per benchmark for a compact summary
// printed after the run: median time when there are repetitions, GFLOP/s, % of measured peak,
// and for decode rows GB/s and % of measured memory bandwidth.
#pragma once

#include <benchmark/benchmark.h>

#include <ostream>
#include <string>
#include <vector>

namespace swat_bench {

class SummaryReporter : public benchmark::BenchmarkReporter {
 public:
  // `display` is not owned (benchmark::CreateDefaultDisplayReporter() keeps it alive).
  explicit SummaryReporter(benchmark::BenchmarkReporter* display) : display_(display) {}

  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

  // True when the display reporter writes the console table (so stdout is for humans).
  bool console() const;

  // The table, plus speedups over the baselines and the spread of the linear-in-n series.
  void print_summary(std::ostream& out) const;

  struct Row {
    std::string name;
    double ms = 0;
    int64_t repetitions = 1;
    bool median = false;
    double gflops = -1, pct_peak = -1, ns_per_token = -1;
    double gbps = -1, pct_bw = -1;  // decode rows: cache bytes read per second, % of bandwidth
    double bw = -1, pct_bw_startup = -1;  // decode rows: the paired bandwidth (median); % of start-up's
    std::string error;
  };
  // The row of a benchmark by name, or nullptr when it did not run.
  const Row* row(const std::string& name) const;

 private:
  Row* find(const std::string& name);

  benchmark::BenchmarkReporter* display_;
  std::vector<Row> rows_;
};

}  // namespace swat_bench
