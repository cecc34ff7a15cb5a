#pragma once

// Command lines built with CLI11 (https://github.com/CLIUtils/CLI11): every program of the
// workbench declares its commands and options on a CLI::App and parses through these functions,
// so all share one grammar (`--opt VALUE` and `--opt=VALUE`), generated help and the same usage
// errors. Only the files that declare options include the (heavy) <CLI/CLI.hpp>.

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace CLI {
class App;
class Validator;
}  // namespace CLI

namespace guidance {

/// What a command does once its arguments are parsed.
/// @return its exit code
using CommandAction = std::function<int()>;

/// Gives a root the conventions every workbench program shares: `usage:` lines, `-h,--help`,
/// options after a subcommand fall through to its parents (global options anywhere). Call it
/// before adding subcommands, which inherit it.
void use_workbench_conventions(CLI::App& root);

/// Adds subcommand `name` to `parent`; run_command_line() runs `action` when it is the command
/// chosen (the deepest subcommand given).
/// @return the subcommand, to declare its options on
CLI::App& add_command(CLI::App& parent, const std::string& name, const std::string& description,
                      CommandAction action);

/// Parses `args` (without the program name) into `app`.
/// @return false when the help or the version was asked for and printed to `out` instead
/// @throws UsageError for anything CLI11 refuses: an unknown option or command (with the closest
///         names), a missing or surplus argument, a value a validator rejects; the message names
///         the command and ends in a pointer to its --help
bool parse_command_line(CLI::App& app, const std::vector<std::string>& args, std::ostream& out);

/// parse_command_line(), then the action of the command chosen.
/// @return 0 after printing help or version, else the action's exit code
/// @throws UsageError from parsing or from the action, its message naming the command and ending
///         in a pointer to its --help; anything else the action throws
int run_command_line(CLI::App& app, const std::vector<std::string>& args, std::ostream& out);

/// @return a validator accepting integers of at least `minimum` ("must be at least 1, got '0'").
CLI::Validator at_least(int minimum);

/// @return a validator accepting one of `values` (with the closest as a suggestion otherwise).
CLI::Validator one_of(const std::vector<std::string>& values);

}  // namespace guidance
