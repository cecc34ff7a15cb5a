#include "guidance/api/PluginApi.h"
GUIDANCE_PLUGIN_LIBRARY(registry) {}
