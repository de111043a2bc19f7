#include "bench/rewards_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "rewards/math.h"
#include "rewards/reward_set.h"

namespace r1::bench {
namespace {

struct Pair {
  std::string gold, completion, answer;
  bool right;  // how the mix built it
};

std::string with_thousands(int n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// A deterministic mix shaped like competition-math datasets: mostly integers (some written with
// thousands separators), then fractions, radicals, structured answers, expressions in a variable,
// choices, chains of equalities and answers stated in prose; about a third wrong.
std::vector<Pair> make_mix(int n) {
  std::mt19937 rng(2024);
  auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<unsigned>(k)); };
  std::vector<Pair> out;
  out.reserve(static_cast<size_t>(n));
  const std::string think = "<think>Let me work through this carefully. First we set up the equation, then we "
                            "simplify both sides and check the result against the constraints.</think> ";
  for (int i = 0; i < n; ++i) {
    int kind = pick(100);
    bool right = pick(3) != 0;
    int a = 1 + pick(999), b = 2 + pick(30);
    std::string gold, answer, completion;
    if (kind < 40) {
      int value = kind < 10 ? a * 37 : a;  // a quarter of them above 1,000, written with separators
      gold = std::to_string(value);
      answer = with_thousands(right ? value : value + 1);
    } else if (kind < 45) {
      gold = std::to_string(a + b);
      answer = "x = " + std::to_string(a) + " + " + std::to_string(b) + " = " + std::to_string(right ? a + b : a + b + 1);
    } else if (kind < 50) {
      gold = std::to_string(a);
      completion = think + "Adding the " + std::to_string(b) + " groups back, the smallest possible total is " +
                   std::to_string(right ? a : a + 2) + ".";
    } else if (kind < 65) {
      gold = "\\frac{" + std::to_string(a) + "}{" + std::to_string(b) + "}";
      answer = right ? std::to_string(a * 2) + "/" + std::to_string(b * 2) : std::to_string(a) + "/" + std::to_string(b + 1);
    } else if (kind < 75) {
      gold = std::to_string(b) + "\\sqrt{3}";
      answer = right ? "\\sqrt{" + std::to_string(3 * b * b) + "}" : "\\sqrt{" + std::to_string(3 * b * b + 1) + "}";
    } else if (kind < 85) {
      gold = "(" + std::to_string(a) + ", \\frac{1}{" + std::to_string(b) + "})";
      answer = right ? "(" + std::to_string(a) + ",1/" + std::to_string(b) + ")" : "(1/" + std::to_string(b) + "," + std::to_string(a) + ")";
    } else if (kind < 95) {
      gold = "x^2+" + std::to_string(2 * b) + "x+" + std::to_string(b * b);
      answer = right ? "(x+" + std::to_string(b) + ")^2" : "(x+" + std::to_string(b + 1) + ")^2";
    } else {
      const char* letters = "ABCDE";
      gold = std::string(1, letters[a % 5]);
      answer = "(" + std::string(1, letters[(a + (right ? 0 : 1)) % 5]) + ")";
    }
    if (completion.empty()) completion = think + "<answer>\\boxed{" + answer + "}</answer>";
    out.push_back({gold, completion, answer, right});
  }
  return out;
}

struct Pass {
  double seconds = 0;
  std::vector<double> latency_us;  // in the mix's order
  std::vector<char> verdicts;
};

// Verifies the mix on `threads` threads, each a contiguous slice (as the reward pool splits a batch).
Pass verify_all(const std::vector<Pair>& pairs, int threads) {
  using Clock = std::chrono::steady_clock;
  Pass pass;
  pass.latency_us.resize(pairs.size());
  pass.verdicts.resize(pairs.size());
  auto work = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      auto t0 = Clock::now();
      pass.verdicts[i] = rewards::verify_math(pairs[i].gold, pairs[i].completion).correct;
      pass.latency_us[i] = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    }
  };
  auto start = Clock::now();
  std::vector<std::thread> pool;
  size_t per = (pairs.size() + static_cast<size_t>(threads) - 1) / static_cast<size_t>(threads);
  for (int t = 0; t < threads; ++t) {
    size_t begin = std::min(pairs.size(), per * static_cast<size_t>(t));
    pool.emplace_back(work, begin, std::min(pairs.size(), begin + per));
  }
  for (auto& th : pool) th.join();
  pass.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return pass;
}

}  // namespace

// The example keyword plugin scoring `n` samples through a reward set of `entry`: samples per second.
double plugin_rate(const nlohmann::json& entry, int n) {
  auto set = rewards::RewardSet::from_json(nlohmann::json::array({entry}), "bench");
  rewards::Sample s;
  s.reference = {{"keyword", "Pythagoras"}};
  s.completion = "<think>By Pythagoras, 3^2 + 4^2 = 5^2.</think><answer>5</answer>";
  set.score(s);  // started and warm
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) set.score(s);
  return n / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A plugin in its host process against the same plugin in r1's: what isolation costs a sample.
void plugin_overhead() {
  const std::string path = R1_EXAMPLE_PLUGIN_PATH;
  if (::access(path.c_str(), R_OK) != 0) {
    std::printf("  plugin     (the example plugin %s is not built: skipped)\n", path.c_str());
    return;
  }
  nlohmann::json entry = {{"kind", "plugin"}, {"name", "keyword"}, {"path", path}};
  try {
    const double hosted = plugin_rate(entry, 20000);
    entry["in_process"] = true;
    const double in_process = plugin_rate(entry, 20000);
    std::printf("  plugin     %10.0f samples/s in its host process (%.1f us each), %.0f in r1's (%.2f us): "
                "isolation costs %.1f us a sample\n",
                hosted, 1e6 / hosted, in_process, 1e6 / in_process, 1e6 / hosted - 1e6 / in_process);
  } catch (const std::exception& e) {
    std::printf("  plugin     not measured: %s\n", e.what());
  }
}

void run_rewards_bench(const RewardsBenchOptions& options) {
  using Clock = std::chrono::steady_clock;
  auto pairs = make_mix(options.samples);
  int threads = options.threads > 0 ? options.threads : std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  rewards::verify_math("1", "1");  // one-time set-up (GiNaC's precision) outside the timings
  Pass one = verify_all(pairs, 1);
  Pass many = verify_all(pairs, threads);

  size_t correct = 0, disagree = 0, differ = 0;
  const Pair* first_disagreement = nullptr;
  for (size_t i = 0; i < pairs.size(); ++i) {
    correct += one.verdicts[i];
    if (static_cast<bool>(one.verdicts[i]) != pairs[i].right && !disagree++) first_disagreement = &pairs[i];
    differ += one.verdicts[i] != many.verdicts[i];
  }

  // Floor: extraction plus exact string comparison of the same pairs (what a naive verifier costs).
  size_t naive_correct = 0;
  auto naive_start = Clock::now();
  for (const auto& p : pairs) naive_correct += rewards::extract_answer(p.completion) == p.gold;
  double naive_seconds = std::chrono::duration<double>(Clock::now() - naive_start).count();

  std::vector<double> latency = one.latency_us;
  std::sort(latency.begin(), latency.end());
  auto percentile = [&](double q) { return latency[static_cast<size_t>(q * static_cast<double>(latency.size() - 1))]; };
  double rate = static_cast<double>(pairs.size()) / one.seconds;
  double rate_many = static_cast<double>(pairs.size()) / many.seconds;
  std::printf("r1 bench rewards (math verifier)\n");
  std::printf("  mix        %zu answers: 40%% integers (a quarter with thousands separators), 15%% fractions, 10%% radicals,\n"
              "             10%% tuples, 10%% expressions, 5%% chains of equalities, 5%% prose answers, 5%% choices\n",
              pairs.size());
  std::printf("  1 thread   %10.0f verifications/s   p50 %.1f us   p99 %.1f us   max %.1f us   (%zu correct)\n", rate,
              percentile(0.5), percentile(0.99), latency.back(), correct);
  std::printf("  %d threads  %10.0f verifications/s   %.2fx one thread (%u cores)%s\n", threads, rate_many, rate_many / rate,
              std::thread::hardware_concurrency(), differ ? "   VERDICTS DIFFER FROM ONE THREAD" : "");
  std::printf("  labels     %zu verdicts differ from how the mix was built%s%s%s%s\n", disagree,
              first_disagreement ? " (first: gold " : "", first_disagreement ? first_disagreement->gold.c_str() : "",
              first_disagreement ? ", answer " : "", first_disagreement ? (first_disagreement->answer + ")").c_str() : "");
  std::printf("  naive      %10.0f string comparisons/s (extraction + equality; accepts only %zu)\n",
              static_cast<double>(pairs.size()) / naive_seconds, naive_correct);
  std::printf("  target     20000 verifications/s per core: %.2fx\n", rate / 20000.0);
  plugin_overhead();
}

}  // namespace r1::bench
