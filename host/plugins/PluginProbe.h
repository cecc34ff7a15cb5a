#pragma once

#include <optional>
#include <string>

namespace guidance {

/// Loads a plugin library in a child process first, so that one which crashes the dynamic loader
/// or its own code (a truncated or corrupted file, a foreign library) ends only that child.
///
/// The child is this executable started afresh (/proc/self/exe; no fork of a process whose
/// LibTorch may run threads) with GUIDANCE_PLUGIN_PROBE naming the library: before main() it
/// loads the library as PluginCatalog::load_library does (descriptor checks, registration, each
/// plugin's info) and exits 0. Every program that links the catalog can so serve as its own probe
/// (the CLI, the tests). A clean refusal (wrong ABI, no entry symbol) is not the probe's business:
/// the caller then loads the library itself and reports it as usual.
///
/// Outcomes that depend only on the file and the host are cached by the library's path, size,
/// modification time and inode, and the host's version, ABI and LibTorch, in
/// `$XDG_CACHE_HOME/guidance/plugin-probes.tsv` (else `~/.cache/guidance/...`), written
/// atomically; a cache that cannot be written only means probing again.
///
/// @return std::nullopt when the child's load ended normally; else the problem naming the path
/// and how the child ended ("probing it in a child process ended with SIGSEGV: ...").
std::optional<std::string> probe_plugin_library(const std::string& path);

/// @return the probe cache file (see probe_plugin_library), or "" when neither XDG_CACHE_HOME nor
/// HOME is set.
std::string plugin_probe_cache_path();

}  // namespace guidance
