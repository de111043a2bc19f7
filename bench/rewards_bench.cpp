#include "bench/rewards_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "rewards/math.h"

namespace r1::bench {
namespace {

struct Pair {
  std::string gold, completion, answer;
  bool right;  // how the mix built it
};

// A deterministic mix shaped like competition-math datasets: mostly integers, then fractions,
// radicals, structured answers, expressions in a variable, and choices; about a third wrong.
std::vector<Pair> make_mix(int n) {
  std::mt19937 rng(2024);
  auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<unsigned>(k)); };
  std::vector<Pair> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    int kind = pick(100);
    bool right = pick(3) != 0;
    int a = 1 + pick(999), b = 2 + pick(30);
    std::string gold, answer;
    if (kind < 50) {
      gold = std::to_string(a);
      answer = std::to_string(right ? a : a + 1);
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
    std::string completion = "<think>Let me work through this carefully. First we set up the equation, then we "
                             "simplify both sides and check the result against the constraints.</think> "
                             "<answer>\\boxed{" + answer + "}</answer>";
    out.push_back({gold, completion, answer, right});
  }
  return out;
}

}  // namespace

void run_rewards_bench(const RewardsBenchOptions& options) {
  using Clock = std::chrono::steady_clock;
  auto pairs = make_mix(options.samples);
  std::vector<double> latency_us;
  latency_us.reserve(pairs.size());
  size_t correct = 0, disagree = 0;
  const Pair* first_disagreement = nullptr;
  auto start = Clock::now();
  for (const auto& p : pairs) {
    auto t0 = Clock::now();
    bool verdict = rewards::verify_math(p.gold, p.completion).correct;
    latency_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    correct += verdict;
    if (verdict != p.right && !disagree++) first_disagreement = &p;
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  // Floor: extraction plus exact string comparison of the same pairs (what a naive verifier costs).
  size_t naive_correct = 0;
  auto naive_start = Clock::now();
  for (const auto& p : pairs) naive_correct += rewards::extract_answer(p.completion) == p.gold;
  double naive_seconds = std::chrono::duration<double>(Clock::now() - naive_start).count();

  std::sort(latency_us.begin(), latency_us.end());
  auto percentile = [&](double q) { return latency_us[static_cast<size_t>(q * static_cast<double>(latency_us.size() - 1))]; };
  double rate = static_cast<double>(pairs.size()) / seconds;
  std::printf("r1 bench rewards (math verifier, 1 thread)\n");
  std::printf("  mix        %zu answers: 50%% integers, 15%% fractions, 10%% radicals, 10%% tuples, 10%% expressions, 5%% choices\n",
              pairs.size());
  std::printf("  verify     %10.0f verifications/s   p50 %.1f us   p99 %.1f us   max %.1f us   (%zu correct)\n", rate,
              percentile(0.5), percentile(0.99), latency_us.back(), correct);
  std::printf("  labels     %zu verdicts differ from how the mix was built%s%s%s%s\n", disagree,
              first_disagreement ? " (first: gold " : "", first_disagreement ? first_disagreement->gold.c_str() : "",
              first_disagreement ? ", answer " : "", first_disagreement ? (first_disagreement->answer + ")").c_str() : "");
  std::printf("  naive      %10.0f string comparisons/s (extraction + equality; accepts only %zu)\n",
              static_cast<double>(pairs.size()) / naive_seconds, naive_correct);
  std::printf("  target     20000 verifications/s per core: %.2fx\n", rate / 20000.0);
}

}  // namespace r1::bench
