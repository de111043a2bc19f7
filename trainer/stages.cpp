// The recipe stages' table: see stages.h.
#include "trainer/stages.h"

#include <filesystem>

#include "checkpoint/config.h"
#include "core/error.h"
#include "core/text.h"
#include "trainer/grpo_trainer.h"
#include "trainer/pretrain.h"
#include "trainer/sft.h"

namespace fs = std::filesystem;

namespace r1::trainer {

namespace {

// A distill stage's student must be a smaller model than its teacher: records both in distill.json.
// Only `write` (rank 0 of a job) writes the file; every rank checks, so each fails alike.
void check_distillation(const std::string& teacher, const std::string& student, const std::string& dir, bool write) {
  const auto t = checkpoint::read_model_config((fs::path(teacher) / "config.json").string());
  const auto s = checkpoint::read_model_config((fs::path(student) / "config.json").string());
  if (s.parameter_count() >= t.parameter_count())
    throw ConfigError("distill: the student " + student + " (" + std::to_string(s.parameter_count()) +
                      " parameters) is not smaller than the teacher " + teacher + " (" +
                      std::to_string(t.parameter_count()) + ")");
  if (!write) return;
  write_file_atomic((fs::path(dir) / "distill.json").string(),
                    nlohmann::json{{"teacher", teacher}, {"student", student}, {"teacher_parameters", t.parameter_count()},
                                   {"student_parameters", s.parameter_count()}}.dump(2) + "\n");
}

void run_pretrain_stage(const run::StageContext& c) {
  run_pretrain(std::get<run::PretrainConfig>(c.config), c.dir, c.threads, c.group);
}

void run_sft_stage(const run::StageContext& c) {
  run_sft(std::get<run::SftConfig>(c.config), {c.dir, c.resume, c.threads, c.group});
}

void run_distill_stage(const run::StageContext& c) {
  const run::DistillConfig& d = std::get<run::DistillConfig>(c.config);
  check_distillation(d.teacher, d.sft.model, c.dir, !c.group || c.group->leader());
  run_sft(d.sft, {c.dir, c.resume, c.threads, c.group});
}

void run_grpo_stage(const run::StageContext& c) {
  run_grpo(std::get<run::GrpoConfig>(c.config), {c.dir, c.r1_binary, c.resume, c.threads, c.reward_services, c.group});
}

// An interrupted rejection-sample or eval stage starts again from the beginning: it has no checkpoints.
void run_rejection_sample_stage(const run::StageContext& c) {
  run::run_rejection_sample(std::get<run::RejectionSampleConfig>(c.config), c.dir, c.r1_binary, c.reward_services);
}

void run_eval_kind(const run::StageContext& c) {
  run::run_eval_stage(std::get<run::EvalStageConfig>(c.config), c.dir, c.r1_binary, c.reward_services);
}

}  // namespace

const std::vector<run::StageKind>& stage_kinds() {
  static const std::vector<run::StageKind> kinds = {
      {"pretrain-synthetic", run::read_pretrain_stage, run_pretrain_stage, "pretrain-", run::pretrain_identity,
       /*data_parallel=*/true},
      {"sft", run::read_sft_stage, run_sft_stage, "", nullptr, /*data_parallel=*/true},
      {"grpo", run::read_grpo_stage, run_grpo_stage, "", nullptr, /*data_parallel=*/true},
      {"rejection-sample", run::read_rejection_sample_stage, run_rejection_sample_stage, "", nullptr},
      {"distill", run::read_distill_stage, run_distill_stage, "", nullptr, /*data_parallel=*/true},
      {"eval", run::read_eval_stage, run_eval_kind, "", nullptr},
  };
  return kinds;
}

}  // namespace r1::trainer
