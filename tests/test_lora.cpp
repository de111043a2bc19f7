// LoRA in the transformer (model/lora.h): an adapter with B = 0 leaves the model exactly as it was;
// gradients reach the adapter's tensors only (activation checkpointing and dropout included); merged
// and unmerged forwards agree; bf16 products and FP8 weights take the adapter's term too; adapters
// round-trip through PEFT's files and merge; bad adapters are one error naming the key, tensor or file.
// The command line (`r1 model merge-lora`, `r1 generate --adapter`) on a tiny model at the end.
// ATen first: c10 defines a glog-style CHECK that Catch's must replace, not the other way round.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint/safetensors.h"
#include "core/error.h"
#include "inference/generate.h"
#include "model/lora.h"
#include "model/transformer.h"

using namespace r1::model;
using r1::checkpoint::LoraOptions;

namespace {

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

Transformer tiny(const char* arch, uint64_t seed = 7, at::ScalarType dtype = at::kFloat) {
  Transformer m(r1::checkpoint::preset_config(arch, "tiny", 97), dtype);
  m.init_random(seed);
  // Random norms and biases too, so a mistake in either shows.
  at::Generator gen = at::detail::createCPUGenerator(seed + 1);
  for (const r1::checkpoint::TensorShape& t : r1::checkpoint::checkpoint_tensors(m.config()))
    if (t.shape.size() == 1) m.weight(t.name) = at::empty(t.shape, at::kFloat).uniform_(0.5, 1.5, gen).to(dtype);
  return m;
}

LoraOptions options(int64_t r = 4, double alpha = 8, std::vector<std::string> targets = {"all-linear"}) {
  LoraOptions o;
  o.r = r;
  o.lora_alpha = alpha;
  if (targets == std::vector<std::string>{"all-linear"})
    targets.assign(std::begin(r1::checkpoint::kLoraModules), std::end(r1::checkpoint::kLoraModules));
  o.target_modules = std::move(targets);
  return o;
}

// B drawn too (as after training), so the adapter changes the model.
void randomise_b(LoraAdapter& a, uint64_t seed, double std = 0.05) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::NoGradGuard no_grad;
  for (const LoraModule& m : a.modules()) m.b.copy_(at::empty(m.b.sizes(), at::kFloat).normal_(0.0, std, gen));
}

at::Tensor batch() {
  return at::tensor({3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46, 26, 43, 38, 32, 79}, at::kLong).view({2, 8});
}

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/r1_test_lora_XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const r1::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("lora: A is initialised as PEFT does, B is zero, both fp32 and trainable", "[lora]") {
  Transformer m = tiny("qwen2", 7, at::kBFloat16);
  LoraAdapter a(m.config(), options(16, 32), 1);
  REQUIRE(a.modules().size() == 14);
  for (const LoraModule& mod : a.modules()) {
    CHECK(mod.a.scalar_type() == at::kFloat);
    CHECK(mod.b.scalar_type() == at::kFloat);
    CHECK(mod.a.requires_grad());
    CHECK(mod.b.requires_grad());
    CHECK(mod.b.abs().max().item<double>() == 0);
    // kaiming_uniform_(a = sqrt(5)) on [r, in]: uniform in ±1/sqrt(in).
    const double bound = 1.0 / std::sqrt(static_cast<double>(mod.target.in));
    CHECK(mod.a.abs().max().item<double>() <= bound);
    CHECK(mod.a.abs().max().item<double>() > 0.9 * bound);
    CHECK(mod.a.mean().abs().item<double>() < 0.1 * bound);
  }
  CHECK(a.scale() == Approx(2.0));
  LoraOptions rs = options(16, 32);
  rs.use_rslora = true;
  CHECK(LoraAdapter(m.config(), rs, 1).scale() == Approx(8.0));
  LoraOptions g = options(16, 32);
  g.init_lora_weights = "gaussian";
  LoraAdapter ga(m.config(), g, 1);
  at::Tensor all = at::cat({ga.modules()[0].a.flatten(), ga.modules()[1].a.flatten(), ga.modules()[4].a.flatten()});
  CHECK(all.std().item<double>() == Approx(1.0 / 16).epsilon(0.1));
  // The same seed, the same adapter.
  CHECK(at::equal(LoraAdapter(m.config(), options(16, 32), 1).modules()[3].a, a.modules()[3].a));
}

TEST_CASE("lora: with B zero the adapted model's logits equal the base's exactly", "[lora]") {
  for (const char* arch : {"qwen2", "qwen3", "llama"}) {
    INFO(arch);
    Transformer m = tiny(arch);
    const at::Tensor base = m.logits(m.forward(batch()));
    m.set_lora(std::make_shared<LoraAdapter>(m.config(), options(), 3));
    CHECK(at::equal(m.logits(m.forward(batch())), base));
    m.set_activation_checkpointing(true);
    CHECK(at::equal(m.logits(m.forward(batch())), base));
    // The KV-cache path too.
    KVCache cache = m.new_cache(2, 8);
    m.set_lora(nullptr);
    const at::Tensor cached_base = m.forward_cached(batch(), cache);
    m.set_lora(std::make_shared<LoraAdapter>(m.config(), options(), 3));
    KVCache cache2 = m.new_cache(2, 8);
    CHECK(at::equal(m.forward_cached(batch(), cache2), cached_base));
  }
}

TEST_CASE("lora: gradients reach the adapter's tensors only, with and without activation checkpointing", "[lora]") {
  Transformer m = tiny("qwen3");
  for (auto& t : m.parameters()) t.requires_grad_(true);  // as a trainer leaves them: set_lora freezes them
  auto lora = std::make_shared<LoraAdapter>(m.config(), options(), 3);
  randomise_b(*lora, 5);
  m.set_lora(lora);
  for (const auto& [name, t] : m.weights()) CHECK_FALSE(t.requires_grad());
  const at::Tensor x = batch();
  const at::Tensor targets = at::roll(x, -1, 1);
  std::vector<at::Tensor> grads[2];
  for (bool checkpoint : {false, true}) {
    INFO("checkpointing " << checkpoint);
    m.set_activation_checkpointing(checkpoint);
    for (const at::Tensor& p : lora->parameters()) p.mutable_grad() = at::Tensor();
    auto [lp, ent] = m.token_logprobs(m.forward(x), targets, 5);
    (lp.sum() + 0.1 * ent.sum()).backward();
    for (const auto& [name, t] : m.weights()) {
      INFO(name);
      CHECK_FALSE(t.grad().defined());
    }
    for (const at::Tensor& p : lora->parameters()) {
      REQUIRE(p.grad().defined());
      CHECK(p.grad().abs().sum().item<double>() > 0);
      grads[checkpoint].push_back(p.grad().clone());
    }
  }
  for (size_t i = 0; i < grads[0].size(); ++i) CHECK(max_diff(grads[0][i], grads[1][i]) < 1e-5);
}

TEST_CASE("lora: dropout under activation checkpointing replays its masks in the recomputation", "[lora]") {
  Transformer m = tiny("llama");
  LoraOptions o = options();
  o.lora_dropout = 0.3;
  auto lora = std::make_shared<LoraAdapter>(m.config(), o, 3);
  randomise_b(*lora, 5);
  m.set_lora(lora);
  const at::Tensor x = batch(), targets = at::roll(x, -1, 1);
  auto loss_grads = [&](bool checkpoint, bool training) {
    m.set_activation_checkpointing(checkpoint);
    lora->set_training(training);
    for (const at::Tensor& p : lora->parameters()) p.mutable_grad() = at::Tensor();
    at::manual_seed(11);
    auto [lp, ent] = m.token_logprobs(m.forward(x), targets);
    lp.sum().backward();
    std::vector<at::Tensor> g;
    for (const at::Tensor& p : lora->parameters()) g.push_back(p.grad().clone());
    return std::make_pair(lp.detach(), g);
  };
  auto [plain_lp, plain] = loss_grads(false, true);
  auto [ckpt_lp, ckpt] = loss_grads(true, true);
  auto [eval_lp, eval] = loss_grads(false, false);
  CHECK(max_diff(plain_lp, ckpt_lp) < 1e-6);
  CHECK(max_diff(plain_lp, eval_lp) > 1e-3);  // dropout did act
  for (size_t i = 0; i < plain.size(); ++i) CHECK(max_diff(plain[i], ckpt[i]) < 1e-5);
  // Out of training mode no mask is drawn.
  at::Tensor h1 = m.forward(x), h2 = m.forward(x);
  CHECK(at::equal(h1, h2));
}

TEST_CASE("lora: merged and unmerged forwards agree within 1e-5 in fp32", "[lora]") {
  for (bool rslora : {false, true}) {
    INFO("rslora " << rslora);
    Transformer m = tiny("qwen2");
    LoraOptions o = options(8, 16);
    o.use_rslora = rslora;
    auto lora = std::make_shared<LoraAdapter>(m.config(), o, 3);
    randomise_b(*lora, 5);
    m.set_lora(lora);
    const at::Tensor adapted = m.logits(m.forward(batch()));
    m.set_lora_enabled(false);
    const at::Tensor base = m.logits(m.forward(batch()));
    CHECK(max_diff(adapted, base) > 1e-2);  // the adapter matters
    m.set_lora_enabled(true);
    Transformer merged = tiny("qwen2");
    merge_lora(merged, *lora);
    CHECK(max_diff(merged.logits(merged.forward(batch())), adapted) < 1e-5);
    // Generation (the paged cache) with the adapter equals generation from the merged weights.
    r1::rollout::GroupRequest q;
    q.prompt = {3, 14, 15, 92};
    q.params.temperature = 0;
    q.params.max_new_tokens = 12;
    auto with_adapter = r1::inference::generate(m, {q}), from_merged = r1::inference::generate(merged, {q});
    CHECK(with_adapter[0][0].ids == from_merged[0][0].ids);
    // Merging into the model the adapter is attached to detaches it: the term is not added twice.
    merge_lora(m, *lora);
    CHECK(m.lora() == nullptr);
    CHECK(max_diff(m.logits(m.forward(batch())), adapted) < 1e-5);
  }
}

TEST_CASE("lora: bf16 products and FP8 weights add the adapter's term", "[lora]") {
  Transformer m = tiny("qwen2");
  auto lora = std::make_shared<LoraAdapter>(m.config(), options(), 3);
  m.set_lora(lora);
  m.set_compute_dtype(at::kBFloat16);
  m.set_lora_enabled(false);
  const at::Tensor base_bf16 = m.forward(batch());
  m.set_lora_enabled(true);
  CHECK(at::equal(m.forward(batch()), base_bf16));  // B = 0
  randomise_b(*lora, 5);
  const at::Tensor adapted_bf16 = m.forward(batch());
  m.set_compute_dtype(at::kFloat);
  const at::Tensor adapted = m.forward(batch());
  CHECK(max_diff(adapted_bf16, adapted) < 0.2);
  CHECK(max_diff(adapted_bf16, base_bf16) > 3 * max_diff(adapted_bf16, adapted));
  // Gradients through bf16 products reach the fp32 adapter.
  m.set_compute_dtype(at::kBFloat16);
  m.forward(batch()).pow(2).mean().backward();
  CHECK(lora->modules()[0].a.grad().scalar_type() == at::kFloat);
  CHECK(lora->modules()[0].a.grad().abs().sum().item<double>() > 0);

  // A bf16 model quantised to FP8 (the rollout workers), the adapter in its own fp32.
  Transformer q = tiny("qwen2", 7, at::kBFloat16);
  q.quantize_fp8();
  const at::Tensor fp8_base = q.forward(batch());
  q.set_lora(lora);
  const at::Tensor fp8_adapted = q.forward(batch());
  CHECK(max_diff(fp8_adapted, fp8_base) > 0.1);
  LoraAdapter zero(q.config(), options(), 3);
  q.set_lora(std::make_shared<LoraAdapter>(q.config(), options(), 3));
  CHECK(at::equal(q.forward(batch()), fp8_base));
  CHECK_THROWS_WITH(merge_lora(q, zero), Catch::Contains("FP8"));
}

TEST_CASE("lora: an adapter saved, loaded and merged gives the adapted model", "[lora]") {
  TempDir dir;
  Transformer m = tiny("llama");
  LoraOptions o = options(8, 16, {"q_proj", "v_proj", "down_proj"});
  o.lora_dropout = 0.05;
  o.base_model_name_or_path = "tiny-llama";
  auto lora = std::make_shared<LoraAdapter>(m.config(), o, 3);
  randomise_b(*lora, 5);
  lora->save(dir.path + "/adapter");
  m.set_lora(lora);
  const at::Tensor adapted = m.logits(m.forward(batch()));

  // PEFT's files: names, shapes, fp32.
  r1::checkpoint::SafetensorsFile file(dir.path + "/adapter/adapter_model.safetensors");
  CHECK(file.header().tensors.size() == 2 * 3 * 2);
  const r1::checkpoint::TensorInfo& a = file.at("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight");
  CHECK(a.shape == std::vector<int64_t>{8, 128});
  CHECK(a.dtype == r1::checkpoint::DType::kF32);
  CHECK(file.at("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight").shape == std::vector<int64_t>{32, 8});
  r1::checkpoint::LoraOptions back = r1::checkpoint::read_peft_config(dir.path + "/adapter/adapter_config.json");
  CHECK(back.r == 8);
  CHECK(back.lora_alpha == 16);
  CHECK(back.lora_dropout == Approx(0.05));
  CHECK(back.base_model_name_or_path == "tiny-llama");

  auto loaded = LoraAdapter::load(dir.path + "/adapter", m.config());
  REQUIRE(loaded->modules().size() == lora->modules().size());
  for (size_t i = 0; i < loaded->modules().size(); ++i) {
    CHECK(at::equal(loaded->modules()[i].a, lora->modules()[i].a));
    CHECK(at::equal(loaded->modules()[i].b, lora->modules()[i].b));
    CHECK(loaded->modules()[i].a.requires_grad());
  }
  // Merged and saved as a plain checkpoint, it loads as the adapted model.
  Transformer base = tiny("llama");
  merge_lora(base, *loaded);
  base.save(dir.path + "/merged");
  Transformer merged = Transformer::load(dir.path + "/merged");
  CHECK(merged.lora() == nullptr);
  CHECK(max_diff(merged.logits(merged.forward(batch())), adapted) < 1e-5);
}

TEST_CASE("lora: bad adapters are one error naming the key, tensor or file", "[lora]") {
  TempDir dir;
  Transformer m = tiny("qwen2");
  const auto cfg = m.config();
  LoraOptions o = options(4, 8, {"q_proj", "v_proj"});
  LoraAdapter(cfg, o, 1).save(dir.path + "/good");
  auto copy = [&](const std::string& name) {
    std::filesystem::copy(dir.path + "/good", dir.path + "/" + name, std::filesystem::copy_options::recursive);
    return dir.path + "/" + name;
  };
  // Options out of range, targets the architecture lacks.
  LoraOptions bad = o;
  bad.r = 0;
  CHECK_THAT(error_of([&] { LoraAdapter(cfg, bad, 1); }), Catch::Contains("r: the rank must be a positive integer"));
  bad = o;
  bad.lora_alpha = -2;
  CHECK_THAT(error_of([&] { LoraAdapter(cfg, bad, 1); }), Catch::Contains("lora_alpha"));
  bad = o;
  bad.lora_dropout = 1;
  CHECK_THAT(error_of([&] { LoraAdapter(cfg, bad, 1); }), Catch::Contains("lora_dropout"));
  bad = o;
  bad.target_modules = {"q_proj", "qkv_proj"};
  CHECK_THAT(error_of([&] { LoraAdapter(cfg, bad, 1); }), Catch::Contains("'qkv_proj'"));

  // An adapter made for another base: wider, deeper, shallower, another architecture.
  r1::checkpoint::ModelConfig wide = cfg;
  wide.hidden_size = 128;
  wide.num_attention_heads = 8;
  wide.num_key_value_heads = 4;
  LoraAdapter(wide, o, 1).save(dir.path + "/wide");
  CHECK_THAT(error_of([&] { LoraAdapter::load(dir.path + "/wide", cfg); }),
             Catch::Contains("adapter_model.safetensors: tensor 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight' has shape [4, 128]") &&
                 Catch::Contains("[4, 64]"));
  r1::checkpoint::ModelConfig deep = cfg;
  deep.num_hidden_layers = 3;
  LoraAdapter(deep, o, 1).save(dir.path + "/deep");
  CHECK_THAT(error_of([&] { LoraAdapter::load(dir.path + "/deep", cfg); }),
             Catch::Contains("unexpected tensor 'base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight'"));
  CHECK_THAT(error_of([&] { LoraAdapter::load(dir.path + "/good", deep); }),
             Catch::Contains("no tensor 'base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight'"));
  r1::checkpoint::ModelConfig llama = r1::checkpoint::preset_config("llama", "tiny", 97);
  llama.head_dim = cfg.head_dim;
  CHECK_THAT(error_of([&] { LoraAdapter::load(dir.path + "/good", llama); }),
             Catch::Contains("Qwen2ForCausalLM") && Catch::Contains("LlamaForCausalLM"));
  // In memory too: an adapter attached to a model it was not made for.
  CHECK_THAT(error_of([&] { m.set_lora(std::make_shared<LoraAdapter>(wide, o, 1)); }),
             Catch::Contains("model.layers.0.self_attn.q_proj.weight"));
  CHECK_THAT(error_of([&] { m.set_lora(std::make_shared<LoraAdapter>(deep, o, 1)); }),
             Catch::Contains("model.layers.2.self_attn.q_proj"));
  CHECK(m.lora() == nullptr);

  // Files: truncated, corrupt header, missing, pickle only, a config saying another rank.
  const std::string truncated = copy("truncated");
  const std::string weights = truncated + "/adapter_model.safetensors";
  std::filesystem::resize_file(weights, std::filesystem::file_size(weights) - 100);
  CHECK_THAT(error_of([&] { LoraAdapter::load(truncated, cfg); }), Catch::Contains(weights));
  const std::string corrupt = copy("corrupt");
  {
    std::fstream f(corrupt + "/adapter_model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.write("\x01\x02\x03", 3);
  }
  CHECK_THAT(error_of([&] { LoraAdapter::load(corrupt, cfg); }), Catch::Contains(corrupt + "/adapter_model.safetensors"));
  const std::string missing = copy("missing");
  std::filesystem::remove(missing + "/adapter_model.safetensors");
  CHECK_THAT(error_of([&] { LoraAdapter::load(missing, cfg); }), Catch::Contains(missing + "/adapter_model.safetensors"));
  std::ofstream(missing + "/adapter_model.bin") << "pickle";
  CHECK_THAT(error_of([&] { LoraAdapter::load(missing, cfg); }), Catch::Contains("adapter_model.bin"));
  const std::string rank = copy("rank");
  {
    std::ifstream in(rank + "/adapter_config.json");
    std::stringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    text.replace(text.find("\"r\": 4"), 6, "\"r\": 8");
    std::ofstream(rank + "/adapter_config.json", std::ios::trunc) << text;
  }
  CHECK_THAT(error_of([&] { LoraAdapter::load(rank, cfg); }), Catch::Contains("has shape [4, 64]") && Catch::Contains("[8, 64]"));
  CHECK_THAT(error_of([&] { LoraAdapter::load(dir.path + "/nowhere", cfg); }), Catch::Contains("adapter_config.json"));
  CHECK_NOTHROW(LoraAdapter::load(dir.path + "/good", cfg));
}

TEST_CASE("lora: parameters and bytes of an adapter against the model's", "[lora]") {
  Transformer m = tiny("qwen2");
  LoraAdapter a(m.config(), options(16, 32), 1);
  int64_t model = 0;
  for (const at::Tensor& t : m.parameters()) model += t.numel();
  // r (in + out) per module: q 16*(64+64), k and v 16*(64+32), o 16*(64+64), gate and up 16*(64+128),
  // down 16*(128+64); 2 layers.
  CHECK(a.parameter_count() == 2 * 16 * (128 + 96 + 96 + 128 + 192 + 192 + 192));
  CHECK(a.bytes() == 4 * a.parameter_count());
  CHECK(model == 97 * 64 + 2 * 37120 + 64);  // a vocabulary of 97; docs/model.md counts r1's 259
}

TEST_CASE("lora: r1 model merge-lora and r1 generate --adapter", "[lora][cli]") {
  TempDir dir;
  auto run = [&](const std::string& args) {
    const std::string cmd = std::string(R1_BINARY) + " " + args + " > " + dir.path + "/out 2> " + dir.path + "/err";
    const int rc = std::system(cmd.c_str());
    std::ifstream out(dir.path + "/out"), err(dir.path + "/err");
    std::stringstream o, e;
    o << out.rdbuf();
    e << err.rdbuf();
    return std::make_tuple(WEXITSTATUS(rc), o.str(), e.str());
  };
  const std::string base = dir.path + "/base";
  REQUIRE(std::get<0>(run("-q model init --preset tiny --dtype fp32 --seed 3 --out " + base)) == 0);
  Transformer m = Transformer::load(base);
  LoraOptions o = options(8, 16);
  LoraAdapter lora(m.config(), o, 3);
  randomise_b(lora, 5, 0.2);
  lora.save(dir.path + "/adapter");

  auto [rc, out, err] = run("-q model merge-lora --base " + base + " --adapter " + dir.path + "/adapter --out " + dir.path + "/merged");
  INFO(err);
  REQUIRE(rc == 0);
  Transformer merged = Transformer::load(dir.path + "/merged");
  merge_lora(m, lora);
  for (const auto& [name, t] : m.weights()) CHECK(max_diff(merged.weights().at(name), t) < 1e-6);
  CHECK(std::filesystem::exists(dir.path + "/merged/tokenizer.json"));

  const std::string prompt = " --prompt 'the adapter' --temperature 0 --max-new-tokens 16";
  auto [rc1, with_adapter, e1] = run("-q generate --model " + base + " --adapter " + dir.path + "/adapter" + prompt);
  auto [rc2, from_merged, e2] = run("-q generate --model " + dir.path + "/merged" + prompt);
  auto [rc3, from_base, e3] = run("-q generate --model " + base + prompt);
  CHECK(rc1 == 0);
  CHECK(rc2 == 0);
  CHECK(with_adapter == from_merged);
  CHECK(with_adapter != from_base);

  // An adapter for another model: one line naming the tensor.
  LoraAdapter(r1::checkpoint::preset_config("qwen2", "25m", 300), o, 1).save(dir.path + "/other");
  auto [rc4, o4, e4] = run("model merge-lora --base " + base + " --adapter " + dir.path + "/other --out " + dir.path + "/bad");
  CHECK(rc4 == 1);
  CHECK_THAT(e4, Catch::StartsWith("r1: error: ") && Catch::Contains("lora_A.weight"));
  auto [rc5, o5, e5] = run("generate --model " + base + " --adapter " + dir.path + "/nowhere --prompt x");
  CHECK(rc5 == 1);
  CHECK_THAT(e5, Catch::Contains("adapter_config.json"));
}
