// The inline namespace that holds every kernel internal. Run-time dispatch compiles the
// kernels once per ISA with that ISA's flags, each under its own namespace name, so the
// linker can never merge an AVX-512 copy of an inline function into code meant for older CPUs.
#pragma once

#ifndef SWAT_ISA_NAMESPACE
#define SWAT_ISA_NAMESPACE compiled_with_caller_flags
#endif
