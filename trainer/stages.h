// The recipe stages' table (run/stage.h): for each kind, its read function (run/, no LibTorch) and its
// run function (here: the training loops are LibTorch). The planner (run/recipe_plan.h) takes this
// table; trainer/recipe.h runs what it plans through it.
#pragma once

#include <vector>

#include "run/stage.h"

namespace r1::trainer {

// pretrain-synthetic, sft, grpo, rejection-sample, distill, eval: the order errors list them in.
const std::vector<run::StageKind>& stage_kinds();

}  // namespace r1::trainer
