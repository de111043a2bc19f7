// LoRA in training runs, end to end as users run them: `r1 run` with a grpo stage's `lora` block on a
// tiny random Qwen2 checkpoint. Only the adapter trains, against the base with the adapter off as the
// reference; checkpoints and outputs are PEFT's files; a resumed run continues exactly; bad blocks get
// one line naming the key.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint/safetensors.h"
#include "tests/grpo_run_helpers.h"

namespace fs = std::filesystem;

namespace {

using r1::test::rows;
using r1::test::run_recipe;
using r1::test::slurp;

struct Setup : r1::test::Setup {
  explicit Setup(const std::string& name) : r1::test::Setup(name, "r1-lora-run-") {}
};

// fp32 rollouts and products (sampling reproducible from the seeds), a reward that varies within a
// group (a learning signal from a random model), a LoRA r 4 on every linear module, β > 0, strictly
// on-policy.
std::vector<std::string> lora_edits(std::vector<std::string> more = {}) {
  std::vector<std::string> e = {"zero.rollout.precision=fp32",
                                "zero.compute_dtype=fp32",
                                "zero.sampling.max_new_tokens=16",
                                R"(zero.rewards=[{"kind": "language", "name": "accuracy"}])",
                                R"(zero.lora={"r": 4, "lora_alpha": 8, "target_modules": "all-linear"})",
                                "zero.kl.beta=0.01",
                                "zero.kl.reference_reset_every=0",
                                "zero.optim.lr=0.01",
                                "zero.rollout.max_staleness=0"};  // each step samples the latest policy: resumes compare exactly
  e.insert(e.end(), more.begin(), more.end());
  return e;
}

// A tensor's bytes in a checkpoint folder.
std::string tensor_bytes(const r1::checkpoint::Checkpoint& c, const std::string& name) {
  auto [file, info] = c.at(name);
  const uint8_t* p = file->data(*info);
  return std::string(reinterpret_cast<const char*>(p), info->bytes());
}

// The same 4-step LoRA run twice, uninterrupted ("straight") and stopped after step 2's checkpoint then
// resumed ("broken"), with `more` edits; both metrics.jsonl, whose steps 3 and 4 must then agree.
struct ResumePair {
  std::vector<nlohmann::json> straight, broken;
};
ResumePair run_and_resume(const Setup& s, const std::vector<std::string>& more) {
  auto with = [&](const std::string& steps) {
    std::vector<std::string> e = {steps, "zero.checkpoint.every=2", "zero.checkpoint.keep_last=5"};
    e.insert(e.end(), more.begin(), more.end());
    return lora_edits(e);
  };
  REQUIRE(run_recipe(s, "straight", with("zero.steps=4")) == 0);
  REQUIRE(run_recipe(s, "broken", with("zero.steps=2")) == 0);
  std::string err;
  const int code = run_recipe(s, "broken", with("zero.steps=4"), &err, "--resume");
  INFO(err);
  REQUIRE(code == 0);
  ResumePair p{rows(s.dir / "runs/straight/zero/metrics.jsonl"), rows(s.dir / "runs/broken/zero/metrics.jsonl")};
  REQUIRE(p.straight.size() == 4);
  REQUIRE(p.broken.size() == 4);
  return p;
}

}  // namespace

TEST_CASE("r1 run with a lora block: only the adapter trains against the base as reference, in PEFT's files", "[lora-run]") {
  Setup s("colocated");
  std::string err;
  const int code = run_recipe(s, "a", lora_edits({"zero.rollout.colocate=true", "zero.steps=4", "zero.checkpoint.every=2"}), &err);
  INFO(err);
  REQUIRE(code == 0);
  CHECK(err.find("lora: r 4, alpha 8, dropout 0, 14 matrices") != std::string::npos);
  const std::string stage = s.dir / "runs/a/zero";
  const auto m = rows(stage + "/metrics.jsonl");
  REQUIRE(m.size() == 4);
  // B = 0 at the start: the policy is its reference exactly; then the adapter moves away from the base.
  CHECK(m[0]["kl"].get<double>() == 0.0);
  CHECK(m[3]["kl"].get<double>() > 0.0);
  // AdamW's state is the adapter's: 2 fp32 moments of 2 layers x 7 matrices x r 4 x (in + out).
  const auto adapter = nlohmann::json::parse(slurp(stage + "/adapter/adapter_config.json"));
  CHECK(adapter["peft_type"] == "LORA");
  CHECK(adapter["r"] == 4);
  CHECK(adapter["base_model_name_or_path"] == s.model);
  CHECK(m[0]["optimizer_state_mb"][0].get<double>() < 0.1);
  // Checkpoints: the adapter and the optimiser, no model and no reference copy.
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "optimizer.pt", "trainer_state.json"})
    CHECK(fs::exists(stage + "/checkpoints/step-000002/" + f));
  CHECK_FALSE(fs::exists(stage + "/checkpoints/step-000002/model.safetensors"));
  CHECK_FALSE(fs::exists(stage + "/checkpoints/step-000002/reference"));
  const auto summary = nlohmann::json::parse(slurp(stage + "/summary.json"));
  CHECK(summary["adapter"] == stage + "/adapter");
  CHECK(summary["model"] == stage + "/model");
  // model/ is the base with the adapter merged: frozen tensors as they were, adapted ones changed, and
  // exactly what `r1 model merge-lora` makes of the base and adapter/.
  const std::string merge = std::string(R1_BINARY) + " -q model merge-lora --base " + s.model + " --adapter " + stage +
                            "/adapter --out " + (s.dir / "merged");
  REQUIRE(std::system(merge.c_str()) == 0);
  const r1::checkpoint::Checkpoint base(s.model), out(stage + "/model"), merged(s.dir / "merged");
  for (const char* frozen : {"model.embed_tokens.weight", "model.norm.weight", "model.layers.1.post_attention_layernorm.weight"})
    CHECK(tensor_bytes(base, frozen) == tensor_bytes(out, frozen));
  for (const char* adapted : {"model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight"})
    CHECK(tensor_bytes(base, adapted) != tensor_bytes(out, adapted));
  REQUIRE(out.names() == merged.names());
  for (const std::string& name : out.names()) {
    INFO(name);
    CHECK(tensor_bytes(out, name) == tensor_bytes(merged, name));
  }
}

TEST_CASE("r1 run --resume with a lora block: the steps after the checkpoint give the uninterrupted run's", "[lora-run]") {
  Setup s("resume");
  const ResumePair p = run_and_resume(s, {"zero.rollout.colocate=true"});
  const auto& a = p.straight;
  const auto& b = p.broken;
  for (size_t i = 0; i < 4; ++i) {
    INFO("step " << i + 1);
    CHECK(b[i]["reward"]["mean"].get<double>() == Approx(a[i]["reward"]["mean"].get<double>()).margin(1e-9));
    CHECK(b[i]["response_length"]["mean"].get<double>() == a[i]["response_length"]["mean"].get<double>());
    CHECK(b[i]["loss"].get<double>() == Approx(a[i]["loss"].get<double>()).margin(1e-6));
    CHECK(b[i]["kl"].get<double>() == Approx(a[i]["kl"].get<double>()).margin(1e-7));
  }
  CHECK(b[3]["kl"].get<double>() > 0);
}

TEST_CASE("r1 run with a lora block through FP8 workers: only the adapter travels, and the workers apply it", "[lora-run]") {
  Setup s("workers");
  std::string err;
  // The adapter applied unmerged here (the resumed run below merges it, the default).
  const int code = run_recipe(s, "fp8", lora_edits({"zero.rollout.precision=fp8", "zero.rollout.workers=2", "zero.steps=3",
                                                    "zero.rollout.lora_apply=unmerged",
                                                    R"(zero.lora={"r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj"]})"}),
                              &err);
  INFO(err);
  REQUIRE(code == 0);
  const std::string stage = s.dir / "runs/fp8/zero";
  const auto m = rows(stage + "/metrics.jsonl");
  REQUIRE(m.size() == 3);
  // Each push is the adapter's A and B in bf16, to each of the 2 workers: 2 bytes a parameter.
  const r1::checkpoint::SafetensorsFile adapter(stage + "/adapter/adapter_model.safetensors");
  uint64_t params = 0;
  for (const auto& t : adapter.header().tensors) params += t.numel();
  uint64_t model_params = 0;
  const r1::checkpoint::Checkpoint base(s.model);
  for (const std::string& name : base.names()) model_params += base.at(name).second->numel();
  for (const auto& row : m) {
    INFO(row["weight_sync"].dump());
    CHECK(row["weight_sync"]["what"] == "adapter");
    CHECK(row["weight_sync"]["full_bytes"].get<uint64_t>() == 2 * params);
    CHECK(row["weight_sync"]["bytes_sent"].get<uint64_t>() == 2 * 2 * params);
    CHECK(row["weight_sync"]["full_bytes"].get<uint64_t>() * 20 < 2 * model_params);  // >= 20x fewer than the model
  }
  CHECK(m[2]["kl"].get<double>() > 0);
}

TEST_CASE("r1 run --resume with a lora block through a worker: the worker starts from the checkpoint's adapter", "[lora-run]") {
  Setup s("worker-resume");
  // One fp32 worker: sampling is exactly reproducible, so the resumed run's samples after step 2 are
  // the uninterrupted run's only if its worker serves the base plus the checkpoint's adapter.
  const ResumePair p = run_and_resume(s, {"zero.rollout.workers=1"});
  const auto& a = p.straight;
  const auto& b = p.broken;
  for (size_t i = 2; i < 4; ++i) {
    INFO("step " << i + 1);
    CHECK(b[i]["reward"]["mean"].get<double>() == Approx(a[i]["reward"]["mean"].get<double>()).margin(1e-9));
    CHECK(b[i]["response_length"]["mean"].get<double>() == a[i]["response_length"]["mean"].get<double>());
    CHECK(b[i]["loss"].get<double>() == Approx(a[i]["loss"].get<double>()).margin(1e-5));
  }
  const auto ra = rows(s.dir / "runs/straight/zero/rollouts.jsonl"), rb = rows(s.dir / "runs/broken/zero/rollouts.jsonl");
  REQUIRE(ra.size() == rb.size());
  for (size_t i = 0; i < ra.size(); ++i) CHECK(rb[i]["completion"] == ra[i]["completion"]);
}

TEST_CASE("r1 run: a bad lora block is one line naming the key, before the stage starts", "[lora-run]") {
  Setup s("bad");
  struct Case {
    std::string edit, message;
  };
  const std::vector<Case> cases = {
      {R"(zero.lora={"r": 0})", "(zero).lora: r: the rank must be a positive integer, got 0"},
      {R"(zero.lora={"r": 4, "target_modules": ["q_proj", "w_proj"]})", "(zero).lora: target_modules: 'w_proj' is not a module"},
      {R"(zero.lora={"r": 4, "lora_alpah": 8})", "(zero).lora.lora_alpah: unknown key (did you mean 'lora_alpha'?)"},
      {R"(zero.lora={"adapter": "/nonexistent/adapter"})", "(zero).lora.adapter: /nonexistent/adapter/adapter_config.json: cannot open"},
      {"zero.rollout.lora_apply=fused", "(zero).rollout.lora_apply"},
  };
  for (const Case& c : cases) {
    INFO(c.edit);
    std::string err;
    CHECK(run_recipe(s, "bad", {c.edit, "zero.kl.reference_reset_every=0", "zero.rollout.colocate=true"}, &err) == 1);
    CHECK(err.find(c.message) != std::string::npos);
    CHECK(std::count(err.begin(), err.end(), '\n') <= 2);
    CHECK_FALSE(fs::exists(s.dir / "runs/bad/zero/metrics.jsonl"));
  }
  // The recipe's reference_reset_every (400) cannot reset a reference that is the base itself.
  std::string err;
  CHECK(run_recipe(s, "bad", {R"(zero.lora={"r": 4})", "zero.rollout.colocate=true"}, &err) == 1);
  CHECK(err.find("(zero).kl.reference_reset_every: not available with a lora block") != std::string::npos);
  // A PEFT adapter with an option r1 does not implement (DoRA) is refused by key.
  fs::create_directories(s.dir / "dora");
  r1::test::write(s.dir / "dora/adapter_config.json",
                  R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "use_dora": true})");
  r1::test::write(s.dir / "dora/adapter_model.safetensors", "");
  CHECK(run_recipe(s, "bad", {"zero.lora={\"adapter\": \"" + (s.dir / "dora") + "\"}", "zero.kl.reference_reset_every=0",
                              "zero.rollout.colocate=true"},
                   &err) == 1);
  CHECK(err.find("use_dora") != std::string::npos);
}
