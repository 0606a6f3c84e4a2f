# shellcheck shell=bash
# Sourced by scripts/test and scripts/bench: install the libraries the build needs when their
# headers are missing. A fresh machine has g++, cmake, googletest and Google Benchmark only.
#
#   swat_ensure_deps tests      xsimd, Eigen, Catch2, Ninja
#   swat_ensure_deps bench      the same plus Google Benchmark
#   swat_generator <dir>        the -G arguments for configuring <dir>
#   swat_ensure_fuzz_deps       clang++ able to link libFuzzer (scripts/test's asan+ubsan and
#                               fuzz stages, which share one Clang build)
#
# SWAT_SKIP_DEPS=1 skips the check (libraries installed elsewhere, e.g. found through
# CMAKE_PREFIX_PATH); CMake then reports anything still missing.

swat_log() { printf '[swat] %s\n' "$*" >&2; }

swat_ensure_deps() {
  local want_bench=0
  [[ "${1:-}" == "bench" ]] && want_bench=1

  if [[ "${SWAT_SKIP_DEPS:-0}" == "1" ]]; then
    swat_log "SWAT_SKIP_DEPS=1: not checking system packages"
    return 0
  fi

  # Where the Debian packages put their headers (overridable to test this function).
  local include="${SWAT_SYSTEM_INCLUDE:-/usr/include}"
  local missing=() packages=()
  [[ -f "$include/xsimd/xsimd.hpp" ]] || missing+=("xsimd")
  [[ -f "$include/eigen3/Eigen/Core" ]] || missing+=("Eigen3")
  [[ -f "$include/catch2/catch.hpp" ]] || missing+=("Catch2")
  if ((${#missing[@]})); then
    packages+=(libxsimd-dev libeigen3-dev catch2)
  fi
  # Ninja, for swat_generator below (not required: CMake's default generator works without it).
  if ! command -v ninja >/dev/null 2>&1; then
    missing+=("ninja")
    packages+=(ninja-build)
  fi
  if ((want_bench)) && [[ ! -f "$include/benchmark/benchmark.h" ]]; then
    missing+=("Google Benchmark")
    packages+=(libbenchmark-dev)
  fi
  if ((${#packages[@]} == 0)); then
    return 0
  fi

  swat_log "missing: ${missing[*]}; installing ${packages[*]}"
  swat_apt_install "${packages[@]}"
}

# apt-get install, through sudo when not root.
swat_apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    swat_log "error: apt-get not found; install $* yourself (or set SWAT_SKIP_DEPS=1)"
    return 1
  fi
  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
      swat_log "error: not root and sudo not found; install $* yourself"
      return 1
    fi
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

# True when $SWAT_CLANGXX links a libFuzzer target with ASan and UBSan.
swat_fuzzer_links() {
  command -v "${SWAT_CLANGXX:-clang++}" >/dev/null 2>&1 || return 1
  local dir status
  dir="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$dir/probe.cpp"
  "${SWAT_CLANGXX:-clang++}" -fsanitize=fuzzer,address,undefined "$dir/probe.cpp" -o "$dir/probe" >/dev/null 2>&1
  status=$?
  rm -rf "$dir"
  return "$status"
}

# The asan+ubsan and fuzzing stages of scripts/test: Clang and its runtimes (libFuzzer,
# sanitizers), which Debian ships in clang and libclang-rt-dev (libclang-rt-<version>-dev of the
# default clang). GCC's ThreadSanitizer runtime (libtsan, for the tsan stage) comes with g++.
swat_ensure_fuzz_deps() {
  if [[ "${SWAT_SKIP_DEPS:-0}" == "1" ]] || swat_fuzzer_links; then
    return 0
  fi
  swat_log "clang++ cannot link a libFuzzer target; installing clang libclang-rt-dev"
  swat_apt_install clang libclang-rt-dev
  if ! swat_fuzzer_links; then
    swat_log "error: ${SWAT_CLANGXX:-clang++} still cannot link -fsanitize=fuzzer,address,undefined"
    return 1
  fi
}

# cmake and a C++ compiler are assumed present; say so plainly when they are not.
swat_require_tools() {
  local tool
  for tool in cmake ctest; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      swat_log "error: $tool not found (apt-get install cmake)"
      return 1
    fi
  done
}

# The CMake generator for a build directory not yet configured: Ninja when it is installed, else
# CMake's default (nothing printed). Ninja compiles a target's objects while the libraries it
# links are still being compiled; Make waits for them, so in the sanitizer stage the test
# sources waited on the one long kernel copy with the second core idle (that stage's build took
# about 330 s with Make, 265 s with Ninja, on 2 cores). A directory already configured keeps its
# generator: CMake refuses to change it. Use: mapfile -t gen < <(swat_generator "$dir").
swat_generator() {
  [[ -f "$1/CMakeCache.txt" ]] && return 0
  if command -v ninja >/dev/null 2>&1; then
    printf '%s\n' -G Ninja
  fi
}

# Jobs for the build: every core, unless SWAT_JOBS says otherwise.
swat_jobs() {
  if [[ -n "${SWAT_JOBS:-}" ]]; then
    echo "$SWAT_JOBS"
  else
    nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2
  fi
}

# The Python that scripts/test's torch stage uses: $SWAT_PYTHON, else Debian's own python3
# (where python3-torch installs torch), else the first python3 on PATH.
swat_python() {
  if [[ -n "${SWAT_PYTHON:-}" ]]; then
    echo "$SWAT_PYTHON"
  elif [[ -x /usr/bin/python3 ]]; then
    echo /usr/bin/python3
  else
    command -v python3 || echo python3
  fi
}

# True when $(swat_python) imports torch and pytest and CMake can find Torch.
swat_torch_ready() {
  local python
  python="$(swat_python)"
  "$python" -c 'import torch, pytest, torch.distributed' >/dev/null 2>&1 || return 1
  # find_package(Torch): Debian's libtorch-dev, or the config shipped inside the Python package.
  compgen -G "/usr/lib/*/cmake/Torch/TorchConfig.cmake" >/dev/null ||
    "$python" -c 'import os, torch.utils; p = torch.utils.cmake_prefix_path; raise SystemExit(not os.path.exists(os.path.join(p, "Torch", "TorchConfig.cmake")))' >/dev/null 2>&1
}

# The torch stage: python3-torch, libtorch-dev and python3-pytest from Debian when missing.
# Returns 1 with the reason in SWAT_TORCH_SKIP when torch cannot be installed, the one case in
# which scripts/test skips the stage; 2 when it was installed and still does not work.
# shellcheck disable=SC2034  # SWAT_TORCH_SKIP is read by scripts/test
swat_ensure_torch_deps() {
  SWAT_TORCH_SKIP=""
  if swat_torch_ready; then
    return 0
  fi
  if [[ "${SWAT_SKIP_DEPS:-0}" == "1" ]]; then
    SWAT_TORCH_SKIP="SWAT_SKIP_DEPS=1 and $(swat_python) lacks torch, pytest or Torch's CMake config"
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    SWAT_TORCH_SKIP="no apt-get to install Debian's python3-torch, libtorch-dev and python3-pytest"
    return 1
  fi
  swat_log "torch, pytest or Torch's CMake config missing; installing python3-torch libtorch-dev python3-pytest"
  if ! swat_apt_install python3-torch libtorch-dev python3-pytest; then
    SWAT_TORCH_SKIP="apt-get could not install python3-torch libtorch-dev python3-pytest (not packaged for this system?)"
    return 1
  fi
  if ! swat_torch_ready; then
    swat_log "error: python3-torch and libtorch-dev installed, but $(swat_python) still lacks torch, pytest or Torch's CMake config"
    return 2
  fi
}
