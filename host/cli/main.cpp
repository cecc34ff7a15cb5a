// The `guidance` command line; the commands are in guidance-cli, the work in guidance-core.
#include <malloc.h>

#include <climits>
#include <iostream>

#include "host/cli/Commands.h"
#include "host/recording/Hdf5.h"

int main(int argc, char** argv) {
  // LibTorch's CPU tensors come from malloc, and glibc serves blocks above its mmap threshold by
  // mmap and unmaps them on free: every step's activations (tens of MiB each) were faulted in and
  // zeroed afresh, over half of a guided step's time (docs/performance.md). Served from the heap,
  // and the heap not trimmed below 2 GiB, freed pages are reused; the resident size stays at its
  // peak, which a training process reaches anyway.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
  guidance::hdf5::skip_cleanup_at_exit();
  return guidance::cli::run_guidance({argv + 1, argv + argc}, std::cout, std::cerr);
}
