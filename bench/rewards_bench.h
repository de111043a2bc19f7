// `r1 bench rewards`: math verifications per second per core on a realistic mix of competition-math
// answers (integers, fractions, radicals, tuples and intervals, expressions, choices), each inside a
// completion so extraction is included; p50 and p99 latency; and, in the same run, a plain
// string-equality check on the same pairs as the floor to compare against. The mix is verified
// once on one thread and once on several, as the reward pool does, to show what the verifier's
// lock around GiNaC costs.
#pragma once

namespace r1::bench {

struct RewardsBenchOptions {
  int samples = 100000;
  int threads = 0;  // the second pass's threads (0: the machine's cores, at least 2)
};

void run_rewards_bench(const RewardsBenchOptions& options);

}  // namespace r1::bench
