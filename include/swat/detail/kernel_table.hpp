// The kernels of one SIMD path gathered in one table, and the one lookup from a path to a
// kernel: with run-time dispatch (swat::dispatch) from the table its object for that path
// defines (dispatch_instance.hpp), otherwise instantiated here under the caller's own flags.
//
// Under the plain header only the best path the flags allow is compiled, plus portable (the
// fallback that always exists): each path is a full copy of every kernel, and compiling all of
// them doubled a program's compile time. Define SWAT_COMPILE_ALL_PATHS to compile every path
// the flags allow (e.g. to compare them in one program). The emulated paths are only built
// into swat::dispatch.
#pragma once

#include "isa_namespace.hpp"

#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "../checks.hpp"
#include "../error.hpp"
#include "../isa.hpp"
#include "../types.hpp"
#include "backward_kernel.hpp"
#include "convert.hpp"
#include "decode_kernel.hpp"
#include "forward_kernel.hpp"

namespace swat {
namespace detail {

template <class T>
using ForwardFn = void (*)(const Problem&, const ForwardInputs<T>&, Parallel);
// dslopes: H doubles the slope gradients are added to, or nullptr.
template <class T>
using BackwardFn = void (*)(const Problem&, const BackwardInputs<T>&, double* dslopes, double* dsinks, Parallel);
// The streaming kernel (SlidingKVCache::step and append).
template <class S>
using DecodeFn = void (*)(const Problem&, const DecodeInputs<S>&, Parallel);

template <class Kernel, class... Kernels>
constexpr bool tuple_holds(std::tuple<Kernels...>* /*list*/) {
  return (std::is_same<Kernel, Kernels>::value || ...);
}

// Every kernel of one path, as function pointers: they cross between translation units built
// with different flags. Entries are told apart by type: a new kernel (or a new signature) is one
// more entry here and, for a new kind of kernel, one more kernel_for below. The table comes in
// three parts, each compiled in an object of its own (dispatch_instance.hpp), so that a path's
// kernels compile on two cores side by side: in one object (62 s for AVX-512 at -O3, against
// 32 s and 28 s for two parts then) the path held up builds whose other core had finished. The
// bf16 cache has a part of its own because of AVX-512, where it holds three kernels per score
// composition (float products, vdpbf16ps, and its FMA form): with the other decode kernels it
// took 72 s at -O3 against 33 s for forward and backward (21 s and 37 s once apart), and 216 s
// in the fuzzing build, whose other core sat idle for the last 67 s. On the other paths that
// part is small (6-10 s at -O3).
using KernelLists = std::tuple<std::tuple<ForwardFn<float>, ForwardFn<double>, ForwardFn<bf16>, ForwardFn<f16>,  //
                                          BackwardFn<float>, BackwardFn<double>>,
                               std::tuple<DecodeFn<float>, DecodeFn<double>, DecodeFn<f16>,  //
                                          Converters<bf16>, Converters<f16>>,
                               std::tuple<DecodeFn<bf16>>>;
constexpr int kernel_parts = static_cast<int>(std::tuple_size<KernelLists>::value);
template <int Part>
using KernelList = std::tuple_element_t<Part, KernelLists>;

template <int Part>
struct KernelTable {
  KernelList<Part> kernels;

  template <class Kernel>
  constexpr Kernel get() const {
    return std::get<Kernel>(kernels);
  }
};

// The part of the table that holds Kernel.
template <class Kernel, int Part = 0>
constexpr int part_of() {
  static_assert(Part < kernel_parts, "this kernel type is in no part of KernelLists");
  if constexpr (tuple_holds<Kernel>(static_cast<KernelList<Part>*>(nullptr)))
    return Part;
  else
    return part_of<Kernel, Part + 1>();
}

template <class Kernel>
struct KernelType {};

inline namespace SWAT_ISA_NAMESPACE {

// The instantiation of one kernel for one architecture.
template <class Arch, class T>
constexpr ForwardFn<T> kernel_for(KernelType<ForwardFn<T>>) {
  return &run_forward<T, Arch>;
}
template <class Arch, class T>
constexpr BackwardFn<T> kernel_for(KernelType<BackwardFn<T>>) {
  return &run_backward<T, Arch>;
}
template <class Arch, class S>
constexpr DecodeFn<S> kernel_for(KernelType<DecodeFn<S>>) {
  return &run_decode<S, Arch>;
}
template <class Arch, class S>
constexpr Converters<S> kernel_for(KernelType<Converters<S>>) {
  return Converters<S>{&convert_to_float<Arch, S>, &convert_from_float<Arch, S>};
}

template <class Arch, int Part, class... Kernels>
constexpr KernelTable<Part> make_kernel_table(std::tuple<Kernels...>* /*list*/) {
  return KernelTable<Part>{KernelList<Part>{kernel_for<Arch>(KernelType<Kernels>{})...}};
}
template <class Arch, int Part>
constexpr KernelTable<Part> make_kernel_table() {
  return make_kernel_table<Arch, Part>(static_cast<KernelList<Part>*>(nullptr));
}

}  // namespace SWAT_ISA_NAMESPACE

// The tables of each path swat::dispatch compiles, each part defined in its own object for
// that path (and declared for every path here, as an explicit specialisation must be before
// any use).
template <Isa isa, int Part>
const KernelTable<Part>& dispatched_table();
#define SWAT_DECLARE_DISPATCHED_TABLES(isa)            \
  template <>                                          \
  const KernelTable<0>& dispatched_table<isa, 0>();    \
  template <>                                          \
  const KernelTable<1>& dispatched_table<isa, 1>();    \
  template <>                                          \
  const KernelTable<2>& dispatched_table<isa, 2>();
static_assert(kernel_parts == 3, "SWAT_DECLARE_DISPATCHED_TABLES declares three parts (and swatDispatch.cmake compiles them)");
SWAT_DECLARE_DISPATCHED_TABLES(Isa::avx512)
SWAT_DECLARE_DISPATCHED_TABLES(Isa::avx2)
SWAT_DECLARE_DISPATCHED_TABLES(Isa::sse2)
SWAT_DECLARE_DISPATCHED_TABLES(Isa::neon)
SWAT_DECLARE_DISPATCHED_TABLES(Isa::portable)
SWAT_DECLARE_DISPATCHED_TABLES(Isa::emulated4)
SWAT_DECLARE_DISPATCHED_TABLES(Isa::emulated8)
SWAT_DECLARE_DISPATCHED_TABLES(Isa::emulated16)
#undef SWAT_DECLARE_DISPATCHED_TABLES

inline namespace SWAT_API_NAMESPACE {

#if defined(SWAT_COMPILE_ALL_PATHS)
constexpr bool header_compiles_all = true;
#else
constexpr bool header_compiles_all = false;
#endif

template <Isa isa>
constexpr bool header_compiles = flags_allow<isa> && !is_emulated(isa) &&
                                 (header_compiles_all || isa == flags_best_isa || isa == Isa::portable);

// Whether this build has a path: swat::dispatch compiled it, or this header does.
inline bool path_compiled(Isa isa) {
  switch (isa) {
#if defined(SWAT_RUNTIME_DISPATCH)
#if defined(SWAT_DISPATCH_HAS_AVX512)
    case Isa::avx512:
#endif
#if defined(SWAT_DISPATCH_HAS_AVX2)
    case Isa::avx2:
#endif
#if defined(SWAT_DISPATCH_HAS_SSE2)
    case Isa::sse2:
#endif
#if defined(SWAT_DISPATCH_HAS_NEON)
    case Isa::neon:
#endif
#if defined(SWAT_DISPATCH_HAS_EMULATED4)
    case Isa::emulated4:
#endif
#if defined(SWAT_DISPATCH_HAS_EMULATED)
    case Isa::emulated8:
    case Isa::emulated16:
#endif
    case Isa::portable: return true;
#else
    case Isa::avx512: return header_compiles<Isa::avx512>;
    case Isa::avx2: return header_compiles<Isa::avx2>;
    case Isa::sse2: return header_compiles<Isa::sse2>;
    case Isa::neon: return header_compiles<Isa::neon>;
    case Isa::portable: return true;
#endif
    default: return false;
  }
}

#if !defined(SWAT_RUNTIME_DISPATCH)
// One kernel of a path under the caller's flags. Only the kernel asked for is instantiated
// (a whole table would compile every kernel for every type).
template <class Kernel, Isa isa>
Kernel header_kernel() {
  if constexpr (header_compiles<isa>)
    return kernel_for<typename arch_of<isa>::type>(KernelType<Kernel>{});
  else
    return Kernel{};
}
#endif

// The one lookup: the kernel of a path this build has (path_compiled).
template <class Kernel>
Kernel kernel_of(Isa isa) {
#if defined(SWAT_RUNTIME_DISPATCH)
  constexpr int part = part_of<Kernel>();
#endif
  switch (isa) {
#if defined(SWAT_RUNTIME_DISPATCH)
#if defined(SWAT_DISPATCH_HAS_AVX512)
    case Isa::avx512: return dispatched_table<Isa::avx512, part>().template get<Kernel>();
#endif
#if defined(SWAT_DISPATCH_HAS_AVX2)
    case Isa::avx2: return dispatched_table<Isa::avx2, part>().template get<Kernel>();
#endif
#if defined(SWAT_DISPATCH_HAS_SSE2)
    case Isa::sse2: return dispatched_table<Isa::sse2, part>().template get<Kernel>();
#endif
#if defined(SWAT_DISPATCH_HAS_NEON)
    case Isa::neon: return dispatched_table<Isa::neon, part>().template get<Kernel>();
#endif
#if defined(SWAT_DISPATCH_HAS_EMULATED4)
    case Isa::emulated4: return dispatched_table<Isa::emulated4, part>().template get<Kernel>();
#endif
#if defined(SWAT_DISPATCH_HAS_EMULATED)
    case Isa::emulated8: return dispatched_table<Isa::emulated8, part>().template get<Kernel>();
    case Isa::emulated16: return dispatched_table<Isa::emulated16, part>().template get<Kernel>();
#endif
    case Isa::portable: return dispatched_table<Isa::portable, part>().template get<Kernel>();
#else
    case Isa::avx512: return header_kernel<Kernel, Isa::avx512>();
    case Isa::avx2: return header_kernel<Kernel, Isa::avx2>();
    case Isa::sse2: return header_kernel<Kernel, Isa::sse2>();
    case Isa::neon: return header_kernel<Kernel, Isa::neon>();
    case Isa::portable: return header_kernel<Kernel, Isa::portable>();
#endif
    default: return Kernel{};
  }
}

// The paths this build has and this CPU runs: native ones best first, then the emulated ones,
// portable last. Found once per process (the CPU does not change; cpuid is not free).
inline const std::vector<Isa>& isa_list() {
  static const std::vector<Isa> list = [] {
    std::vector<Isa> out;
    for (Isa isa : {Isa::avx512, Isa::avx2, Isa::neon, Isa::sse2, Isa::emulated16, Isa::emulated8, Isa::emulated4,
                    Isa::portable})
      if (path_compiled(isa) && cpu_runs(isa)) out.push_back(isa);
    return out;
  }();
  return list;
}

// What Isa::automatic means: the first native path, never an emulated one.
inline Isa best_path() {
  for (Isa isa : isa_list())
    if (!is_emulated(isa)) return isa;
  return Isa::portable;
}

// The path a call asked for, resolved and checked against the paths this build and CPU have.
inline Isa checked_isa(Isa isa) {
  const Isa path = isa == Isa::automatic ? best_path() : isa;
  const std::vector<Isa>& have = isa_list();
  for (Isa a : have)
    if (a == path) return path;
  std::string names;
  for (Isa a : have) names += std::string(names.empty() ? "" : ", ") + isa_name(a);
  fail("isa: expected one of the available paths (", names, "), got ", isa_name(path));
}

}  // namespace SWAT_API_NAMESPACE
}  // namespace detail
}  // namespace swat
