#pragma once

#include <string>
#include <vector>

#include <toml++/toml.h>

namespace guidance {

/// Changes to a config given on the command line, as Hydra users write them
/// (docs/config.md, "Overrides"):
///   `train.epochs=2`       sets a dotted key; the value is TOML (`2`, `0.5`, `"x"`, `[1, 2]`,
///                          `{ plugin = "rsa" }`) or, when it is not, a bare string (`adam`)
///   `-m run.seed=0,1,2`    with --multirun, a comma-separated list makes the key a sweep axis
/// The values are checked like the file's, and an error names the override.
struct ConfigOverrides {
  std::vector<std::string> assignments;  ///< "key=value", in the order given
  bool multirun = false;

  bool empty() const { return assignments.empty(); }

  /// @return the command-line arguments that give these overrides again (a `--jobs` child, a
  /// Slurm task), e.g. {"--multirun", "run.seed=0,1"}.
  std::vector<std::string> arguments() const;
};

/// @return how an error names one override: "command-line override 'train.lr=-1'". It is also the
/// source path of every value the override puts in a document, so location_of() reports it.
std::string override_source(const std::string& assignment);

/// Applies overrides to a parsed config's root table in order. A plain override replaces the
/// key's value (creating tables on the way) and removes the key from `[sweep]`'s crossed axes;
/// a multirun list sets `[sweep]."key"`. Throws ConfigError naming the override: no `=`, a key
/// that is not a dotted path of bare keys, a value that is not TOML nor a bare string, a list
/// without --multirun, a key inside a zip group, or a path through a value that is not a table.
void apply_overrides(toml::table& root, const ConfigOverrides& overrides);

}  // namespace guidance
