// The rollout worker as users run it: `r1 rollout serve` processes, called over gRPC. An independent
// Python client (tests/python/rollout_client.py); weight updates whose greedy outputs match the new model
// run in-process and whose completions carry the right versions; malformed updates refused while the
// worker keeps serving; the token; a client that leaves frees its work; two workers under the trainer's
// client, one killed mid-generation, and every group still delivered exactly once.
// ATen first: c10 defines a glog-style CHECK that Catch's must replace, not the other way round.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include <boost/process.hpp>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "tokenizer/byte_tokenizer.h"
#include "inference/generate.h"
#include "model/transformer.h"
#include "proto/rollout.grpc.pb.h"
#include "rollout/client.h"
#include "tests/worker_process.h"

namespace bp = boost::process;
namespace fs = std::filesystem;
using namespace r1::model;
using namespace r1::inference;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("r1-test-rollout-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A tiny Qwen2 with peaked distributions (so different weights give different greedy outputs).
std::string make_model(const fs::path& dir, uint64_t seed) {
  fs::create_directories(dir);
  r1::write_byte_tokenizer(dir.string());
  Transformer m(r1::checkpoint::preset_config("qwen2", "tiny", 259));
  m.init_random(seed);
  for (auto& [name, t] : m.weights())
    if (t.dim() == 2) m.weight(name) = t * 40;
  m.save(dir.string());
  return dir.string();
}

using r1::test::Worker;

r1::v1::GenerateRequest greedy(const std::string& id, const std::vector<int32_t>& prompt, int n, int max_new) {
  r1::v1::GenerateRequest q;
  q.set_request_id(id);
  for (int32_t t : prompt) q.mutable_prompt_ids()->add_ids(t);
  q.mutable_params()->set_n(n);
  q.mutable_params()->set_max_new_tokens(max_new);
  q.mutable_params()->set_temperature(0);
  return q;
}

std::vector<r1::v1::Completion> call(r1::v1::Rollout::Stub& stub, const r1::v1::GenerateRequest& q, grpc::Status* status = nullptr,
                                     const std::string& token = "") {
  grpc::ClientContext ctx;
  if (!token.empty()) ctx.AddMetadata("x-r1-token", token);
  auto reader = stub.Generate(&ctx, q);
  std::vector<r1::v1::Completion> out;
  r1::v1::Completion c;
  while (reader->Read(&c)) out.push_back(c);
  grpc::Status s = reader->Finish();
  if (status) *status = s;
  else REQUIRE(s.ok());
  return out;
}

// Pushes every weight of `m` as version `version` (F32, 4 KiB chunks); `edit` may spoil the chunks.
grpc::Status push(r1::v1::Rollout::Stub& stub, const Transformer& m, uint64_t version,
                  const std::function<void(std::vector<r1::v1::TensorChunk>&)>& edit = {}) {
  std::vector<r1::v1::TensorChunk> chunks;
  for (const auto& [name, t] : m.weights()) {
    at::Tensor c = t.contiguous().to(at::kFloat);
    const auto* bytes = static_cast<const char*>(c.data_ptr());
    const size_t total = static_cast<size_t>(c.numel()) * 4;
    for (size_t off = 0; off < total; off += 4096) {
      r1::v1::TensorChunk ch;
      ch.set_version(version);
      ch.set_name(name);
      ch.set_dtype("F32");
      for (int64_t d : c.sizes()) ch.add_shape(d);
      ch.set_offset(off);
      ch.set_data(bytes + off, std::min<size_t>(4096, total - off));
      chunks.push_back(ch);
    }
  }
  if (edit) edit(chunks);
  grpc::ClientContext ctx;
  r1::v1::UpdateWeightsReply reply;
  auto writer = stub.UpdateWeights(&ctx, &reply);
  for (const auto& ch : chunks)
    if (!writer->Write(ch)) break;
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (s.ok()) CHECK(reply.version() == version);
  return s;
}

std::vector<int64_t> ids_of(const r1::v1::Completion& c) { return {c.ids().begin(), c.ids().end()}; }

}  // namespace

TEST_CASE("rollout service: an independent Python client (grpc_tools-compiled proto)", "[rollout][service]") {
  TempDir tmp;
  Worker w({"--model", make_model(tmp.path / "m", 1), "--precision", "bf16"});
  bp::ipstream py_out;
  bp::child py("/usr/bin/python3", std::string(R1_SOURCE_DIR) + "/tests/python/rollout_client.py", w.address, R1_SOURCE_DIR,
               (bp::std_out & bp::std_err) > py_out);
  std::string all, line;
  while (std::getline(py_out, line)) all += line + "\n";
  py.wait();
  INFO(all);
  CHECK(py.exit_code() == 0);
  CHECK(all.find("ok") != std::string::npos);
}

TEST_CASE("rollout service: weight updates swap models atomically and tag every completion", "[rollout][service]") {
  TempDir tmp;
  const std::string a_dir = make_model(tmp.path / "a", 1), b_dir = make_model(tmp.path / "b", 2);
  Worker w({"--model", a_dir, "--precision", "fp32", "--policy-version", "3"});
  auto stub = w.stub();
  Transformer a = Transformer::load(a_dir), b = Transformer::load(b_dir);
  const std::vector<int32_t> prompt = {10, 20, 30, 40};
  GroupRequest q{.prompt = {10, 20, 30, 40}};
  q.params.temperature = 0;
  q.params.max_new_tokens = 300;
  const auto a_greedy = r1::inference::generate(a, {q})[0][0].ids;
  q.params.max_new_tokens = 40;
  const auto b_greedy = r1::inference::generate(b, {q})[0][0].ids;
  REQUIRE(std::vector<int64_t>(a_greedy.begin(), a_greedy.begin() + 40) != b_greedy);

  // A long group on the old weights while the update arrives: it finishes on them, tagged 3.
  std::vector<r1::v1::Completion> long_group;
  std::thread caller([&] { long_group = call(*stub, greedy("long", prompt, 2, 300)); });
  for (int i = 0; i < 500; ++i) {  // until it runs
    grpc::ClientContext ctx;
    r1::v1::Status st;
    REQUIRE(stub->GetStatus(&ctx, {}, &st).ok());
    if (st.running_sequences() == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(push(*stub, b, 4).ok());
  caller.join();
  REQUIRE(long_group.size() == 2);
  for (const auto& c : long_group) {
    CHECK(c.policy_version() == 3);
    CHECK(ids_of(c) == a_greedy);
    CHECK(c.finish_reason() == r1::v1::FINISH_REASON_LENGTH);
  }
  grpc::ClientContext ctx;
  r1::v1::Status st;
  REQUIRE(stub->GetStatus(&ctx, {}, &st).ok());
  CHECK(st.version() == 4);
  auto after = call(*stub, greedy("after", prompt, 1, 40));
  REQUIRE(after.size() == 1);
  CHECK(after[0].policy_version() == 4);
  CHECK(ids_of(after[0]) == b_greedy);  // the new model's greedy output, exactly

  // Malformed updates are refused by name and change nothing.
  auto refused = [&](uint64_t version, const std::function<void(std::vector<r1::v1::TensorChunk>&)>& edit) {
    grpc::Status s = push(*stub, a, version, edit);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    return s.error_message();
  };
  CHECK(refused(4, {}).find("version 4 is not newer than the version in service (4)") != std::string::npos);
  CHECK(refused(5, [](auto& c) { c[0].set_name("model.layers.99.mlp.up_proj.weight"); })
            .find("tensor 'model.layers.99.mlp.up_proj.weight' is not part of this Qwen2ForCausalLM") != std::string::npos);
  CHECK(refused(5, [](auto& c) { c[0].set_dtype("I8"); }).find("dtype 'I8' is not BF16, F32 or F16") != std::string::npos);
  CHECK(refused(5, [](auto& c) { c[0].set_shape(0, 7); }).find("shape [7") != std::string::npos);
  CHECK(refused(5, [](auto& c) {  // a tensor's last chunk lost
          for (size_t i = 1; i < c.size(); ++i)
            if (c[i].name() == c[i - 1].name() && (i + 1 == c.size() || c[i + 1].name() != c[i].name())) {
              c.erase(c.begin() + static_cast<std::ptrdiff_t>(i));
              return;
            }
        }).find("bytes arrived") != std::string::npos);
  CHECK(refused(5, [](auto& c) {
          const std::string name = c[0].name();
          std::erase_if(c, [&](const auto& x) { return x.name() == name; });
        }).find("is missing from the update") != std::string::npos);
  CHECK(refused(5, [](auto& c) { c[1].set_offset(c[1].offset() + 8); }).find("does not continue") != std::string::npos);
  CHECK(refused(5, [](auto& c) {
          float nan = std::nanf("");
          std::string d = c[0].data();
          std::memcpy(d.data(), &nan, 4);
          c[0].set_data(d);
        }).find("NaN or infinite") != std::string::npos);
  auto still = call(*stub, greedy("still", prompt, 1, 40));
  CHECK(still[0].policy_version() == 4);
  CHECK(ids_of(still[0]) == b_greedy);

  // Aborting in-flight sequences: they end at once, tagged with the weights that made them.
  std::vector<r1::v1::Completion> aborted;
  std::thread caller2([&] { aborted = call(*stub, greedy("abort", prompt, 1, 300)); });
  for (int i = 0; i < 500; ++i) {
    grpc::ClientContext c2;
    r1::v1::Status s2;
    REQUIRE(stub->GetStatus(&c2, {}, &s2).ok());
    if (s2.running_sequences() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(push(*stub, a, 6, [](auto& c) { c[0].set_abort_in_flight(true); }).ok());
  caller2.join();
  REQUIRE(aborted.size() == 1);
  CHECK(aborted[0].policy_version() == 4);
  CHECK(aborted[0].finish_reason() == r1::v1::FINISH_REASON_ABORT);
  CHECK(aborted[0].ids_size() < 300);
  auto back = call(*stub, greedy("back", prompt, 1, 40));
  CHECK(back[0].policy_version() == 6);
  CHECK(ids_of(back[0]) == std::vector<int64_t>(a_greedy.begin(), a_greedy.begin() + 40));
}

TEST_CASE("rollout service: the token, and a client that leaves frees its work", "[rollout][service]") {
  TempDir tmp;
  Worker w({"--model", make_model(tmp.path / "m", 1), "--precision", "fp8", "--token", "s3cret"});
  auto stub = w.stub();
  grpc::Status s;
  call(*stub, greedy("x", {1, 2}, 1, 4), &s);
  CHECK(s.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  call(*stub, greedy("x", {1, 2}, 1, 4), &s, "wrong!");
  CHECK(s.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  {
    grpc::ClientContext ctx;
    r1::v1::Status st;
    CHECK(stub->GetStatus(&ctx, {}, &st).error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }
  auto ok = call(*stub, greedy("x", {1, 2}, 2, 4), &s, "s3cret");
  CHECK(s.ok());
  CHECK(ok.size() == 2);

  // A long group whose client cancels: the worker frees it at once.
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-r1-token", "s3cret");
  auto reader = stub->Generate(&ctx, greedy("long", {1, 2}, 4, 1500));
  auto status = [&] {
    grpc::ClientContext c;
    c.AddMetadata("x-r1-token", "s3cret");
    r1::v1::Status st;
    REQUIRE(stub->GetStatus(&c, {}, &st).ok());
    return st;
  };
  for (int i = 0; i < 500 && status().running_sequences() < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(status().running_sequences() == 4);
  CHECK(status().kv_cache_used() > 0);
  ctx.TryCancel();
  r1::v1::Completion c;
  while (reader->Read(&c)) {
  }
  CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);
  for (int i = 0; i < 200 && status().running_sequences() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(status().running_sequences() == 0);
  CHECK(status().kv_cache_used() == 0);
  CHECK(status().precision() == "fp8");
}

TEST_CASE("rollout service: two real workers, one killed mid-generation, every group completes exactly once",
          "[rollout][service][fault]") {
  TempDir tmp;
  const std::string dir = make_model(tmp.path / "m", 1);
  r1::rollout::ClientOptions o;
  o.local.r1_binary = R1_BINARY;
  o.local.worker.model_dir = dir;
  o.local.worker.precision = r1::WeightPrecision::kFp32;
  o.local.worker.kv_cache_mb = 8;
  o.local.count = 2;
  o.max_groups_per_worker = 4;
  r1::rollout::RolloutClient client(o);
  auto workers = client.workers();
  REQUIRE(workers.size() == 2);
  const int victim = workers[0].pid;
  REQUIRE(victim > 0);

  std::vector<r1::rollout::GroupRequest> qs;
  for (int g = 0; g < 24; ++g) {
    r1::rollout::GroupRequest q;
    q.id = "g" + std::to_string(g);
    q.prompt = {g + 1, 7, 9};
    q.params.n = 3;
    q.params.max_new_tokens = 120;
    q.params.seed = static_cast<uint64_t>(g);
    qs.push_back(q);
  }
  std::map<size_t, int> delivered;
  std::map<size_t, std::vector<std::vector<int64_t>>> samples;
  std::set<std::string> workers_used;
  bool killed = false;
  int resubmitted = 0;
  client.generate(qs, [&](r1::rollout::GroupResult&& g) {
    ++delivered[g.index];
    REQUIRE(g.completions.size() == 3);
    for (int s = 0; s < 3; ++s) {
      CHECK(g.completions[static_cast<size_t>(s)].index == s);
      CHECK(g.completions[static_cast<size_t>(s)].ids.size() == 120);
    }
    if (g.attempts > 1) ++resubmitted;
    for (const auto& c : g.completions) samples[g.index].push_back(c.ids);
    workers_used.insert(g.worker);
    if (!killed && delivered.size() == 3) {  // both workers hold groups now: kill one outright
      ::kill(victim, SIGKILL);
      killed = true;
    }
  });
  CHECK(killed);
  REQUIRE(delivered.size() == qs.size());
  for (const auto& [index, times] : delivered) CHECK(times == 1);
  CHECK(resubmitted > 0);  // the killed worker's groups went elsewhere
  // Every group, resubmitted ones included, holds the samples an undisturbed run gives: seeds replay
  // exactly on any worker.
  auto again = client.generate_all(qs);
  REQUIRE(again.size() == qs.size());
  for (const auto& g : again) {
    INFO("group " << g.index);
    std::vector<std::vector<int64_t>> ids;
    for (const auto& c : g.completions) ids.push_back(c.ids);
    CHECK(ids == samples.at(g.index));
  }
  auto after = client.workers();
  int restarts = 0;
  for (const auto& w : after) restarts += w.restarts;
  CHECK(restarts >= 1);  // the killed worker was started again
  CHECK(::kill(victim, 0) != 0);
}

namespace {

// The weights of `m` as the trainer hands them to the client (fp32, contiguous).
std::vector<r1::rollout::WeightTensor> weight_tensors(const Transformer& m) {
  std::vector<r1::rollout::WeightTensor> out;
  for (const auto& [name, t] : m.weights())
    out.push_back({name, r1::rollout::WireDtype::kF32, t.sizes().vec(), t.data_ptr(), static_cast<size_t>(t.numel()) * 4});
  return out;
}

}  // namespace

TEST_CASE("rollout service: deltas and rebuilt models give a worker exactly the weights pushed, in fp32 and FP8",
          "[rollout][service]") {
  TempDir tmp;
  const std::string a_dir = make_model(tmp.path / "a", 1), b_dir = make_model(tmp.path / "b", 2);
  Transformer b = Transformer::load(b_dir);
  // c: b after a small step, a few rows of some matrices changed; saved as a checkpoint of its own.
  Transformer c = Transformer::load(b_dir);
  for (auto& [name, t] : c.weights())
    if (t.dim() == 2) c.weight(name).narrow(0, 0, 2).mul_(1.25);
  const std::string c_dir = (tmp.path / "c").string();
  c.save(c_dir);
  r1::write_byte_tokenizer(c_dir);
  const std::vector<int32_t> prompt = {10, 20, 30, 40};

  for (const char* precision : {"fp32", "fp8"}) {
    INFO(precision);
    Worker pushed({"--model", a_dir, "--precision", precision});
    Worker loaded({"--model", c_dir, "--precision", precision});  // c, as a worker loads it
    r1::rollout::ClientOptions o;
    o.addresses = {pushed.address};
    o.weights_as_f32 = std::string(precision) == "fp32";
    r1::rollout::RolloutClient client(o);
    // b whole, then c as a delta against b (the model a was built over), then b again as a delta
    // (written over the model c's update retired): each time the greedy output of the weights pushed.
    CHECK(client.update_weights(1, weight_tensors(b)).workers_full == 1);
    auto b_ids = ids_of(call(*pushed.stub(), greedy("b", prompt, 1, 40))[0]);
    const auto stats = client.update_weights(2, weight_tensors(c));
    CHECK(stats.workers_delta == 1);
    CHECK(stats.bytes_sent * 3 < stats.full_bytes);
    const auto c_ids = ids_of(call(*pushed.stub(), greedy("c", prompt, 1, 40))[0]);
    CHECK(c_ids == ids_of(call(*loaded.stub(), greedy("c", prompt, 1, 40))[0]));
    CHECK(c_ids != b_ids);
    if (std::string(precision) == "fp32") {
      GroupRequest q{.prompt = {10, 20, 30, 40}};
      q.params.temperature = 0;
      q.params.max_new_tokens = 40;
      const auto direct = r1::inference::generate(c, {q})[0][0].ids;
      CHECK(c_ids == std::vector<int64_t>(direct.begin(), direct.end()));
    }
    CHECK(client.update_weights(3, weight_tensors(b)).workers_delta == 1);
    CHECK(ids_of(call(*pushed.stub(), greedy("b again", prompt, 1, 40))[0]) == b_ids);
  }
}
