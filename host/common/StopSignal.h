#pragma once

namespace guidance {

/// @return true once SIGINT or SIGTERM was received after install_stop_handlers() (runs stop
/// after the current step, saving a checkpoint).
bool stop_requested();

/// Installs SIGINT/SIGTERM handlers that request a stop instead of killing the process.
void install_stop_handlers();

}  // namespace guidance
