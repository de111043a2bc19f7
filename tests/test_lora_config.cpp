// LoRA adapters' configuration without LibTorch (checkpoint/lora_config.h): PEFT's adapter_config.json
// read and written against fixtures written from PEFT's format (tests/data/peft: what PEFT 0.14 and
// 0.19 save), the modules targeted and PEFT's tensor names, and every option r1 does not implement
// refused by its key.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "checkpoint/config.h"
#include "checkpoint/lora_config.h"
#include "core/config.h"
#include "core/error.h"

using namespace r1::checkpoint;
using nlohmann::json;

namespace {

const std::string kData = std::string(R1_SOURCE_DIR) + "/tests/data/peft/";

std::string text_of(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The fixture with `key` set to `value`, parsed: the error's text, or "" when accepted.
std::string parse_with(const std::string& key, const json& value) {
  json j = json::parse(text_of(kData + "adapter_config.json"));
  j[key] = value;
  try {
    parse_peft_config(j.dump(), "adapter_config.json");
  } catch (const r1::ConfigError& e) {
    return e.what();
  }
  return "";
}

ModelConfig tiny_qwen2() { return preset_config("qwen2", "tiny", 97); }

}  // namespace

TEST_CASE("lora config: PEFT's adapter_config.json is read", "[lora]") {
  LoraOptions o = read_peft_config(kData + "adapter_config.json");
  CHECK(o.r == 8);
  CHECK(o.lora_alpha == 16);
  CHECK(o.lora_dropout == Approx(0.05));
  CHECK(o.target_modules == std::vector<std::string>{"v_proj", "q_proj"});
  CHECK(o.target_regex.empty());
  CHECK_FALSE(o.use_rslora);
  CHECK(o.init_lora_weights == "true");
  CHECK(o.base_model_name_or_path == "Qwen/Qwen2.5-0.5B");
  CHECK(o.scale() == Approx(2.0));

  // The newest PEFT's keys (peft_version, qalora_group_size, ...), a regex target and rsLoRA.
  LoraOptions n = read_peft_config(kData + "adapter_config_peft_0.19.json");
  CHECK(n.r == 16);
  CHECK(n.use_rslora);
  CHECK(n.scale() == Approx(32.0 / 4.0));
  CHECK(n.init_lora_weights == "gaussian");
  CHECK(n.target_modules.empty());
  CHECK(lora_targets(preset_config("qwen3", "tiny", 97), n, "x").size() == 2 * 7);
}

TEST_CASE("lora config: the written adapter_config.json has PEFT's keys and values", "[lora]") {
  LoraOptions o;
  o.r = 16;
  o.lora_alpha = 32;
  o.lora_dropout = 0.1;
  o.target_modules = {"v_proj", "q_proj", "o_proj"};
  o.use_rslora = true;
  o.base_model_name_or_path = "/models/base";
  const json ours = json::parse(peft_config_json(o));
  const json peft = json::parse(text_of(kData + "adapter_config.json"));
  // Every key r1 writes is one PEFT writes, with a value of the same JSON type; the keys it leaves out
  // are off in PEFT's file, which is what PEFT assumes when they are absent.
  for (const auto& [k, v] : ours.items()) {
    INFO(k);
    REQUIRE(peft.contains(k));
    CHECK(std::string(peft[k].type_name()) == v.type_name());
  }
  for (const auto& [k, v] : peft.items()) {
    INFO(k);
    if (!ours.contains(k)) CHECK((v.is_null() || v == false));
  }
  for (const char* k : {"peft_type", "bias", "task_type", "fan_in_fan_out", "modules_to_save", "use_dora", "rank_pattern",
                        "alpha_pattern", "layers_to_transform", "init_lora_weights", "loftq_config", "inference_mode"}) {
    INFO(k);
    CHECK(ours[k] == peft[k]);
  }
  CHECK(ours["r"] == 16);
  CHECK(ours["r"].is_number_integer());
  CHECK(ours["lora_alpha"] == 32);
  CHECK(ours["lora_dropout"] == 0.1);
  CHECK(ours["use_rslora"] == true);
  CHECK(ours["target_modules"] == json({"o_proj", "q_proj", "v_proj"}));
  CHECK(ours["base_model_name_or_path"] == "/models/base");
  // And it reads back as it was.
  LoraOptions back = parse_peft_config(ours.dump(), "ours");
  CHECK(back.r == 16);
  CHECK(back.lora_alpha == 32);
  CHECK(back.use_rslora);
  CHECK(back.target_modules == std::vector<std::string>{"o_proj", "q_proj", "v_proj"});
  // "all-linear" is written as the modules it names, as PEFT does.
  LoraOptions all;
  all.target_modules.assign(std::begin(kLoraModules), std::end(kLoraModules));
  CHECK(json::parse(peft_config_json(all))["target_modules"].size() == 7);
}

TEST_CASE("lora config: targets carry PEFT's tensor names and shapes", "[lora]") {
  const json want = json::parse(text_of(kData + "tiny_qwen2_tensors.json"));
  LoraOptions o = read_peft_config(kData + "adapter_config.json");
  json got = json::object();
  for (const LoraTarget& t : lora_targets(tiny_qwen2(), o, "x")) {
    got[t.a_name] = {o.r, t.in};
    got[t.b_name] = {t.out, o.r};
    CHECK(t.weight == t.module + ".weight");
  }
  json expected = want;
  expected.erase("_comment");
  CHECK(got == expected);

  // Suffixes, full names and "all-linear".
  LoraOptions s;
  s.target_modules = {"mlp.down_proj", "model.layers.1.self_attn.o_proj"};
  auto t = lora_targets(tiny_qwen2(), s, "x");
  REQUIRE(t.size() == 3);
  CHECK(t[0].module == "model.layers.0.mlp.down_proj");
  CHECK(t[0].in == 128);
  CHECK(t[0].out == 64);
  CHECK(t[1].module == "model.layers.1.self_attn.o_proj");
  CHECK(t[2].module == "model.layers.1.mlp.down_proj");
  const json block = {{"r", 4}, {"target_modules", "all-linear"}};
  r1::ConfigReader r(block, "grpo.lora");
  LoraOptions a = read_lora_options(r);
  auto at = lora_targets(tiny_qwen2(), a, "x");
  CHECK(at.size() == 14);
  CHECK(lora_target_names(at) ==
        std::vector<std::string>{"down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"});
}

TEST_CASE("lora config: an r 16 all-linear adapter of Qwen2.5-0.5B holds 8.8M parameters", "[lora]") {
  LoraOptions o;
  o.r = 16;
  o.target_modules.assign(std::begin(kLoraModules), std::end(kLoraModules));
  const ModelConfig c = preset_config("qwen2", "qwen2.5-0.5b", 151936);
  int64_t n = 0;
  for (const LoraTarget& t : lora_targets(c, o, "x")) n += o.r * (t.in + t.out);
  CHECK(n == 8798208);  // docs/model.md: 1.8% of the model's 494,032,768
  CHECK(c.parameter_count() == 494032768);
}

TEST_CASE("lora config: options r1 does not implement are refused naming the key", "[lora]") {
  CHECK(parse_with("lora_dropout", 0.0) == "");
  CHECK(parse_with("init_lora_weights", false) == "");
  CHECK_THAT(parse_with("use_dora", true), Catch::Contains("use_dora"));
  CHECK_THAT(parse_with("bias", "all"), Catch::Contains("bias") && Catch::Contains("\"none\""));
  CHECK_THAT(parse_with("modules_to_save", json{"lm_head"}), Catch::Contains("modules_to_save"));
  CHECK_THAT(parse_with("layers_to_transform", json{0}), Catch::Contains("layers_to_transform"));
  CHECK_THAT(parse_with("rank_pattern", json{{"q_proj", 4}}), Catch::Contains("rank_pattern"));
  CHECK_THAT(parse_with("alpha_pattern", json{{"q_proj", 4}}), Catch::Contains("alpha_pattern"));
  CHECK_THAT(parse_with("init_lora_weights", "pissa"), Catch::Contains("init_lora_weights"));
  CHECK_THAT(parse_with("init_lora_weights", "olora"), Catch::Contains("init_lora_weights"));
  CHECK_THAT(parse_with("fan_in_fan_out", true), Catch::Contains("fan_in_fan_out"));
  CHECK_THAT(parse_with("lora_bias", true), Catch::Contains("lora_bias"));
  CHECK_THAT(parse_with("layer_replication", json{{0, 2}}), Catch::Contains("layer_replication"));
  CHECK_THAT(parse_with("loftq_config", json{{"loftq_bits", 4}}), Catch::Contains("loftq_config"));
  CHECK_THAT(parse_with("task_type", "SEQ_CLS"), Catch::Contains("task_type"));
  CHECK_THAT(parse_with("peft_type", "IA3"), Catch::Contains("peft_type"));
  CHECK_THAT(parse_with("some_future_option", true), Catch::Contains("some_future_option"));
  CHECK(parse_with("some_future_option", nullptr) == "");
  // Out of range.
  CHECK_THAT(parse_with("r", 0), Catch::Contains("r: the rank must be a positive integer"));
  CHECK_THAT(parse_with("r", -4), Catch::Contains("r: "));
  CHECK_THAT(parse_with("r", 2.5), Catch::Contains("r: expected an integer"));
  CHECK_THAT(parse_with("lora_alpha", 0), Catch::Contains("lora_alpha"));
  CHECK_THAT(parse_with("lora_alpha", -1), Catch::Contains("lora_alpha"));
  CHECK_THAT(parse_with("lora_dropout", 1.0), Catch::Contains("lora_dropout: must be in [0, 1)"));
  CHECK_THAT(parse_with("lora_dropout", -0.1), Catch::Contains("lora_dropout"));
  CHECK_THAT(parse_with("target_modules", json::array()), Catch::Contains("target_modules"));
  CHECK_THROWS_WITH(parse_peft_config("{\"r\": 8", "broken.json"), Catch::Contains("broken.json"));
  CHECK_THROWS_WITH(read_peft_config("/nonexistent/adapter_config.json"), Catch::Contains("/nonexistent/adapter_config.json"));
  // r1's own block: its key path.
  const json zero = {{"r", 0}}, unknown = {{"rank", 8}};
  r1::ConfigReader r(zero, "grpo.lora");
  CHECK_THROWS_WITH(read_lora_options(r), Catch::Contains("grpo.lora: r:"));
  r1::ConfigReader u(unknown, "grpo.lora");
  CHECK_THROWS_WITH(read_lora_options(u), Catch::Contains("grpo.lora.rank"));
}

TEST_CASE("lora config: a target the architecture lacks is refused naming it", "[lora]") {
  LoraOptions o;
  o.target_modules = {"q_proj", "c_attn"};
  CHECK_THROWS_WITH(lora_targets(tiny_qwen2(), o, "adapter_config.json"),
                    Catch::Contains("adapter_config.json: target_modules: 'c_attn'") &&
                        Catch::Contains("Qwen2ForCausalLM"));
  o.target_modules = {"lm_head"};
  CHECK_THROWS_WITH(lora_targets(tiny_qwen2(), o, "x"), Catch::Contains("'lm_head'"));
  o.target_modules = {"model.layers.5.self_attn.q_proj"};  // the tiny model has 2 layers
  CHECK_THROWS_WITH(lora_targets(tiny_qwen2(), o, "x"), Catch::Contains("model.layers.5.self_attn.q_proj"));
  o.target_modules = {"input_layernorm"};
  CHECK_THROWS_WITH(lora_targets(tiny_qwen2(), o, "x"), Catch::Contains("input_layernorm"));
  o.target_modules.clear();
  o.target_regex = ".*\\.qkv_proj";
  CHECK_THROWS_WITH(lora_targets(tiny_qwen2(), o, "x"), Catch::Contains("matches no module"));
  o.target_regex = ".*";
  CHECK_THROWS_WITH(lora_targets(tiny_qwen2(), o, "x"), Catch::Contains("lm_head"));
  o.target_regex = "(";
  CHECK_THROWS_WITH(lora_targets(tiny_qwen2(), o, "x"), Catch::Contains("not a valid regular expression"));
}
