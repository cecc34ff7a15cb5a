#pragma once

#include <string>
#include <utility>
#include <vector>

#include "guidance/api/ParamTable.h"
#include "guidance/api/Training.h"

namespace guidance::guide_init {

/// @return the defaults of a guide's own training: GuideTraining's, except its length: two
/// epochs.
inline GuideTraining guide_training_defaults() {
  GuideTraining defaults;
  defaults.epochs = 2;
  return defaults;
}

/// @return the parameters of strategies that train the guide first (`trained`, `shuffled`): the
/// guide's own unguided training on the run's task, bound to GuideTraining, with
/// guide_training_defaults() (a table adding them with ParamTable::add_all must default its
/// member to those too).
inline const ParamTable<GuideTraining>& training_params() {
  static const ParamTable<GuideTraining> table = [] {
    std::vector<std::pair<std::string, Optimizer>> optimizers;
    for (size_t i = 0; i < kOptimizerNames.size(); ++i) {
      optimizers.emplace_back(kOptimizerNames[i], static_cast<Optimizer>(i));
    }
    return ParamTable<GuideTraining>(guide_training_defaults())
        .add_choice("optimizer", &GuideTraining::optimizer,
                    "optimiser for the guide's own training", std::move(optimizers))
        .add("learning_rate", &GuideTraining::learning_rate,
             "learning rate of the guide's training")
        .at_least(0)
        .add("weight_decay", &GuideTraining::weight_decay, "weight decay of the guide's training")
        .at_least(0)
        .add("batch_size", &GuideTraining::batch_size, "examples per step of the guide's training")
        .at_least(1)
        .add("epochs", &GuideTraining::epochs, "epochs of the guide's training")
        .at_least(1)
        .add("max_steps", &GuideTraining::max_steps,
             "step budget of the guide's training (0: epochs decide)")
        .at_least(0)
        .add("grad_clip", &GuideTraining::grad_clip,
             "maximum global gradient norm in the guide's training; 0 = off")
        .at_least(0);
  }();
  return table;
}

}  // namespace guidance::guide_init
