// The `guidance` command line: argument handling and exit codes. The work is in guidance-core.
#include <iostream>

#include "host/cli/Commands.h"
#include "host/common/Errors.h"
#include "host/recording/Hdf5.h"

int main(int argc, char** argv) {
  guidance::hdf5::skip_cleanup_at_exit();
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return guidance::cli::dispatch(args, std::cout, std::cerr);
  } catch (const guidance::UsageError& error) {
    std::cerr << "guidance: " << error.what() << "\n(see 'guidance --help')\n";
    return 2;
  } catch (const guidance::ConfigError& error) {
    std::cerr << "guidance: " << error.what() << "\n";
    return 2;
  } catch (const guidance::PluginLoadError& error) {
    std::cerr << "guidance: " << error.what() << "\n";
    return 2;
  } catch (const guidance::Interrupted& error) {
    std::cerr << "guidance: " << error.what() << "\n";
    return 130;
  } catch (const c10::Error& error) {
    std::cerr << "guidance: LibTorch error: " << error.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "guidance: " << error.what() << "\n";
    return 1;
  }
}
