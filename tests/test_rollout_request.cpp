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
  REQUIRE(ok.error.empty());
  CHECK(ok.request.prompt == std::vector<int64_t>{72, 105});
  CHECK(ok.request.request_id == "g1");
  CHECK(ok.request.n == 1);  // no params: defaults
  CHECK(ok.request.temperature == 1.0);

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
  REQUIRE(got.error.empty());
  CHECK(got.request.n == 4);
  CHECK(got.request.max_new_tokens == 16);
  CHECK(got.request.seed == 42);
  CHECK(std::abs(got.request.top_p - 0.95) < 1e-6);
  CHECK(got.request.stop_token_ids == std::vector<int64_t>{258});

  // Messages through the tokenizer's own (ChatML) template, or a named one.
  r1::Tokenizer tok = byte_tokenizer();
  r1::v1::GenerateRequest chat;
  auto* m = chat.mutable_messages()->add_messages();
  m->set_role("user");
  m->set_content("hi");
  auto rendered = prepare_request(chat, ModelLimits{259, 4096, 8}, &tok);
  REQUIRE(rendered.error.empty());
  std::vector<int32_t> ids(rendered.request.prompt.begin(), rendered.request.prompt.end());
  CHECK(tok.decode(ids) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  chat.mutable_messages()->set_chat_template("r1-zero");
  auto zero = prepare_request(chat, ModelLimits{259, 4096, 8}, &tok);
  REQUIRE(zero.error.empty());
  ids.assign(zero.request.prompt.begin(), zero.request.prompt.end());
  CHECK(tok.decode(ids).find("User: hi") != std::string::npos);
}

TEST_CASE("rollout request: every malformed field is named", "[rollout]") {
  const ModelLimits limits{259, 64, 8};
  r1::Tokenizer tok = byte_tokenizer();
  auto error = [&](const r1::v1::GenerateRequest& r, const r1::Tokenizer* t = nullptr) {
    return prepare_request(r, limits, t).error;
  };
  CHECK(error(r1::v1::GenerateRequest()) == "prompt: set prompt_ids or messages");
  CHECK(error(ids_request({})) == "prompt_ids: empty");
  CHECK(error(ids_request({1, 259})) == "prompt_ids[1]: token id 259 is outside the vocabulary (259)");
  CHECK(error(ids_request({-4})) == "prompt_ids[0]: token id -4 is outside the vocabulary (259)");
  CHECK(error(ids_request(std::vector<int32_t>(64, 7))) == "prompt: 64 tokens leave no room in the model's context of 64");
  CHECK(prepare_request(ids_request(std::vector<int32_t>(60, 7)), limits, nullptr).request.max_new_tokens == 4);

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
