# Run-time dispatch (SPEC section 7): the static library swat::dispatch holds every kernel
# compiled once per instruction set, each copy with that ISA's compiler flags, so a program built
# for a baseline CPU still runs the best path of the CPU it finds itself on.
#
#   swat_add_dispatch_library()
#
# Each copy is the header swat/detail/dispatch_instance.hpp, compiled from three sources generated
# in the build tree (one per part of the kernel table). The source tree and the installed
# swatConfig.cmake both call this, so a find_package(swat) consumer compiles the kernels in its
# own build tree with its own compiler; the installed package holds no sources and no binaries
# and stays architecture-independent. Nothing is compiled unless something links the target:
#
#   target_link_libraries(app PRIVATE swat::dispatch)
#
# With SWAT_DISPATCH_EMULATED on (swat's own tests turn it on), the emulated paths (8 and 16
# lanes on plain arrays, and 4 where no native path has 4) are compiled in too, so a test
# running every path of swat::available_isas() runs the kernels at every width on any CPU.
#
# Usage requirements of swat::dispatch: SWAT_RUNTIME_DISPATCH (the headers then take their
# kernels from the library), one SWAT_DISPATCH_HAS_<ISA> per compiled native path,
# SWAT_DISPATCH_HAS_EMULATED (8 and 16 lanes) and SWAT_DISPATCH_HAS_EMULATED4.
include_guard(GLOBAL)
include(CheckCXXSourceCompiles)

# Candidate paths for the target processor, best first, with their GCC/Clang flags in
# <out_prefix>_FLAGS_<isa>. Each candidate is then confirmed with a try-compile, so a wrong
# guess (cross toolchains, exotic processor names) costs a path, never a build error.
function(_swat_dispatch_candidates out_isas out_prefix)
  set(processor "${CMAKE_SYSTEM_PROCESSOR}")
  list(LENGTH CMAKE_OSX_ARCHITECTURES osx_count)
  if(osx_count GREATER 1)
    # One compile serves several architectures (macOS universal binary): no ISA flags fit all.
    set(${out_isas} "" PARENT_SCOPE)
    return()
  elseif(osx_count EQUAL 1)
    set(processor "${CMAKE_OSX_ARCHITECTURES}")
  endif()
  string(TOLOWER "${processor}" processor)

  set(isas "")
  if(processor MATCHES "^(x86_64|amd64|x64|x86|i[3-6]86)$")
    if(MSVC)
      # MSVC (and clang-cl) flags differ; SSE2 is the x64 baseline and needs none.
      set(isas sse2)
      set(flags_sse2 "")
    else()
      set(isas avx512 avx2 sse2)
      set(flags_avx512 -mavx512f -mavx512cd -mavx512bw -mavx512dq -mavx2 -mfma -mf16c)
      set(flags_avx2 -mavx2 -mfma -mf16c)
      set(flags_sse2 "")
      if(CMAKE_SIZEOF_VOID_P EQUAL 4)
        set(flags_sse2 -msse2)  # not the baseline of 32-bit x86
      endif()
    endif()
  elseif(processor MATCHES "^(aarch64|arm64|arm)")
    set(isas neon)
    set(flags_neon "")
    if(CMAKE_SIZEOF_VOID_P EQUAL 4 AND NOT MSVC)
      set(flags_neon -mfpu=neon)  # NEON is optional on 32-bit ARM
    endif()
  endif()

  set(${out_isas} "${isas}" PARENT_SCOPE)
  foreach(isa IN LISTS isas)
    set(${out_prefix}_FLAGS_${isa} "${flags_${isa}}" PARENT_SCOPE)
  endforeach()
endfunction()

function(swat_add_dispatch_library)
  if(ARGN)
    message(FATAL_ERROR "swat_add_dispatch_library: unexpected arguments: ${ARGN}")
  endif()
  if(TARGET swat_dispatch)
    return()  # already defined, e.g. find_package(swat) ran in two directories
  endif()
  if(NOT TARGET swat::swat)
    message(FATAL_ERROR "swat_add_dispatch_library: target swat::swat must exist first")
  endif()
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(NOT "CXX" IN_LIST languages)
    message(STATUS "swat: CXX is not enabled, swat::dispatch not defined")
    return()
  endif()

  # Predefined macros proving that the compiler, given a path's flags, really targets it
  # (the condition dispatch_instance.hpp static_asserts through xsimd).
  set(probe_avx512 "defined(__AVX512F__) && defined(__AVX512CD__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)")
  set(probe_avx2 "defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)")
  set(probe_sse2 "defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)")
  set(probe_neon "defined(__ARM_NEON) || defined(__ARM_NEON__) || defined(_M_ARM64)")
  _swat_dispatch_candidates(candidates _swat)
  # SWAT_DISPATCH_ONLY (a list, e.g. "avx512") keeps just those native paths: a shorter build where
  # one path is enough (scripts/mutate rebuilds the library once per seeded bug). Portable stays.
  if(DEFINED SWAT_DISPATCH_ONLY AND NOT "${SWAT_DISPATCH_ONLY}" STREQUAL "")
    set(kept "")
    foreach(isa IN LISTS candidates)
      if(isa IN_LIST SWAT_DISPATCH_ONLY)
        list(APPEND kept ${isa})
      endif()
    endforeach()
    set(candidates ${kept})
  endif()
  set(isas "")
  foreach(isa IN LISTS candidates)
    string(REPLACE ";" " " CMAKE_REQUIRED_FLAGS "${_swat_FLAGS_${isa}}")
    set(CMAKE_REQUIRED_DEFINITIONS "")
    set(CMAKE_REQUIRED_INCLUDES "")
    set(CMAKE_REQUIRED_LIBRARIES "")
    set(CMAKE_REQUIRED_QUIET ON)
    string(TOUPPER "${isa}" ISA)
    check_cxx_source_compiles("
#if !(${probe_${isa}})
#error \"flags do not enable ${isa}\"
#endif
int main() { return 0; }" SWAT_DISPATCH_COMPILES_${ISA})
    if(SWAT_DISPATCH_COMPILES_${ISA})
      list(APPEND isas ${isa})
    endif()
  endforeach()
  # The portable path always exists: it is the fallback of every CPU.
  list(APPEND isas portable)
  if(SWAT_DISPATCH_EMULATED)
    # Four lanes only where no native path has them: SSE2 and NEON already run the kernels at
    # that width (the emulated type's own 4-lane primitives keep their known-answer test). The
    # 4-lane copy was 57 s of a core of the release tests' build on a Zen 3 EPYC VM.
    if(NOT "sse2" IN_LIST isas AND NOT "neon" IN_LIST isas)
      list(APPEND isas emulated4)
    endif()
    list(APPEND isas emulated8 emulated16)
  endif()

  set(objects "")
  set(has_definitions "")
  foreach(isa IN LISTS isas)
    set(object_target swat_dispatch_${isa})
    # The path's table in its three parts (kernel_table.hpp): forward and backward, decode, and
    # the bf16 cache's decode, one source each, so that one path's kernels compile on two cores
    # at once.
    set(sources "")
    foreach(part IN ITEMS 0 1 2)
      set(source "${CMAKE_CURRENT_BINARY_DIR}/swat_dispatch/${isa}_${part}.cpp")
      file(GENERATE OUTPUT "${source}"
           CONTENT "#define SWAT_DISPATCH_PART ${part}\n#include <swat/detail/dispatch_instance.hpp>\n")
      list(APPEND sources "${source}")
    endforeach()
    add_library(${object_target} OBJECT EXCLUDE_FROM_ALL ${sources})
    target_compile_options(${object_target} PRIVATE ${_swat_FLAGS_${isa}})
    # Each copy's inline kernel code lives in its own namespace, so the linker never merges
    # an AVX-512 instantiation into code that an older CPU runs.
    target_compile_definitions(${object_target} PRIVATE
      SWAT_DISPATCH_ISA=${isa} SWAT_ISA_NAMESPACE=isa_${isa})
    target_link_libraries(${object_target} PRIVATE swat::swat)
    # PIC so the archive can also go into the consumer's shared libraries and Python modules.
    set_target_properties(${object_target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    list(APPEND objects $<TARGET_OBJECTS:${object_target}>)
    if(isa MATCHES "^emulated")
      # The emulated paths are there to run the kernels' width logic, never for speed: at -O1
      # GCC 12 compiles the 16-lane copy in a fifth of -O3's time (20 s against 95 s), most of
      # the release test build. (Last on the line, so it wins over the build type's level.)
      if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
        target_compile_options(${object_target} PRIVATE -O1)
      endif()
    elseif(NOT isa STREQUAL "portable")
      string(TOUPPER "${isa}" ISA)
      list(APPEND has_definitions SWAT_DISPATCH_HAS_${ISA})
      # The kernels are written for -O3: GCC 12 at -O2 vectorises only loops whose trip count
      # it knows, and the rows' copies and rotations stay scalar (the 340M layer's backward
      # took 1.36x the time, its forward 1.07x, on an Intel Xeon). So RelWithDebInfo (-O2)
      # compiles these copies at -O3 as Release does. (Not swat's fuzz build: its inputs are
      # tiny and its AVX-512 copy already takes two minutes of a core.)
      if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang" AND NOT SWAT_BUILD_FUZZERS)
        target_compile_options(${object_target} PRIVATE $<$<CONFIG:RelWithDebInfo>:-O3>)
      endif()
    endif()
  endforeach()
  if("emulated8" IN_LIST isas)
    list(APPEND has_definitions SWAT_DISPATCH_HAS_EMULATED)
  endif()
  if("emulated4" IN_LIST isas)
    list(APPEND has_definitions SWAT_DISPATCH_HAS_EMULATED4)
  endif()
  # The paths compiled (a target swat_dispatch_<isa> each), for swat's own build to add flags
  # and checks to.
  set_property(GLOBAL PROPERTY SWAT_DISPATCH_PATHS "${isas}")

  # Archive order, as a second line of defence: inline code outside swat's per-ISA namespace
  # (what the standard library instantiates) is emitted by every copy and the linker keeps the
  # first definition it meets (ELF COMDAT, MSVC "any", Mach-O weak). The headers keep such code
  # free of vector instructions (tests/dispatch_isolation.sh checks it); with the least capable
  # copy first, a lapse would still leave baseline code as the survivor.
  list(REVERSE objects)
  add_library(swat_dispatch STATIC EXCLUDE_FROM_ALL ${objects})
  set_target_properties(swat_dispatch PROPERTIES
    LINKER_LANGUAGE CXX
    POSITION_INDEPENDENT_CODE ON)
  target_compile_definitions(swat_dispatch INTERFACE SWAT_RUNTIME_DISPATCH ${has_definitions})
  target_link_libraries(swat_dispatch PUBLIC swat::swat)
  add_library(swat::dispatch ALIAS swat_dispatch)

  string(REPLACE ";" " " isa_list "${isas}")
  message(STATUS "swat: run-time dispatch paths (swat::dispatch): ${isa_list}")
endfunction()
