// The read side of the recipe stages: see stage.h.
#include "run/stage.h"

#include "core/config.h"

namespace r1::run {

namespace {

// Builds the stage's reward set once and drops it: a misspelt reward or a bad option is refused while
// planning, not when the stage starts hours later.
void check_rewards(const nlohmann::json& rewards, const ConfigReader& r, const rewards::RewardServices& services) {
  rewards::RewardSet::from_json(rewards, r.key_path("rewards"), services);
}

}  // namespace

StageConfig read_pretrain_stage(ConfigReader& r, const rewards::RewardServices&) {
  PretrainConfig c = PretrainConfig::read(r);
  r.finish();
  return c;
}

StageConfig read_sft_stage(ConfigReader& r, const rewards::RewardServices&) {
  SftConfig c = SftConfig::read(r);
  r.finish();
  return c;
}

StageConfig read_distill_stage(ConfigReader& r, const rewards::RewardServices&) {
  DistillConfig c;
  c.teacher = r.require_string("teacher");
  c.sft = SftConfig::read(r);
  r.finish();
  return c;
}

StageConfig read_grpo_stage(ConfigReader& r, const rewards::RewardServices& services) {
  GrpoConfig c = GrpoConfig::read(r);
  r.finish();
  check_rewards(c.rewards, r, services);
  return c;
}

StageConfig read_rejection_sample_stage(ConfigReader& r, const rewards::RewardServices& services) {
  RejectionSampleConfig c = RejectionSampleConfig::read(r);
  r.finish();
  check_rewards(c.rewards, r, services);
  return c;
}

StageConfig read_eval_stage(ConfigReader& r, const rewards::RewardServices& services) {
  EvalStageConfig c = EvalStageConfig::read(r);
  r.finish();
  check_rewards(c.rewards, r, services);
  return c;
}

nlohmann::json pretrain_identity(const StageConfig& config) { return std::get<PretrainConfig>(config).identity(); }

}  // namespace r1::run
