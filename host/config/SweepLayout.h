#pragma once

/// The key names of a config's [sweep] table, shared by the code that reads it: host/sweep/Sweep
/// (which expands it), host/config/Overrides (which adds command-line axes to it) and
/// ConfigDocument::plugin_names (which lists the plugins its runs use). docs/config.md, "[sweep]".
namespace guidance::sweep_layout {

/// The top-level table of axes: `"<key path>" = [values...]`.
constexpr const char* kSweepKey = "sweep";
/// Under [sweep]: tables [sweep.zip.<group>] whose axes advance together.
constexpr const char* kZipKey = "zip";
/// Under [sweep]: the table [sweep.baseline] of one extra run's settings.
constexpr const char* kBaselineKey = "baseline";

}  // namespace guidance::sweep_layout
