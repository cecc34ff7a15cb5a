#include "host/common/CommandLine.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "host/common/Errors.h"
#include "host/common/Suggest.h"

namespace guidance {

namespace {

/// A subcommand that knows what to do once chosen. Built with the parent constructor, so it
/// inherits the parent's settings as CLI11's own subcommands do.
class Command : public CLI::App {
 public:
  Command(CLI::App& parent, const std::string& name, const std::string& description,
          CommandAction action)
      : CLI::App(description, name, &parent), action_(std::move(action)) {}

  int run() const { return action_(); }

 private:
  CommandAction action_;
};

/// @return the deepest subcommand given on the command line (`app` itself when none was).
const CLI::App& chosen_command(const CLI::App& app) {
  const CLI::App* chosen = &app;
  for (auto given = chosen->get_subcommands(); !given.empty(); given = chosen->get_subcommands()) {
    chosen = given.front();
  }
  return *chosen;
}

/// @return e.g. "guidance analyze report".
std::string command_path(const CLI::App& command) {
  std::string path = command.get_name();
  for (const CLI::App* parent = command.get_parent(); parent; parent = parent->get_parent()) {
    path = parent->get_name() + " " + path;
  }
  return path;
}

UsageError usage_error(const CLI::App& command, const std::string& message) {
  std::string path = command_path(command);
  return UsageError(path + ": " + message + "\n(see '" + path + " --help')");
}

/// Options fall through to the parents, so the names a typo may have meant are those of the
/// command and of every command above it (hidden ones excepted).
std::vector<std::string> option_names(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::App* app = &command; app; app = app->get_parent()) {
    for (const CLI::Option* option : app->get_options()) {
      if (option->get_group().empty()) continue;
      for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
    }
  }
  return names;
}

std::vector<std::string> subcommand_names(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::App* sub : command.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

/// The message for an argument no command took: an unknown option or subcommand (with the
/// closest names), or one positional too many.
std::string unexpected(const CLI::App& command, const std::string& argument) {
  if (argument.size() > 1 && argument[0] == '-') {
    std::string name = argument.substr(0, argument.find('='));
    return "unknown option '" + name + "'" + did_you_mean(name, option_names(command));
  }
  std::vector<std::string> commands = subcommand_names(command);
  if (!commands.empty() && command.get_subcommands().empty()) {
    return "unknown command '" + argument + "'" + did_you_mean(argument, commands) +
           " (commands: " + quoted_list(commands) + ")";
  }
  return "unexpected argument '" + argument + "'";
}

std::string refusal(const CLI::App& app, const CLI::ParseError& error) {
  const CLI::App& command = chosen_command(app);
  // A stray argument usually explains the other complaints (a misspelt subcommand leaves the
  // command without one), so it is reported first.
  std::vector<std::string> left = app.remaining(true);
  if (!left.empty()) return unexpected(command, left.front());
  if (dynamic_cast<const CLI::RequiredError*>(&error) && command.get_subcommands().empty() &&
      command.get_require_subcommand_min() > 0) {
    return "a command is required: " + quoted_list(subcommand_names(command));
  }
  return error.what();
}

std::optional<long long> integer_value(const std::string& text) {
  try {
    size_t used = 0;
    long long value = std::stoll(text, &used);
    if (used == text.size()) return value;
  } catch (const std::logic_error&) {
    // Not a number: the caller reports it.
  }
  return std::nullopt;
}

constexpr size_t kHelpWidth = 100;
constexpr size_t kHelpColumn = 28;

/// CLI11's formatter with option descriptions wrapped at word boundaries to the help's width.
class WrappingFormatter : public CLI::Formatter {
 public:
  std::string make_option_desc(const CLI::Option* option) const override {
    std::string wrapped;
    size_t line = 0;
    std::istringstream words(option->get_description());
    for (std::string word; words >> word;) {
      if (line > 0 && line + 1 + word.size() > kHelpWidth - kHelpColumn) {
        wrapped += "\n";
        line = 0;
      } else if (line > 0) {
        wrapped += " ";
        ++line;
      }
      wrapped += word;
      line += word.size();
    }
    return wrapped;
  }
};

}  // namespace

void use_workbench_conventions(CLI::App& root) {
  root.fallthrough();
  root.set_help_flag("-h,--help", "print this help and exit");
  root.group("Commands");
  auto formatter = std::make_shared<WrappingFormatter>();
  formatter->label("Usage", "usage");
  formatter->label("SUBCOMMAND", "COMMAND");
  formatter->column_width(kHelpColumn);
  root.formatter(formatter);
}

CLI::App& add_command(CLI::App& parent, const std::string& name, const std::string& description,
                      CommandAction action) {
  return *parent.add_subcommand(
      std::make_shared<Command>(parent, name, description, std::move(action)));
}

bool parse_command_line(CLI::App& app, const std::vector<std::string>& args, std::ostream& out) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return false;
  } catch (const CLI::CallForVersion& version) {
    out << version.what() << "\n";
    return false;
  } catch (const CLI::ParseError& error) {
    throw usage_error(chosen_command(app), refusal(app, error));
  }
  return true;
}

int run_command_line(CLI::App& app, const std::vector<std::string>& args, std::ostream& out) {
  if (!parse_command_line(app, args, out)) return 0;
  const CLI::App& chosen = chosen_command(app);
  const auto* command = dynamic_cast<const Command*>(&chosen);
  if (command == nullptr) {
    throw usage_error(chosen, "a command is required: " + quoted_list(subcommand_names(chosen)));
  }
  try {
    return command->run();
  } catch (const UsageError& error) {
    throw usage_error(chosen, error.what());
  }
}

CLI::Validator at_least(int minimum) {
  return CLI::Validator(
      [minimum](std::string& text) -> std::string {
        std::optional<long long> value = integer_value(text);
        if (!value) return "expects an integer, got '" + text + "'";
        if (*value < minimum || *value > std::numeric_limits<int>::max()) {
          return "must be at least " + std::to_string(minimum) + ", got '" + text + "'";
        }
        return "";
      },
      "");
}

CLI::Validator one_of(const std::vector<std::string>& values) {
  return CLI::Validator(
      [values](std::string& text) -> std::string {
        if (std::find(values.begin(), values.end(), text) != values.end()) return "";
        return "must be one of " + quoted_list(values) + ", not '" + text + "'" +
               did_you_mean(text, values);
      },
      "");
}

}  // namespace guidance
