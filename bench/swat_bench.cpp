// swat_bench: forward- and backward-pass throughput of swat against the machine's own FP32 FMA
// peak (SPEC section 5), with two baselines: the naive double reference and dense masked
// attention in Eigen.
//
//   swat_bench                       representative subset (a few minutes)
//   swat_bench --swat_full           the full grid as well
//   swat_bench --swat_report         only the rows with a bar, then a markdown table of them
//   swat_bench --benchmark_filter=forward/sigmoid/n:16384     any Google Benchmark flag
//
// Counters: GFLOP/s = 4 * D * visible / time for forward, 10 * D * visible / time for backward/
// rows (useful work, SPEC 5; identical for the baselines, so rows compare directly), pct_peak = GFLOP/s / measured peak at the same thread count * 100,
// ns_per_token (the linear-in-n series) = time / n.
//
// decode/ rows time SlidingKVCache::step with one new token over a full window (B 1, H = Hkv 8,
// D 128, sigmoid, balanced ALiBi, RoPE half): tokens/s, GB/s = SPEC 5's cache bytes per step
// (2 * B * Hkv * min(w, pos) * D * sizeof(storage)) / time. At w 65536 (the bandwidth bars) each
// step is paired with the read bandwidth taken right after it with the same thread count, as
// many bytes as the step read, half in each of the probe's patterns (bandwidth.hpp: one stream a
// thread, two in turns; the faster), outside the timing: bw_GB/s is the median of those, pct_bw
// the median over the steps of step GB/s / bandwidth * 100. Smaller windows (caches partly in
// the caches) are compared with the bandwidth measured at start-up; pct_bw_startup is that for
// every row.
//
// modifiers/ rows: the bar shape (D 128, w 1024, n 16384, 1 thread) plain, with soft-capping
// at 50 and (softmax) with sinks, side by side in one run: SPEC 8's cost.
//
// Inputs are B = 1, Sq = Sk = n, contiguous BSHD, uniform [-1, 1) with fixed seeds. The forward/,
// vs_eigen/ and linear/ rows run the bare kernel (no ALiBi, no RoPE); layer340m/ and vs_reference/
// use the paper's configuration (balanced ALiBi slopes, RoPE half).
#include <benchmark/benchmark.h>

#include <swat/reference.hpp>
#include <swat/swat.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bandwidth.hpp"
#include "dense_eigen.hpp"
#include "inputs.hpp"
#include "peak.hpp"
#include "summary.hpp"

namespace {

using swat::Activation;
using swat_bench::Tensor;

constexpr int64_t kBatch = 1;

// Measured peak in GFLOP/s by thread count (index 1 and 2); 0 = not measured.
double g_peak[3] = {0, 0, 0};

double peak_for(int threads) { return g_peak[std::clamp(threads, 1, 2)]; }

// Measured read bandwidth in GB/s by thread count (index 1 and 2); 0 = not measured. Decode
// rows are compared with the bandwidth of their own thread count.
double g_bandwidth[3] = {0, 0, 0};

double bandwidth_for(int threads) { return g_bandwidth[std::clamp(threads, 1, 2)]; }

// One forward problem: B = 1, Sq = Sk = n, q [n, H, D], k and v [n, Hkv, D].
struct Shape {
  Activation activation = Activation::sigmoid;
  int64_t n = 0, w = 0, D = 0, H = 0, Hkv = 0;
  bool swat_layer = false;  // balanced ALiBi slopes + RoPE half (the paper's configuration)
  bool softcap = false;     // soft-capping at 50 (Gemma 2), SPEC 8
  bool sinks = false;       // one sink logit per head (gpt-oss), softmax only, SPEC 8
  int threads = 1;
};

const char* activation_name(Activation a) { return a == Activation::sigmoid ? "sigmoid" : "softmax"; }

std::string shape_name(const Shape& s) {
  std::string name = std::string(activation_name(s.activation)) + "/n:" + std::to_string(s.n) +
                     "/w:" + std::to_string(s.w) + "/D:" + std::to_string(s.D) + "/H:" + std::to_string(s.H) +
                     "/Hkv:" + std::to_string(s.Hkv);
  if (s.swat_layer) name += "/alibi:balanced/rope:half";
  if (s.softcap) name += "/softcap:50";
  if (s.sinks) name += "/sinks";
  return name + "/threads:" + std::to_string(s.threads);
}

swat::Options options_for(const Shape& s) {
  swat::Options opt;
  opt.window = s.w;
  opt.activation = s.activation;
  opt.threads = s.threads;
  if (s.swat_layer) {
    opt.alibi_slopes = swat::balanced_alibi_slopes(static_cast<int>(s.H));
    opt.rope = swat::RopeLayout::half;
  }
  if (s.softcap) opt.softcap = 50.f;
  if (s.sinks) opt.sinks.assign(static_cast<std::size_t>(s.H), 1.f);
  return opt;
}

// The inputs of a shape; the same data for every benchmark of that size.
struct Inputs {
  Tensor q, k, v, o;
  explicit Inputs(const Shape& s, uint64_t output_tag = 0)
      : q(swat_bench::random_tensor(s.n * s.H * s.D, 1)),
        k(swat_bench::random_tensor(s.n * s.Hkv * s.D, 2)),
        v(swat_bench::random_tensor(s.n * s.Hkv * s.D, 3)),
        o(swat_bench::output_tensor(s.n * s.H * s.D, output_tag)) {}
  swat::View4<const float> qv(const Shape& s) const { return swat::bshd<const float>(q->data(), kBatch, s.n, s.H, s.D); }
  swat::View4<const float> kv(const Shape& s) const { return swat::bshd<const float>(k->data(), kBatch, s.n, s.Hkv, s.D); }
  swat::View4<const float> vv(const Shape& s) const { return swat::bshd<const float>(v->data(), kBatch, s.n, s.Hkv, s.D); }
  swat::View4<float> ov(const Shape& s) const { return swat::bshd<float>(o->data(), kBatch, s.n, s.H, s.D); }
};

// GFLOP/s and pct_peak from the SPEC 5 count of one call (per iteration, hence the
// iteration-invariant rate: Google Benchmark multiplies by iterations and divides by real time).
void set_work_counters(benchmark::State& state, const Shape& s, bool backward = false) {
  const double gflop = (backward ? swat::backward_flops(kBatch, s.n, s.n, s.H, s.D, options_for(s))
                                 : swat::forward_flops(kBatch, s.n, s.n, s.H, s.D, options_for(s))) * 1e-9;
  state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
  if (peak_for(s.threads) > 0)
    state.counters["pct_peak"] =
        benchmark::Counter(gflop / peak_for(s.threads) * 100.0, benchmark::Counter::kIsIterationInvariantRate);
}

void bench_swat(benchmark::State& state, const Shape& s, bool per_token) {
  const Inputs in(s);
  const swat::Options opt = options_for(s);
  for (auto _ : state) {
    swat::forward<float>(in.qv(s), in.kv(s), in.vv(s), in.ov(s), opt);
    benchmark::ClobberMemory();
  }
  set_work_counters(state, s);
  if (per_token)  // time / n in ns: the inverse of a rate of n * 1e-9 tokens per second
    state.counters["ns_per_token"] = benchmark::Counter(
        static_cast<double>(s.n) * 1e-9, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.SetLabel(swat::isa_name(swat::best_isa()));
}

// The extra tensors of a backward call: upstream gradient and the three gradients.
struct GradientInputs {
  Tensor dout, dq, dk, dv;
  explicit GradientInputs(const Shape& s)
      : dout(swat_bench::random_tensor(s.n * s.H * s.D, 5)),
        dq(swat_bench::output_tensor(s.n * s.H * s.D, 5)),
        dk(swat_bench::output_tensor(s.n * s.Hkv * s.D, 6)),
        dv(swat_bench::output_tensor(s.n * s.Hkv * s.D, 7)) {}
};

// swat::backward, with o from forward (computed once, untimed) and dslopes when slopes are set.
void bench_backward(benchmark::State& state, const Shape& s) {
  const Inputs in(s, 8);
  const GradientInputs g(s);
  const swat::Options opt = options_for(s);
  swat::forward<float>(in.qv(s), in.kv(s), in.vv(s), in.ov(s), opt);
  std::vector<float> dslopes(static_cast<std::size_t>(s.H), 0.f);
  float* slopes = opt.alibi_slopes.empty() ? nullptr : dslopes.data();
  const auto view = [&](const Tensor& t, int64_t heads) { return swat::bshd<float>(t->data(), kBatch, s.n, heads, s.D); };
  for (auto _ : state) {
    swat::backward<float>(in.qv(s), in.kv(s), in.vv(s), in.ov(s), view(g.dout, s.H), view(g.dq, s.H), view(g.dk, s.Hkv),
                          view(g.dv, s.Hkv), opt, slopes);
    benchmark::ClobberMemory();
  }
  set_work_counters(state, s, true);
  state.SetLabel(swat::isa_name(swat::best_isa()));
}

// forward with 16-bit storage: the float inputs of the shape, rounded once to S.
template <class S>
void bench_swat_storage(benchmark::State& state, const Shape& s) {
  const Inputs in(s);
  auto rounded = [](const Tensor& t) {
    std::vector<S> out(t->size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = S((*t)[i]);
    return out;
  };
  const std::vector<S> q = rounded(in.q), k = rounded(in.k), v = rounded(in.v);
  std::vector<S> o(q.size());
  const swat::Options opt = options_for(s);
  for (auto _ : state) {
    swat::forward<S>(swat::bshd<const S>(q.data(), kBatch, s.n, s.H, s.D), swat::bshd<const S>(k.data(), kBatch, s.n, s.Hkv, s.D),
                     swat::bshd<const S>(v.data(), kBatch, s.n, s.Hkv, s.D), swat::bshd<S>(o.data(), kBatch, s.n, s.H, s.D), opt);
    benchmark::ClobberMemory();
  }
  set_work_counters(state, s);
  state.SetLabel(swat::isa_name(swat::best_isa()));
}

// Decode rows from this window on read caches far beyond the last-level cache (D 128, 8 kv
// heads: 256 MiB in bf16): the bandwidth bars, paired with the read bandwidth step by step.
constexpr int64_t decode_paired_from = 65536;

// One decode configuration: a cache of window w filled to w positions, then one token a step.
struct DecodeShape {
  int64_t w = 0, D = 128, H = 8, Hkv = 8;
  int threads = 1;
};

std::string decode_name(const DecodeShape& s, const char* type) {
  return std::string("decode/") + type + "/w:" + std::to_string(s.w) + "/D:" + std::to_string(s.D) +
         "/H:" + std::to_string(s.H) + "/Hkv:" + std::to_string(s.Hkv) + "/threads:" + std::to_string(s.threads);
}

template <class S>
void bench_decode(benchmark::State& state, const DecodeShape& s) {
  swat::Options opt;
  opt.window = s.w;
  opt.threads = s.threads;
  opt.alibi_slopes = swat::balanced_alibi_slopes(static_cast<int>(s.H));
  opt.rope = swat::RopeLayout::half;
  swat::SlidingKVCache<S> cache(kBatch, s.Hkv, s.D, opt);
  auto rounded = [](int64_t count, uint64_t seed) {
    const Tensor t = swat_bench::random_tensor(count, seed);
    std::vector<S> out(t->size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = S((*t)[i]);
    return out;
  };
  // Fill the window (append: no attention computed), a chunk of rows at a time.
  const int64_t chunk = std::min<int64_t>(s.w, 4096);
  const std::vector<S> fill_k = rounded(chunk * s.Hkv * s.D, 11), fill_v = rounded(chunk * s.Hkv * s.D, 12);
  while (cache.position() < s.w) {
    const int64_t t = std::min(chunk, s.w - cache.position());
    cache.append(swat::bshd<const S>(fill_k.data(), kBatch, t, s.Hkv, s.D), swat::bshd<const S>(fill_v.data(), kBatch, t, s.Hkv, s.D));
  }
  const std::vector<S> q = rounded(s.H * s.D, 13), k = rounded(s.Hkv * s.D, 14), v = rounded(s.Hkv * s.D, 15);
  std::vector<S> o(q.size());
  const double gb = 2.0 * kBatch * s.Hkv * s.w * s.D * sizeof(S) * 1e-9;  // SPEC 5, pos >= w
  // Rows over caches far beyond the last-level cache (decode_paired_from) are paired with the read
  // bandwidth step by step: after each step, outside the timing, the probe reads as many bytes as
  // the step, half in each of its patterns (bandwidth.hpp, measure_part), with the row's thread
  // count, and pct_bw is the median over the steps of the step's GB/s over the bandwidth read right
  // after it. On a shared machine what memory delivers moves by up to 2x within a minute (the
  // neighbours' load), so a probe taken before and after a row can measure a quieter or a busier
  // machine than the row ran on: float on 2 threads read 34 GB/s in one pass, with 60 read by a
  // probe around it, and 56 against 61 in the next. Smaller rows keep part of the cache in the
  // caches between steps, which the probe's reads would evict: they are compared with the start-up
  // bandwidth only.
  const bool paired = s.w >= decode_paired_from;
  const swat_bench::ReadBandwidthProbe& probe = swat_bench::read_bandwidth_probe();
  std::vector<double> bandwidths, ratios;
  std::size_t part = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    cache.step(swat::bshd<const S>(q.data(), kBatch, 1, s.H, s.D), swat::bshd<const S>(k.data(), kBatch, 1, s.Hkv, s.D),
               swat::bshd<const S>(v.data(), kBatch, 1, s.Hkv, s.D), swat::bshd<S>(o.data(), kBatch, 1, s.H, s.D));
    benchmark::ClobberMemory();
    if (!paired) continue;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.PauseTiming();
    const double bandwidth = probe.measure_part(s.threads, static_cast<std::size_t>(gb * 1e9 / 2), part++).gbps;
    bandwidths.push_back(bandwidth);
    ratios.push_back(gb / seconds / bandwidth * 100.0);
    state.ResumeTiming();
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v.size() % 2 == 1 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  };
  state.counters["tokens/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(gb, benchmark::Counter::kIsIterationInvariantRate);
  if (paired) {
    state.counters["bw_GB/s"] = median(bandwidths);
    state.counters["pct_bw"] = median(ratios);
  } else if (bandwidth_for(s.threads) > 0) {
    state.counters["bw_GB/s"] = bandwidth_for(s.threads);
    state.counters["pct_bw"] =
        benchmark::Counter(gb / bandwidth_for(s.threads) * 100.0, benchmark::Counter::kIsIterationInvariantRate);
  }
  if (bandwidth_for(s.threads) > 0)
    state.counters["pct_bw_startup"] =
        benchmark::Counter(gb / bandwidth_for(s.threads) * 100.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["cache_MiB"] = static_cast<double>(cache.bytes()) / (1 << 20);
  state.SetLabel(swat::isa_name(swat::best_isa()));
}

void bench_reference(benchmark::State& state, const Shape& s) {
  const Inputs in(s, 1);
  const swat::Options opt = options_for(s);
  for (auto _ : state) {
    swat::reference::forward<float, float>(in.qv(s), in.kv(s), in.vv(s), in.ov(s), opt);
    benchmark::ClobberMemory();
  }
  set_work_counters(state, s);
  state.SetLabel("naive, double");
}

bool dense_runs_here() {
#if defined(SWAT_BENCH_EIGEN_NEEDS_AVX2)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return true;
#endif
}

void bench_dense(benchmark::State& state, const Shape& s) {
  if (!dense_runs_here()) {
    state.SkipWithError("the Eigen baseline was built with -mavx2 -mfma and this CPU lacks them");
    for (auto _ : state) {
    }
    return;
  }
  const Inputs in(s, 2);
  std::unique_ptr<swat_bench::DenseAttention, void (*)(swat_bench::DenseAttention*)> dense(
      swat_bench::dense_create(s.n, s.H, s.Hkv, s.D, s.w, s.activation == Activation::softmax),
      &swat_bench::dense_destroy);
  for (auto _ : state) {
    swat_bench::dense_run(dense.get(), in.q->data(), in.k->data(), in.v->data(), in.o->data());
    benchmark::ClobberMemory();
  }
  set_work_counters(state, s);
  // What Eigen actually computes: two n x n x D products per head.
  const double dense_gflop = 4.0 * static_cast<double>(s.D) * s.n * s.n * s.H * 1e-9;
  state.counters["dense_GFLOP/s"] = benchmark::Counter(dense_gflop, benchmark::Counter::kIsIterationInvariantRate);
  // Sanity: the baseline computes the same attention as swat (SPEC 4 error measure).
  Shape one = s;
  one.threads = 0;
  const Inputs check(one, 3);
  swat::forward<float>(check.qv(s), check.kv(s), check.vv(s), check.ov(s), options_for(one));
  double diff = 0, scale = 1;
  for (std::size_t i = 0; i < in.o->size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>((*in.o)[i]) - (*check.o)[i]));
    scale = std::max(scale, std::fabs(static_cast<double>((*check.o)[i])));
  }
  state.counters["err_vs_swat"] = diff / scale;
  if (!(diff / scale < 1e-3)) state.SkipWithError("the dense Eigen baseline disagrees with swat");
  state.SetLabel("Eigen dense, 1 thread");
}

// Registration, each name once.
std::set<std::string> g_registered;

benchmark::internal::Benchmark* add(const std::string& name, std::function<void(benchmark::State&)> fn) {
  if (!g_registered.insert(name).second) return nullptr;
  return benchmark::RegisterBenchmark(name.c_str(), std::move(fn))->UseRealTime()->Unit(benchmark::kMillisecond);
}

void add_forward(const Shape& s, int repetitions = 1, const std::string& group = "forward") {
  auto* b = add(group + "/" + shape_name(s), [s](benchmark::State& st) { bench_swat(st, s, false); });
  if (b != nullptr && repetitions > 1) b->Repetitions(repetitions)->ReportAggregatesOnly(true);
}

void add_backward(const Shape& s, int repetitions = 1) {
  auto* b = add("backward/" + shape_name(s), [s](benchmark::State& st) { bench_backward(st, s); });
  if (b != nullptr && repetitions > 1) b->Repetitions(repetitions)->ReportAggregatesOnly(true);
}

Shape make(Activation a, int64_t n, int64_t w, int64_t D, int64_t H, int64_t Hkv, int threads) {
  Shape s;
  s.activation = a;
  s.n = n;
  s.w = w;
  s.D = D;
  s.H = H;
  s.Hkv = Hkv;
  s.threads = threads;
  return s;
}

void register_benchmarks(bool full) {
  const Activation both[] = {Activation::sigmoid, Activation::softmax};

  // The bar rows: D 128, w 1024, n 16384, H 8 = Hkv, 1 and 2 threads, medians of 3.
  for (Activation a : both)
    for (int t : {1, 2}) add_forward(make(a, 16384, 1024, 128, 8, 8, t), 3);

  // The cost of the SPEC 8 modifiers: the bar shape (1 thread) with and without soft-capping and
  // sinks, in one group so that they run side by side; medians of 3.
  for (Activation a : both)
    for (bool softcap : {false, true})
      for (bool sinks : {false, true}) {
        if (sinks && a == Activation::sigmoid) continue;
        Shape s = make(a, 16384, 1024, 128, 8, 8, 1);
        s.softcap = softcap;
        s.sinks = sinks;
        add_forward(s, 3, "modifiers");
      }

  // Backward at the bar shape (SPEC 5 counts 10 * D * visible), medians of 3.
  for (Activation a : both)
    for (int t : {1, 2}) add_backward(make(a, 16384, 1024, 128, 8, 8, t), 3);
  // The paper's layer configuration (balanced ALiBi with dslopes, RoPE) at the same shape.
  {
    Shape s = make(Activation::sigmoid, 16384, 1024, 128, 8, 8, 1);
    s.swat_layer = true;
    add_backward(s);
  }

  // Prefill in 16-bit storage beside float (the first bar row's shape, sigmoid).
  for (int t : {1, 2}) {
    const Shape s = make(Activation::sigmoid, 16384, 1024, 128, 8, 8, t);
    add("forward_bf16/" + shape_name(s), [s](benchmark::State& st) { bench_swat_storage<swat::bf16>(st, s); });
    add("forward_f16/" + shape_name(s), [s](benchmark::State& st) { bench_swat_storage<swat::f16>(st, s); });
  }

  // Decode: one token a step over a full window; the w = 65536 rows (cache far beyond the LLC)
  // are the bandwidth bar, medians of 3.
  for (int64_t w : {1024, 8192, 65536})
    for (int t : {1, 2}) {
      DecodeShape s;
      s.w = w;
      s.threads = t;
      const int reps = w == 65536 ? 3 : 1;
      for (auto* b : {add(decode_name(s, "float"), [s](benchmark::State& st) { bench_decode<float>(st, s); }),
                      add(decode_name(s, "bf16"), [s](benchmark::State& st) { bench_decode<swat::bf16>(st, s); })})
        if (b != nullptr && reps > 1) b->Repetitions(reps)->ReportAggregatesOnly(true);
    }
  {
    DecodeShape s;  // GQA: 4 query heads per kv head read the same cache
    s.w = 65536;
    s.H = 32;
    s.threads = 2;
    add(decode_name(s, "bf16"), [s](benchmark::State& st) { bench_decode<swat::bf16>(st, s); });
    s.H = 8;
    add(decode_name(s, "f16"), [s](benchmark::State& st) { bench_decode<swat::f16>(st, s); });
  }

  // Representative neighbours: GQA (Hkv 2) of the bar shape, and a small-head short shape.
  for (int t : {1, 2}) add_forward(make(Activation::sigmoid, 16384, 1024, 128, 8, 2, t));
  for (Activation a : both) add_forward(make(a, 4096, 256, 64, 8, 8, 1));

  // The paper's 340M layer: n 4096, w 256, D 64, H = Hkv = 16, sigmoid, balanced ALiBi, RoPE half.
  for (int t : {1, 2}) {
    Shape s = make(Activation::sigmoid, 4096, 256, 64, 16, 16, t);
    s.swat_layer = true;
    add_forward(s, 1, "layer340m");
  }

  // Baseline (a): the naive double reference, and swat on the same small problem.
  {
    Shape s = make(Activation::sigmoid, 1024, 256, 64, 2, 2, 1);
    s.swat_layer = true;
    add("vs_reference/reference_double/" + shape_name(s), [s](benchmark::State& st) { bench_reference(st, s); });
    add("vs_reference/swat/" + shape_name(s), [s](benchmark::State& st) { bench_swat(st, s, false); });
  }

  // Baseline (b): dense masked attention from Eigen products, single thread, and swat alike.
  for (Activation a : both) {
    const Shape s = make(a, 4096, 1024, 128, 8, 8, 1);
    add("vs_eigen/eigen_dense/" + shape_name(s), [s](benchmark::State& st) { bench_dense(st, s); });
    add("vs_eigen/swat/" + shape_name(s), [s](benchmark::State& st) { bench_swat(st, s, false); });
  }

  // Linear in n: fixed window, growing length; ns_per_token should stay flat.
  for (int64_t n : {1024, 2048, 4096, 8192, 16384, 32768}) {
    const Shape s = make(Activation::sigmoid, n, 256, 64, 8, 8, 1);
    add("linear/" + shape_name(s), [s](benchmark::State& st) { bench_swat(st, s, true); });
  }

  if (!full) return;
  // The full grid (rows already registered above keep their first registration).
  for (Activation a : both)
    for (int64_t n : {4096, 16384})
      for (int64_t w : {256, 1024, 4096})
        for (int64_t D : {64, 128})
          for (int64_t Hkv : {8, 2})
            for (int t : {1, 2}) {
              add_forward(make(a, n, w, D, 8, Hkv, t));
              add_backward(make(a, n, w, D, 8, Hkv, t));
            }
}

// ---- scripts/bench --report: the bars of the performance issues, as README rows ----------------

// A row measured against the machine's limit: pct_peak (GFLOP/s over the FMA peak) or pct_bw
// (decode GB/s over the read bandwidth), both at the row's own thread count.
struct Bar {
  std::string label, name;
  const char* metric;
  double at_least;
};
// A speed ratio of two rows (time of `slower` / time of `faster`): "row A runs at >= x of row B".
struct RatioBar {
  std::string label, name, against;
  double at_least;
};
std::vector<Bar> g_bars;
std::vector<RatioBar> g_ratio_bars;

Shape swat_layer(Activation a, int64_t n, int64_t w, int64_t D, int64_t H, int threads) {
  Shape s = make(a, n, w, D, H, H, threads);
  s.swat_layer = true;
  return s;
}

void register_report() {
  auto forward = [](const Shape& s) {
    add_forward(s, 3);
    return "forward/" + shape_name(s);
  };
  auto backward = [](const Shape& s) {
    add_backward(s, 3);
    return "backward/" + shape_name(s);
  };
  for (int t : {1, 2}) {
    const std::string threads = t == 1 ? "1 thread" : "2 threads";
    const std::string sigmoid = forward(swat_layer(Activation::sigmoid, 16384, 1024, 128, 8, t));
    g_bars.push_back({"SWAT layer forward, D 128, w 1024, n 16384, H 8, " + threads, sigmoid, "pct_peak", 75});
    const std::string softmax = forward(swat_layer(Activation::softmax, 16384, 1024, 128, 8, t));
    g_ratio_bars.push_back({"softmax forward against the SWAT layer (same shape, slopes, RoPE), " + threads, softmax,
                            sigmoid, 0.9});
    g_bars.push_back({"paper's 340M layer forward (n 4096, w 256, D 64, H 16), " + threads,
                      forward(swat_layer(Activation::sigmoid, 4096, 256, 64, 16, t)), "pct_peak", 60});
    g_bars.push_back({"paper's 340M layer backward, " + threads,
                      backward(swat_layer(Activation::sigmoid, 4096, 256, 64, 16, t)), "pct_peak", 45});
    g_bars.push_back({"SWAT layer backward, D 128, w 1024, n 16384, H 8, " + threads,
                      backward(swat_layer(Activation::sigmoid, 16384, 1024, 128, 8, t)), "pct_peak", 55});
  }
  for (int t : {1, 2}) {
    const std::string threads = t == 1 ? "1 thread" : "2 threads";
    DecodeShape d;
    d.w = 65536;
    d.threads = t;
    auto decode = [](const DecodeShape& s, const char* type, auto run) {
      auto* b = add(decode_name(s, type), run);
      if (b != nullptr) b->Repetitions(3)->ReportAggregatesOnly(true);
      return decode_name(s, type);
    };
    g_bars.push_back({"decode float, w 65536, D 128, H = Hkv = 8, " + threads,
                      decode(d, "float", [d](benchmark::State& st) { bench_decode<float>(st, d); }), "pct_bw", 85});
    g_bars.push_back({"decode bf16, w 65536, D 128, H = Hkv = 8, " + threads,
                      decode(d, "bf16", [d](benchmark::State& st) { bench_decode<swat::bf16>(st, d); }), "pct_bw", 85});
    DecodeShape gqa = d;
    gqa.H = 32;
    g_bars.push_back({"decode bf16, GQA 32 over 8, w 65536, D 128, " + threads,
                      decode(gqa, "bf16", [gqa](benchmark::State& st) { bench_decode<swat::bf16>(st, gqa); }), "pct_bw",
                      70});
  }
  // SPEC 8's modifiers against the same call without them (issue bars: soft-capping within 15%,
  // sinks within 5%), in one group so that they run side by side.
  {
    auto modifiers = [](Activation a, bool softcap, bool sinks) {
      Shape s = make(a, 16384, 1024, 128, 8, 8, 1);
      s.softcap = softcap;
      s.sinks = sinks;
      add_forward(s, 3, "modifiers");
      return "modifiers/" + shape_name(s);
    };
    const std::string sigmoid = modifiers(Activation::sigmoid, false, false);
    g_ratio_bars.push_back({"soft-capping at 50 against none, sigmoid, D 128, w 1024, 1 thread",
                            modifiers(Activation::sigmoid, true, false), sigmoid, 0.85});
    const std::string softmax = modifiers(Activation::softmax, false, false);
    g_ratio_bars.push_back({"soft-capping at 50 against none, softmax, D 128, w 1024, 1 thread",
                            modifiers(Activation::softmax, true, false), softmax, 0.85});
    g_ratio_bars.push_back({"sinks against none, softmax, D 128, w 1024, 1 thread",
                            modifiers(Activation::softmax, false, true), softmax, 0.95});
  }
  {
    const Shape s = swat_layer(Activation::sigmoid, 16384, 1024, 128, 8, 1);
    const std::string name = "forward_bf16/" + shape_name(s);
    auto* b = add(name, [s](benchmark::State& st) { bench_swat_storage<swat::bf16>(st, s); });
    if (b != nullptr) b->Repetitions(3)->ReportAggregatesOnly(true);
    g_ratio_bars.push_back({"forward<bf16> against forward<float>, SWAT layer, D 128, w 1024, 1 thread", name,
                            "forward/" + shape_name(s), 1.4});
  }
}

std::string cpu_description() {
  std::FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (f == nullptr) return "unknown CPU";
  std::string model, flags;
  char buffer[8192];
  while (std::fgets(buffer, sizeof buffer, f) != nullptr) {
    const std::string line(buffer);
    auto value = [&] { return line.substr(line.find(':') + 2, line.size() - line.find(':') - 3); };
    if (model.empty() && line.rfind("model name", 0) == 0) model = value();
    if (flags.empty() && line.rfind("flags", 0) == 0) flags = " " + value() + " ";
  }
  std::fclose(f);
  std::string features;
  for (const char* feature : {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_fp16"})
    if (flags.find(std::string(" ") + feature + " ") != std::string::npos)
      features += (features.empty() ? "" : " ") + std::string(feature);
  return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " hardware threads, " + features;
}

// The markdown the README's performance section quotes.
void print_report(const swat_bench::SummaryReporter& reporter, std::ostream& out) {
  char line[512];
  out << "\n<!-- scripts/bench --report: begin -->\n";
  out << "Machine: " << cpu_description() << "; swat path `" << swat::isa_name(swat::best_isa()) << "`.  \n";
  std::snprintf(line, sizeof line,
                "Measured in the same run: FP32 FMA peak %.1f GFLOP/s on 1 thread, %.1f on 2; read bandwidth %.1f GB/s "
                "on 1 thread, %.1f on 2 at start-up; each step of a decode bar row is paired with the bandwidth read "
                "right after it (the row: the median over its steps). Times are medians of 3 repetitions.\n\n",
                g_peak[1], g_peak[2], g_bandwidth[1], g_bandwidth[2]);
  out << line;
  out << "| row | measured | of the limit | bar | met |\n|---|---|---|---|---|\n";
  for (const Bar& bar : g_bars) {
    const auto* row = reporter.row(bar.name);
    if (row == nullptr || !row->error.empty()) {
      out << "| " << bar.label << " | not run | | " << bar.at_least << "% | no |\n";
      continue;
    }
    const bool peak = std::strcmp(bar.metric, "pct_peak") == 0;
    const double pct = peak ? row->pct_peak : row->pct_bw;
    char limit[160];
    if (peak)
      std::snprintf(limit, sizeof limit, "%.1f%% of peak", pct);
    else  // against the bandwidth paired with its steps, and against the start-up probe
      std::snprintf(limit, sizeof limit,
                    "%.1f%% of the bandwidth paired with its steps (median %.1f GB/s; start-up probe: %.0f%%)", pct,
                    row->bw, row->pct_bw_startup);
    std::snprintf(line, sizeof line, "| %s | %.1f %s | %s | %.0f%% | %s |\n", bar.label.c_str(),
                  peak ? row->gflops : row->gbps, peak ? "GFLOP/s" : "GB/s", limit, bar.at_least,
                  pct >= bar.at_least ? "yes" : "**no**");
    out << line;
  }
  for (const RatioBar& bar : g_ratio_bars) {
    const auto *row = reporter.row(bar.name), *against = reporter.row(bar.against);
    if (row == nullptr || against == nullptr || row->ms <= 0 || !row->error.empty() || !against->error.empty()) {
      out << "| " << bar.label << " | not run | | " << bar.at_least << "x | no |\n";
      continue;
    }
    const double ratio = against->ms / row->ms;
    std::snprintf(line, sizeof line, "| %s | %.3f ms against %.3f ms | %.2fx the speed | %.2fx | %s |\n",
                  bar.label.c_str(), row->ms, against->ms, ratio, bar.at_least, ratio >= bar.at_least ? "yes" : "**no**");
    out << line;
  }
  out << "<!-- scripts/bench --report: end -->\n";
}

void print_help() {
  std::printf(
      "swat_bench: sliding-window attention forward and backward benchmarks (swat) with the measured\n"
      "FP32 FMA peak.\n"
      "Own flags (removed before Google Benchmark sees the rest):\n"
      "  --swat_report run only the rows with a performance bar and print them as markdown (README)\n"
      "  --swat_full   run the full grid (n {4096,16384} x w {256,1024,4096} x D {64,128} x Hkv {8,2}\n"
      "                x sigmoid/softmax x threads {1,2}, forward and backward) in addition to the\n"
      "                default subset\n"
      "Counters: GFLOP/s = 4*D*visible/time, backward 10*D*visible/time (SPEC 5), pct_peak = %% of the peak measured at start-up\n"
      "for the same thread count, ns_per_token = time / n (linear series).\n\n"
      "Google Benchmark flags:\n");
  benchmark::PrintDefaultHelp();
}

bool has_flag(int argc, char** argv, const char* prefix) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], prefix, std::strlen(prefix)) == 0) return true;
  return false;
}

// Starts the thread pool and grows per-thread scratch before anything is timed.
void warm_up() {
  const Shape s = make(Activation::sigmoid, 1024, 256, 128, 8, 8, 2);
  const Inputs in(s, 4);
  for (int threads : {2, 1}) {
    swat::Options opt = options_for(s);
    opt.threads = threads;
    swat::forward<float>(in.qv(s), in.kv(s), in.vv(s), in.ov(s), opt);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool full = false, report = false;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--swat_full") == 0)
      full = true;
    else if (std::strcmp(argv[i], "--swat_report") == 0)
      report = true;
    else
      argv[kept++] = argv[i];
  }
  argc = kept;
  argv[argc] = nullptr;

  benchmark::Initialize(&argc, argv, print_help);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const bool listing = has_flag(argc, argv, "--benchmark_list_tests");

  swat_bench::SummaryReporter reporter(benchmark::CreateDefaultDisplayReporter());
  std::ostream& out = reporter.console() ? std::cout : std::cerr;  // keep json/csv on stdout clean

  const std::string swat_isa = swat::isa_name(swat::best_isa());
  std::string isas;
  for (swat::Isa isa : swat::available_isas()) isas += (isas.empty() ? "" : ",") + std::string(swat::isa_name(isa));
  benchmark::AddCustomContext("swat_isa", swat_isa);
  benchmark::AddCustomContext("swat_available_isas", isas);
  benchmark::AddCustomContext("swat_subset", full ? "full" : "default");
  benchmark::AddCustomContext("gflops_definition", "4*D*visible per forward call, 10*D*visible per backward call (SPEC 5)");
  benchmark::AddCustomContext("eigen_simd", swat_bench::dense_simd());
#if !defined(__OPTIMIZE__)
  out << "WARNING: swat_bench was compiled without optimisation; timings are meaningless.\n";
  benchmark::AddCustomContext("swat_bench_build", "UNOPTIMISED");
#endif

  if (!listing) {
    const swat_bench::PeakProbe probe = swat_bench::best_peak_probe();
    const int repetitions = 40;  // many short runs: the best one most likely ran undisturbed
    const swat_bench::PeakMeasurement one = swat_bench::measure_peak(probe, 1, repetitions, 0.01);
    const swat_bench::PeakMeasurement two = swat_bench::measure_peak(probe, 2, repetitions, 0.01);
    g_peak[1] = one.gflops;
    g_peak[2] = two.gflops;
    char line[256];
    out << "swat_bench: FP32 FMA peak measured now (" << probe.isa << " probe, " << probe.shape << ", best of "
        << repetitions << " runs of ~10 ms):\n";
    std::snprintf(line, sizeof line, "  1 thread : %7.1f GFLOP/s   (worst run %.1f)\n", one.gflops, one.gflops_min);
    out << line;
    std::snprintf(line, sizeof line, "  2 threads: %7.1f GFLOP/s   (worst run %.1f)\n", two.gflops, two.gflops_min);
    out << line;
    if (one.gflops_per_core_cpu > 0) {
      std::snprintf(line, sizeof line, "  1 core while scheduled (FLOPs / thread CPU time): %.1f GFLOP/s\n",
                    one.gflops_per_core_cpu);
      out << line;
      std::snprintf(line, sizeof line, "%.1f", one.gflops_per_core_cpu);
      benchmark::AddCustomContext("fp32_core_gflops_while_scheduled", line);
    }
    const bool two_cores = std::thread::hardware_concurrency() >= 2;
    if ((two_cores && two.gflops < one.gflops) || one.gflops_per_core_cpu > 1.15 * one.gflops)
      out << "  (other processes are taking CPU time: timings and pct_peak are unreliable in this run)\n";
    out << "swat forward path: " << swat_isa << " (available: " << isas << "); subset: " << (full ? "full" : "default")
        << "\n"
        << std::flush;
    std::snprintf(line, sizeof line, "%.1f", one.gflops);
    benchmark::AddCustomContext("fp32_peak_gflops_1thread", line);
    std::snprintf(line, sizeof line, "%.1f", two.gflops);
    benchmark::AddCustomContext("fp32_peak_gflops_2threads", line);
    benchmark::AddCustomContext("peak_probe", std::string(probe.isa) + ", " + probe.shape);
    const swat_bench::BandwidthMeasurement bw1 = swat_bench::read_bandwidth_probe().measure(1, 5);
    const swat_bench::BandwidthMeasurement bw2 = swat_bench::read_bandwidth_probe().measure(2, 5);
    g_bandwidth[1] = bw1.gbps;
    g_bandwidth[2] = bw2.gbps;
    out << "memory bandwidth measured now (streaming read of 1 GiB, best of 5 passes of each pattern):\n";
    for (const auto* bw : {&bw1, &bw2}) {
      std::snprintf(line, sizeof line,
                    "  %s: %7.1f GB/s   (one stream a thread %.1f, two in 4 KB turns %.1f; worst pass %.1f)\n",
                    bw->threads == 1 ? "1 thread " : "2 threads", bw->gbps, bw->gbps_one_stream, bw->gbps_two_streams,
                    bw->gbps_min);
      out << line;
    }
    out << std::flush;
    std::snprintf(line, sizeof line, "%.1f", bw1.gbps);
    benchmark::AddCustomContext("memory_bandwidth_gbps_1thread", line);
    std::snprintf(line, sizeof line, "%.1f", bw2.gbps);
    benchmark::AddCustomContext("memory_bandwidth_gbps_2threads", line);
    warm_up();
  }

  if (report)
    register_report();
  else
    register_benchmarks(full);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  if (!listing) {
    reporter.print_summary(out);
    if (report) print_report(reporter, out);
    // The load of a shared machine drifts; a second look at the peak shows by how much.
    const swat_bench::PeakProbe probe = swat_bench::best_peak_probe();
    const double one = swat_bench::measure_peak(probe, 1, 20, 0.01).gflops;
    const double two = swat_bench::measure_peak(probe, 2, 20, 0.01).gflops;
    char line[256];
    std::snprintf(line, sizeof line,
                  "FP32 FMA peak re-measured after the run: %.1f GFLOP/s (1 thread), %.1f (2 threads); "
                  "at start-up %.1f, %.1f (pct_peak uses these)\n",
                  one, two, g_peak[1], g_peak[2]);
    out << line;
  }
  benchmark::Shutdown();
  return 0;
}
