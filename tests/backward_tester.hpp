// BackwardTester: runs one swat::backward case (the shapes and options of an AttentionTester)
// and compares dq, dk, dv and dslopes with the double reference's gradients against the SPEC
// section 4 backward bound, printing the case and the worst coordinate of a failing tensor.
#pragma once

#include "tester.hpp"

namespace swat_test {

// The gradients of one call, each in logical [B, S, H, D] order.
template <class T>
struct Gradients {
  std::vector<T> dq, dk, dv;
  std::vector<float> dslopes;
};

class BackwardTester {
 public:
  explicit BackwardTester(AttentionTester t) : t_(std::move(t)) {}
  // o drawn at random instead of computed by the reference (for tests of determinism only,
  // where the O(Sq * Sk) reference would dominate the run time).
  BackwardTester& random_output(bool v) { random_output_ = v; return *this; }
  // dslopes starts at these values (tests that it is accumulated into); empty = not requested.
  BackwardTester& dslopes_start(std::vector<float> v) { dslopes_start_ = std::move(v); return *this; }
  AttentionTester& attention() { return t_; }

  template <class T>
  struct Inputs {
    typename AttentionTester::Inputs<T> qkv;
    Tensor<T> o, dout;
  };

  // q, k, v as AttentionTester makes them; o the reference forward output in T; dout random.
  template <class T>
  Inputs<T> inputs(Layout layout) const {
    Inputs<T> in{t_.inputs<T>(), make_tensor<T>(layout, t_.batch(), t_.q_len(), t_.heads(), t_.dim(), nan_value<T>()),
                 make_tensor<T>(layout, t_.batch(), t_.q_len(), t_.heads(), t_.dim(), nan_value<T>())};
    std::mt19937_64 rng(t_.describe().size() + 99);
    if (random_output_) {
      fill_uniform(in.o, rng);
    } else {
      const std::vector<double> o = t_.expected_for(in.qkv);
      std::size_t n = 0;
      in.o.for_each([&](int64_t b, int64_t s, int64_t h, int64_t d, T) { in.o.at(b, s, h, d) = static_cast<T>(o[n++]); });
    }
    fill_uniform(in.dout, rng);
    return in;
  }

  // Runs swat::backward into NaN-filled outputs of the given layout; checks their padding stays.
  template <class T>
  Gradients<T> gradients(const Inputs<T>& in, Layout layout) const {
    Tensor<T> dq = make_tensor<T>(layout, t_.batch(), t_.q_len(), t_.heads(), t_.dim(), nan_value<T>());
    Tensor<T> dk = make_tensor<T>(layout, t_.batch(), t_.k_len(), t_.kv_heads(), t_.dim(), nan_value<T>());
    Tensor<T> dv = make_tensor<T>(layout, t_.batch(), t_.k_len(), t_.kv_heads(), t_.dim(), nan_value<T>());
    const std::vector<T> before[3] = {dq.memory, dk.memory, dv.memory};
    Gradients<T> out;
    out.dslopes = dslopes_start_;
    swat::backward<T>(in.qkv.q.cview(), in.qkv.k.cview(), in.qkv.v.cview(), in.o.cview(), in.dout.cview(), dq.view,
                      dk.view, dv.view, t_.options(), out.dslopes.empty() ? nullptr : out.dslopes.data(),
                      nullptr, t_.isa_value());
    t_.check_writes(dq, before[0], "dq");
    t_.check_writes(dk, before[1], "dk");
    t_.check_writes(dv, before[2], "dv");
    out.dq = dq.logical();
    out.dk = dk.logical();
    out.dv = dv.logical();
    return out;
  }

  template <class T>
  Gradients<double> expected(const Inputs<T>& in) const {
    Gradients<double> ref;
    const int64_t B = t_.batch(), Sq = t_.q_len(), Sk = t_.k_len(), H = t_.heads(), Hkv = t_.kv_heads(), D = t_.dim();
    ref.dq.resize(static_cast<std::size_t>(B * Sq * H * D));
    ref.dk.resize(static_cast<std::size_t>(B * Sk * Hkv * D));
    ref.dv.resize(ref.dk.size());
    std::vector<double> dslopes(dslopes_start_.begin(), dslopes_start_.end());
    swat::reference::backward<T, double>(in.qkv.q.cview(), in.qkv.k.cview(), in.qkv.v.cview(), in.o.cview(),
                                         in.dout.cview(), swat::bshd(ref.dq.data(), B, Sq, H, D),
                                         swat::bshd(ref.dk.data(), B, Sk, Hkv, D), swat::bshd(ref.dv.data(), B, Sk, Hkv, D),
                                         t_.options(), dslopes.empty() ? nullptr : dslopes.data());
    ref.dslopes.assign(dslopes.begin(), dslopes.end());
    last_dslopes_ = dslopes;
    return ref;
  }

  // backward against the reference within the bound for T, every tensor finite.
  template <class T>
  void test() const {
    const Layout layout = t_.layout_value();
    const Inputs<T> in = inputs<T>(layout);
    const Gradients<T> got = gradients(in, layout);
    const Gradients<double> ref = expected(in);
    const int64_t S[3] = {t_.q_len(), t_.k_len(), t_.k_len()}, H[3] = {t_.heads(), t_.kv_heads(), t_.kv_heads()};
    const char* names[3] = {"dq", "dk", "dv"};
    const std::vector<T>* gots[3] = {&got.dq, &got.dk, &got.dv};
    const std::vector<double>* refs[3] = {&ref.dq, &ref.dk, &ref.dv};
    for (int n = 0; n < 3; ++n) {
      const Comparison c = compare(*gots[n], *refs[n]);
      INFO(t_.describe() << " type=" << type_name<T>() << " tensor=" << names[n]);
      INFO(report(c, S[n], H[n], t_.dim(), "expected"));
      CHECK(c.nonfinite == 0);
      CHECK(c.err <= error_bound<T>(Operation::backward));
    }
    if (!dslopes_start_.empty()) {
      // Float accumulation of dslopes for both T: the bound of float.
      const Comparison c = compare(got.dslopes, last_dslopes_);
      INFO(t_.describe() << " type=" << type_name<T>() << " tensor=dslopes");
      INFO(report(c, 1, static_cast<int64_t>(got.dslopes.size()), 1, "expected"));
      CHECK(c.nonfinite == 0);
      CHECK(c.err <= error_bound<float>(Operation::backward));
    }
  }

 private:
  AttentionTester t_;
  std::vector<float> dslopes_start_;
  bool random_output_ = false;
  mutable std::vector<double> last_dslopes_;
};

}  // namespace swat_test
