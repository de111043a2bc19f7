// Rollout workers with LoRA adapters (proto/rollout.proto's adapter updates): `r1 rollout serve`
// processes on a tiny model, driven by the trainer's client (update_adapter) or by raw gRPC streams.
// Greedy completions after an adapter update equal a model merged with that adapter in-process, in
// both ways of applying it; an adapter push costs a small share of a full one; bad adapters are
// refused by name while the worker serves on; --adapter at start; a killed worker comes back with
// the adapter.
// ATen first: c10 defines a glog-style CHECK that Catch's must replace, not the other way round.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <catch2/catch.hpp>

#include <boost/process.hpp>
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <thread>

#include "checkpoint/lora_config.h"
#include "inference/generate.h"
#include "model/lora.h"
#include "model/transformer.h"
#include "proto/rollout.grpc.pb.h"
#include "rollout/client.h"
#include "tokenizer/byte_tokenizer.h"
#include "tests/worker_process.h"

namespace bp = boost::process;
namespace fs = std::filesystem;
using namespace r1::model;
using r1::checkpoint::LoraOptions;
using r1::rollout::GroupRequest;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char t[] = "/tmp/r1_test_lora_worker_XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A Qwen2 of `preset` with peaked distributions (different weights give different greedy outputs).
std::string make_model(const fs::path& dir, uint64_t seed, const char* preset = "tiny", double gain = 40) {
  fs::create_directories(dir);
  r1::write_byte_tokenizer(dir.string());
  Transformer m(r1::checkpoint::preset_config("qwen2", preset, 259));
  m.init_random(seed);
  for (auto& [name, t] : m.weights())
    if (t.dim() == 2) m.weight(name) = t * gain;
  m.save(dir.string());
  return dir.string();
}

LoraOptions lora_options(int64_t r, std::vector<std::string> targets) {
  LoraOptions o;
  o.r = r;
  o.lora_alpha = 2.0 * static_cast<double>(r);
  o.target_modules = std::move(targets);
  return o;
}
const std::vector<std::string> kAllLinear(std::begin(r1::checkpoint::kLoraModules), std::end(r1::checkpoint::kLoraModules));

// A trained-looking adapter (B drawn too), every value a bf16 one: the wire's bf16 carries it exactly.
std::shared_ptr<LoraAdapter> make_adapter(const r1::checkpoint::ModelConfig& config, const LoraOptions& o, uint64_t seed,
                                          double b_std = 0.5) {
  auto a = std::make_shared<LoraAdapter>(config, o, seed);
  at::Generator gen = at::detail::createCPUGenerator(seed + 100);
  at::NoGradGuard no_grad;
  for (const LoraModule& m : a->modules()) {
    m.b.copy_(at::empty(m.b.sizes(), at::kFloat).normal_(0.0, b_std, gen));
    m.a.copy_(m.a.to(at::kBFloat16).to(at::kFloat));
    m.b.copy_(m.b.to(at::kBFloat16).to(at::kFloat));
  }
  return a;
}

// The adapter's tensors as update_adapter takes them (F32; `keep` owns the bytes).
std::vector<r1::rollout::WeightTensor> adapter_tensors(const LoraAdapter& a, std::vector<at::Tensor>& keep) {
  std::vector<r1::rollout::WeightTensor> out;
  for (const LoraModule& m : a.modules())
    for (auto [name, t] : {std::pair{m.target.a_name, m.a}, std::pair{m.target.b_name, m.b}}) {
      keep.push_back(t.detach().contiguous());
      const at::Tensor& c = keep.back();
      out.push_back({name, r1::rollout::WireDtype::kF32, c.sizes().vec(), c.data_ptr(), static_cast<size_t>(c.numel()) * 4});
    }
  return out;
}

std::vector<GroupRequest> prompts() {
  std::vector<GroupRequest> qs;
  for (std::vector<int64_t> p : {std::vector<int64_t>{10, 20, 30, 40}, {7, 7, 7}, {100, 3, 58, 9, 200}}) {
    GroupRequest q;
    q.prompt = p;
    q.params.temperature = 0;
    q.params.max_new_tokens = 24;
    qs.push_back(q);
  }
  return qs;
}

// Greedy tokens of `m` for prompts().
std::vector<std::vector<int64_t>> greedy_in_process(const Transformer& m) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& group : r1::inference::generate(m, prompts())) out.push_back(group.at(0).ids);
  return out;
}

// Greedy tokens through the client; every completion's version must be `version`.
std::vector<std::vector<int64_t>> greedy_from(r1::rollout::RolloutClient& client, uint64_t version) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& g : client.generate_all(prompts())) {
    CHECK(g.policy_version == version);
    out.push_back(g.completions.at(0).ids);
  }
  return out;
}

// The model the adapter makes of the checkpoint in `dir`, merged in-process (fp32).
Transformer merged_reference(const std::string& dir, const LoraAdapter& adapter) {
  Transformer m = Transformer::load(dir);
  merge_lora(m, adapter);
  return m;
}

r1::rollout::ClientOptions client_options(const std::string& dir, r1::WeightPrecision precision, const std::string& apply) {
  r1::rollout::ClientOptions o;
  o.local.r1_binary = R1_BINARY;
  o.local.worker.model_dir = dir;
  o.local.worker.precision = precision;
  o.local.worker.kv_cache_mb = 8;
  o.local.worker.lora_apply = apply;
  o.local.count = 1;
  return o;
}

using r1::test::Worker;

// An adapter stream of `tensors` (F32, one chunk each) with `config` on its first chunk.
grpc::Status push_adapter(r1::v1::Rollout::Stub& stub, uint64_t version, const std::map<std::string, at::Tensor>& tensors,
                          const std::string& config, uint64_t base = 0) {
  grpc::ClientContext ctx;
  r1::v1::UpdateWeightsReply reply;
  auto writer = stub.UpdateWeights(&ctx, &reply);
  bool first = true;
  for (const auto& [name, t] : tensors) {
    const at::Tensor c = t.detach().to(at::kFloat).contiguous();
    r1::v1::TensorChunk ch;
    ch.set_version(version);
    ch.set_base_version(base);
    if (first) ch.set_adapter_config(config);
    first = false;
    ch.set_name(name);
    ch.set_dtype("F32");
    for (int64_t d : c.sizes()) ch.add_shape(d);
    ch.set_data(c.data_ptr(), static_cast<size_t>(c.numel()) * 4);
    if (!writer->Write(ch)) break;
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (s.ok()) CHECK(reply.version() == version);
  return s;
}

std::map<std::string, at::Tensor> by_name(const LoraAdapter& a) {
  std::map<std::string, at::Tensor> out;
  for (const LoraModule& m : a.modules()) {
    out[m.target.a_name] = m.a.detach().clone();
    out[m.target.b_name] = m.b.detach().clone();
  }
  return out;
}

uint64_t version_of(r1::v1::Rollout::Stub& stub) {
  grpc::ClientContext ctx;
  r1::v1::Status st;
  REQUIRE(stub.GetStatus(&ctx, {}, &st).ok());
  return st.version();
}

std::vector<std::vector<int64_t>> greedy_raw(r1::v1::Rollout::Stub& stub, uint64_t version) {
  std::vector<std::vector<int64_t>> out;
  for (const GroupRequest& q : prompts()) {
    r1::v1::GenerateRequest req;
    for (int64_t t : q.prompt) req.mutable_prompt_ids()->add_ids(static_cast<int32_t>(t));
    req.mutable_params()->set_n(1);
    req.mutable_params()->set_max_new_tokens(static_cast<int32_t>(q.params.max_new_tokens));
    req.mutable_params()->set_temperature(0);
    grpc::ClientContext ctx;
    auto reader = stub.Generate(&ctx, req);
    r1::v1::Completion c;
    std::vector<int64_t> ids;
    while (reader->Read(&c)) {
      CHECK(c.policy_version() == version);
      ids.assign(c.ids().begin(), c.ids().end());
    }
    REQUIRE(reader->Finish().ok());
    out.push_back(ids);
  }
  return out;
}

}  // namespace

TEST_CASE("lora worker: after an adapter update, merged and unmerged fp32 workers serve the merged model's greedy tokens",
          "[lora][rollout][worker]") {
  TempDir tmp;
  const std::string dir = make_model(tmp.path / "m", 1);
  const Transformer base = Transformer::load(dir);
  const auto adapter = make_adapter(base.config(), lora_options(16, kAllLinear), 3);
  const auto want = greedy_in_process(merged_reference(dir, *adapter));
  const auto base_tokens = greedy_in_process(base);
  REQUIRE(want != base_tokens);  // the adapter changes what the model says
  std::vector<at::Tensor> keep;
  const auto tensors = adapter_tensors(*adapter, keep);
  const std::string config = r1::checkpoint::peft_config_json(adapter->options());
  for (const char* apply : {"merged", "unmerged"}) {
    INFO(apply);
    auto o = client_options(dir, r1::WeightPrecision::kFp32, apply);
    o.weights_as_f32 = true;  // the full update below: the base exactly
    r1::rollout::RolloutClient client(o);
    CHECK(greedy_from(client, 0) == base_tokens);
    const auto stats = client.update_adapter(1, tensors, config);
    CHECK(stats.workers_full == 1);
    CHECK(stats.bytes_sent == stats.full_bytes);
    CHECK(stats.full_bytes == static_cast<uint64_t>(adapter->bytes()));  // F32 on the wire, as asked
    CHECK(client.workers().at(0).version == 1);
    CHECK(greedy_from(client, 1) == want);
    // A second adapter replaces the first (applied to the base, not on top of the first).
    const auto second = make_adapter(base.config(), lora_options(8, {"q_proj", "v_proj"}), 9, 1.0);
    std::vector<at::Tensor> keep2;
    client.update_adapter(2, adapter_tensors(*second, keep2), r1::checkpoint::peft_config_json(second->options()));
    CHECK(greedy_from(client, 2) == greedy_in_process(merged_reference(dir, *second)));
    // A full weight update drops the adapter: the base weights pushed serve alone.
    std::vector<r1::rollout::WeightTensor> full;
    for (const auto& [name, t] : base.weights())
      full.push_back({name, r1::rollout::WireDtype::kF32, t.sizes().vec(), t.data_ptr(), static_cast<size_t>(t.numel()) * 4});
    client.update_weights(3, full);
    CHECK(greedy_from(client, 3) == base_tokens);
  }
}

TEST_CASE("lora worker: an FP8 worker takes adapters merged and unmerged, and its outputs change from the base's",
          "[lora][rollout][worker]") {
  TempDir tmp;
  const std::string dir = make_model(tmp.path / "m", 1);
  const Transformer base = Transformer::load(dir);
  const auto adapter = make_adapter(base.config(), lora_options(16, kAllLinear), 3);
  std::vector<at::Tensor> keep;
  const auto tensors = adapter_tensors(*adapter, keep);
  for (const char* apply : {"merged", "unmerged"}) {
    INFO(apply);
    r1::rollout::RolloutClient client(client_options(dir, r1::WeightPrecision::kFp8, apply));
    const auto base_tokens = greedy_from(client, 0);
    client.update_adapter(5, tensors, r1::checkpoint::peft_config_json(adapter->options()));
    CHECK(client.workers().at(0).version == 5);
    CHECK(greedy_from(client, 5) != base_tokens);
  }
}

TEST_CASE("lora worker: an r = 16 adapter push costs 20x fewer bytes than a full push (25m, q and v)", "[lora][rollout][worker]") {
  TempDir tmp;
  const std::string dir = make_model(tmp.path / "m", 1, "25m", 1);
  const Transformer base = Transformer::load(dir);
  auto o = client_options(dir, r1::WeightPrecision::kBf16, "auto");
  o.local.worker.kv_cache_mb = 32;
  r1::rollout::RolloutClient client(o);
  std::vector<r1::rollout::WeightTensor> full;
  for (const auto& [name, t] : base.weights())
    full.push_back({name, r1::rollout::WireDtype::kF32, t.sizes().vec(), t.data_ptr(), static_cast<size_t>(t.numel()) * 4});
  const auto full_stats = client.update_weights(1, full);
  const auto adapter = make_adapter(base.config(), lora_options(16, {"q_proj", "v_proj"}), 3, 0.02);
  std::vector<at::Tensor> keep;
  // The adapter goes on the base weights of update 1 (the stream names it; the worker holds it).
  const auto stats = client.update_adapter(2, adapter_tensors(*adapter, keep), r1::checkpoint::peft_config_json(adapter->options()));
  INFO("full push " << full_stats.bytes_sent << " bytes, adapter push " << stats.bytes_sent << " bytes");
  CHECK(stats.bytes_sent == stats.full_bytes);
  CHECK(full_stats.bytes_sent >= 20 * stats.bytes_sent);
  CHECK(full_stats.full_bytes >= 20 * stats.full_bytes);
  CHECK(client.workers().at(0).version == 2);
  const auto groups = client.generate_all(prompts());
  for (const auto& g : groups) CHECK(g.policy_version == 2);
}

TEST_CASE("lora worker: bad adapters are INVALID_ARGUMENT naming the key or tensor, and the worker serves on",
          "[lora][rollout][worker]") {
  TempDir tmp;
  const std::string dir = make_model(tmp.path / "m", 1);
  const Transformer base = Transformer::load(dir);
  Worker w({"--model", dir, "--precision", "fp32"});
  auto stub = w.stub();
  const auto adapter = make_adapter(base.config(), lora_options(4, {"q_proj", "v_proj"}), 3);
  const std::string config = r1::checkpoint::peft_config_json(adapter->options());
  REQUIRE(push_adapter(*stub, 1, by_name(*adapter), config).ok());
  const auto served = greedy_raw(*stub, 1);
  CHECK(served == greedy_in_process(merged_reference(dir, *adapter)));

  const std::string q0a = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
  auto refused = [&](const std::map<std::string, at::Tensor>& tensors, const std::string& cfg, const std::string& names,
                     grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT) {
    grpc::Status s = push_adapter(*stub, 2, tensors, cfg);
    CHECK(s.error_code() == code);
    CHECK_THAT(s.error_message(), Catch::Contains(names));
    CHECK(version_of(*stub) == 1);
  };
  {  // wrong shape
    auto t = by_name(*adapter);
    t[q0a] = at::zeros({4, 63});
    refused(t, config, q0a);
  }
  {  // a tensor the config does not target
    auto t = by_name(*adapter);
    t["base_model.model.model.layers.0.mlp.up_proj.lora_A.weight"] = at::zeros({4, 64});
    refused(t, config, "up_proj.lora_A.weight");
  }
  {  // a missing one
    auto t = by_name(*adapter);
    t.erase(q0a);
    refused(t, config, q0a);
  }
  {  // NaN
    auto t = by_name(*adapter);
    t[q0a][1][2] = std::nanf("");
    refused(t, config, q0a);
  }
  {  // a module the model does not have
    auto o = adapter->options();
    o.target_modules = {"q_proj", "foo_proj"};
    refused(by_name(*adapter), r1::checkpoint::peft_config_json(o), "foo_proj");
  }
  {  // an option r1 does not implement
    std::string dora = config;
    const size_t key = dora.find("\"use_dora\"");
    REQUIRE(key != std::string::npos);
    const size_t value = dora.find("false", key);
    REQUIRE(value != std::string::npos);
    dora.replace(value, 5, "true");
    refused(by_name(*adapter), dora, "use_dora");
  }
  // Other base weights than the worker holds: FAILED_PRECONDITION.
  {
    grpc::Status s = push_adapter(*stub, 2, by_name(*adapter), config, 7);
    CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    CHECK(version_of(*stub) == 1);
  }
  CHECK(greedy_raw(*stub, 1) == served);  // the adapter of version 1, still
}

TEST_CASE("lora worker: --adapter DIR serves the adapter's model from the start", "[lora][rollout][worker]") {
  TempDir tmp;
  const std::string dir = make_model(tmp.path / "m", 1);
  const Transformer base = Transformer::load(dir);
  const auto adapter = make_adapter(base.config(), lora_options(8, kAllLinear), 4);
  adapter->save((tmp.path / "adapter").string());
  const auto want = greedy_in_process(merged_reference(dir, *adapter));
  REQUIRE(want != greedy_in_process(base));
  for (const char* apply : {"merged", "unmerged"}) {
    INFO(apply);
    Worker w({"--model", dir, "--precision", "fp32", "--adapter", (tmp.path / "adapter").string(), "--lora-apply", apply,
              "--policy-version", "4"});
    auto stub = w.stub();
    CHECK(greedy_raw(*stub, 4) == want);
  }
}

TEST_CASE("lora worker: a worker killed after an adapter update comes back serving the adapter", "[lora][rollout][worker][fault]") {
  TempDir tmp;
  const std::string dir = make_model(tmp.path / "m", 1);
  const Transformer base = Transformer::load(dir);
  const auto adapter = make_adapter(base.config(), lora_options(16, kAllLinear), 3);
  const auto want = greedy_in_process(merged_reference(dir, *adapter));
  auto o = client_options(dir, r1::WeightPrecision::kFp32, "auto");
  o.status_interval_s = 0.1;
  r1::rollout::RolloutClient client(o);
  std::vector<at::Tensor> keep;
  client.update_adapter(1, adapter_tensors(*adapter, keep), r1::checkpoint::peft_config_json(adapter->options()));
  const int pid = client.workers().at(0).pid;
  REQUIRE(pid > 0);
  ::kill(pid, SIGKILL);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    const auto w = client.workers().at(0);
    if (w.restarts == 1 && w.alive && w.pid != pid) {
      CHECK(w.version == 1);  // the adapter went to it again before it was counted alive
      break;
    }
    REQUIRE(std::chrono::steady_clock::now() < until);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(greedy_from(client, 1) == want);
}
