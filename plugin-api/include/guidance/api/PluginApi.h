#pragma once

/// Umbrella header: everything a plugin needs.
#include "guidance/api/Dataset.h"
#include "guidance/api/Export.h"
#include "guidance/api/GuideInit.h"
#include "guidance/api/Metric.h"
#include "guidance/api/Network.h"
#include "guidance/api/Params.h"
#include "guidance/api/Plugin.h"
#include "guidance/api/Task.h"
