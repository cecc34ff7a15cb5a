// The `guidance` command line; the commands are in guidance-cli, the work in guidance-core.
#include <iostream>

#include "host/cli/Commands.h"
#include "host/recording/Hdf5.h"

int main(int argc, char** argv) {
  guidance::hdf5::skip_cleanup_at_exit();
  return guidance::cli::run_guidance({argv + 1, argv + argc}, std::cout, std::cerr);
}
