// Custom rewards: a C++ plugin through the C ABI (the example, and broken ones refused by name) and
// external programs (the Python example, and one that crashes, hangs or writes garbage).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <unistd.h>
#include <fstream>
#include <csignal>
#include <cmath>
#include <thread>

#include "core/error.h"
#include "rewards/format.h"
#include "rewards/remote.h"
#include "rewards/reward_set.h"
#include "rewards/scorer.h"

using namespace r1::rewards;
using nlohmann::json;

namespace {
Sample with(std::string completion, json reference = json::object()) {
  Sample s;
  s.completion = std::move(completion);
  s.reference = std::move(reference);
  return s;
}
RewardSet set_of(const json& entry) { return RewardSet::from_json(json::array({entry}), "r.json"); }
}  // namespace

TEST_CASE("plugin reward: the example keyword plugin through the C ABI", "[rewards][plugin]") {
  RewardSet set = set_of({{"kind", "plugin"}, {"name", "keyword"}, {"path", R1_EXAMPLE_PLUGIN},
                          {"config", {{"field", "keyword"}, {"bonus", 2.0}}}});
  CHECK(set.score(with("by Pythagoras' theorem", {{"keyword", "Pythagoras"}})).value == 2.0);
  Score miss = set.score(with("by the cosine rule", {{"keyword", "Pythagoras"}}));
  CHECK(miss.value == 0.0);
  CHECK(miss.reason == "keyword: keyword missing");
  Score error = set.score(with("anything"));
  CHECK(error.value == 0.0);
  CHECK(error.reason == "keyword: no reference field 'keyword'");
}

TEST_CASE("plugin reward: a crashing plugin costs its sample and a restart, three in a row stop the run", "[rewards][plugin]") {
  RewardSet set = set_of({{"kind", "plugin"}, {"name", "fragile"}, {"path", R1_PLUGIN_CRASH}});
  CHECK(set.score(with("abc")).value == 3.0);
  Score segv = set.score(with("segv"));  // it took the trainer down with 139
  CHECK(segv.value == 0.0);
  CHECK(segv.reason.find("fragile: reward plugin exited (killed by signal 11") == 0);
  CHECK(segv.failed == std::vector<std::string>{"fragile"});
  CHECK(set.score(with("abcd")).value == 4.0);  // restarted
  CHECK(set.score(with("abort")).reason.find("killed by signal 6") != std::string::npos);
  CHECK(set.score(with("ab")).value == 2.0);
  CHECK(set.score(with("exit")).reason == "fragile: reward plugin exited (exit status 3)");
  CHECK(set.score(with("a")).value == 1.0);
  // Three crashes in a row: the run's end, with one line, not every later sample scored 0.
  set.score(with("segv"));
  set.score(with("abort"));
  CHECK_THROWS_AS(set.score(with("exit")), RewardFatal);
  CHECK_THROWS_WITH(set.score(with("segv")), Catch::StartsWith("reward 'fragile': its reward plugin failed 4 times in a row"));
  // Through the batch scorer (the trainer's way) the fatal error reaches the caller too.
  BatchScorer scorer(std::make_shared<RewardSet>(set_of({{"kind", "plugin"}, {"name", "fragile"}, {"path", R1_PLUGIN_CRASH}})), 2);
  CHECK_THROWS_AS(scorer.score(std::vector<Sample>(6, with("segv"))), RewardFatal);
}

TEST_CASE("plugin reward: a trusted plugin runs in the process with in_process", "[rewards][plugin]") {
  RewardSet set = set_of({{"kind", "plugin"}, {"name", "keyword"}, {"path", R1_EXAMPLE_PLUGIN}, {"in_process", true},
                          {"config", {{"field", "keyword"}, {"bonus", 2.0}}}});
  Score hit = set.score(with("Pythagoras proved it", {{"keyword", "Pythagoras"}}));
  CHECK(hit.value == 2.0);
  CHECK_THROWS_WITH(set_of({{"kind", "plugin"}, {"in_process", true}, {"path", R1_PLUGIN_WRONG_VERSION}}),
                    Catch::Contains("ABI version 2"));
}

TEST_CASE("plugin reward: broken plugins are refused at load time, by name", "[rewards][plugin]") {
  CHECK_THROWS_WITH(set_of({{"kind", "plugin"}, {"path", R1_PLUGIN_MISSING_SYMBOL}}),
                    Catch::Contains("missing symbol r1_reward_v1_destroy"));
  CHECK_THROWS_WITH(set_of({{"kind", "plugin"}, {"path", R1_PLUGIN_WRONG_VERSION}}),
                    Catch::Contains("ABI version 2, r1 speaks 1"));
  CHECK_THROWS_WITH(set_of({{"kind", "plugin"}, {"path", "/nonexistent/libx.so"}}), Catch::Contains("cannot load"));
  CHECK_THROWS_WITH(set_of({{"kind", "plugin"}, {"path", R1_EXAMPLE_PLUGIN}, {"config", "not an object"}}),
                    Catch::Contains("create failed: bad config"));
  CHECK_THROWS_WITH(set_of({{"kind", "plugin"}}), Catch::Contains("rewards[0].path: required key is missing"));
}

TEST_CASE("plugin reward: a NaN or infinite value is a zero with a reason naming the reward, counted as its failure",
          "[rewards][plugin]") {
  RewardSet set = RewardSet::from_json(
      nlohmann::json::array({{{"kind", "plugin"}, {"name", "broken"}, {"path", R1_PLUGIN_NAN}},
                             {{"kind", "format"}, {"weight", 0.5}}}),
      "rewards.json");
  Sample s;
  s.completion = "<think>a</think><answer>b</answer>";
  Score score = set.score(s);
  CHECK(std::isfinite(score.value));
  CHECK(score.value == 0.5);  // the format reward still counts
  CHECK(score.components.at("broken") == 0.0);
  CHECK(score.reason.find("broken: non-finite value (nan)") != std::string::npos);
  CHECK(score.failed == std::vector<std::string>{"broken"});
  s.completion = "inf";
  score = set.score(s);
  CHECK(score.components.at("broken") == 0.0);
  CHECK(score.reason.find("broken: non-finite value (inf)") != std::string::npos);
  BatchScorer scorer(std::make_shared<RewardSet>(std::move(set)), 2);
  BatchStats stats;
  auto scores = scorer.score(std::vector<Sample>(4, s), &stats);
  CHECK(stats.failures["broken"] == 4);
  for (const auto& x : scores) CHECK(std::isfinite(x.value));
}

TEST_CASE("external reward: a second reply line is never read as the next sample's score", "[rewards][external]") {
  const std::string script = std::string(R1_SOURCE_DIR) + "/tests/plugins/doubling_reward.py";
  {  // replies echo the request's id: the stale line is passed over
    RewardSet set = set_of({{"kind", "external"}, {"name", "twice"}, {"command", {"/usr/bin/python3", script, "ids"}}});
    for (const std::string c : {"a", "bb", "ccc", "dddd"}) CHECK(set.score(with(c)).value == static_cast<double>(c.size()));
  }
  {  // replies without ids: a line waiting before a request restarts the program
    RewardSet set = set_of({{"kind", "external"}, {"name", "twice"}, {"command", {"/usr/bin/python3", script}}});
    for (const std::string c : {"a", "bb", "ccc", "dddd"}) {
      CHECK(set.score(with(c)).value == static_cast<double>(c.size()));  // a third sample was scored 99
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the second line has arrived by now
    }
  }
}

TEST_CASE("custom rewards: a value outside the declared range is a zero with a reason", "[rewards][external]") {
  const std::string script = std::string(R1_SOURCE_DIR) + "/tests/plugins/flaky_reward.py";
  RewardSet set = set_of({{"kind", "external"}, {"name", "flaky"}, {"command", {"/usr/bin/python3", script}}});
  Score huge = set.score(with("huge"));  // 1e308 was accepted
  CHECK(huge.value == 0.0);
  CHECK(huge.reason == "flaky: value 1e+308 outside the declared range [-100, 100]");
  CHECK(huge.failed == std::vector<std::string>{"flaky"});
  CHECK(set.score(with("abc")).value == 3.0);
  RewardSet narrow = set_of({{"kind", "external"}, {"name", "flaky"}, {"range", {0, 2}}, {"command", {"/usr/bin/python3", script}}});
  CHECK(narrow.score(with("ab")).value == 2.0);
  CHECK(narrow.score(with("abc")).reason == "flaky: value 3 outside the declared range [0, 2]");
  CHECK_THROWS_WITH(set_of({{"kind", "external"}, {"range", {2, 1}}, {"command", {"/usr/bin/python3", script}}}),
                    Catch::Contains("range: expected [low, high] with low <= high"));
  CHECK_THROWS_WITH(set_of({{"kind", "plugin"}, {"path", R1_EXAMPLE_PLUGIN}, {"range", "wide"}}),
                    Catch::Contains("range: expected [low, high]"));
}

TEST_CASE("external reward: a program's own children are stopped with it", "[rewards][external]") {
  const std::string pid_file = "/tmp/r1_test_forking_reward_" + std::to_string(::getpid());
  const std::string script = std::string(R1_SOURCE_DIR) + "/tests/plugins/forking_reward.py";
  {
    RewardSet set = set_of({{"kind", "external"}, {"name", "forks"}, {"command", {"/usr/bin/python3", script, pid_file}}});
    CHECK(set.score(with("x")).value == 1.0);
  }  // the reward set ends: its program stops
  std::ifstream in(pid_file);
  int child = 0;
  in >> child;
  REQUIRE(child > 0);
  // The grandchild ignored SIGTERM; it must be gone (or a zombie awaiting its new parent), not running.
  bool running = false;
  for (int i = 0; i < 50; ++i) {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string pid_field, comm, state;
    running = static_cast<bool>(stat >> pid_field >> comm >> state) && state != "Z";
    if (!running) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK_FALSE(running);
  if (running) ::kill(child, SIGKILL);
  std::remove(pid_file.c_str());
}

TEST_CASE("external reward: the Python example, kept running between samples", "[rewards][external]") {
  RewardSet set = set_of({{"kind", "external"}, {"name", "concise"},
                          {"command", {"/usr/bin/python3", std::string(R1_SOURCE_DIR) + "/examples/external_reward.py"}}});
  CHECK(set.score(with("short and sweet", {{"max_words", 10}})).value == 1.0);
  Score long_one = set.score(with("one two three four five six seven eight nine ten eleven twelve fifteen", {{"max_words", 10}}));
  CHECK(long_one.value == Approx(0.7));
  CHECK(long_one.reason == "concise: 13 words (limit 10)");
}

TEST_CASE("external reward: crashes, hangs and garbage are zeros with reasons, it restarts", "[rewards][external]") {
  json entry = {{"kind", "external"}, {"name", "flaky"}, {"time_budget_ms", 1000},
                {"command", {"/usr/bin/python3", std::string(R1_SOURCE_DIR) + "/tests/plugins/flaky_reward.py"}}};
  RewardSet set = set_of(entry);
  Score first = set.score(with("abc"));
  CHECK(first.value == 3.0);
  std::string pid = first.reason;
  CHECK(set.score(with("abcd")).reason == pid);  // same process

  Score crash = set.score(with("crash"));
  CHECK(crash.value == 0.0);
  CHECK(crash.reason == "flaky: reward program exited (exit status 3)");
  Score after = set.score(with("ab"));
  CHECK(after.value == 2.0);
  CHECK(after.reason != pid);  // a new process

  auto start = std::chrono::steady_clock::now();
  Score slow = set.score(with("sleep"));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(slow.value == 0.0);
  CHECK(slow.reason == "flaky: timeout");
  CHECK(seconds < 3.0);  // the budget is 1 s (a restarted Python must start within it, on a busy machine too); the program would sleep 5 s
  CHECK(set.score(with("xyz")).value == 3.0);  // restarted, and its late reply is never read

  CHECK(set.score(with("garbage")).reason == "flaky: malformed reply from reward program: this is not json");
  CHECK(set.score(with("no-reward")).reason == "flaky: reward program reply needs a number \"reward\": {\"score\": 1}");
  CHECK(set.score(with("ok")).value == 2.0);

  CHECK_THROWS_WITH(set_of({{"kind", "external"}, {"command", json::array()}}), Catch::Contains("command: expected [program"));
  Score missing = set_of({{"kind", "external"}, {"command", {"/nonexistent/program"}}}).score(with("x"));
  CHECK(missing.value == 0.0);
  CHECK(missing.reason.find("did not start") != std::string::npos);
}

TEST_CASE("external reward: concurrent scoring through the batch scorer stays in order", "[rewards][external]") {
  auto set = std::make_shared<RewardSet>(set_of(
      {{"kind", "external"}, {"name", "flaky"},
       {"command", {"/usr/bin/python3", std::string(R1_SOURCE_DIR) + "/tests/plugins/flaky_reward.py"}}}));
  std::vector<Sample> samples;
  for (int i = 0; i < 40; ++i) samples.push_back(with(std::string(static_cast<size_t>(i % 9 + 1), 'a')));
  auto scores = BatchScorer(set, 2).score(samples);
  for (int i = 0; i < 40; ++i) CHECK(scores[static_cast<size_t>(i)].value == static_cast<double>(i % 9 + 1));
}

namespace {
struct Sleepy : Reward {
  std::string id = "sleepy";
  const std::string& name() const override { return id; }
  Score score(const Sample&, const Components&, const Deadline&) const override {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    return Score{1.0, {}, "", {}};
  }
};
}  // namespace

TEST_CASE("remote reward: scored over gRPC, with a token, unavailable and slow servers are zeros", "[rewards][remote]") {
  auto served = std::make_shared<RewardSet>();
  served->add(std::make_shared<FormatReward>("format", FormatOptions{}), 1.0, std::chrono::milliseconds(1000));
  RewardServer server(served, "127.0.0.1", 0, "s3cret", 2);
  std::string address = "127.0.0.1:" + std::to_string(server.port());

  RewardSet client = set_of({{"kind", "remote"}, {"name", "judge"}, {"address", address}, {"token", "s3cret"}});
  CHECK(client.score(with("<think>a</think><answer>b</answer>")).value == 1.0);
  Score bad_format = client.score(with("no tags"));
  CHECK(bad_format.value == 0.0);
  CHECK(bad_format.reason == "judge: format: missing <think>");  // the server's own reason comes back

  Score no_token = set_of({{"kind", "remote"}, {"address", address}}).score(with("x"));
  CHECK(no_token.value == 0.0);
  CHECK(no_token.reason == "remote: remote reward failed: missing or wrong r1-token");

  server.shutdown();
  auto down = std::make_shared<RewardSet>(client);
  BatchStats stats;
  auto scores = BatchScorer(down, 2).score({with("a"), with("b"), with("c")}, &stats);
  for (const auto& s : scores) {
    CHECK(s.value == 0.0);
    CHECK(s.reason.rfind("judge: unavailable: " + address, 0) == 0);
  }
  CHECK(stats.failures["judge"] == 3);  // counted for metrics

  auto slow_set = std::make_shared<RewardSet>();
  slow_set->add(std::make_shared<Sleepy>(), 1.0, std::chrono::milliseconds(5000));
  RewardServer slow(slow_set, "127.0.0.1", 0, "", 2);
  RewardSet impatient = set_of({{"kind", "remote"}, {"name", "judge"}, {"time_budget_ms", 200},
                                {"address", "127.0.0.1:" + std::to_string(slow.port())}});
  auto start = std::chrono::steady_clock::now();
  Score late = impatient.score(with("x"));
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 1.5);
  CHECK(late.value == 0.0);
  CHECK(late.reason == "judge: timeout");
  CHECK(late.failed == std::vector<std::string>{"judge"});
}
