#include "summary.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

namespace swat_bench {
namespace {

double to_ms(double value, benchmark::TimeUnit unit) {
  switch (unit) {
    case benchmark::kNanosecond: return value * 1e-6;
    case benchmark::kMicrosecond: return value * 1e-3;
    case benchmark::kMillisecond: return value;
    case benchmark::kSecond: return value * 1e3;
  }
  return value;
}

double counter(const benchmark::BenchmarkReporter::Run& run, const char* name) {
  auto found = run.counters.find(name);
  return found == run.counters.end() ? -1.0 : found->second.value;
}

std::string format(const char* fmt, double value) {
  if (value < 0) return "-";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, fmt, value);
  return buffer;
}

std::vector<std::string> split(const std::string& name) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = name.find('/', start);
    parts.push_back(name.substr(start, slash - start));
    if (slash == std::string::npos) return parts;
    start = slash + 1;
  }
}

}  // namespace

bool SummaryReporter::ReportContext(const Context& context) { return display_->ReportContext(context); }

void SummaryReporter::Finalize() { display_->Finalize(); }

bool SummaryReporter::console() const {
  return dynamic_cast<benchmark::ConsoleReporter*>(display_) != nullptr;
}

SummaryReporter::Row* SummaryReporter::find(const std::string& name) {
  for (Row& row : rows_)
    if (row.name == name) return &row;
  return nullptr;
}

const SummaryReporter::Row* SummaryReporter::row(const std::string& name) const {
  for (const Row& r : rows_)
    if (r.name == name) return &r;
  return nullptr;
}

void SummaryReporter::ReportRuns(const std::vector<Run>& runs) {
  for (const Run& run : runs) {
    // Our names carry everything; drop Google Benchmark's "/real_time" and such.
    std::string name = run.run_name.function_name;
    if (!run.run_name.args.empty()) name += "/" + run.run_name.args;
    const bool is_median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
    if (run.run_type == Run::RT_Aggregate && !is_median) continue;
    Row* row = find(name);
    if (row == nullptr) {
      rows_.push_back(Row{});
      row = &rows_.back();
      row->name = name;
    } else if (row->median && !is_median) {
      continue;  // keep the median over single repetitions
    }
    row->median = is_median;
    row->repetitions = run.repetitions;
    if (run.error_occurred) {
      row->error = run.error_message;
      continue;
    }
    row->ms = to_ms(run.GetAdjustedRealTime(), run.time_unit);
    row->gflops = counter(run, "GFLOP/s");
    row->pct_peak = counter(run, "pct_peak");
    row->ns_per_token = counter(run, "ns_per_token");
    row->gbps = counter(run, "GB/s");
    row->pct_bw = counter(run, "pct_bw");
    row->bw = counter(run, "bw_GB/s");
    row->pct_bw_startup = counter(run, "pct_bw_startup");
  }
  display_->ReportRuns(runs);
}

void SummaryReporter::print_summary(std::ostream& out) const {
  if (rows_.empty()) return;
  std::size_t width = 4;
  for (const Row& row : rows_) width = std::max(width, row.name.size());
  const std::string rule(width + 64, '-');
  char line[1024];
  out << "\nSummary (time = median of the repetitions where there are several; "
         "GFLOP/s = 4*D*visible/time for forward, 10*D*visible/time for backward; decode GB/s = cache "
         "bytes read/time; SPEC 5)\n"
      << rule << "\n";
  std::snprintf(line, sizeof line, "%-*s %10s %4s %9s %7s %8s %7s %6s\n", static_cast<int>(width), "benchmark", "ms",
                "reps", "GFLOP/s", "%peak", "ns/tok", "GB/s", "%bw");
  out << line << rule << "\n";
  for (const Row& row : rows_) {
    if (!row.error.empty()) {
      out << row.name << "  SKIPPED/ERROR: " << row.error << "\n";
      continue;
    }
    std::snprintf(line, sizeof line, "%-*s %10.3f %4lld %9s %7s %8s %7s %6s\n", static_cast<int>(width),
                  row.name.c_str(), row.ms, static_cast<long long>(row.repetitions), format("%.1f", row.gflops).c_str(),
                  format("%.1f", row.pct_peak).c_str(), format("%.0f", row.ns_per_token).c_str(),
                  format("%.1f", row.gbps).c_str(), format("%.1f", row.pct_bw).c_str());
    out << line;
  }
  out << rule << "\n";

  // Speedups: "vs_<x>/<baseline>/<shape>" against "vs_<x>/swat/<shape>".
  std::map<std::string, const Row*> swat_rows;
  for (const Row& row : rows_) {
    const auto parts = split(row.name);
    if (parts.size() > 2 && parts[0].rfind("vs_", 0) == 0 && parts[1] == "swat" && row.error.empty()) {
      std::string key = parts[0];
      for (std::size_t i = 2; i < parts.size(); ++i) key += "/" + parts[i];
      swat_rows[key] = &row;
    }
  }
  for (const Row& row : rows_) {
    const auto parts = split(row.name);
    if (parts.size() <= 2 || parts[0].rfind("vs_", 0) != 0 || parts[1] == "swat" || !row.error.empty()) continue;
    std::string key = parts[0];
    std::string shape;
    for (std::size_t i = 2; i < parts.size(); ++i) {
      key += "/" + parts[i];
      shape += (shape.empty() ? "" : "/") + parts[i];
    }
    auto found = swat_rows.find(key);
    if (found == swat_rows.end() || found->second->ms <= 0) continue;
    std::snprintf(line, sizeof line, "speedup of swat over %s at %s: %.1fx\n", parts[1].c_str(), shape.c_str(),
                  row.ms / found->second->ms);
    out << line;
  }

  // Linear in n: ns per token should not grow with n.
  double lo = 1e300, hi = 0;
  int count = 0;
  for (const Row& row : rows_)
    if (row.name.rfind("linear/", 0) == 0 && row.ns_per_token > 0) {
      lo = std::min(lo, row.ns_per_token);
      hi = std::max(hi, row.ns_per_token);
      ++count;
    }
  if (count > 1) {
    std::snprintf(line, sizeof line,
                  "linear-in-n series: ns/token from %.0f to %.0f over %d lengths (max/min %.2f; 1.00 = exactly linear)\n",
                  lo, hi, count, hi / lo);
    out << line;
  }
}

}  // namespace swat_bench
