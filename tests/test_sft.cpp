// Supervised fine-tuning (run/sft_data.h, trainer/sft.h): the loss mask covers exactly the
// assistant's tokens and their closing marker; packing keeps examples apart; malformed lines are named;
// training lowers the loss on what it is shown; a resumed run gives the losses the uninterrupted run gave.
// ATen first: c10 defines a glog-style CHECK that Catch's must replace, not the other way round.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/config.h"
#include "core/error.h"
#include "core/stop.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "model/lora.h"
#include "model/transformer.h"
#include "checkpoint/lora_config.h"
#include "trainer/recipe.h"
#include "trainer/sft.h"
#include "run/sampling.h"
#include "run/sft_data.h"

namespace fs = std::filesystem;
using namespace r1;
using namespace r1::trainer;

namespace {

struct Dir {
  fs::path path;
  explicit Dir(const std::string& name) : path(fs::temp_directory_path() / ("r1-sft-" + name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Dir() { fs::remove_all(path); }
  std::string operator/(const std::string& rel) const { return (path / rel).string(); }
};

// The text of the tokens a mask selects.
std::string selected(const Tokenizer& tok, const r1::run::SftExample& ex, bool trained) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < ex.ids.size(); ++i)
    if (static_cast<bool>(ex.train[i]) == trained) ids.push_back(ex.ids[i]);
  return tok.decode(ids, false, false);
}

std::vector<nlohmann::json> read_rows(const std::string& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// A tiny random Qwen2 model with r1's byte-level tokenizer (ChatML template).
std::string make_model(const Dir& d) {
  const std::string dir = d / "model";
  fs::create_directories(dir);
  write_byte_tokenizer(dir);
  r1::checkpoint::ModelConfig c = r1::checkpoint::preset_config("qwen2", "tiny", kByteTokenizerVocab);
  c.eos_token_ids = {256};
  model::Transformer m(c, at::kFloat);
  m.init_random(4);
  m.save(dir);
  return dir;
}

// A tiny model and 24 "echo N" -> "said N" rows, 2 rows a step of 1-row micro-batches (accumulation
// is exercised), lr 3e-3: the SFT run the tests below train.
r1::run::SftConfig echo_config(const Dir& d) {
  r1::run::SftConfig c;
  c.model = make_model(d);
  c.train_data = d / "train.jsonl";
  std::ofstream out(c.train_data);
  for (int i = 0; i < 24; ++i)
    out << nlohmann::json{{"prompt", "echo " + std::to_string(i % 6)}, {"completion", "said " + std::to_string(i % 6)}}.dump() << "\n";
  c.seq_len = 64;
  c.batch_tokens = 128;
  c.micro_batch_tokens = 64;
  c.optim.lr = 3e-3;
  return c;
}

}  // namespace

TEST_CASE("sft: only the assistant's tokens and its closing marker are trained on", "[sft]") {
  Dir d("mask");
  write_byte_tokenizer(d.path.string());
  const Tokenizer tok = Tokenizer::load(d.path.string());
  const ChatTemplate chatml = ChatTemplate::named("chatml", &tok);
  const std::vector<ChatMessage> conv = {{"system", "Be brief.", std::nullopt},
                                         {"user", "Hi", std::nullopt},
                                         {"assistant", "Hello!", std::nullopt},
                                         {"user", "2+2?", std::nullopt},
                                         {"assistant", "4", std::nullopt}};
  const r1::run::SftExample ex = r1::run::tokenize_conversation(conv, chatml, tok, "test");
  REQUIRE(ex.ids.size() == ex.train.size());
  CHECK(selected(tok, ex, true) == "Hello!<|im_end|>4<|im_end|>");
  // Everything, in order, is the template's rendering of the whole conversation.
  ChatOptions closed;
  closed.add_generation_prompt = false;
  CHECK(tok.decode(ex.ids, false, false) == chatml.render(conv, closed));
  CHECK(selected(tok, ex, false).find("<|im_start|>assistant\n") != std::string::npos);

  // R1-Zero's template closes the answer with text only: the end-of-text token is appended, trained. The
  // space the template writes after "Assistant:" is the first trained token, as the model generates it.
  const ChatTemplate zero = ChatTemplate::named("r1-zero", &tok);
  const r1::run::SftExample z = r1::run::tokenize_conversation({{"user", "1+1", std::nullopt}, {"assistant", "<think> 1+1=2 </think> <answer> 2 </answer>", std::nullopt}},
                                             zero, tok, "test");
  CHECK(selected(tok, z, true) == " <think> 1+1=2 </think> <answer> 2 </answer><|endoftext|>");
  CHECK(z.ids.back() == 256);

  // No assistant turn: refused by name.
  CHECK_THROWS_WITH(r1::run::tokenize_conversation({{"user", "hi", std::nullopt}}, chatml, tok, "data.jsonl:7"),
                    Catch::Contains("data.jsonl:7") && Catch::Contains("no assistant turn"));
  // Qwen3's template drops past turns' reasoning, so the rendering is not prefix-stable: refused.
  const ChatTemplate qwen3 = ChatTemplate::named("qwen3", &tok);
  CHECK_THROWS_WITH(r1::run::tokenize_conversation({{"user", "a", std::nullopt}, {"assistant", "<think>\nx\n</think>\n\ny", std::nullopt},
                                           {"user", "b", std::nullopt}, {"assistant", "z", std::nullopt}},
                                          qwen3, tok, "data.jsonl:2"),
                    Catch::Contains("prefix-stable") && Catch::Contains("data.jsonl:2"));
}

TEST_CASE("sft: packing restarts positions per example, never trains across them, and pads untrained", "[sft]") {
  r1::run::SftExample a{{10, 11, 12, 13}, {0, 0, 1, 1}}, b{{20, 21, 22}, {0, 1, 1}}, c{{30, 31, 32, 33, 34, 35, 36, 37, 38, 39}, {0, 1, 1, 1, 1, 1, 1, 1, 1, 1}};
  r1::run::PackStats st;
  const auto rows = r1::run::pack_examples({a, b, c}, {0, 1, 2}, 8, /*pad_id=*/0, &st);
  // seq_len 8 holds 9 ids: a + b (7) then padding; c (10) is cut to 9 in a row of its own.
  REQUIRE(rows.size() == 2);
  CHECK(st.rows == 2);
  CHECK(st.examples == 3);
  CHECK(st.cut == 1);
  CHECK(rows[0].ids == std::vector<int32_t>{10, 11, 12, 13, 20, 21, 22, 0, 0});
  CHECK(rows[0].positions == std::vector<int32_t>{0, 1, 2, 3, 0, 1, 2, 0});
  // Target t is ids[t + 1]: 12 and 13 (a), 21 and 22 (b); not 20 (b's first, across the boundary), no padding.
  CHECK(rows[0].train == std::vector<uint8_t>{0, 1, 1, 0, 1, 1, 0, 0});
  CHECK(rows[1].ids == std::vector<int32_t>{30, 31, 32, 33, 34, 35, 36, 37, 38});
  CHECK(rows[1].positions == std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(rows[1].trained() == 8);
  CHECK(st.trained_tokens == 4 + 8);
  CHECK(st.padding == 2);
  CHECK_THROWS(r1::run::pack_examples({a}, {0}, 1, 0));
}

TEST_CASE("sft: datasets name the bad line, or skip it when asked", "[sft]") {
  Dir d("data");
  write_byte_tokenizer(d.path.string());
  const Tokenizer tok = Tokenizer::load(d.path.string());
  const ChatTemplate chat = ChatTemplate::named("chatml", &tok);
  const std::string path = d / "train.jsonl";
  {
    std::ofstream out(path);
    out << R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})" << "\n";
    out << R"({"prompt": "2+2", "completion": "4"})" << "\n";
    out << R"({"prompt": "no completion"})" << "\n";
    out << "{not json\n";
    out << R"({"messages": [{"role": "user", "content": "only a question"}]})" << "\n";
  }
  CHECK_THROWS_WITH(r1::run::SftDataset::load(path, chat, tok, false), Catch::Contains("train.jsonl:3") && Catch::Contains("completion"));
  const r1::run::SftDataset ok = r1::run::SftDataset::load(path, chat, tok, true);
  CHECK(ok.examples.size() == 2);
  CHECK(ok.skipped == 3);
  CHECK(selected(tok, ok.examples[1], true) == "4<|im_end|>");
  CHECK_THROWS_WITH(r1::run::SftDataset::load(d / "missing.jsonl", chat, tok, false), Catch::Contains("missing.jsonl"));
}

TEST_CASE("sft: training lowers the loss, writes its run folder, and resumes exactly", "[sft]") {
  Dir d("run");
  r1::run::SftConfig c = echo_config(d);
  c.steps = 30;
  c.optim.warmup_steps = 2;
  c.save_every = 10;
  c.keep_last = 0;
  SftRun run;
  run.run_dir = d / "a";
  run.threads = 1;
  const SftResult r = run_sft(c, run);
  CHECK(r.steps == 30);
  const auto m = read_rows(d / "a/metrics.jsonl");
  REQUIRE(m.size() == 30);
  const double first = m[0]["loss"].get<double>(), last = m[29]["loss"].get<double>();
  INFO("loss " << first << " -> " << last);
  CHECK(first > 3.0);          // a random model over 259 tokens: ~ln 259 = 5.6
  CHECK(last < 0.5 * first);
  for (const auto& row : m) CHECK(row["trained_tokens"].get<int64_t>() > 0);
  for (const char* f : {"a/model/config.json", "a/model/model.safetensors", "a/model/tokenizer.json", "a/summary.json",
                        "a/checkpoints/step-000010/optimizer.pt", "a/checkpoints/step-000030/trainer_state.json"})
    CHECK(fs::exists(d / f));
  const auto summary = nlohmann::json::parse(std::ifstream(d / "a/summary.json"));
  CHECK(summary["steps"] == 30);
  CHECK(summary["examples"] == 24);

  // Interrupted after step 20: the resumed run redoes 21..30 with the same losses.
  fs::create_directories(d / "b");
  fs::copy(d / "a/checkpoints", d / "b/checkpoints", fs::copy_options::recursive);
  fs::remove_all(d / "b/checkpoints/step-000030");
  {
    std::ofstream out(d / "b/metrics.jsonl");
    for (size_t i = 0; i < 20; ++i) out << m[i].dump() << "\n";
  }
  SftRun again = run;
  again.run_dir = d / "b";
  again.resume = true;
  run_sft(c, again);
  const auto mb = read_rows(d / "b/metrics.jsonl");
  REQUIRE(mb.size() == 30);
  for (size_t i = 20; i < 30; ++i) {
    INFO("step " << i + 1);
    CHECK(mb[i]["loss"].get<double>() == Approx(m[i]["loss"].get<double>()).epsilon(1e-6));
  }
}

TEST_CASE("sft with a lora block: only the adapter trains, checkpoints hold PEFT's files, resume is exact", "[sft][lora]") {
  Dir d("lora");
  r1::run::SftConfig c = echo_config(d);
  c.steps = 24;
  c.save_every = 12;
  c.keep_last = 0;
  c.optim.lr = 1e-2;
  c.optim.warmup_steps = 0;
  c.lora.enabled = true;
  c.lora.options.r = 4;
  c.lora.options.lora_alpha = 8;
  c.lora.options.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  SftRun run;
  run.run_dir = d / "a";
  run.threads = 1;
  const SftResult r = run_sft(c, run);
  const auto m = read_rows(d / "a/metrics.jsonl");
  REQUIRE(m.size() == 24);
  INFO("loss " << m[0]["loss"] << " -> " << m[23]["loss"]);
  CHECK(m[23]["loss"].get<double>() < m[0]["loss"].get<double>() - 0.5);
  // A checkpoint is the adapter alone, as PEFT saves it, beside the optimiser's state.
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "optimizer.pt", "trainer_state.json"})
    CHECK(fs::exists(d / (std::string("a/checkpoints/step-000012/") + f)));
  CHECK_FALSE(fs::exists(d / "a/checkpoints/step-000012/model.safetensors"));
  // AdamW's moments for the adapter's parameters only: two fp32 copies of 2 layers x 7 matrices of A and B.
  const int64_t adapter_params = [&] {
    auto config = r1::checkpoint::read_model_config(c.model + "/config.json");
    int64_t n = 0;
    for (const auto& t : r1::checkpoint::lora_targets(config, c.lora.options, "lora")) n += 4 * (t.in + t.out);
    return n;
  }();
  CHECK(m[0]["optimizer_state_mb"][0].get<double>() * 1e6 == Approx(2.0 * 4 * adapter_params).epsilon(0.01));
  // The output: adapter/ (PEFT) and model/, the adapter merged into the base; the summary names both.
  CHECK(fs::exists(d / "a/adapter/adapter_model.safetensors"));
  const auto summary = nlohmann::json::parse(std::ifstream(d / "a/summary.json"));
  CHECK(summary["adapter"] == d / "a/adapter");
  model::Transformer base = model::Transformer::load(c.model, at::kFloat);
  model::Transformer out = model::Transformer::load(r.model_dir, at::kFloat);
  for (const char* frozen : {"model.embed_tokens.weight", "model.norm.weight", "model.layers.0.input_layernorm.weight"})
    CHECK(at::equal(base.weight(frozen), out.weight(frozen)));
  CHECK_FALSE(at::allclose(base.weight("model.layers.1.mlp.down_proj.weight"), out.weight("model.layers.1.mlp.down_proj.weight")));
  auto adapter = model::LoraAdapter::load(d / "a/adapter", base.config());
  CHECK(adapter->options().base_model_name_or_path == c.model);
  model::merge_lora(base, *adapter);
  for (const auto& [name, w] : base.weights()) CHECK(at::allclose(w, out.weight(name), 0, 1e-6));

  // Interrupted after step 12: the resumed run loads the base and the checkpoint's adapter and redoes
  // steps 13..24 with the same losses.
  fs::create_directories(d / "b");
  fs::copy(d / "a/checkpoints", d / "b/checkpoints", fs::copy_options::recursive);
  fs::remove_all(d / "b/checkpoints/step-000024");
  {
    std::ofstream o(d / "b/metrics.jsonl");
    for (size_t i = 0; i < 12; ++i) o << m[i].dump() << "\n";
  }
  SftRun again = run;
  again.run_dir = d / "b";
  again.resume = true;
  run_sft(c, again);
  const auto mb = read_rows(d / "b/metrics.jsonl");
  REQUIRE(mb.size() == 24);
  for (size_t i = 12; i < 24; ++i) {
    INFO("step " << i + 1);
    CHECK(mb[i]["loss"].get<double>() == Approx(m[i]["loss"].get<double>()).epsilon(1e-6));
  }

  // A later stage goes on from the adapter (lora.adapter): its options are the adapter's, and its first
  // loss is the trained adapter's, not a fresh one's.
  r1::run::SftConfig more = c;
  more.lora.options = {};
  more.lora.adapter = d / "a/adapter";
  more.steps = 1;
  SftRun third = run;
  third.run_dir = d / "c";
  run_sft(more, third);
  const auto mc = read_rows(d / "c/metrics.jsonl");
  REQUIRE(mc.size() == 1);
  CHECK(mc[0]["loss"].get<double>() < m[0]["loss"].get<double>() - 0.5);
  CHECK(r1::checkpoint::read_peft_config(d / "c/adapter/adapter_config.json").r == 4);
}

TEST_CASE("sft with lora.base_dtype bf16: a bf16 base trains the fp32 adapter, and model/ merges it into the fp32 base", "[sft][lora]") {
  Dir d("lora-bf16");
  r1::run::SftConfig c = echo_config(d);
  c.steps = 16;
  c.optim.lr = 1e-2;
  c.optim.warmup_steps = 0;
  c.lora.enabled = true;
  c.lora.base_bf16 = true;
  c.lora.options.r = 4;
  c.lora.options.lora_alpha = 8;
  c.lora.options.target_modules = {"q_proj", "v_proj", "down_proj"};
  SftRun run;
  run.run_dir = d / "a";
  run.threads = 1;
  const SftResult r = run_sft(c, run);
  const auto m = read_rows(d / "a/metrics.jsonl");
  REQUIRE(m.size() == 16);
  INFO("loss " << m[0]["loss"] << " -> " << m[15]["loss"]);
  CHECK(m[15]["loss"].get<double>() < m[0]["loss"].get<double>() - 0.3);
  model::Transformer base = model::Transformer::load(c.model, at::kFloat);
  model::Transformer out = model::Transformer::load(r.model_dir, at::kFloat);
  CHECK(r1::checkpoint::read_model_config(r.model_dir + "/config.json").torch_dtype == "float32");
  model::merge_lora(base, *model::LoraAdapter::load(d / "a/adapter", base.config()));
  for (const auto& [name, w] : base.weights()) CHECK(at::equal(w, out.weight(name)));
}

TEST_CASE("sft: lora blocks in recipes are checked, naming the key", "[sft][lora]") {
  auto error = [](nlohmann::json lora) {
    nlohmann::json stage = {{"model", "m"}, {"train", "t.jsonl"}, {"lora", lora}};
    ConfigReader r(stage, "recipe: stages[0] (sft)");
    try {
      r1::run::SftConfig::read(r);
      r.finish();
    } catch (const r1::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error({{"r", 0}}).find("stages[0] (sft).lora: r: the rank must be a positive integer, got 0") != std::string::npos);
  CHECK(error({{"r", 8}, {"lora_alpa", 16}}).find("lora_alpa: unknown key (did you mean 'lora_alpha'?)") != std::string::npos);
  CHECK(error({{"adapter", "x"}, {"r", 8}}).find("lora.r: set by the adapter's adapter_config.json") != std::string::npos);
  CHECK(error("yes").find("lora: expected an object") != std::string::npos);
  CHECK(error({{"lora_dropout", 1.5}}).find("lora_dropout: must be in [0, 1)") != std::string::npos);
  CHECK(error({{"r", 8}, {"target_modules", "all-linear"}}).empty());
  CHECK(error({{"adapter", "x"}, {"base_dtype", "bf16"}}).empty());
  CHECK(error({{"base_dtype", "fp8"}}).find("base_dtype") != std::string::npos);
  CHECK(error(nullptr).empty());
}

TEST_CASE("sft: SIGINT stops after the step in progress with its checkpoint, and the run resumes from it", "[sft]") {
  Dir d("stop");
  r1::run::SftConfig c = echo_config(d);
  c.steps = 400;  // far more than the signal lets it do
  c.save_every = 0;  // a checkpoint at the end only: the stop writes its own
  SftRun run;
  run.run_dir = d / "a";
  run.threads = 1;
  r1::install_stop_handlers();
  std::thread signaller([&] {  // Ctrl-C once a few steps are done
    for (int i = 0; i < 600 && !(fs::exists(d / "a/metrics.jsonl") && read_rows(d / "a/metrics.jsonl").size() >= 3); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::kill(::getpid(), SIGINT);
  });
  std::string message;
  int signal = 0;
  try {
    run_sft(c, run);
  } catch (const r1::Stopped& e) {
    message = e.what();
    signal = e.signal();
  }
  signaller.join();
  r1::clear_stop_request();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  const size_t done = read_rows(d / "a/metrics.jsonl").size();
  INFO(message);
  CHECK(signal == SIGINT);
  CHECK(done < 400);
  CHECK(message.find("stopped by SIGINT after step " + std::to_string(done) + " of 400") == 0);
  char step[64];
  std::snprintf(step, sizeof step, "a/checkpoints/step-%06zu/optimizer.pt", done);
  CHECK(fs::exists(d / step));
  // Resumed from that checkpoint, with a shorter total so the test ends: it goes on after `done`.
  c.steps = static_cast<int64_t>(done) + 2;
  run.resume = true;
  CHECK(run_sft(c, run).steps == c.steps);
  CHECK(read_rows(d / "a/metrics.jsonl").size() == done + 2);
}

TEST_CASE("sft: recipe keys are checked", "[sft]") {
  nlohmann::json stage = {{"model", "m"}, {"train", "t.jsonl"}, {"seq_len", 4}};
  ConfigReader r(stage, "recipe: stages[0] (sft)");
  CHECK_THROWS_WITH(r1::run::SftConfig::read(r), Catch::Contains("seq_len"));
  nlohmann::json typo = {{"model", "m"}, {"train", "t.jsonl"}, {"epoch", 2}};
  ConfigReader r2(typo, "recipe: stages[0] (sft)");
  CHECK_THROWS_WITH((r1::run::SftConfig::read(r2), r2.finish()), Catch::Contains("epochs"));
}

TEST_CASE("recipes: finished stages are skipped, changed ones run again, interrupted ones resume, --from reruns", "[sft][recipe]") {
  Dir d("recipe");
  const std::string model = make_model(d);
  const std::string data = d / "train.jsonl";
  {
    std::ofstream out(data);
    for (int i = 0; i < 8; ++i) out << nlohmann::json{{"prompt", "x" + std::to_string(i)}, {"completion", "y"}}.dump() << "\n";
  }
  const nlohmann::json stage = {{"kind", "sft"}, {"model", model}, {"train", data}, {"seq_len", 64}, {"batch_tokens", 128},
                                {"steps", 4}, {"optim", {{"lr", 1e-3}}}, {"checkpoint", {{"every", 2}, {"keep_last", 0}}}};
  nlohmann::json first = stage, second = stage;
  first["name"] = "first";
  second["name"] = "second";
  second["model"] = "@first/model";
  {
    std::ofstream out(d / "recipe.json");
    out << nlohmann::json{{"name", "two"}, {"stages", {first, second}}}.dump(2);
  }
  RecipeRun run;
  run.recipe = d / "recipe.json";
  run.runs_dir = d / "runs";
  run.threads = 1;
  auto state = [&](const std::string& s) { return nlohmann::json::parse(std::ifstream(d / ("runs/two/" + s + "/stage.json"))); };
  auto mtime = [&](const std::string& rel) { return fs::last_write_time(d / ("runs/two/" + rel)); };

  run_recipe(run);
  CHECK(state("first")["status"] == "done");
  CHECK(state("second")["status"] == "done");
  const std::string hash2 = state("second")["hash"];
  const auto t1 = mtime("first/model/model.safetensors"), t2 = mtime("second/model/model.safetensors");

  // Unchanged: nothing runs.
  run_recipe(run);
  CHECK(mtime("first/model/model.safetensors") == t1);
  CHECK(mtime("second/model/model.safetensors") == t2);

  // A changed first stage runs again, and so does the stage that reads it; the old results are kept aside.
  RecipeRun edited = run;
  edited.overrides = {"first.optim.lr=0.002"};
  run_recipe(edited);
  CHECK(fs::exists(d / "runs/two/first.replaced-1/model/model.safetensors"));
  CHECK(fs::exists(d / "runs/two/second.replaced-1/model/model.safetensors"));
  CHECK(state("second")["hash"] != hash2);
  CHECK(state("second")["status"] == "done");

  // Interrupted after step 2 of the second stage: it resumes; the first is not touched.
  fs::remove_all(d / "runs/two/second/checkpoints/step-000004");
  fs::remove_all(d / "runs/two/second/model");
  {
    nlohmann::json s = state("second");
    s["status"] = "running";
    std::ofstream(d / "runs/two/second/stage.json") << s.dump();
  }
  const auto before = mtime("first/model/model.safetensors");
  const auto metrics_before = read_rows(d / "runs/two/second/metrics.jsonl");
  run_recipe(edited);
  CHECK(mtime("first/model/model.safetensors") == before);
  CHECK(!fs::exists(d / "runs/two/second.replaced-2"));  // resumed in place, not redone
  CHECK(state("second")["status"] == "done");
  const auto metrics_after = read_rows(d / "runs/two/second/metrics.jsonl");
  REQUIRE(metrics_after.size() == 4);
  CHECK(metrics_after[0] == metrics_before[0]);  // steps 1-2 kept from before the interruption
  CHECK(metrics_after[3]["loss"].get<double>() == Approx(metrics_before[3]["loss"].get<double>()).epsilon(1e-6));

  // --from second: it runs again even though finished; the first stays cached.
  RecipeRun from = edited;
  from.from = "second";
  run_recipe(from);
  CHECK(mtime("first/model/model.safetensors") == before);
  CHECK(fs::exists(d / "runs/two/second.replaced-2"));
  RecipeRun bad = edited;
  bad.from = "third";
  CHECK_THROWS_WITH(run_recipe(bad), Catch::Contains("--from third"));
}

TEST_CASE("device keys: a stage's device is parsed with its key path, and its workers follow it", "[sft][device]") {
  nlohmann::json stage = {{"model", "m"}, {"train", "t.jsonl"}, {"device", "cuda:1"}};
  ConfigReader r(stage, "recipe: stages[0] (sft)");
  const r1::run::SftConfig c = r1::run::SftConfig::read(r);
  CHECK((c.device == r1::DeviceChoice{r1::DeviceChoice::kCuda, 1}));
  CHECK(c.device_key == "recipe: stages[0] (sft).device");
  nlohmann::json bad = {{"model", "m"}, {"train", "t.jsonl"}, {"device", "tpu"}};
  ConfigReader rb(bad, "recipe: stages[0] (sft)");
  CHECK_THROWS_WITH(r1::run::SftConfig::read(rb),
                    "recipe: stages[0] (sft).device: 'tpu' is not a device (auto, cpu, cuda or cuda:N)");
  // Rollout workers: the stage's device unless "rollout" names its own; it reaches their command line.
  nlohmann::json rollout = nlohmann::json::object();
  ConfigReader w(rollout, "s.rollout");
  const r1::run::RolloutConfig follows = r1::run::RolloutConfig::read(w, {r1::DeviceChoice::kCpu, 0});
  CHECK(follows.device.kind == r1::DeviceChoice::kCpu);
  CHECK(follows.client_options("/bin/r1", "m", 8, 0).local.worker.device.kind == r1::DeviceChoice::kCpu);
  nlohmann::json own = {{"device", "cuda"}};
  ConfigReader w2(own, "s.rollout");
  CHECK((r1::run::RolloutConfig::read(w2, {r1::DeviceChoice::kCpu, 0}).device == r1::DeviceChoice{r1::DeviceChoice::kCuda, 0}));
}
