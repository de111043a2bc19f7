// A pretrain-synthetic stage's configuration: see pretrain_config.h.
#include "run/pretrain_config.h"

#include <algorithm>
#include <utility>

#include "core/config.h"
#include "core/error.h"

namespace r1::run {

PretrainConfig PretrainConfig::read(ConfigReader& r) {
  PretrainConfig c;
  {
    ConfigReader t = r.child("task");
    c.task = tasks::read_arith_options(t);
    t.finish();
  }
  c.seed = static_cast<uint64_t>(r.get("seed", static_cast<int64_t>(c.seed)));
  c.task.seed = c.seed;
  c.documents = r.get("documents", c.documents);
  c.train_problems = r.get("train_problems", c.train_problems);
  c.heldout_problems = r.get("heldout_problems", c.heldout_problems);
  c.heldout_seed = static_cast<uint64_t>(r.get("heldout_seed", static_cast<int64_t>(c.heldout_seed)));
  c.vocab_size = r.get("vocab_size", c.vocab_size);
  c.cold_start_examples = r.get("cold_start_examples", c.cold_start_examples);
  c.chat_examples = r.get("chat_examples", c.chat_examples);
  if (c.cold_start_examples < 0 || c.chat_examples < 0)
    throw ConfigError(r.key_path(c.cold_start_examples < 0 ? "cold_start_examples" : "chat_examples") + ": must be >= 0");
  {
    ConfigReader m = r.child("model");
    c.hidden_size = m.get("hidden_size", c.hidden_size);
    c.intermediate_size = m.get("intermediate_size", c.intermediate_size);
    c.layers = m.get("layers", c.layers);
    c.heads = m.get("heads", c.heads);
    c.kv_heads = m.get("kv_heads", c.kv_heads);
    c.context = m.get("context", c.context);
    m.finish();
    if (c.hidden_size % c.heads != 0 || c.heads % c.kv_heads != 0)
      throw ConfigError(m.path() + ": hidden_size must divide by heads, and heads by kv_heads");
  }
  c.device = read_device(r);
  c.device_key = r.key_path("device");
  {
    ConfigReader t = r.child("train");
    c.steps = t.get("steps", c.steps);
    c.seq_len = t.get("seq_len", c.seq_len);
    c.batch_rows = t.get("batch_rows", c.batch_rows);
    c.compute_dtype = parse_compute_dtype(t.get_choice("compute_dtype", name(c.compute_dtype), {"auto", "fp32", "bf16"}),
                                          t.key_path("compute_dtype"));
    c.activation_checkpointing = t.get("activation_checkpointing", c.activation_checkpointing);
    OptimConfig d;
    d.lr = 3e-3;
    d.schedule = LrSchedule::kCosine;
    d.warmup_steps = 20;
    d.weight_decay = 0.1;
    ConfigReader o = t.child("optim");
    c.optim = OptimConfig::read(o, d);
    o.finish();
    t.finish();
  }
  for (auto [key, v] : {std::pair{"documents", c.documents}, {"train_problems", c.train_problems},
                        {"heldout_problems", c.heldout_problems}})
    if (v < 1) throw ConfigError(r.key_path(key) + ": must be >= 1");
  return c;
}

namespace {
constexpr int kColdStartFormat = 2;  // 1: with "Check:" and "Summary:" sentences; 2: the worked solution
}  // namespace

nlohmann::json PretrainConfig::identity() const {
  nlohmann::json id = {{"version", 1},
          {"task", {{"ops", task.ops}, {"min_digits", task.min_digits}, {"max_digits", task.max_digits},
                    {"mix", {task.template_worked, task.template_direct, task.template_tag_misuse, task.qa_direct, task.qa_worked, task.facts}},
                    {"facts_per_document", task.facts_per_document},
                    {"direct_error_rate", task.direct_error_rate}, {"second_language", task.second_language}}},
          {"documents", documents}, {"train_problems", train_problems}, {"heldout_problems", heldout_problems},
          {"heldout_seed", heldout_seed}, {"vocab_size", vocab_size},
          {"model", {hidden_size, intermediate_size, layers, heads, kv_heads, context}},
          {"train", {steps, seq_len, batch_rows, optim.lr, name(optim.schedule), optim.warmup_steps, optim.weight_decay,
                     optim.min_lr_ratio, optim.max_grad_norm}},
          {"seed", seed}};
  // Keys added later join only when used, so existing caches keep their hashes.
  if (task.mix_steps) id["task"]["language_mixing"] = "step";
  if (std::find(task.ops.begin(), task.ops.end(), "mulm") != task.ops.end())
    id["task"]["mulm"] = {task.mulm_min_digits, task.mulm_max_digits, task.mulm_b_digits, task.mulm_worked};
  if (task.template_tool > 0) id["task"]["tool"] = {task.template_tool, task.tool_error_rate};
  if (!task.op_weights.empty()) id["task"]["op_weights"] = task.op_weights;
  if (task.template_brief > 0 || task.direct_error_per_step > 0 || task.self_correct > 0)
    id["task"]["steps"] = {task.template_brief, task.direct_error_per_step, task.self_correct};
  // The cold-start rows' shape has a version of its own: a cached base with rows of an older shape is
  // made again, not reused.
  if (cold_start_examples > 0) id["cold_start_examples"] = {cold_start_examples, kColdStartFormat};
  if (chat_examples > 0) id["chat_examples"] = chat_examples;
  return id;
}

}  // namespace r1::run
