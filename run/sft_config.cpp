// An sft stage's configuration: see sft_config.h.
#include "run/sft_config.h"

#include <algorithm>
#include <utility>

#include "core/config.h"
#include "core/error.h"

namespace r1::run {

int64_t SftConfig::rows_per_step() const { return std::max<int64_t>(1, batch_tokens / seq_len); }

SftConfig SftConfig::read(ConfigReader& r) {
  SftConfig c;
  c.model = r.require_string("model");
  c.train_data = r.require_string("train");
  c.chat_template = r.get("template", c.chat_template);
  c.skip_bad_lines = r.get_choice("on_bad_line", "stop", {"stop", "skip"}) == "skip";
  c.seed = static_cast<uint64_t>(r.get("seed", static_cast<int64_t>(c.seed)));
  c.epochs = r.get("epochs", c.epochs);
  c.steps = r.get("steps", c.steps);
  c.seq_len = r.get("seq_len", c.seq_len);
  c.batch_tokens = r.get("batch_tokens", c.batch_tokens);
  c.micro_batch_tokens = r.get("micro_batch_tokens", c.micro_batch_tokens);
  OptimConfig d;
  d.lr = 1e-5;
  d.schedule = LrSchedule::kCosine;
  d.warmup_steps = 10;
  d.weight_decay = 0.0;
  {
    ConfigReader o = r.child("optim");
    c.optim = OptimConfig::read(o, d);
    o.finish();
  }
  c.device = read_device(r);
  c.device_key = r.key_path("device");
  c.compute_dtype = parse_compute_dtype(r.get_choice("compute_dtype", name(c.compute_dtype), {"auto", "fp32", "bf16"}),
                                        r.key_path("compute_dtype"));
  c.activation_checkpointing = r.get("activation_checkpointing", c.activation_checkpointing);
  c.lora = StageLora::read(r);
  {
    ConfigReader k = r.child("checkpoint");
    c.save_every = k.get("every", c.save_every);
    c.keep_last = static_cast<int>(k.get("keep_last", static_cast<int64_t>(c.keep_last)));
    k.finish();
  }
  if (c.epochs < 1) throw ConfigError(r.key_path("epochs") + ": must be >= 1");
  if (c.steps < 0) throw ConfigError(r.key_path("steps") + ": must be >= 0 (0: from epochs)");
  if (c.seq_len < 8) throw ConfigError(r.key_path("seq_len") + ": must be >= 8");
  for (auto [key, v] : {std::pair{"batch_tokens", c.batch_tokens}, {"micro_batch_tokens", c.micro_batch_tokens}})
    if (v < 1) throw ConfigError(r.key_path(key) + ": must be >= 1");
  if (c.save_every < 0 || c.keep_last < 0) throw ConfigError(r.key_path("checkpoint") + ": every and keep_last must be >= 0");
  return c;
}

}  // namespace r1::run
