// The rollout client (rollout/client.h) against fake workers (fake_rollout_worker.h): groups spread by
// load and delivered exactly once, whole; workers that die, time out or come back; errors that are not
// retried; the token; weight updates chunk by chunk in bf16 (and the chunker, rollout/weight_chunks.h,
// on its own); local workers started, restarted after a
// crash and stopped with nothing left behind.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "core/error.h"
#include "rollout/client.h"
#include "rollout/node_workers.h"
#include "rollout/weight_chunks.h"
#include "tests/fake_rollout_worker.h"

using Catch::Matchers::Contains;
using r1::rollout::ClientOptions;
using r1::rollout::GroupResult;
using r1::rollout::RolloutClient;
using r1::rollout::WeightTensor;
using r1::rollout::WireDtype;
using r1::rollout::bf16_from_f32;
using r1::rollout::for_each_chunk;
using r1::test::FakeConfig;
using r1::test::FakeServer;

namespace {

using Clock = std::chrono::steady_clock;

r1::rollout::GroupRequest make_request(const std::string& id, int n) {
  r1::rollout::GroupRequest r;
  r.id = id;
  r.prompt = {11, 12, 13};
  r.params.n = n;
  r.params.max_new_tokens = 8;
  return r;
}

std::vector<r1::rollout::GroupRequest> make_requests(int count, int n, const std::string& prefix = "g") {
  std::vector<r1::rollout::GroupRequest> out;
  for (int i = 0; i < count; ++i) out.push_back(make_request(prefix + std::to_string(i), n));
  return out;
}

ClientOptions remote(std::vector<std::string> addresses) {
  ClientOptions o;
  o.addresses = std::move(addresses);
  o.connect_timeout_s = 5;
  o.status_interval_s = 0.1;
  o.reprobe_interval_s = 0.2;
  return o;
}

// Exactly n completions, sorted, each the fake's for its request and index, one policy version.
void check_group(const GroupResult& r, const r1::rollout::GroupRequest& request, int n) {
  INFO("group " << r.index << " (" << request.id << ")");
  REQUIRE(static_cast<int>(r.completions.size()) == n);
  for (int i = 0; i < n; ++i) {
    const auto& c = r.completions[i];
    CHECK(c.index == i);
    const std::vector<int32_t> fake = r1::test::fake_ids(request.id, i);
    CHECK(c.ids == std::vector<int64_t>(fake.begin(), fake.end()));
    CHECK(c.text == request.id + "#" + std::to_string(i));
    CHECK(c.policy_version == r.policy_version);
  }
}

size_t count_of(const std::vector<std::string>& v, const std::string& x) {
  return static_cast<size_t>(std::count(v.begin(), v.end(), x));
}

// Polls until pred() holds or `seconds` pass.
template <typename Pred>
bool eventually(Pred pred, double seconds = 10) {
  auto until = Clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000));
  while (Clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

bool process_gone(int pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

uint16_t bf16_bits(const std::string& data, size_t i) {
  uint16_t v;
  std::memcpy(&v, data.data() + 2 * i, 2);
  return v;
}

}  // namespace

TEST_CASE("rollout client: groups spread over two workers, each delivered once and whole", "[rollout][client]") {
  FakeServer a(FakeConfig{.delay_ms = 5}), b(FakeConfig{.delay_ms = 5});
  REQUIRE(a.server);
  REQUIRE(b.server);
  auto options = remote({a.address(), b.address()});
  options.max_groups_per_worker = 3;
  RolloutClient client(options);
  auto infos = client.workers();
  REQUIRE(infos.size() == 2);
  CHECK(infos[0].address == a.address());
  CHECK(infos[0].alive);
  CHECK_FALSE(infos[0].local);
  CHECK(infos[0].version == 1);

  const auto requests = make_requests(24, 4);
  std::map<size_t, int> delivered;
  std::map<std::string, int> by_worker;
  client.generate(requests, [&](GroupResult&& r) {
    ++delivered[r.index];
    ++by_worker[r.worker];
    check_group(r, requests.at(r.index), 4);
    CHECK(r.attempts == 1);
    CHECK(r.policy_version == 1);
  });
  REQUIRE(delivered.size() == 24);
  for (const auto& [index, times] : delivered) CHECK(times == 1);
  CHECK(by_worker[a.address()] + by_worker[b.address()] == 24);
  CHECK(by_worker[a.address()] >= 6);
  CHECK(by_worker[b.address()] >= 6);
  CHECK(a.service.max_active() <= 3);
  CHECK(b.service.max_active() <= 3);
  CHECK(a.service.streams().size() + b.service.streams().size() == 24);

  // generate_all: ordered by index.
  auto all = client.generate_all(make_requests(5, 2, "h"));
  REQUIRE(all.size() == 5);
  for (size_t i = 0; i < all.size(); ++i) CHECK(all[i].index == i);
}

TEST_CASE("rollout client: with equal loads the shorter queue wins", "[rollout][client]") {
  FakeServer busy(FakeConfig{.queue_depth = 50}), idle(FakeConfig{.queue_depth = 0});
  RolloutClient client(remote({busy.address(), idle.address()}));
  for (int i = 0; i < 4; ++i) {
    auto r = client.generate_all({make_request("q" + std::to_string(i), 1)});
    REQUIRE(r.size() == 1);
    CHECK(r[0].worker == idle.address());
  }
  CHECK(busy.service.streams().empty());
  CHECK(client.workers()[0].queue_depth == 50);
}

TEST_CASE("rollout client: queue depths are refreshed while generating, not while idle", "[rollout][client]") {
  FakeServer a(FakeConfig{.delay_ms = 400});
  RolloutClient client(remote({a.address()}));  // status_interval_s = 0.1
  const int at_start = a.service.status_calls();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(a.service.status_calls() == at_start);
  client.generate_all({make_request("slow", 1)});
  CHECK(a.service.status_calls() - at_start >= 2);
}

TEST_CASE("rollout client: generate() from two threads while weights are pushed", "[rollout][client]") {
  FakeServer a(FakeConfig{.delay_ms = 3}), b(FakeConfig{.delay_ms = 3});
  auto options = remote({a.address(), b.address()});
  options.max_groups_per_worker = 4;
  RolloutClient client(options);
  std::vector<GroupResult> first, second;
  std::thread t1([&] { first = client.generate_all(make_requests(30, 2, "p")); });
  std::thread t2([&] { second = client.generate_all(make_requests(30, 2, "q")); });
  std::vector<float> w(1000, 0.25f);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  client.update_weights(2, {{"w", WireDtype::kF32, {1000}, w.data(), w.size() * 4}});
  t1.join();
  t2.join();
  REQUIRE(first.size() == 30);
  REQUIRE(second.size() == 30);
  const auto p = make_requests(30, 2, "p"), q = make_requests(30, 2, "q");
  for (const auto& r : first) check_group(r, p[r.index], 2);
  for (const auto& r : second) check_group(r, q[r.index], 2);
  CHECK(a.service.version() == 2);
  CHECK(b.service.version() == 2);
}

TEST_CASE("rollout client: a worker dying mid-generation loses its groups to the other", "[rollout][client]") {
  // The first fails every call with UNAVAILABLE after 3 completions, in the middle of a group.
  FakeServer a(FakeConfig{.delay_ms = 5, .fail_after = 3}), b(FakeConfig{.delay_ms = 5});
  auto options = remote({a.address(), b.address()});
  options.max_groups_per_worker = 4;
  RolloutClient client(options);
  const auto requests = make_requests(20, 2);
  std::map<size_t, int> delivered;
  int resubmitted = 0;
  client.generate(requests, [&](GroupResult&& r) {
    ++delivered[r.index];
    check_group(r, requests.at(r.index), 2);
    const std::string& id = requests.at(r.index).id;
    if (r.worker == a.address()) {
      CHECK(count_of(a.service.completed(), id) == 1);
    } else {
      CHECK(r.worker == b.address());
      CHECK(count_of(b.service.completed(), id) == 1);
    }
    if (r.attempts > 1) {
      ++resubmitted;
      CHECK(r.worker == b.address());
    }
  });
  REQUIRE(delivered.size() == 20);
  for (const auto& [index, times] : delivered) CHECK(times == 1);
  CHECK(resubmitted >= 1);
  CHECK(a.service.completed().size() <= 1);  // 3 completions: one whole group at most
  CHECK_FALSE(client.workers()[0].alive);
  CHECK(client.workers()[1].alive);
}

TEST_CASE("rollout client: a server shut down mid-generation", "[rollout][client]") {
  // The first delivery comes from the fast one while the slow one is in the middle of its groups.
  FakeServer a(FakeConfig{.delay_ms = 100}), b(FakeConfig{.delay_ms = 5});
  auto options = remote({a.address(), b.address()});
  options.max_groups_per_worker = 4;
  RolloutClient client(options);
  const auto requests = make_requests(16, 2);
  std::map<size_t, int> delivered;
  std::thread stopper;
  int resubmitted = 0;
  client.generate(requests, [&](GroupResult&& r) {
    if (delivered.empty()) stopper = std::thread([&] { a.shutdown(0); });
    ++delivered[r.index];
    check_group(r, requests.at(r.index), 2);
    if (r.attempts > 1) ++resubmitted;
  });
  stopper.join();
  REQUIRE(delivered.size() == 16);
  for (const auto& [index, times] : delivered) CHECK(times == 1);
  CHECK(resubmitted >= 1);
  CHECK(a.service.completed().empty());
  CHECK(b.service.completed().size() == 16);
  CHECK_FALSE(client.workers()[0].alive);
}

TEST_CASE("rollout client: INVALID_ARGUMENT is not retried and names the request", "[rollout][client]") {
  FakeServer a(FakeConfig{.invalid = {"bad"}}), b(FakeConfig{.invalid = {"bad"}});
  RolloutClient client(remote({a.address(), b.address()}));
  auto requests = make_requests(6, 2);
  requests[3] = make_request("bad", 2);
  REQUIRE_THROWS_WITH(client.generate_all(requests),
                      Contains("\"bad\"") && Contains("refused") && Contains("outside the vocabulary"));
  CHECK(count_of(a.service.streams(), "bad") + count_of(b.service.streams(), "bad") == 1);
  // The client goes on serving afterwards.
  CHECK(client.generate_all(make_requests(3, 1, "after")).size() == 3);
}

TEST_CASE("rollout client: the token travels as x-r1-token", "[rollout][client]") {
  FakeServer a(FakeConfig{.token = "s3cret"});
  REQUIRE_THROWS_WITH(RolloutClient(remote({a.address()})), Contains(a.address()) && Contains("requires a token"));
  auto wrong = remote({a.address()});
  wrong.token = "guess";
  REQUIRE_THROWS_WITH(RolloutClient(wrong), Contains(a.address()) && Contains("refused the token"));
  CHECK(a.service.streams().empty());

  auto right = remote({a.address()});
  right.token = "s3cret";
  RolloutClient client(right);
  const auto requests = make_requests(3, 2);
  auto results = client.generate_all(requests);
  REQUIRE(results.size() == 3);
  for (const auto& r : results) check_group(r, requests[r.index], 2);
  REQUIRE(a.service.tokens().size() == 3);
  for (const auto& t : a.service.tokens()) CHECK(t == "s3cret");
}

TEST_CASE("rollout client: bad input is refused before anything is sent", "[rollout][client]") {
  FakeServer a;
  RolloutClient client(remote({a.address()}));
  bool called = false;
  client.generate({}, [&](GroupResult&&) { called = true; });
  CHECK_FALSE(called);

  auto zero = make_requests(3, 2);
  zero[1].params.n = 0;
  REQUIRE_THROWS_WITH(client.generate_all(zero), Contains("rollout request 1") && Contains("\"g1\"") &&
                                                     Contains("params.n must be >= 1"));
  auto no_prompt = make_requests(3, 2);
  no_prompt[2].prompt.clear();
  REQUIRE_THROWS_WITH(client.generate_all(no_prompt), Contains("rollout request 2") && Contains("has no prompt"));
  CHECK(a.service.streams().empty());

  // Default parameters: one sample.
  r1::rollout::GroupRequest plain;
  plain.id = "plain";
  plain.prompt = {11, 12, 13};
  auto r = client.generate_all({plain});
  REQUIRE(r.size() == 1);
  CHECK(r[0].completions.size() == 1);

  CHECK_THROWS_WITH(RolloutClient(ClientOptions{}), Contains("no workers"));
}

TEST_CASE("rollout client: mixed policy versions and aborted groups are resubmitted", "[rollout][client]") {
  SECTION("mixed versions: a failed attempt, retried") {
    FakeServer a(FakeConfig{.mixed_versions = 1});
    RolloutClient client(remote({a.address()}));
    const auto requests = make_requests(1, 3);
    auto r = client.generate_all(requests);
    REQUIRE(r.size() == 1);
    check_group(r[0], requests[0], 3);
    CHECK(r[0].attempts == 2);
    CHECK(r[0].policy_version == 1);
    CHECK(a.service.streams().size() == 2);
  }
  SECTION("aborted by a weight update: resubmitted, not counted as a failure") {
    FakeServer a(FakeConfig{.aborted_streams = 2});
    auto options = remote({a.address()});
    options.max_attempts = 1;
    RolloutClient client(options);
    const auto requests = make_requests(1, 2);
    auto r = client.generate_all(requests);
    REQUIRE(r.size() == 1);
    check_group(r[0], requests[0], 2);
    CHECK(r[0].attempts == 3);
    for (const auto& c : r[0].completions) CHECK(c.finish_reason == r1::rollout::FinishReason::kStop);
  }
  SECTION("a stream one completion short counts its worker down") {
    FakeServer a(FakeConfig{.short_streams = 1}), b;
    RolloutClient client(remote({a.address(), b.address()}));
    const auto requests = make_requests(1, 2);
    auto r = client.generate_all(requests);
    REQUIRE(r.size() == 1);
    check_group(r[0], requests[0], 2);
    CHECK(r[0].attempts == 2);
    CHECK(r[0].worker == b.address());
  }
  SECTION("a group failing on every attempt ends generate() naming it") {
    FakeServer a(FakeConfig{.mixed_versions = 100}), b(FakeConfig{.mixed_versions = 100});
    RolloutClient client(remote({a.address(), b.address()}));
    REQUIRE_THROWS_WITH(client.generate_all(make_requests(2, 2)),
                        Contains("failed 3 times") && Contains("mix policy versions"));
  }
}

TEST_CASE("rollout client: a group past its timeout goes to another worker", "[rollout][client]") {
  FakeServer slow(FakeConfig{.delay_ms = 5000}), fast(FakeConfig{.delay_ms = 1});
  auto options = remote({slow.address(), fast.address()});
  options.group_timeout_s = 0.3;
  options.max_groups_per_worker = 2;
  RolloutClient client(options);
  const auto requests = make_requests(4, 1);
  auto start = Clock::now();
  auto results = client.generate_all(requests);
  REQUIRE(results.size() == 4);
  int resubmitted = 0;
  for (const auto& r : results) {
    check_group(r, requests[r.index], 1);
    CHECK(r.worker == fast.address());
    resubmitted += r.attempts > 1;
  }
  CHECK(resubmitted >= 1);
  CHECK(slow.service.streams().size() >= 1);
  CHECK(Clock::now() - start < std::chrono::seconds(3));
}

TEST_CASE("rollout client: a stalled worker's groups go to the others within seconds, not at the group timeout",
          "[rollout][client]") {
  // The stalled one takes its groups and then neither answers GetStatus nor sends a completion, as a
  // SIGSTOPped worker does; group_timeout_s (600 s) would hold them for ten minutes.
  FakeServer stalled(FakeConfig{.delay_ms = 60000, .frozen_status_ms = 60000}), fine(FakeConfig{.delay_ms = 1});
  auto options = remote({stalled.address(), fine.address()});
  options.stall_s = 1;
  options.max_groups_per_worker = 2;
  RolloutClient client(options);
  const auto requests = make_requests(6, 2);
  const auto start = Clock::now();
  auto results = client.generate_all(requests);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  REQUIRE(results.size() == 6);
  for (const auto& r : results) {
    check_group(r, requests[r.index], 2);
    CHECK(r.worker == fine.address());
  }
  CHECK(stalled.service.streams().size() >= 1);  // it did take groups
  CHECK(seconds < 8);                             // stall_s plus a probe, not 600 s
}

TEST_CASE("rollout client: with no worker left generate() says so", "[rollout][client]") {
  FakeServer a(FakeConfig{.fail_after = 0});
  RolloutClient client(remote({a.address()}));
  REQUIRE_THROWS_WITH(client.generate_all(make_requests(3, 1)),
                      Contains("no rollout worker is left") && Contains(a.address()) && Contains("UNAVAILABLE"));
}

TEST_CASE("rollout client: a remote worker that comes back rejoins, but not while behind the policy", "[rollout][client]") {
  auto a = std::make_unique<FakeServer>(FakeConfig{.delay_ms = 10});
  FakeServer b(FakeConfig{.delay_ms = 10});
  const int port = a->port;
  const std::string address = a->address();
  auto options = remote({address, b.address()});
  options.max_groups_per_worker = 2;
  RolloutClient client(options);
  a->shutdown();
  auto first = client.generate_all(make_requests(4, 1, "x"));
  for (const auto& r : first) CHECK(r.worker == b.address());

  const float w[2] = {1.0f, 2.0f};
  client.update_weights(2, {WeightTensor{"w", WireDtype::kF32, {2}, w, sizeof w}});
  CHECK(b.service.version() == 2);

  // Back on its port with the old weights: it answers, and takes no work until weights reach it.
  a = std::make_unique<FakeServer>(FakeConfig{.delay_ms = 10}, port);
  REQUIRE(a->server);
  REQUIRE(eventually([&] { return client.workers()[0].alive; }));
  CHECK(client.workers()[0].version == 1);
  for (const auto& r : client.generate_all(make_requests(6, 1, "y"))) CHECK(r.worker == b.address());
  CHECK(a->service.streams().empty());

  client.update_weights(3, {WeightTensor{"w", WireDtype::kF32, {2}, w, sizeof w}});
  CHECK(a->service.version() == 3);
  std::set<std::string> used;
  for (const auto& r : client.generate_all(make_requests(8, 1, "z"))) {
    used.insert(r.worker);
    CHECK(r.policy_version == 3);
  }
  CHECK(used == std::set<std::string>{address, b.address()});
}

TEST_CASE("rollout client: weights travel in chunks, F32 as bf16, and the version is waited for", "[rollout][client]") {
  FakeServer a(FakeConfig{.switch_delay_ms = 150}), b;
  RolloutClient client(remote({a.address(), b.address()}));

  // A bf16 tensor over three default chunks (1 MiB), a scalar, and F32 values with known bf16 roundings.
  std::vector<uint16_t> big(1'500'001);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint16_t>(i * 2654435761u >> 7);
  const uint32_t f32_bits[] = {
      0x3F800000,  // 1.0
      0x3F808000,  // halfway, even below: down
      0x3F818000,  // halfway, odd below: up
      0x3F808001,  // above halfway: up
      0x3F807FFF,  // below halfway: down
      0x3F7FFFFF,  // carries into the exponent
      0xC0200000,  // -2.5
      0x7F800000,  // +inf
      0xFF800000,  // -inf
      0x7F7FFFFF,  // the largest float rounds to inf
      0x7FC00000,  // quiet NaN
      0x7F800001,  // a NaN with only its lowest bit set: stays NaN
      0xFF800001,  // negative NaN
      0x80000000,  // -0
      0x00000001,  // smallest subnormal: 0
      0x00018000,  // subnormal halfway, odd below: up
  };
  const uint16_t expected_bf16[] = {0x3F80, 0x3F80, 0x3F82, 0x3F81, 0x3F80, 0x3F80, 0xC020, 0x7F80,
                                    0xFF80, 0x7F80, 0x7FC0, 0x7FC0, 0xFFC0, 0x8000, 0x0000, 0x0002};
  const float scalar = 0.5f;
  std::vector<WeightTensor> tensors = {
      {"model.embed_tokens.weight", WireDtype::kBf16, {1'500'001}, big.data(), big.size() * 2},
      {"model.norm.weight", WireDtype::kF32, {4, 4}, f32_bits, sizeof f32_bits},
      {"lm_head.scale", WireDtype::kF32, {}, &scalar, sizeof scalar},
  };
  auto start = Clock::now();
  client.update_weights(7, tensors, true);
  CHECK(Clock::now() - start >= std::chrono::milliseconds(150));  // waited for the switch
  CHECK(a.service.version() == 7);
  CHECK(b.service.version() == 7);
  for (const auto& info : client.workers()) CHECK(info.version == 7);

  for (FakeServer* s : {&a, &b}) {
    auto chunks = s->service.chunks();
    std::vector<std::string> order;
    std::map<std::string, std::string> bytes;
    for (const auto& c : chunks) {
      CHECK(c.version == 7);
      CHECK(c.abort_in_flight);
      CHECK(c.dtype == "BF16");
      CHECK(c.data.size() <= (1u << 20));
      if (order.empty() || order.back() != c.name) order.push_back(c.name);
      CHECK(c.offset == bytes[c.name].size());  // in order, no gap
      bytes[c.name] += c.data;
    }
    CHECK(order == std::vector<std::string>{"model.embed_tokens.weight", "model.norm.weight", "lm_head.scale"});
    CHECK(chunks.size() == 3 + 1 + 1);
    CHECK(chunks[0].shape == std::vector<int64_t>{1'500'001});
    CHECK(chunks[3].shape == std::vector<int64_t>{4, 4});
    CHECK(chunks[4].shape.empty());
    CHECK(bytes["model.embed_tokens.weight"] == std::string(reinterpret_cast<const char*>(big.data()), big.size() * 2));
    const std::string& norm = bytes["model.norm.weight"];
    REQUIRE(norm.size() == 32);
    for (size_t i = 0; i < 16; ++i) {
      INFO("f32 bits " << std::hex << f32_bits[i]);
      CHECK(bf16_bits(norm, i) == expected_bf16[i]);
    }
    REQUIRE(bytes["lm_head.scale"].size() == 2);
    CHECK(bf16_bits(bytes["lm_head.scale"], 0) == 0x3F00);
  }
}

TEST_CASE("weight chunks: whole elements per chunk, F32 as bf16, the caller's fields in each", "[rollout][client]") {
  CHECK(bf16_from_f32(0x3F808000) == 0x3F80);  // halfway, even below: down
  CHECK(bf16_from_f32(0x3F818000) == 0x3F82);  // halfway, odd below: up
  CHECK(bf16_from_f32(0xFF800001) == 0xFFC0);  // a negative NaN stays a negative NaN, quiet
  CHECK(bf16_from_f32(0x7F7FFFFF) == 0x7F80);  // the largest float rounds to inf

  struct Seen {
    std::string name, dtype, data;
    std::vector<int64_t> shape;
    uint64_t offset, version;
    bool abort_in_flight;
  };
  auto cut = [](const WeightTensor& t, size_t chunk_bytes, bool as_f32) {
    r1::v1::TensorChunk chunk;
    chunk.set_version(9);
    chunk.set_abort_in_flight(true);
    std::vector<Seen> seen;
    for_each_chunk(t, chunk_bytes, as_f32, chunk, [&](const r1::v1::TensorChunk& c) {
      seen.push_back({c.name(), c.dtype(), c.data(), std::vector<int64_t>(c.shape().begin(), c.shape().end()),
                      c.offset(), c.version(), c.abort_in_flight()});
    });
    return seen;
  };

  // Five F32 elements are 10 bytes of bf16; chunks of 10 bytes hold 8 (whole F32 elements): 8 + 2.
  const uint32_t f32[] = {0x3F800000, 0x3F808000, 0x3F818000, 0xC0200000, 0x7FC00000};
  const uint16_t bf16[] = {0x3F80, 0x3F80, 0x3F82, 0xC020, 0x7FC0};
  auto chunks = cut({"w", WireDtype::kF32, {5}, f32, sizeof f32}, 10, false);
  REQUIRE(chunks.size() == 2);
  std::string all;
  for (const auto& c : chunks) {
    CHECK(c.name == "w");
    CHECK(c.dtype == "BF16");
    CHECK(c.shape == std::vector<int64_t>{5});
    CHECK(c.version == 9);
    CHECK(c.abort_in_flight);
    CHECK(c.offset == all.size());
    all += c.data;
  }
  CHECK(chunks[0].data.size() == 8);
  CHECK(all == std::string(reinterpret_cast<const char*>(bf16), sizeof bf16));

  // As F32 on request: the bytes as given, 8 per chunk.
  chunks = cut({"w", WireDtype::kF32, {5}, f32, sizeof f32}, 10, true);
  REQUIRE(chunks.size() == 3);
  CHECK(chunks[2].offset == 16);
  CHECK(chunks[0].dtype == "F32");
  CHECK(chunks[0].data + chunks[1].data + chunks[2].data == std::string(reinterpret_cast<const char*>(f32), sizeof f32));

  // BF16 travels as it is; a tensor of no bytes is one empty chunk.
  const uint16_t six[] = {1, 2, 3, 4, 5, 6};
  chunks = cut({"b", WireDtype::kBf16, {2, 3}, six, sizeof six}, 8, false);
  REQUIRE(chunks.size() == 2);
  CHECK(chunks[1].offset == 8);
  CHECK(chunks[0].dtype == "BF16");
  CHECK(chunks[0].data + chunks[1].data == std::string(reinterpret_cast<const char*>(six), sizeof six));
  CHECK(chunks[0].shape == std::vector<int64_t>{2, 3});
  chunks = cut({"e", WireDtype::kF32, {0}, nullptr, 0}, 1 << 20, false);
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].data.empty());
  CHECK(chunks[0].offset == 0);
}

TEST_CASE("rollout client: weights as F32 on request, in chunks of the size asked for", "[rollout][client]") {
  FakeServer a;
  auto options = remote({a.address()});
  options.weights_as_f32 = true;
  options.weight_chunk_bytes = 64;
  RolloutClient client(options);
  std::vector<float> w(100);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.001f * static_cast<float>(i) - 0.03f;
  client.update_weights(2, {{"layer.weight", WireDtype::kF32, {10, 10}, w.data(), w.size() * 4}});
  auto chunks = a.service.chunks();
  REQUIRE(chunks.size() == 7);  // 6 x 64 bytes + 16
  std::string all;
  for (const auto& c : chunks) {
    CHECK(c.dtype == "F32");
    CHECK(c.data.size() <= 64);
    CHECK(c.data.size() % 4 == 0);
    CHECK(c.offset == all.size());
    all += c.data;
  }
  CHECK(all == std::string(reinterpret_cast<const char*>(w.data()), w.size() * 4));
  CHECK(client.workers()[0].version == 2);
}

TEST_CASE("rollout client: weight updates that cannot work are errors naming the tensor or worker",
          "[rollout][client]") {
  FakeServer a(FakeConfig{.switch_delay_ms = 60000});
  auto options = remote({a.address()});
  options.update_timeout_s = 0.3;
  RolloutClient client(options);
  const float w[4] = {1, 2, 3, 4};
  CHECK_THROWS_WITH(client.update_weights(2, {{"w", WireDtype::kF32, {2, 3}, w, sizeof w}}),
                    Contains("weight \"w\"") && Contains("holds 16 bytes") && Contains("need 24"));
  CHECK_THROWS_WITH(client.update_weights(2, {{"w", WireDtype::kF32, {4}, w, 16}, {"w", WireDtype::kF32, {4}, w, 16}}),
                    Contains("appears twice"));
  CHECK(a.service.chunks().empty());
  // Refused by the worker: not above the version in service.
  CHECK_THROWS_WITH(client.update_weights(1, {{"w", WireDtype::kF32, {4}, w, 16}}),
                    Contains(a.address()) && Contains("INVALID_ARGUMENT") && Contains("not above"));
  // Taken, but never switched to.
  CHECK_THROWS_WITH(client.update_weights(5, {{"w", WireDtype::kF32, {4}, w, 16}}),
                    Contains(a.address()) && Contains("still reports version 1") && Contains("version 5"));
}

#ifdef R1_FAKE_ROLLOUT_WORKER

namespace {

ClientOptions local(int count, std::vector<std::string> serve_args = {}) {
  ClientOptions o;
  o.local.r1_binary = R1_FAKE_ROLLOUT_WORKER;
  o.local.worker.model_dir = "unused";  // the fake serves no model
  o.local.extra_args = std::move(serve_args);
  o.local.count = count;
  o.local.start_timeout_s = 10;
  o.local.stop_grace_s = 5;
  o.status_interval_s = 0.1;
  o.reprobe_interval_s = 0.2;
  return o;
}

}  // namespace

TEST_CASE("node workers: a node's workers serve a client elsewhere with the token, one killed comes back on its port",
          "[rollout][client]") {
  const ClientOptions spec = local(2);
  std::vector<std::string> addresses;
  std::vector<int> first;
  {
    r1::rollout::NodeWorkers node(spec.local, "127.0.0.1", "node-secret");
    addresses = node.addresses();
    REQUIRE(addresses.size() == 2);
    CHECK(addresses[0] != addresses[1]);
    first = node.pids();
    // The controller's client takes them as remote workers, with the token; without it they refuse.
    ClientOptions remote;
    remote.addresses = addresses;
    remote.connect_timeout_s = 5;
    CHECK_THROWS_WITH(RolloutClient(remote), Contains("token"));
    remote.token = "node-secret";
    {
      RolloutClient client(remote);
      CHECK(client.workers().size() == 2);
    }
    // Killed: started again on the same port, where a client finds it.
    ::kill(first[0], SIGKILL);
    const auto t0 = std::chrono::steady_clock::now();
    while (node.restarts() < 1 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(node.restarts() == 1);
    CHECK(node.pids()[0] != first[0]);
    CHECK(node.pids()[1] == first[1]);
    RolloutClient again(remote);
    CHECK(again.workers().size() == 2);
  }
  // Gone with the object.
  for (int pid : first) CHECK((::kill(pid, 0) != 0 && errno == ESRCH));
}

TEST_CASE("rollout client: local workers are started, restarted after a crash and stopped",
          "[rollout][client][local]") {
  std::vector<int> pids;
  {
    auto options = local(2, {"--delay-ms", "20"});
    options.token = "tok";  // the workers get --token and require it
    options.max_groups_per_worker = 2;
    RolloutClient client(options);
    auto infos = client.workers();
    REQUIRE(infos.size() == 2);
    for (const auto& i : infos) {
      CHECK(i.local);
      CHECK(i.alive);
      CHECK(i.pid > 0);
      CHECK(i.restarts == 0);
      CHECK(i.address.rfind("127.0.0.1:", 0) == 0);
      pids.push_back(i.pid);
    }
    CHECK(infos[0].address != infos[1].address);

    // kill -9 one while groups run on it: every group still completes, once.
    const auto requests = make_requests(12, 2);
    std::map<size_t, int> delivered;
    client.generate(requests, [&](GroupResult&& r) {
      if (delivered.empty()) REQUIRE(::kill(pids[0], SIGKILL) == 0);
      ++delivered[r.index];
      check_group(r, requests.at(r.index), 2);
    });
    REQUIRE(delivered.size() == 12);
    for (const auto& [index, times] : delivered) CHECK(times == 1);

    // It comes back as a new process and takes work again.
    REQUIRE(eventually([&] { return client.workers()[0].alive && client.workers()[0].restarts == 1; }));
    infos = client.workers();
    CHECK(infos[0].pid != pids[0]);
    CHECK(infos[1].restarts == 0);
    CHECK(infos[1].pid == pids[1]);
    CHECK(process_gone(pids[0]));  // killed and reaped
    pids.push_back(infos[0].pid);
    std::set<std::string> used;
    for (const auto& r : client.generate_all(make_requests(8, 1, "again"))) used.insert(r.worker);
    CHECK(used == std::set<std::string>{infos[0].address, infos[1].address});
  }
  // The destructor stopped both and reaped them.
  for (int pid : pids) {
    INFO("pid " << pid);
    CHECK(process_gone(pid));
  }
}

TEST_CASE("rollout client: the destructor stops local workers with SIGTERM", "[rollout][client][local]") {
  std::vector<int> pids;
  Clock::duration took{};
  {
    auto client = std::make_unique<RolloutClient>(local(2));
    for (const auto& i : client->workers()) pids.push_back(i.pid);
    auto start = Clock::now();
    client.reset();
    took = Clock::now() - start;
  }
  for (int pid : pids) CHECK(process_gone(pid));
  CHECK(took < std::chrono::seconds(4));  // graceful: no wait for the 5 s grace and SIGKILL
}

TEST_CASE("rollout client: a local worker that does not say where it listens", "[rollout][client][local]") {
  SECTION("exits first: the error names the command, its status and its stderr") {
    REQUIRE_THROWS_WITH(RolloutClient(local(1, {"--exit-early"})),
                        Contains(R1_FAKE_ROLLOUT_WORKER) && Contains("-q rollout serve --model unused --exit-early") &&
                            Contains("exited with status 3 before printing its address") &&
                            Contains("told to exit before listening"));
  }
  SECTION("stays silent: stopped after the start timeout") {
    auto options = local(1, {"--silent"});
    options.local.start_timeout_s = 0.5;
    std::string message;
    try {
      RolloutClient client(options);
    } catch (const r1::Error& e) {
      message = e.what();
    }
    CHECK_THAT(message, Contains("printed no address within 0.5 s") && Contains("keeping quiet"));
    std::smatch m;
    REQUIRE(std::regex_search(message, m, std::regex("fake worker pid (\\d+)")));
    CHECK(process_gone(std::stoi(m[1])));
  }
  SECTION("prints something else") {
    REQUIRE_THROWS_WITH(RolloutClient(local(1, {"--bad-line"})),
                        Contains("printed \"ready at port") && Contains("listening on <host>:<port>"));
  }
  SECTION("cannot be started at all") {
    auto options = local(1);
    options.local.r1_binary = "/nonexistent/r1";
    REQUIRE_THROWS_WITH(RolloutClient(options),
                        Contains("could not start rollout worker `/nonexistent/r1 -q rollout serve --model unused`"));
  }
  SECTION("two that fail: the error is a real failure, not the interruption of the other's start") {
    REQUIRE_THROWS_WITH(RolloutClient(local(2, {"--exit-early"})), Contains("exited with status 3"));
  }
}

#endif

namespace {

// The wire bytes of `t` as the client sends them (F32 as bf16).
std::string wire_bytes(const WeightTensor& t) {
  if (t.dtype == WireDtype::kBf16) return std::string(static_cast<const char*>(t.data), t.bytes);
  std::string out(t.bytes / 2, '\0');
  r1::rollout::bf16_from_f32(t.data, out.data(), t.bytes / 4);
  return out;
}

// Waits until the client counts the worker at `address` alive at `version`.
void await_alive(RolloutClient& client, const std::string& address, uint64_t version) {
  for (int i = 0; i < 200; ++i) {
    bool back = false;
    for (const auto& w : client.workers()) back = back || (w.address == address && w.alive && w.version == version);
    if (back) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  FAIL("the workers did not come back at version " << version);
}

}  // namespace

TEST_CASE("rollout client: weight deltas carry only changed elements, and every worker ends bit-identical",
          "[rollout][client]") {
  // Two tensors as a trainer sends them: bf16 as it is, F32 rounded to bf16 on the wire.
  std::vector<uint16_t> embed(300'001);
  for (size_t i = 0; i < embed.size(); ++i) embed[i] = static_cast<uint16_t>(0x3C00 | ((i * 2654435761u >> 9) & 0x3FF));  // finite
  std::vector<float> proj(1000 * 50);
  for (size_t i = 0; i < proj.size(); ++i) proj[i] = std::sin(static_cast<float>(i)) * 0.02f;
  const std::vector<WeightTensor> tensors = {
      {"model.embed_tokens.weight", WireDtype::kBf16, {300'001}, embed.data(), embed.size() * 2},
      {"model.layers.0.mlp.up_proj.weight", WireDtype::kF32, {1000, 50}, proj.data(), proj.size() * 4},
  };
  FakeConfig config{.version = 1};
  config.image_shapes = {{"model.embed_tokens.weight", {300'001}}, {"model.layers.0.mlp.up_proj.weight", {1000, 50}}};
  FakeServer a(config), b(config);
  ClientOptions o = remote({a.address(), b.address()});
  o.weight_chunk_bytes = 64 * 1024;
  RolloutClient client(o);
  auto identical = [&](FakeServer& s, uint64_t version) {
    CHECK(s.service.image_version() == version);
    auto image = s.service.image_bytes();
    for (const auto& t : tensors) {
      INFO(t.name);
      CHECK(image[t.name] == wire_bytes(t));
    }
  };
  auto streams_since = [](FakeServer& s, size_t from) {
    auto c = s.service.chunks();
    return std::vector<r1::test::ReceivedChunk>(c.begin() + static_cast<std::ptrdiff_t>(from), c.end());
  };

  // The first update goes whole to both.
  auto stats = client.update_weights(2, tensors);
  CHECK(stats.workers_full == 2);
  CHECK(stats.workers_delta == 0);
  CHECK(stats.full_bytes == embed.size() * 2 + proj.size() * 2);
  CHECK(stats.bytes_sent == 2 * stats.full_bytes);
  identical(a, 2);
  identical(b, 2);

  // A small step: 1% of the elements change; both get a delta against version 2, bit-identical after.
  for (size_t i = 0; i < embed.size(); i += 100) embed[i] ^= 1;
  for (size_t i = 7; i < proj.size(); i += 97) proj[i] *= 1.5f;
  size_t a_seen = a.service.chunks().size();
  stats = client.update_weights(3, tensors);
  CHECK(stats.workers_delta == 2);
  CHECK(stats.bytes_sent * 5 < 2 * stats.full_bytes);  // the bitmap (1/16 of bf16) and the 1% changed
  for (const auto& c : streams_since(a, a_seen)) {
    CHECK(c.version == 3);
    CHECK(c.base_version == 2);
    CHECK(c.changed);
  }
  identical(a, 3);
  identical(b, 3);

  // b misses version 4 (down), then comes back holding 3: it gets version 5 whole, a a delta.
  b.service.die();
  for (size_t i = 0; i < embed.size(); i += 50) embed[i] ^= 2;
  CHECK(client.update_weights(4, tensors).workers_delta == 1);
  identical(a, 4);
  b.service.revive();
  await_alive(client, b.address(), 3);
  for (size_t i = 3; i < proj.size(); i += 31) proj[i] = -proj[i];
  const size_t b_seen = b.service.chunks().size();
  stats = client.update_weights(5, tensors);
  CHECK(stats.workers_delta == 1);
  CHECK(stats.workers_full == 1);
  for (const auto& c : streams_since(b, b_seen)) CHECK(c.base_version == 0);
  identical(a, 5);
  identical(b, 5);

  // a loses its image while keeping its version (a restart the client did not see): it refuses the
  // delta and is sent the update whole at once.
  a.service.lose_image();
  embed[12345] ^= 4;
  stats = client.update_weights(6, tensors);
  CHECK(stats.workers_full == 1);
  CHECK(stats.workers_delta == 1);
  identical(a, 6);
  identical(b, 6);

  // Nothing changed: each delta stream is one empty chunk naming the version.
  a_seen = a.service.chunks().size();
  stats = client.update_weights(7, tensors);
  CHECK(stats.workers_delta == 2);
  CHECK(stats.bytes_sent == 0);
  const auto last = streams_since(a, a_seen);
  REQUIRE(last.size() == 1);
  CHECK(last[0].data.empty());
  identical(a, 7);
  identical(b, 7);

  // Without deltas every update goes whole.
  ClientOptions whole = o;
  whole.weight_deltas = false;
  RolloutClient plain(whole);
  embed[0] ^= 8;
  CHECK(plain.update_weights(8, tensors).workers_full == 2);
  CHECK(plain.update_weights(9, tensors).workers_full == 2);
  identical(a, 9);
}

TEST_CASE("weight image: deltas and chunks that cannot be applied are refused, naming the tensor", "[rollout][client]") {
  using r1::rollout::ChunkView;
  using r1::rollout::WeightImage;
  WeightImage image({{"w", {2, 8}}, {"b", {3}}}, "Tiny");
  std::vector<uint16_t> w(16), b = {1, 2, 3};
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<uint16_t>(0x3F80 + i);
  auto dense = [](const char* name, std::vector<int64_t> shape, const void* data, size_t bytes, uint64_t offset = 0) {
    ChunkView c;
    c.name = name;
    c.dtype = "BF16";
    c.shape = std::move(shape);
    c.offset = offset;
    c.data = std::string_view(static_cast<const char*>(data), bytes);
    return c;
  };
  // A full update, in two chunks for w.
  image.begin(0);
  CHECK(image.write(dense("w", {2, 8}, w.data(), 16)) == "");
  CHECK(image.write(dense("w", {2, 8}, w.data() + 8, 16, 16)) == "");
  CHECK_THAT(image.finish(1), Contains("tensor 'b' is missing from the update"));
  CHECK_FALSE(image.version());
  image.begin(0);
  CHECK(image.write(dense("w", {2, 8}, w.data(), 32)) == "");
  CHECK(image.write(dense("b", {3}, b.data(), 6)) == "");
  CHECK(image.finish(1) == "");
  CHECK(image.version() == 1u);

  // A CHANGED chunk: elements 1 and 9 of w.
  auto changed = [&](std::string payload, uint64_t span = 32, uint64_t offset = 0) {
    ChunkView c = dense("w", {2, 8}, nullptr, 0, offset);
    c.changed = true;
    c.span = span;
    static std::string keep;
    keep = std::move(payload);
    c.data = keep;
    return c;
  };
  std::string good("\x02\x02", 2);
  const uint16_t v1 = 0x4000, v9 = 0x4100;
  good.append(reinterpret_cast<const char*>(&v1), 2).append(reinterpret_cast<const char*>(&v9), 2);
  image.begin(1);
  CHECK(image.write(changed(good)) == "");
  CHECK(image.finish(2) == "");
  const auto* bytes = reinterpret_cast<const uint16_t*>(image.tensors().at("w").bytes.get());
  CHECK(bytes[1] == 0x4000);
  CHECK(bytes[9] == 0x4100);
  CHECK(bytes[0] == 0x3F80);
  CHECK(bytes[10] == 0x3F80 + 10);

  auto refused = [&](const ChunkView& c) {
    image.begin(2);
    return image.write(c);
  };
  CHECK_THAT(refused(changed(good.substr(0, 4))), Contains("marks 2 elements but carries 1 values"));
  CHECK_THAT(refused(changed(std::string("\x01", 1))), Contains("shorter than its bitmap"));
  CHECK_THAT(refused(changed(std::string("\x00\x00\x00", 3) + std::string(2, '\0'), 34)), Contains("not whole elements inside"));
  CHECK_THAT(refused(changed(std::string("\x00\x10", 2) + std::string(2, '\0'), 24)), Contains("marks elements past its span"));
  const uint16_t nan = 0x7FC0;
  CHECK_THAT(refused(changed(std::string("\x01\x00", 2) + std::string(reinterpret_cast<const char*>(&nan), 2))),
             Contains("NaN or infinite"));
  ChunkView f32 = dense("w", {2, 8}, w.data(), 4);
  f32.dtype = "F32";
  CHECK_THAT(refused(f32), Contains("a delta in F32 against weights sent in BF16"));
  CHECK_THAT(refused(dense("w", {2, 8}, w.data(), 4, 30)), Contains("not whole elements inside its 32 bytes"));
  CHECK_THAT(refused(dense("w", {4, 4}, w.data(), 4)), Contains("shape [4, 4], the model's is [2, 8]"));
  CHECK_THAT(refused(dense("x", {2}, w.data(), 4)), Contains("tensor 'x' is not part of this Tiny"));
  image.begin(0);
  CHECK_THAT(image.write(changed(good)), Contains("a CHANGED chunk in a full update"));
  image.begin(0);
  CHECK(image.write(dense("w", {2, 8}, w.data(), 16)) == "");
  ChunkView other = dense("w", {2, 8}, w.data(), 16, 16);
  other.dtype = "F16";
  CHECK_THAT(image.write(other), Contains("chunks of different dtypes"));

  // After any of these the image holds no version: the next delta is refused as stale.
  CHECK_FALSE(image.version());
  r1::v1::TensorChunk chunk;
  chunk.set_version(9);
  chunk.set_base_version(2);
  chunk.set_name("b");
  chunk.set_dtype("BF16");
  chunk.add_shape(3);
  bool given = false;
  const auto stream = r1::rollout::read_update(
      [&](r1::v1::TensorChunk& c) {
        if (given) return false;
        c = chunk;
        return given = true;
      },
      image, 2);
  CHECK_THAT(stream.stale, Contains("a delta against weights version 2, but this worker holds no whole update"));
}

TEST_CASE("weight chunks: a delta is CHANGED when sparse, DENSE when not, nothing when equal", "[rollout][client]") {
  std::vector<uint16_t> before(1000), now;
  for (size_t i = 0; i < before.size(); ++i) before[i] = static_cast<uint16_t>(i);
  now = before;
  r1::v1::TensorChunk c;
  const auto* n8 = reinterpret_cast<const uint8_t*>(now.data());
  const auto* b8 = reinterpret_cast<const uint8_t*>(before.data());
  CHECK_FALSE(r1::rollout::encode_delta(n8, b8, 2000, 2, c));
  now[3] = 77;
  now[999] = 78;
  REQUIRE(r1::rollout::encode_delta(n8, b8, 2000, 2, c));
  CHECK(c.encoding() == r1::v1::CHUNK_ENCODING_CHANGED);
  CHECK(c.span() == 2000);
  REQUIRE(c.data().size() == 125 + 4);
  CHECK(static_cast<uint8_t>(c.data()[0]) == 0x08);
  CHECK(static_cast<uint8_t>(c.data()[124]) == 0x80);
  for (auto& v : now) v = static_cast<uint16_t>(v + 1);  // every element: the region itself is smaller
  REQUIRE(r1::rollout::encode_delta(n8, b8, 2000, 2, c));
  CHECK(c.encoding() == r1::v1::CHUNK_ENCODING_DENSE);
  CHECK(c.data() == std::string(reinterpret_cast<const char*>(now.data()), 2000));
}

TEST_CASE("rollout client: a worker that stalls in a weight update holds nobody else, and is sent the next whole",
          "[rollout][client][fault]") {
  // 64 MB: more than gRPC's flow-control windows buffer, so writing to the stalled worker blocks.
  const int64_t n = 32'000'000;
  std::vector<uint16_t> embed(static_cast<size_t>(n), 0x3C00);
  const std::vector<WeightTensor> tensors = {{"model.embed_tokens.weight", WireDtype::kBf16, {n}, embed.data(), embed.size() * 2}};
  FakeConfig healthy;
  healthy.image_shapes = {{"model.embed_tokens.weight", {n}}};
  FakeConfig stalling = healthy;
  stalling.stalled_updates = 1;
  FakeServer a(healthy), b(stalling);
  ClientOptions o = remote({a.address(), b.address()});
  o.push_buffer_bytes = 4u << 20;  // the builder waits for the streams: b's stall must not hold it
  o.straggler_s = 1;
  RolloutClient client(o);
  const auto start = Clock::now();
  const auto stats = client.update_weights(2, tensors);
  CHECK(Clock::now() - start < std::chrono::seconds(8));
  CHECK(stats.workers_full == 1);
  CHECK(a.service.image_version() == 2u);
  CHECK_FALSE(b.service.image_version());
  bool b_down = false;
  for (const auto& w : client.workers())
    if (w.address == b.address()) b_down = !w.alive || w.version != 2;
  CHECK(b_down);
  // b answers again (at its old version): the next update reaches it whole, a gets a delta.
  await_alive(client, b.address(), 1);
  embed[7] = 0x3C01;
  const auto next = client.update_weights(3, tensors);
  CHECK(next.workers_full == 1);
  CHECK(next.workers_delta == 1);
  CHECK(a.service.image_bytes() == b.service.image_bytes());
  CHECK(b.service.image_version() == 3u);
}
