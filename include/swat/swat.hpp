// swat: sliding-window attention kernels for CPUs (SWAT: sigmoid, balanced ALiBi, RoPE).
// The umbrella header: include this one.
#pragma once

#include "backward.hpp"
#include "cache.hpp"
#include "convert.hpp"
#include "error.hpp"
#include "forward.hpp"
#include "isa.hpp"
#include "options.hpp"
#include "rope_scaling.hpp"
#include "slopes.hpp"
#include "types.hpp"
#include "varlen.hpp"
#include "view.hpp"
#include "work.hpp"
