// libFuzzer target: random bytes decode into one call (operation, type, SIMD path, shapes,
// strides, options, data) of swat::forward, swat::backward or a swat::SlidingKVCache stream:
//   - a valid call must match the double reference (swat/reference.hpp) within SPEC section 4,
//     write every element of its outputs and nothing else, leave the inputs alone, and give the
//     same bits on one thread as on several; a stream, fed in chunks of fuzzed sizes, must match
//     the reference forward over the whole sequence;
//   - an invalid call (one fault injected on purpose) must throw swat::Error and change no byte
//     (a stream: no byte of the step's output, and no position);
//   - a "wild" call (valid, far from unit scale: huge or NaN data, huge scale, extreme positions
//     or RoPE base) has no oracle; it must simply not crash or write outside its outputs.
//
//   SWAT_FUZZ_PRINT=1 swat_fuzz <file>   prints the decoded case of an input
#include "fuzz_support.hpp"

namespace swat_fuzz {
namespace {

// The memory of these tensors, to tell later whether a call changed any of it.
template <class T>
Snapshot snapshot(std::initializer_list<const Tensor<T>*> tensors) {
  Snapshot s;
  for (const Tensor<T>* t : tensors) s.add(t->memory);
  return s;
}

// Runs `call` on a case with a fault: it must throw swat::Error and change none of `watched`.
template <class Call>
void expect_rejected(Case& c, const Snapshot& watched, Call call) {
  const swat_test::Rejection r = swat_test::rejection_of(call, watched);
  switch (r.kind) {
    case swat_test::Rejection::Kind::accepted: die(c, "invalid call accepted");
    case swat_test::Rejection::Kind::other_exception:
      die(c, "expected swat::Error, got another exception: " + r.message);
    case swat_test::Rejection::Kind::swat_error: break;
  }
  if (!r.unchanged) die(c, "swat::Error thrown, but memory changed");
  ++tally.invalid[static_cast<int>(c.operation)];
}

template <class T>
void expect_same_bits(Case& c, const std::vector<T>& first, const std::vector<T>& second, const char* name) {
  if (!swat_test::same_bits(first, second))
    die(c, std::string(name) + ": threads=" + std::to_string(c.opt.threads) + " and threads=1 differ");
}

template <class T>
std::vector<double> reference_forward(const Case& c, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v) {
  std::vector<double> ref(static_cast<std::size_t>(c.B * c.Sq * c.H * c.D));
  swat::reference::forward<T, double>(q.view, k.view, v.view, swat::bshd(ref.data(), c.B, c.Sq, c.H, c.D), c.opt);
  return ref;
}

// The term scales of dq and dk, for check_close. Softmax's dS_ij = P_ij (dP_ij - D_i) is a
// difference of two dot products of D terms; when they nearly cancel (a row's weight on one key
// whose v is every key's v, as with constant inputs), float's rounding of dP_ij (a few units in
// the last place of a sum of D products of one sign) survives it, and dk_j adds that over every
// row and query head that sees key j: 1.3e-4 against an exact 1e-9 at D 25 with four heads, from
// a float GEMM whose every dot product is right to 1e-6 of its size. SPEC 4's max(1, max|ref|)
// assumes unit-scale terms. So, as for dslopes below, one hundredth of the terms' size joins it:
// per output row, sum over the pairs of |scale| P_ij (|dP_ij| + |D_i|) times the other side's
// largest element (max|q_i| for dk_j, max|k_j| for dq_i), the largest such row. Unit-scale random
// inputs put this far below 1 (dP is a sum of D products of both signs), so it changes nothing
// there. Computed from the reference's own pieces, in long double.
struct TermScale {
  double dq = 0.0, dk = 0.0;
};

template <class T>
TermScale backward_term_scale(const Case& c, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                              const Tensor<T>& dout) {
  namespace ref = swat::reference::detail;
  TermScale out;
  if (c.opt.activation != swat::Activation::softmax) return out;
  const ref::Call call = ref::resolve(q.cview(), k.cview(), v.cview(), c.opt);
  // An empty tensor may have no memory at all (a null view): nothing to sum.
  if (call.batch == 0 || call.q_len == 0 || call.k_len == 0 || call.heads == 0 || call.kv_heads == 0 || call.dim == 0)
    return out;
  const auto largest = [](const std::vector<double>& x) {
    long double m = 0;
    for (double e : x) m = std::max<long double>(m, std::fabs(e));
    return m;
  };
  for (int64_t b = 0; b < call.batch; ++b)
    for (int64_t g = 0; g < call.kv_heads; ++g) {
      const auto keys = ref::load_keys(k.cview(), b, g, call, true), values = ref::load_keys(v.cview(), b, g, call, false);
      std::vector<long double> dk_scale(static_cast<std::size_t>(call.k_len), 0.0L);
      for (int64_t h = g * call.group(); h < (g + 1) * call.group(); ++h)
        for (int64_t i = 0; i < call.q_len; ++i) {
          std::vector<double> query = ref::load_row(q.cview(), b, i, h);
          ref::rotate(query, call.q_pos0 + i, call);
          const std::vector<double> grad_out = ref::load_row(dout.cview(), b, i, h);
          const ref::Row row = ref::score_row(call, h, call.q_pos0 + i, query, keys);
          std::vector<long double> dp(row.keys.size());
          long double row_dot = 0;
          for (std::size_t t = 0; t < row.keys.size(); ++t) {
            dp[t] = ref::dot(grad_out, values[row.keys[t]]);
            row_dot += row.weight[t] * dp[t];
          }
          const long double q_size = std::fabs(call.scale) * largest(query);
          long double dq_scale = 0;
          for (std::size_t t = 0; t < row.keys.size(); ++t) {
            const long double term = row.weight[t] * (std::fabs(dp[t]) + std::fabs(row_dot));
            dk_scale[row.keys[t]] += term * q_size;
            dq_scale += term * std::fabs(call.scale) * largest(keys[row.keys[t]]);
          }
          out.dq = std::max(out.dq, static_cast<double>(dq_scale));
        }
      for (long double s : dk_scale) out.dk = std::max(out.dk, static_cast<double>(s));
    }
  out.dq *= 1e-2;
  out.dk *= 1e-2;
  return out;
}

// q, k, v (filled with the case's values) and o in the case's layouts: forward's and a
// stream's tensors.
template <class T>
struct Attention {
  Tensor<T> q, k, v, o;
};

template <class T>
Attention<T> make_attention(const Case& c, FuzzedDataProvider& in) {
  Attention<T> a;
  a.q = decode_tensor<T>(c.layout[0], {c.B, c.Sq, c.H, c.D}, in);
  a.k = decode_tensor<T>(c.layout[1], {c.B, c.Sk, c.Hkv, c.D}, in);
  a.v = decode_tensor<T>(c.layout[2], {c.B, c.Sk, c.Hkv, c.D}, in);
  a.o = decode_tensor<T>(c.layout[3], {c.B, c.Sq, c.H, c.D}, in);
  std::mt19937_64 rng(c.seed);
  for (Tensor<T>* t : {&a.q, &a.k, &a.v}) fill_values(c, rng, t->view);
  return a;
}

// ---- forward --------------------------------------------------------------------------------

template <class T>
void run_forward(Case& c, FuzzedDataProvider& in) {
  Attention<T> a = make_attention<T>(c, in);
  Tensor<T> &q = a.q, &k = a.k, &v = a.v, &o = a.o;

  Tensor<T>* all[4] = {&q, &k, &v, &o};
  if (c.fault != Fault::none && !apply_fault(c, all, in)) c.fault = Fault::none;
  if (std::getenv("SWAT_FUZZ_PRINT")) std::fprintf(stderr, "case: %s\n", c.describe().c_str());
  auto call = [&](int threads) {
    swat::Options opt = c.opt;
    opt.threads = threads;
    swat::forward<T>(q.view, k.view, v.view, o.view, opt, c.isa);
  };
  if (c.fault != Fault::none) return expect_rejected(c, snapshot<T>({&q, &k, &v, &o}), [&] { call(c.opt.threads); });

  const Snapshot inputs = snapshot<T>({&q, &k, &v});
  try {
    call(c.opt.threads);
  } catch (const std::exception& e) {
    die(c, std::string("valid call threw: ") + e.what());
  }
  if (!inputs.unchanged()) die(c, "an input changed");
  check_written(c, o, "o");
  if (c.wild) {
    ++tally.wild[0];
    return;
  }
  if (c.opt.threads != 1) {  // the same bits on one thread as on several
    const std::vector<T> first = o.memory;
    call(1);
    expect_same_bits(c, first, o.memory, "o");
  }
  check_close(c, o.view, reference_forward(c, q, k, v), "o");
  ++tally.valid[0];
}

// ---- backward -------------------------------------------------------------------------------

template <class T>
void run_backward(Case& c, FuzzedDataProvider& in) {
  // q, k, v and dq take the case's layouts (so the faults aimed at "the output" hit dq); o,
  // dout, dk and dv take layouts of their own.
  auto own_layout = [&] { return static_cast<Layout>(in.ConsumeIntegralInRange<int>(0, static_cast<int>(Layout::count) - 2)); };
  Tensor<T> q = decode_tensor<T>(c.layout[0], {c.B, c.Sq, c.H, c.D}, in);
  Tensor<T> k = decode_tensor<T>(c.layout[1], {c.B, c.Sk, c.Hkv, c.D}, in);
  Tensor<T> v = decode_tensor<T>(c.layout[2], {c.B, c.Sk, c.Hkv, c.D}, in);
  Tensor<T> dq = decode_tensor<T>(c.layout[3], {c.B, c.Sq, c.H, c.D}, in);
  Tensor<T> o = decode_tensor<T>(own_layout(), {c.B, c.Sq, c.H, c.D}, in);
  Tensor<T> dout = decode_tensor<T>(own_layout(), {c.B, c.Sq, c.H, c.D}, in);
  Tensor<T> dk = decode_tensor<T>(own_layout(), {c.B, c.Sk, c.Hkv, c.D}, in);
  Tensor<T> dv = decode_tensor<T>(own_layout(), {c.B, c.Sk, c.Hkv, c.D}, in);
  const bool with_dslopes = in.ConsumeBool();
  std::mt19937_64 rng(c.seed);
  for (Tensor<T>* t : {&q, &k, &v, &dout}) fill_values(c, rng, t->view);
  Tensor<T>* all[4] = {&q, &k, &v, &dq};
  if (c.fault != Fault::none && !apply_fault(c, all, in)) c.fault = Fault::none;
  // o is the forward output of these inputs (softmax's gradient reads it), from the reference.
  // Only once the fault is settled: a fault that finds no room leaves a valid case, whose o
  // must be the forward output too (filling o before that gave softmax a wrong D_i = <dO, O>).
  if (!c.wild && c.fault == Fault::none) {
    const std::vector<double> ref = reference_forward(c, q, k, v);
    std::size_t n = 0;
    for_each_element(o.view, [&](T& x) { x = static_cast<T>(ref[n++]); });
  } else {
    fill_values(c, rng, o.view);
  }
  if (std::getenv("SWAT_FUZZ_PRINT")) std::fprintf(stderr, "case: %s dslopes=%d\n", c.describe().c_str(), with_dslopes);
  const float slope_start = 0.5f, sink_start = -0.25f;  // dslopes, dsinks accumulate from known values
  std::vector<float> dslopes(static_cast<std::size_t>(std::max<int64_t>(c.H, 0)), slope_start);
  std::vector<float> dsinks(dslopes.size(), sink_start);
  auto call = [&](int threads) {
    swat::Options opt = c.opt;
    opt.threads = threads;
    swat::backward<T>(q.view, k.view, v.view, o.view, dout.view, dq.view, dk.view, dv.view, opt,
                      with_dslopes ? dslopes.data() : nullptr, with_dslopes ? dsinks.data() : nullptr, c.isa);
  };
  if (c.fault != Fault::none) {
    expect_rejected(c, snapshot<T>({&q, &k, &v, &dq, &o, &dout, &dk, &dv}), [&] { call(c.opt.threads); });
    for (float s : dslopes)
      if (s != slope_start) die(c, "swat::Error thrown, but dslopes changed");
    for (float s : dsinks)
      if (s != sink_start) die(c, "swat::Error thrown, but dsinks changed");
    return;
  }

  const Snapshot inputs = snapshot<T>({&q, &k, &v, &o, &dout});
  try {
    call(c.opt.threads);
  } catch (const std::exception& e) {
    die(c, std::string("valid call threw: ") + e.what());
  }
  if (!inputs.unchanged()) die(c, "an input changed");
  check_written(c, dq, "dq");
  check_written(c, dk, "dk");
  check_written(c, dv, "dv");
  if (c.wild) {
    ++tally.wild[1];
    return;
  }
  if (c.opt.threads != 1) {
    const std::vector<T> first[3] = {dq.memory, dk.memory, dv.memory};
    const std::vector<float> first_slopes = dslopes, first_sinks = dsinks;
    std::fill(dslopes.begin(), dslopes.end(), slope_start);
    std::fill(dsinks.begin(), dsinks.end(), sink_start);
    call(1);
    expect_same_bits(c, first_sinks, dsinks, "dsinks");
    expect_same_bits(c, first[0], dq.memory, "dq");
    expect_same_bits(c, first[1], dk.memory, "dk");
    expect_same_bits(c, first[2], dv.memory, "dv");
    expect_same_bits(c, first_slopes, dslopes, "dslopes");
  }

  const std::size_t nq = static_cast<std::size_t>(c.B * c.Sq * c.H * c.D);
  const std::size_t nk = static_cast<std::size_t>(c.B * c.Sk * c.Hkv * c.D);
  std::vector<double> rq(nq), rk(nk), rv(nk), rs(dslopes.size(), 0.0), rsinks(dsinks.size(), 0.0);
  swat::reference::backward<T, double>(q.view, k.view, v.view, o.view, dout.view,
                                       swat::bshd(rq.data(), c.B, c.Sq, c.H, c.D),
                                       swat::bshd(rk.data(), c.B, c.Sk, c.Hkv, c.D),
                                       swat::bshd(rv.data(), c.B, c.Sk, c.Hkv, c.D), c.opt, rs.data(), rsinks.data());
  const TermScale terms = backward_term_scale(c, q, k, v, dout);
  check_close(c, dq.view, rq, "dq", terms.dq);
  check_close(c, dk.view, rk, "dk", terms.dk);
  check_close(c, dv.view, rv, "dv");
  if (with_dslopes && !rsinks.empty()) {  // dsinks: a sum over rows of unit-scale terms
    double worst = 0.0, top = 1.0;
    for (std::size_t h = 0; h < rsinks.size(); ++h) {
      rsinks[h] += sink_start;
      worst = std::max(worst, std::fabs(static_cast<double>(dsinks[h]) - rsinks[h]));
      top = std::max(top, std::fabs(rsinks[h]));
    }
    const double limit = std::max(swat_test::error_bound<T>(c.operation), 1e-6);
    if (!(worst / top <= limit)) {
      std::ostringstream why;
      why << "dsinks differs from the reference: err=" << worst / top << " bound=" << limit;
      die(c, why.str());
    }
  }
  if (with_dslopes && !rs.empty()) {
    // dm_h sums dS_ij (p_i - p_j) over the visible pairs: when those terms cancel, its float
    // rounding is set by their scale, not by the result. Unit-scale dS makes that scale the
    // sum of the distances; one hundredth of it joins the max(1, |ref|) of SPEC 4's measure.
    double distances = 0.0;
    const int64_t q_pos0 = c.opt.q_pos0 ? *c.opt.q_pos0 : c.opt.k_pos0 + c.Sk - c.Sq;
    for (int64_t i = 0; i < c.Sq; ++i)
      for (int64_t j = 0; j < c.Sk; ++j) {
        const double d = static_cast<double>(q_pos0 + i) - static_cast<double>(c.opt.k_pos0 + j);
        if (d >= 0 && (c.opt.window == 0 || d < static_cast<double>(c.opt.window))) distances += d;
      }
    distances *= static_cast<double>(c.B);
    double worst = 0.0, top = 0.0;
    for (std::size_t h = 0; h < rs.size(); ++h) {
      rs[h] += slope_start;
      worst = std::max(worst, std::fabs(static_cast<double>(dslopes[h]) - rs[h]));
      top = std::max(top, std::fabs(rs[h]));
    }
    // dslopes is float whatever T is (SPEC 6): a double call is held to float's rounding.
    const double limit = std::max(swat_test::error_bound<T>(c.operation), 1e-6);
    const double err = worst / std::max({1.0, top, 1e-2 * distances});
    if (!(err <= limit)) {
      std::ostringstream why;
      why << "dslopes differs from the reference: err=" << err << " bound=" << limit << " (sum of distances "
          << distances << ")";
      die(c, why.str());
    }
  }
  ++tally.valid[1];
}

// ---- SlidingKVCache ---------------------------------------------------------------------------

// A view of rows [s0, s0 + t) of `view` along the sequence axis. (Not named rows_of: for the
// 16-bit types, argument-dependent lookup would also find swat::detail::rows_of.)
template <class T>
swat::View4<T> chunk_of(const swat::View4<T>& view, int64_t s0, int64_t t) {
  swat::View4<T> out = view;
  out.shape[1] = t;
  if (view.data != nullptr && t > 0) out.data = view.at(0, s0, 0);
  return out;
}

template <class T>
void run_cache(Case& c, FuzzedDataProvider& in) {
  // A stream: positions start at k_pos0 and the queries are the keys' own positions.
  c.Sq = c.Sk;
  c.opt.q_pos0.reset();
  Attention<T> a = make_attention<T>(c, in);
  Tensor<T> &q = a.q, &k = a.k, &v = a.v, &o = a.o;
  // Chunk sizes: 1, around the window, or anything; one step may carry a fault.
  std::vector<int64_t> chunks;
  for (int64_t s = 0; s < c.Sk;) {
    const int64_t w = c.opt.window > 0 ? std::min<int64_t>(c.opt.window, c.Sk) : c.Sk;
    int64_t t = 1;
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: t = 1; break;
      case 1: t = std::max<int64_t>(1, w + in.ConsumeIntegralInRange<int64_t>(-1, 1)); break;
      default: t = in.ConsumeIntegralInRange<int64_t>(1, c.Sk); break;
    }
    t = std::min(t, c.Sk - s);
    chunks.push_back(t);
    s += t;
  }
  const bool faulty = c.fault != Fault::none && !chunks.empty();
  const std::size_t faulty_step = faulty ? in.ConsumeIntegralInRange<std::size_t>(0, chunks.size() - 1) : 0;
  const int fault_kind = in.ConsumeIntegralInRange<int>(0, 2);
  if (std::getenv("SWAT_FUZZ_PRINT")) std::fprintf(stderr, "case: %s chunks=%zu\n", c.describe().c_str(), chunks.size());

  auto stream = [&](int threads, bool inject) {
    swat::Options opt = c.opt;
    opt.threads = threads;
    swat::SlidingKVCache<T> cache(c.B, c.Hkv, c.D, opt, c.isa);
    int64_t s0 = 0;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      const int64_t t = chunks[i];
      if (inject && i == faulty_step) {
        // A step the cache must refuse: its keys' length, batch or head dim does not fit.
        swat::View4<const T> kq = chunk_of(swat::View4<const T>(k.view), s0, t), vq = chunk_of(swat::View4<const T>(v.view), s0, t);
        if (fault_kind == 0) kq.shape[1] += 1;
        if (fault_kind == 1) vq.shape[0] += 1;
        if (fault_kind == 2) kq.shape[3] += 1;
        const int64_t before = cache.position();
        const Snapshot out_before = Snapshot::of(o.memory);
        try {
          cache.step(chunk_of(swat::View4<const T>(q.view), s0, t), kq, vq, chunk_of(o.view, s0, t));
          die(c, "a cache step with a mismatched shape was accepted");
        } catch (const swat::Error&) {
          if (cache.position() != before || !out_before.unchanged()) die(c, "swat::Error thrown, but the stream changed");
        }
      }
      cache.step(chunk_of(swat::View4<const T>(q.view), s0, t), chunk_of(swat::View4<const T>(k.view), s0, t),
                 chunk_of(swat::View4<const T>(v.view), s0, t), chunk_of(o.view, s0, t));
      s0 += t;
    }
    if (cache.position() != c.Sk) die(c, "position() is not the number of tokens stepped");
  };

  // Shapes the constructor or the first step must refuse (no batch, heads or dim).
  if (c.B < 1 || c.Hkv < 1 || c.D < 1 || c.H < 1) {
    try {
      stream(c.opt.threads, false);
    } catch (const swat::Error&) {
      ++tally.invalid[2];
      return;
    }
    if (c.Sk > 0) die(c, "a cache without batch, heads or dim accepted a step");
    return;
  }
  try {
    stream(c.opt.threads, faulty);
  } catch (const std::exception& e) {
    die(c, std::string("valid stream threw: ") + e.what());
  }
  check_written(c, o, "o");
  if (faulty) ++tally.invalid[2];
  if (c.wild) {
    ++tally.wild[2];
    return;
  }
  if (c.opt.threads != 1) {
    const std::vector<T> first = o.memory;
    stream(1, false);
    expect_same_bits(c, first, o.memory, "o");
  }
  check_close(c, o.view, reference_forward(c, q, k, v), "o");
  ++tally.valid[2];
}

template <class T>
void run(Case& c, FuzzedDataProvider& in) {
  switch (c.operation) {
    case Operation::backward:
      // SPEC 6: backward is float and double only; a 16-bit case streams through the cache instead.
      if constexpr (sizeof(T) == 2) {
        c.operation = Operation::cache;
        return run_cache<T>(c, in);
      } else {
        return run_backward<T>(c, in);
      }
    case Operation::cache: return run_cache<T>(c, in);
    default: return run_forward<T>(c, in);
  }
}

}  // namespace
}  // namespace swat_fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace swat_fuzz;
  FuzzedDataProvider in(data, size);
  Case c;
  const std::vector<swat::Isa> isas = swat::available_isas();
  // An exhausted input reads as zeros: let zeros decode to a plain valid forward case.
  // The storage type: a byte b gives double when b % 3 == 2 (as when this chose only between
  // float and double, so the corpus keeps its meaning below 160), bf16 or f16 from 160 up.
  const int type = in.ConsumeIntegral<uint8_t>();
  c.storage = type % 3 == 2 ? Storage::f64 : type < 160 ? Storage::f32 : type % 3 == 0 ? Storage::bf16 : Storage::f16;
  const std::size_t pick = in.ConsumeIntegralInRange<std::size_t>(0, isas.size());
  c.isa = pick < isas.size() ? isas[pick] : swat::Isa::automatic;
  const int mode = in.ConsumeIntegral<uint8_t>();
  if (mode >= 216)
    c.fault = static_cast<Fault>(1 + mode % (static_cast<int>(Fault::count) - 1));
  else if (mode >= 192)
    c.wild = true;

  // Sizes kept small: the reference costs B * H * Sq * Sk * D. Sometimes a zero extent.
  auto extent = [&](int64_t first, int64_t last, int64_t zero_in) {
    if (in.ConsumeIntegralInRange<int64_t>(0, zero_in - 1) == zero_in - 1) return int64_t(0);
    const int64_t span = last - first + 1;
    return first + (in.ConsumeIntegralInRange<int64_t>(0, span - 1) + span / 3) % span;
  };
  c.B = extent(1, 3, 16);
  c.Sq = extent(1, 64, 16);
  c.Sk = extent(1, 64, 16);
  c.Hkv = extent(1, 4, 32);
  c.H = c.Hkv == 0 ? 0 : c.Hkv * in.ConsumeIntegralInRange<int64_t>(1, 8 / c.Hkv);
  c.D = extent(1, 40, 32);
  for (int t = 0; t < 4; ++t) {
    // broadcast is for inputs only (an output must not share elements)
    const int n = static_cast<int>(Layout::count) - (t == 0 || t == 3 ? 1 : 0);
    c.layout[t] = static_cast<Layout>(in.ConsumeIntegralInRange<int>(0, n - 1));
  }
  c.values = c.wild ? in.ConsumeIntegralInRange<int>(0, 5) : in.ConsumeIntegralInRange<int>(0, 3);
  c.seed = in.ConsumeIntegral<uint64_t>();
  decode_options(c, in);
  // Decoded last, so that the inputs written before this operation existed stay forward calls.
  c.operation = static_cast<Operation>(in.ConsumeIntegralInRange<int>(0, static_cast<int>(Operation::count) - 1));
  switch (c.storage) {
    case Storage::f64: run<double>(c, in); break;
    case Storage::bf16: run<swat::bf16>(c, in); break;
    case Storage::f16: run<swat::f16>(c, in); break;
    default: run<float>(c, in); break;
  }
  return 0;
}
