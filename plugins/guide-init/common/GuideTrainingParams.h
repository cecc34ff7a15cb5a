#pragma once

#include <vector>

#include "guidance/api/GuideInit.h"
#include "guidance/api/Params.h"

namespace guidance::guide_init {

/// The parameters of strategies that train the guide first (`trained`, `shuffled`): the guide's
/// own unguided training on the run's task.
inline std::vector<ParamSpec> training_params() {
  return {
      ParamSpec::string("optimizer", to_string(GuideTraining{}.optimizer),
                        "optimiser for the guide's own training")
          .one_of({kOptimizerNames.begin(), kOptimizerNames.end()}),
      ParamSpec::real("learning_rate", 1e-3, "learning rate of the guide's training").at_least(0),
      ParamSpec::real("weight_decay", 0.0, "weight decay of the guide's training").at_least(0),
      ParamSpec::integer("batch_size", 128, "examples per step of the guide's training").at_least(1),
      ParamSpec::integer("epochs", 2, "epochs of the guide's training").at_least(1),
      ParamSpec::integer("max_steps", 0, "step budget of the guide's training (0: epochs decide)")
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
