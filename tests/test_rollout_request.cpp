// Rollout requests: prompts as ids or as messages through a chat template, and every malformed field
// refused with a message naming it (the worker answers INVALID_ARGUMENT and keeps serving).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "proto/rollout.pb.h"
#include "rollout/request.h"
#include "rollout/wire.h"
#include "rollout/worker_options.h"

#include <CLI/CLI.hpp>

using r1::rollout::ModelLimits;
using r1::rollout::prepare_request;

namespace {

r1::v1::GenerateRequest ids_request(std::vector<int32_t> ids) {
  r1::v1::GenerateRequest r;
  r.set_request_id("g1");
  auto* prompt = r.mutable_prompt_ids();  // set even when empty
  for (int32_t id : ids) prompt->add_ids(id);
  return r;
}

r1::Tokenizer byte_tokenizer() {
  char dir[] = "/tmp/r1_test_rollout_XXXXXX";
  std::string path = ::mkdtemp(dir);
  r1::write_byte_tokenizer(path);
  r1::Tokenizer t = r1::Tokenizer::load(path);
  std::filesystem::remove_all(path);
  return t;
}

}  // namespace

TEST_CASE("rollout request: prompts and sampling parameters", "[rollout]") {
  const ModelLimits limits{259, 64, 8};
  auto ok = prepare_request(ids_request({72, 105}), limits, nullptr);
  CHECK(ok.prompt == std::vector<int64_t>{72, 105});
  CHECK(ok.id == "g1");
  CHECK(ok.params.n == 1);  // no params: defaults
  CHECK(ok.params.temperature == 1.0);

  auto with = ids_request({1, 2, 3});
  auto* p = with.mutable_params();
  p->set_temperature(0.7f);
  p->set_top_p(0.95f);
  p->set_top_k(20);
  p->set_n(4);
  p->set_max_new_tokens(16);
  p->set_seed(42);
  p->add_stop_token_ids(258);
  auto got = prepare_request(with, limits, nullptr);
  CHECK(got.params.n == 4);
  CHECK(got.params.max_new_tokens == 16);
  CHECK(got.params.seed == 42);
  CHECK(std::abs(got.params.top_p - 0.95) < 1e-6);
  CHECK(got.params.stop_token_ids == std::vector<int64_t>{258});

  // The trainer's side writes a GroupRequest with rollout/wire.h; the worker reads back the same group.
  r1::rollout::GroupRequest sent;
  sent.id = "row-7";
  sent.prompt = {3, 4, 5};
  sent.params.temperature = 0.5;
  sent.params.top_p = 0.75;
  sent.params.top_k = 7;
  sent.params.min_p = 0.125;
  sent.params.max_new_tokens = 11;
  sent.params.n = 3;
  sent.params.seed = 123456789012345ULL;
  sent.params.stop_token_ids = {258, 2};
  CHECK(prepare_request(r1::rollout::to_proto(sent), limits, nullptr) == sent);

  // Messages through the tokenizer's own (ChatML) template, or a named one.
  r1::Tokenizer tok = byte_tokenizer();
  r1::v1::GenerateRequest chat;
  auto* m = chat.mutable_messages()->add_messages();
  m->set_role("user");
  m->set_content("hi");
  auto rendered = prepare_request(chat, ModelLimits{259, 4096, 8}, &tok);
  std::vector<int32_t> ids(rendered.prompt.begin(), rendered.prompt.end());
  CHECK(tok.decode(ids) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  chat.mutable_messages()->set_chat_template("r1-zero");
  auto zero = prepare_request(chat, ModelLimits{259, 4096, 8}, &tok);
  ids.assign(zero.prompt.begin(), zero.prompt.end());
  CHECK(tok.decode(ids).find("User: hi") != std::string::npos);
}

TEST_CASE("rollout request: every malformed field is named", "[rollout]") {
  const ModelLimits limits{259, 64, 8};
  r1::Tokenizer tok = byte_tokenizer();
  // The message of the InvalidRequest thrown, or "" when the request is accepted.
  auto error = [&](const r1::v1::GenerateRequest& r, const r1::Tokenizer* t = nullptr) -> std::string {
    try {
      prepare_request(r, limits, t);
      return "";
    } catch (const r1::rollout::InvalidRequest& e) {
      return e.what();
    }
  };
  CHECK(error(r1::v1::GenerateRequest()) == "prompt: set prompt_ids or messages");
  CHECK(error(ids_request({})) == "prompt_ids: empty");
  CHECK(error(ids_request({1, 259})) == "prompt_ids[1]: token id 259 is outside the vocabulary (259)");
  CHECK(error(ids_request({-4})) == "prompt_ids[0]: token id -4 is outside the vocabulary (259)");
  CHECK(error(ids_request(std::vector<int32_t>(64, 7))) == "prompt: 64 tokens leave no room in the model's context of 64");
  CHECK(prepare_request(ids_request(std::vector<int32_t>(60, 7)), limits, nullptr).params.max_new_tokens == 4);

  auto with = [&](auto set) {
    auto r = ids_request({1, 2});
    auto* p = r.mutable_params();
    p->set_n(1);
    p->set_max_new_tokens(8);
    set(p);
    return r;
  };
  CHECK(error(with([](auto* p) { p->set_n(0); })) == "params.n: must be >= 1");
  CHECK(error(with([](auto* p) { p->set_n(9); })) == "params.n: at most 8 samples a request");
  CHECK(error(with([](auto* p) { p->set_max_new_tokens(0); })) == "params.max_new_tokens: must be >= 1");
  CHECK(error(with([](auto* p) { p->set_temperature(NAN); })) == "params.temperature: must be a number >= 0");
  CHECK(error(with([](auto* p) { p->set_temperature(-1); })) == "params.temperature: must be a number >= 0");
  CHECK(error(with([](auto* p) { p->set_top_p(1.5f); })) == "params.top_p: must be in (0, 1]");
  CHECK(error(with([](auto* p) { p->set_top_p(-0.1f); })) == "params.top_p: must be in (0, 1]");
  CHECK(error(with([](auto* p) { p->set_top_k(-1); })) == "params.top_k: must be >= 0");
  CHECK(error(with([](auto* p) { p->set_min_p(1.0f); })) == "params.min_p: must be in [0, 1)");
  CHECK(error(with([](auto* p) { p->add_stop_token_ids(300); })) ==
        "params.stop_token_ids[0]: token id 300 is outside the vocabulary (259)");
  CHECK(error(with([](auto* p) { p->add_stop(""); }), &tok) == "params.stop[0]: empty");
  CHECK(error(with([](auto* p) { p->add_stop("x"); })) ==
        "params.stop: this worker has no tokenizer to find stop strings with");
  CHECK(error(with([](auto* p) { p->set_top_p(0); })).empty());  // unset: 1
  auto long_prompt = with([](auto* p) { p->set_max_new_tokens(8); });
  for (int i = 0; i < 58; ++i) long_prompt.mutable_prompt_ids()->add_ids(5);
  CHECK(error(long_prompt) == "prompt: 60 tokens + params.max_new_tokens 8 exceed the model's context of 64");

  r1::v1::GenerateRequest chat;
  chat.mutable_messages();
  CHECK(error(chat, &tok) == "messages: empty");
  auto* m = chat.mutable_messages()->add_messages();
  m->set_role("tool");
  CHECK(error(chat, &tok) == "messages[0].role: 'tool' is not system, user or assistant");
  CHECK(error(chat) == "messages: this worker has no tokenizer; send prompt_ids");
  m->set_role("user");
  chat.mutable_messages()->set_chat_template("no-such-template");
  CHECK(error(chat, &tok).rfind("messages: ", 0) == 0);
  CHECK(error(chat, &tok).find("no-such-template") != std::string::npos);
  auto long_id = ids_request({1});
  long_id.set_request_id(std::string(300, 'x'));
  CHECK(error(long_id) == "request_id: longer than 256 bytes");
}

TEST_CASE("rollout wire: completions and finish reasons round-trip", "[rollout]") {
  using r1::rollout::FinishReason;
  for (FinishReason reason : {FinishReason::kStop, FinishReason::kLength, FinishReason::kAbort}) {
    r1::rollout::Completion c;
    c.index = 2;
    c.ids = {5, 6, 258};
    c.logprobs = {-0.5f, -1.25f, -0.125f};
    c.text = "ab";
    c.finish_reason = reason;
    c.policy_version = 9;
    const r1::v1::Completion wire = r1::rollout::to_proto(c, "row-3", 17);
    CHECK(wire.request_id() == "row-3");
    CHECK(wire.prompt_tokens() == 17);
    const r1::rollout::Completion back = r1::rollout::from_proto(wire);
    CHECK(back.index == c.index);
    CHECK(back.ids == c.ids);
    CHECK(back.logprobs == c.logprobs);
    CHECK(back.text == c.text);
    CHECK(back.finish_reason == reason);
    CHECK(back.policy_version == 9);
  }
  CHECK(std::string(r1::rollout::finish_reason_name(FinishReason::kLength)) == "length");
  // A worker that leaves the reason unset: the sample ended on its own.
  CHECK(r1::rollout::from_proto(r1::v1::FINISH_REASON_UNSPECIFIED) == FinishReason::kStop);
}

namespace {

// What `r1 rollout serve` reads from `args` (the arguments after the r1 binary), through the very
// flags the command declares; r1's global --threads and -q as cli/main.cpp declares them.
r1::rollout::WorkerOptions parse_worker_command(const std::vector<std::string>& args, bool* quiet) {
  CLI::App app("r1");
  r1::rollout::WorkerOptions o;
  app.add_option("--threads", o.threads);
  app.add_flag("-q,--quiet", *quiet);
  auto* serve = app.add_subcommand("rollout")->add_subcommand("serve");
  r1::rollout::add_serve_options(*serve, o);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses a reversed vector
  app.parse(reversed);
  return o;
}

}  // namespace

TEST_CASE("rollout worker command: what a trainer writes is what `rollout serve` reads", "[rollout]") {
  r1::rollout::WorkerOptions o;
  o.model_dir = "/models/run 1/step-40";  // a space survives: arguments, not a shell line
  bool quiet = false;
  CHECK(parse_worker_command(r1::rollout::worker_command(o, false), &quiet) == o);  // all defaults
  CHECK_FALSE(quiet);

  o.precision = r1::WeightPrecision::kBf16;
  o.fp8_scaling = "block";
  o.kv_cache_mb = 123.456789;
  o.max_running = 17;
  o.max_n = 96;
  o.host = "0.0.0.0";
  o.port = 40123;
  o.max_message_mb = 256;
  o.version = 12345678901ULL;
  o.threads = 3;
  o.device = {r1::DeviceChoice::kCuda, 1};
  o.kv_cache_fraction = 0.45;
  o.adapter_dir = "/runs/lora run/step-40";
  o.lora_apply = "unmerged";
  const auto args = r1::rollout::worker_command(o, true);
  CHECK(parse_worker_command(args, &quiet) == o);
  CHECK(quiet);
  CHECK(std::find(args.begin(), args.end(), "cuda:1") != args.end());
  o.device = {r1::DeviceChoice::kCpu, 0};
  CHECK(parse_worker_command(r1::rollout::worker_command(o, true), &quiet) == o);
  // A device that is no device is refused by the flag itself, naming it.
  std::vector<std::string> bad = r1::rollout::worker_command(o, true);
  bad.back() = "gpu";
  CHECK_THROWS_WITH(parse_worker_command(bad, &quiet), Catch::Contains("'gpu' is not a device (auto, cpu, cuda or cuda:N)"));
  // The token never appears on a command line (visible to every user of the machine).
  o.token = "s3cret";
  for (const auto& a : r1::rollout::worker_command(o, true)) CHECK(a.find("s3cret") == std::string::npos);
}

TEST_CASE("rollout worker: an exposed worker without a token is warned about, a loopback or tokened one is not", "[rollout]") {
  r1::rollout::WorkerOptions o;
  CHECK(r1::rollout::exposure_warning(o).empty());  // 127.0.0.1 by default
  for (const char* host : {"localhost", "::1", "127.0.0.2"}) {
    o.host = host;
    CHECK(r1::rollout::exposure_warning(o).empty());
  }
  for (const char* host : {"0.0.0.0", "::", "10.0.0.5", "my-node"}) {
    o.host = host;
    CHECK(r1::rollout::exposure_warning(o).find(std::string("serving on ") + host + " with no token") == 0);
  }
  o.token = "s3cret";
  CHECK(r1::rollout::exposure_warning(o).empty());
}
