// swat as PyTorch CPU ops. TORCH_LIBRARY(swat) registers forward and backward (also over packed
// sequences), the slope helpers and the SlidingKVCache class; swat_torch/__init__.py puts
// autograd and a Python API on top.
//
// Tensors reach the kernels as swat::View4 views of their own memory with their own strides
// (no copy, any layout); bfloat16 is viewed as swat::bf16 (the same 16 bits). The library has
// no bf16 backward, so bf16 gradients are computed in float32 from converted copies and
// rounded back. Calls run on PyTorch's intra-op thread count. Every bad argument, found here or
// by the library, throws swat::Error before anything is written; it reaches Python as a
// ValueError carrying the message.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/custom_class.h>
#include <torch/library.h>

#include <swat/swat.hpp>

#include <cfloat>
#include <climits>
#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace {

template <class... Parts>
[[noreturn]] void bad(const Parts&... parts) {
  std::ostringstream message;
  (message << ... << parts);
  throw swat::Error(message.str());
}

// Runs f, turning swat::Error into the c10 error that Python raises as ValueError.
template <class F>
decltype(auto) translated(F&& f) {
  try {
    return f();
  } catch (const swat::Error& e) {
    TORCH_CHECK_VALUE(false, e.what());
  }
}

// ---- options --------------------------------------------------------------------------------

// The same keyword arguments, in the same order, end every op's schema and the cache's
// constructor: the schema text, the C++ parameters and the forwarding list.
#define SWAT_OPTIONS_SCHEMA                                                                          \
  "int window=0, str activation='sigmoid', float scale=0., float sigmoid_bias=0., "                \
  "Tensor? alibi_slopes=None, str rope='none', float rope_base=10000., int rope_dim=0, "           \
  "Tensor? rope_freqs=None, float softcap=0., Tensor? sinks=None, int k_pos0=0, int? q_pos0=None"
#define SWAT_OPTIONS_PARAMS                                                                           \
  int64_t window, const std::string &activation, double scale, double sigmoid_bias,                  \
      const c10::optional<at::Tensor> &alibi_slopes, const std::string &rope, double rope_base,     \
      int64_t rope_dim, const c10::optional<at::Tensor> &rope_freqs, double softcap,                \
      const c10::optional<at::Tensor> &sinks, int64_t k_pos0, c10::optional<int64_t> q_pos0
#define SWAT_OPTIONS_ARGS                                                                             \
  window, activation, scale, sigmoid_bias, alibi_slopes, rope, rope_base, rope_dim, rope_freqs, softcap, \
      sinks, k_pos0, q_pos0

// A per-head (or per-pair) parameter given as a 1-d tensor, as the library's floats.
std::vector<float> values_of(const c10::optional<at::Tensor>& t, const char* name) {
  if (!t.has_value() || !t->defined()) return {};
  if (t->dim() != 1) bad(name, ": expected a 1-d tensor, got ", t->dim(), " dims (shape ", t->sizes(), ")");
  if (!t->device().is_cpu()) bad(name, ".device: expected cpu, got ", t->device());
  if (!at::isFloatingType(t->scalar_type()))
    bad(name, ".dtype: expected a floating-point tensor, got ", t->scalar_type());
  const at::Tensor f = t->detach().to(at::kFloat).contiguous();
  return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

// A Python float as the library's float; a finite value beyond float's range is refused here,
// since rounded to infinity it would reach the library as a value the caller never gave.
float narrowed(double x, const char* name) {
  if (std::isfinite(x) && std::fabs(x) > FLT_MAX) bad(name, ": expected a value within float's range, got ", x);
  return static_cast<float>(x);
}

swat::Options make_options(SWAT_OPTIONS_PARAMS) {
  swat::Options opt;
  opt.window = window;
  if (activation == "sigmoid")
    opt.activation = swat::Activation::sigmoid;
  else if (activation == "softmax")
    opt.activation = swat::Activation::softmax;
  else
    bad("activation: expected 'sigmoid' or 'softmax', got '", activation, "'");
  opt.scale = narrowed(scale, "scale");
  opt.sigmoid_bias = narrowed(sigmoid_bias, "sigmoid_bias");
  opt.alibi_slopes = values_of(alibi_slopes, "alibi_slopes");
  if (rope == "none")
    opt.rope = swat::RopeLayout::none;
  else if (rope == "half")
    opt.rope = swat::RopeLayout::half;
  else if (rope == "interleaved")
    opt.rope = swat::RopeLayout::interleaved;
  else
    bad("rope: expected 'none', 'half' or 'interleaved', got '", rope, "'");
  opt.rope_base = narrowed(rope_base, "rope_base");
  if (rope_dim < INT_MIN || rope_dim > INT_MAX) bad("rope_dim: expected 0 or an even value <= D, got ", rope_dim);
  opt.rope_dim = static_cast<int>(rope_dim);
  opt.rope_freqs = values_of(rope_freqs, "rope_freqs");
  opt.softcap = narrowed(softcap, "softcap");
  opt.sinks = values_of(sinks, "sinks");
  opt.k_pos0 = k_pos0;
  if (q_pos0.has_value()) opt.q_pos0 = *q_pos0;
  opt.threads = at::get_num_threads();
  return opt;
}

// ---- tensors as views -------------------------------------------------------------------------

void check_tensor(const at::Tensor& t, const char* name) {
  if (!t.defined()) bad(name, ": expected a tensor, got None");
  if (t.dim() != 4) bad(name, ": expected a 4-d tensor [batch, seq, heads, dim], got ", t.dim(), " dims (shape ", t.sizes(), ")");
  if (!t.device().is_cpu()) bad(name, ".device: expected cpu, got ", t.device());
  if (t.layout() != at::kStrided) bad(name, ".layout: expected strided, got ", t.layout());
}

// Checks every tensor of a call and that they share the first one's dtype, which must be one
// of the storage types the library has.
void check_tensors(std::initializer_list<std::pair<const at::Tensor*, const char*>> tensors) {
  for (const auto& t : tensors) check_tensor(*t.first, t.second);
  const auto first = *tensors.begin();
  const at::ScalarType type = first.first->scalar_type();
  if (type != at::kFloat && type != at::kDouble && type != at::kBFloat16)
    bad(first.second, ".dtype: expected float32, float64 or bfloat16, got ", type);
  for (const auto& t : tensors)
    if (t.first->scalar_type() != type)
      bad(t.second, ".dtype: expected ", type, " (", first.second, "'s dtype), got ", t.first->scalar_type());
}

template <class T>
swat::View4<T> view_of(const at::Tensor& t) {
  using Element = std::remove_const_t<T>;
  Element* data = static_cast<Element*>(t.data_ptr());
  return swat::View4<T>{data, {t.size(0), t.size(1), t.size(2), t.size(3)}, {t.stride(0), t.stride(1), t.stride(2), t.stride(3)}};
}

// Calls f with a value of the storage type that holds `type`'s elements.
template <class F>
decltype(auto) with_storage(at::ScalarType type, F&& f) {
  switch (type) {
    case at::kFloat: return f(float{});
    case at::kDouble: return f(double{});
    case at::kBFloat16: return f(swat::bf16{});
    default: bad("dtype: expected float32, float64 or bfloat16, got ", type);
  }
}

// A contiguous tensor of like's shape and dtype, for an output.
at::Tensor fresh(const at::Tensor& like) { return at::empty(like.sizes(), like.options()); }

// ---- forward and backward ---------------------------------------------------------------------

at::Tensor forward_op(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, SWAT_OPTIONS_PARAMS) {
  return translated([&] {
    check_tensors({{&q, "q"}, {&k, "k"}, {&v, "v"}});
    const swat::Options opt = make_options(SWAT_OPTIONS_ARGS);
    at::Tensor o = fresh(q);
    with_storage(q.scalar_type(), [&](auto tag) {
      using T = decltype(tag);
      swat::forward<T>(view_of<const T>(q), view_of<const T>(k), view_of<const T>(v), view_of<T>(o), opt);
    });
    return o;
  });
}

at::Tensor forward_varlen_op(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, at::IntArrayRef cu_seqlens,
                             SWAT_OPTIONS_PARAMS) {
  return translated([&] {
    check_tensors({{&q, "q"}, {&k, "k"}, {&v, "v"}});
    const swat::Options opt = make_options(SWAT_OPTIONS_ARGS);
    const std::vector<int64_t> offsets(cu_seqlens.begin(), cu_seqlens.end());
    at::Tensor o = fresh(q);
    with_storage(q.scalar_type(), [&](auto tag) {
      using T = decltype(tag);
      swat::forward_varlen<T>(view_of<const T>(q), view_of<const T>(k), view_of<const T>(v), view_of<T>(o), offsets, opt);
    });
    return o;
  });
}

// SPEC 8 adds `float* dsinks` after dslopes; a library without it cannot have sinks (its checks
// refuse them), so the older call is only ever made without a sink gradient.
template <class T, class = void>
struct HasSinkGradient : std::false_type {};
template <class T>
struct HasSinkGradient<T, std::void_t<decltype(swat::backward<T>(
                              std::declval<swat::View4<const T>>(), std::declval<swat::View4<const T>>(),
                              std::declval<swat::View4<const T>>(), std::declval<swat::View4<const T>>(),
                              std::declval<swat::View4<const T>>(), std::declval<swat::View4<T>>(),
                              std::declval<swat::View4<T>>(), std::declval<swat::View4<T>>(),
                              std::declval<const swat::Options&>(), std::declval<float*>(), std::declval<float*>()))>>
    : std::true_type {};

// One backward call over whole sequences (cu_seqlens null) or packed ones.
template <class T>
void run_backward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& o,
                  const at::Tensor& dout, const at::Tensor& dq, const at::Tensor& dk, const at::Tensor& dv,
                  const std::vector<int64_t>* cu_seqlens, const swat::Options& opt, float* dslopes, float* dsinks) {
  const auto in = [](const at::Tensor& t) { return view_of<const T>(t); };
  const auto out = [](const at::Tensor& t) { return view_of<T>(t); };
  if constexpr (HasSinkGradient<T>::value) {
    if (cu_seqlens)
      swat::backward_varlen<T>(in(q), in(k), in(v), in(o), in(dout), out(dq), out(dk), out(dv), *cu_seqlens, opt, dslopes,
                               dsinks);
    else
      swat::backward<T>(in(q), in(k), in(v), in(o), in(dout), out(dq), out(dk), out(dv), opt, dslopes, dsinks);
  } else {
    if (dsinks) bad("sinks: expected no gradient request (this swat has no sink gradient), got one");
    if (cu_seqlens)
      swat::backward_varlen<T>(in(q), in(k), in(v), in(o), in(dout), out(dq), out(dk), out(dv), *cu_seqlens, opt, dslopes);
    else
      swat::backward<T>(in(q), in(k), in(v), in(o), in(dout), out(dq), out(dk), out(dv), opt, dslopes);
  }
}

using Gradients = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

// dq, dk, dv in the inputs' dtype; dslopes and dsinks as H float32 values when asked for (else
// empty).
Gradients backward_impl(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& o,
                        const at::Tensor& dout, bool slopes_grad, bool sinks_grad, const std::vector<int64_t>* cu_seqlens,
                        const swat::Options& opt) {
  check_tensors({{&q, "q"}, {&k, "k"}, {&v, "v"}, {&o, "o"}, {&dout, "dout"}});
  // No bf16 backward in the library: float32 copies in, gradients rounded back to bf16.
  const bool narrow = q.scalar_type() == at::kBFloat16;
  const auto compute = [&](const at::Tensor& t) { return narrow ? t.to(at::kFloat) : t; };
  const at::Tensor qc = compute(q), kc = compute(k), vc = compute(v), oc = compute(o), doutc = compute(dout);
  at::Tensor dq = fresh(qc), dk = fresh(kc), dv = fresh(vc);
  const at::TensorOptions floats = q.options().dtype(at::kFloat);
  at::Tensor dslopes = at::zeros({slopes_grad ? q.size(2) : 0}, floats);
  at::Tensor dsinks = at::zeros({sinks_grad ? q.size(2) : 0}, floats);
  float* slopes_out = slopes_grad ? dslopes.data_ptr<float>() : nullptr;
  float* sinks_out = sinks_grad ? dsinks.data_ptr<float>() : nullptr;
  if (qc.scalar_type() == at::kDouble)
    run_backward<double>(qc, kc, vc, oc, doutc, dq, dk, dv, cu_seqlens, opt, slopes_out, sinks_out);
  else
    run_backward<float>(qc, kc, vc, oc, doutc, dq, dk, dv, cu_seqlens, opt, slopes_out, sinks_out);
  if (narrow) {
    dq = dq.to(at::kBFloat16);
    dk = dk.to(at::kBFloat16);
    dv = dv.to(at::kBFloat16);
  }
  return {dq, dk, dv, dslopes, dsinks};
}

Gradients backward_op(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& o,
                      const at::Tensor& dout, bool slopes_grad, bool sinks_grad, SWAT_OPTIONS_PARAMS) {
  return translated([&] {
    const swat::Options opt = make_options(SWAT_OPTIONS_ARGS);
    return backward_impl(q, k, v, o, dout, slopes_grad, sinks_grad, nullptr, opt);
  });
}

Gradients backward_varlen_op(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& o,
                             const at::Tensor& dout, at::IntArrayRef cu_seqlens, bool slopes_grad, bool sinks_grad,
                             SWAT_OPTIONS_PARAMS) {
  return translated([&] {
    const swat::Options opt = make_options(SWAT_OPTIONS_ARGS);
    const std::vector<int64_t> offsets(cu_seqlens.begin(), cu_seqlens.end());
    return backward_impl(q, k, v, o, dout, slopes_grad, sinks_grad, &offsets, opt);
  });
}

// ---- slopes and paths -----------------------------------------------------------------------

int narrowed_heads(int64_t heads) {
  if (heads < 1 || heads > INT_MAX) bad("heads: expected a value in [1, ", INT_MAX, "], got ", heads);
  return static_cast<int>(heads);
}

at::Tensor as_tensor(const std::vector<float>& values) {
  return at::tensor(at::ArrayRef<float>(values.data(), values.size()), at::TensorOptions().dtype(at::kFloat));
}

at::Tensor alibi_slopes_op(int64_t heads) {
  return translated([&] { return as_tensor(swat::alibi_slopes(narrowed_heads(heads))); });
}

at::Tensor balanced_alibi_slopes_op(int64_t heads, const std::string& scheme) {
  return translated([&] {
    swat::SlopeScheme s = swat::SlopeScheme::paper;
    if (scheme == "released_code")
      s = swat::SlopeScheme::released_code;
    else if (scheme != "paper")
      bad("scheme: expected 'paper' or 'released_code', got '", scheme, "'");
    return as_tensor(swat::balanced_alibi_slopes(narrowed_heads(heads), s));
  });
}

std::string best_isa_op() { return swat::isa_name(swat::best_isa()); }

// ---- the streaming cache ----------------------------------------------------------------------

template <class Holder>
struct StorageOf;
template <class T>
struct StorageOf<std::unique_ptr<swat::SlidingKVCache<T>>> {
  using type = T;
};

// swat::SlidingKVCache of the storage type chosen at construction.
class Cache : public torch::CustomClassHolder {
 public:
  Cache(int64_t batch, int64_t kv_heads, int64_t head_dim, const std::string& dtype, const swat::Options& opt) {
    if (dtype == "float32") {
      cache_ = std::make_unique<swat::SlidingKVCache<float>>(batch, kv_heads, head_dim, opt);
      type_ = at::kFloat;
    } else if (dtype == "float64") {
      cache_ = std::make_unique<swat::SlidingKVCache<double>>(batch, kv_heads, head_dim, opt);
      type_ = at::kDouble;
    } else if (dtype == "bfloat16") {
      cache_ = std::make_unique<swat::SlidingKVCache<swat::bf16>>(batch, kv_heads, head_dim, opt);
      type_ = at::kBFloat16;
    } else {
      bad("dtype: expected float32, float64 or bfloat16, got ", dtype);
    }
  }

  at::Tensor step(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    return translated([&] {
      check_storage({{&q, "q"}, {&k, "k"}, {&v, "v"}});
      at::Tensor o = fresh(q);
      std::visit(
          [&](auto& cache) {
            using T = typename StorageOf<std::decay_t<decltype(cache)>>::type;
            cache->step(view_of<const T>(q), view_of<const T>(k), view_of<const T>(v), view_of<T>(o));
          },
          cache_);
      return o;
    });
  }

  void append(const at::Tensor& k, const at::Tensor& v) {
    translated([&] {
      check_storage({{&k, "k"}, {&v, "v"}});
      std::visit(
          [&](auto& cache) {
            using T = typename StorageOf<std::decay_t<decltype(cache)>>::type;
            cache->append(view_of<const T>(k), view_of<const T>(v));
          },
          cache_);
    });
  }

  int64_t position() const {
    return std::visit([](const auto& cache) { return cache->position(); }, cache_);
  }
  int64_t bytes() const {
    return std::visit([](const auto& cache) { return static_cast<int64_t>(cache->bytes()); }, cache_);
  }

 private:
  // Like check_tensors, against the cache's dtype rather than the first tensor's.
  void check_storage(std::initializer_list<std::pair<const at::Tensor*, const char*>> tensors) const {
    for (const auto& t : tensors) check_tensor(*t.first, t.second);
    for (const auto& t : tensors)
      if (t.first->scalar_type() != type_)
        bad(t.second, ".dtype: expected ", type_, " (the cache's dtype), got ", t.first->scalar_type());
  }

  std::variant<std::unique_ptr<swat::SlidingKVCache<float>>, std::unique_ptr<swat::SlidingKVCache<double>>,
               std::unique_ptr<swat::SlidingKVCache<swat::bf16>>>
      cache_;
  at::ScalarType type_ = at::kFloat;
};

c10::intrusive_ptr<Cache> make_cache(int64_t batch, int64_t kv_heads, int64_t head_dim, const std::string& dtype,
                                     SWAT_OPTIONS_PARAMS) {
  return translated([&] {
    return c10::make_intrusive<Cache>(batch, kv_heads, head_dim, dtype, make_options(SWAT_OPTIONS_ARGS));
  });
}

}  // namespace

TORCH_LIBRARY(swat, m) {
  m.def("forward(Tensor q, Tensor k, Tensor v, *, " SWAT_OPTIONS_SCHEMA ") -> Tensor");
  m.def("backward(Tensor q, Tensor k, Tensor v, Tensor o, Tensor dout, *, bool slopes_grad=False, "
        "bool sinks_grad=False, " SWAT_OPTIONS_SCHEMA
        ") -> (Tensor dq, Tensor dk, Tensor dv, Tensor dslopes, Tensor dsinks)");
  m.def("forward_varlen(Tensor q, Tensor k, Tensor v, int[] cu_seqlens, *, " SWAT_OPTIONS_SCHEMA ") -> Tensor");
  m.def("backward_varlen(Tensor q, Tensor k, Tensor v, Tensor o, Tensor dout, int[] cu_seqlens, *, "
        "bool slopes_grad=False, bool sinks_grad=False, " SWAT_OPTIONS_SCHEMA
        ") -> (Tensor dq, Tensor dk, Tensor dv, Tensor dslopes, Tensor dsinks)");
  m.def("alibi_slopes(int heads) -> Tensor", &alibi_slopes_op);
  m.def("balanced_alibi_slopes(int heads, str scheme='paper') -> Tensor", &balanced_alibi_slopes_op);
  m.def("best_isa() -> str", &best_isa_op);
  m.class_<Cache>("SlidingKVCache")
      .def(torch::init(&make_cache))
      .def("step", &Cache::step)
      .def("append", &Cache::append)
      .def("position", &Cache::position)
      .def("bytes", &Cache::bytes);
}

TORCH_LIBRARY_IMPL(swat, CPU, m) {
  m.impl("forward", TORCH_FN(forward_op));
  m.impl("backward", TORCH_FN(backward_op));
  m.impl("forward_varlen", TORCH_FN(forward_varlen_op));
  m.impl("backward_varlen", TORCH_FN(backward_varlen_op));
}

// Autograd is the Python layer's (swat_torch.attention). A direct call on tensors that require
// grad gets an output whose backward raises, rather than one silently without a gradient.
TORCH_LIBRARY_IMPL(swat, Autograd, m) {
  for (const char* op : {"forward", "backward", "forward_varlen", "backward_varlen"})
    m.impl(op, torch::autograd::autogradNotImplementedFallback());
}
