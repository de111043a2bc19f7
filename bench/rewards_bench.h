// `r1 bench rewards`: math verifications per second per core on a realistic mix of competition-math
// answers (integers, fractions, radicals, tuples and intervals, expressions, choices), each inside a
// completion so extraction is included; p50 and p99 latency; and, in the same run, a plain
// string-equality check on the same pairs as the floor to compare against.
#pragma once

namespace r1::bench {

struct RewardsBenchOptions {
  int samples = 20000;
};

void run_rewards_bench(const RewardsBenchOptions& options);

}  // namespace r1::bench
