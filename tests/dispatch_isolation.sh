#!/usr/bin/env bash
# Run-time dispatch links one copy of the kernels per ISA into one program (one object per path,
# each compiled from swat/detail/dispatch_instance.hpp). Inline code that every copy emits under
# the same name (standard library, anything outside swat's per-ISA namespace) is merged by the
# linker, which keeps one copy at random: if that copy holds an AVX instruction, an older CPU
# dies on it. This check disassembles each per-ISA object (the emulated paths' too) and fails
# when a function shared by name across ISAs contains a VEX or EVEX instruction.
#
#   dispatch_isolation.sh <object or ;-separated objects>...
set -euo pipefail
command -v objdump >/dev/null || { echo "objdump not found: skipping is not allowed, install binutils" >&2; exit 1; }
status=0
checked=0
# CMake passes each target's objects as one ';'-separated argument (one per source file).
objects=()
for arg in "$@"; do
  IFS=';' read -ra parts <<<"$arg"
  objects+=("${parts[@]}")
done
for object in "${objects[@]}"; do
  # Per-function listing: a function starts at "<addr> <name>:" and its instructions follow.
  report=$(objdump -d -C --no-show-raw-insn "$object" | awk '
    /^[0-9a-f]+ <.*>:$/ {
      name = $0; sub(/^[0-9a-f]+ </, "", name); sub(/>:$/, "", name)
      # Names that are unique to one ISA: swat internals of an isa_* namespace, and xsimd code
      # instantiated for a concrete architecture tag.
      shared = !(name ~ /::isa_[a-z0-9]+::/ || name ~ /xsimd::(avx|fma3<|sse|neon)/)
      next
    }
    shared && $0 ~ /\t[ \t]*v[a-z0-9]+[ \t]/ && $0 ~ /%[xyz]mm/ { print "  " name ": " $0; shared = 0 }
  ')
  checked=$((checked + 1))
  if [ -n "$report" ]; then
    echo "$object: AVX instructions in functions shared across ISA copies:"
    echo "$report"
    status=1
  fi
done
echo "dispatch isolation: $checked objects checked, $([ $status = 0 ] && echo clean || echo FAILED)"
exit $status
