#pragma once

#include <vector>

#include "guidance/api/GuideInit.h"
#include "guidance/api/Params.h"

namespace guidance::guide_init {

/// The parameters of strategies that train the guide first (`trained`, `shuffled`): the guide's
/// own unguided training on the run's task.
inline std::vector<ParamSpec> training_params() {
  const GuideTraining defaults;
  // The guide's own training shares GuideTraining's defaults except its length: two epochs.
  const int64_t epochs = 2;
  return {
      ParamSpec::string("optimizer", to_string(defaults.optimizer),
                        "optimiser for the guide's own training")
          .one_of({kOptimizerNames.begin(), kOptimizerNames.end()}),
      ParamSpec::real("learning_rate", defaults.learning_rate,
                      "learning rate of the guide's training")
          .at_least(0),
      ParamSpec::real("weight_decay", defaults.weight_decay, "weight decay of the guide's training")
          .at_least(0),
      ParamSpec::integer("batch_size", defaults.batch_size,
                         "examples per step of the guide's training")
          .at_least(1),
      ParamSpec::integer("epochs", epochs, "epochs of the guide's training").at_least(1),
      ParamSpec::integer("max_steps", defaults.max_steps,
                         "step budget of the guide's training (0: epochs decide)")
          .at_least(0),
  };
}

/// @return the training settings held by validated `training_params()` values.
inline GuideTraining training_from(const Params& params) {
  GuideTraining training;
  // The schema's choices are the optimiser names, so a validated value always names one.
  training.optimizer = *optimizer_named(params.string("optimizer"));
  training.learning_rate = params.real("learning_rate");
  training.weight_decay = params.real("weight_decay");
  training.batch_size = params.integer("batch_size");
  training.epochs = params.integer("epochs");
  training.max_steps = params.integer("max_steps");
  return training;
}

}  // namespace guidance::guide_init
