#include "rewards/scorer.h"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "core/thread_pool.h"

namespace r1::rewards {
namespace {

using Clock = std::chrono::steady_clock;

struct Job {
  bool started = false, done = false, abandoned = false;
  Clock::time_point deadline;
  Components partial;  // components finished so far
  std::string running; // the reward now running
  Score result;
};

// Everything the workers touch; shared so that abandoned workers keep it alive.
struct Batch {
  std::mutex mutex;
  std::condition_variable changed;
  std::shared_ptr<const RewardSet> rewards;
  std::vector<Sample> samples;
  std::vector<Job> jobs;
  size_t next = 0, finished = 0;
  Clock::duration budget;
  std::exception_ptr fatal;  // a RewardFatal from a worker: rethrown by score()
};

void work(std::shared_ptr<Batch> batch) {
  for (;;) {
    size_t i;
    {
      std::lock_guard<std::mutex> lock(batch->mutex);
      if (batch->next >= batch->jobs.size()) return;
      i = batch->next++;
      Job& job = batch->jobs[i];
      job.started = true;
      job.deadline = Clock::now() + batch->budget;
      job.running = batch->rewards->entries().empty() ? "" : batch->rewards->entries()[0].reward->name();
    }
    const auto& entries = batch->rewards->entries();
    size_t done_rewards = 0;
    Score score;
    std::exception_ptr fatal;
    try {
      score = batch->rewards->score(batch->samples[i], [&](const std::string& component, double value) {
        std::lock_guard<std::mutex> lock(batch->mutex);
        Job& job = batch->jobs[i];
        job.partial[component] = value;
        ++done_rewards;
        job.running = done_rewards < entries.size() ? entries[done_rewards].reward->name() : "";
      });
    } catch (...) {  // RewardFatal (RewardSet::score catches everything else)
      fatal = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(batch->mutex);
    if (fatal && !batch->fatal) batch->fatal = fatal;
    Job& job = batch->jobs[i];
    if (job.abandoned) return;  // given up on: a replacement worker carries on
    job.result = std::move(score);
    job.done = true;
    ++batch->finished;
    batch->changed.notify_all();
  }
}

}  // namespace

BatchScorer::BatchScorer(std::shared_ptr<const RewardSet> rewards, size_t threads, std::chrono::milliseconds grace)
    : rewards_(std::move(rewards)), threads_(threads == 0 ? hardware_threads() : threads), grace_(grace) {}

std::vector<Score> BatchScorer::score(const std::vector<Sample>& samples, BatchStats* stats) const {
  auto batch = std::make_shared<Batch>();
  batch->rewards = rewards_;
  batch->samples = samples;
  batch->jobs.resize(samples.size());
  batch->budget = rewards_->total_budget() + grace_;
  size_t workers = std::min(threads_, samples.size());
  for (size_t t = 0; t < workers; ++t) std::thread(work, batch).detach();

  size_t timeouts = 0;
  std::unique_lock<std::mutex> lock(batch->mutex);
  while (batch->finished < batch->jobs.size()) {
    // Wake at the earliest deadline of a running sample (or when anything finishes).
    auto wake = Clock::now() + std::chrono::milliseconds(100);
    for (const Job& job : batch->jobs) {
      if (job.started && !job.done) wake = std::min(wake, job.deadline);
    }
    batch->changed.wait_until(lock, wake);
    auto now = Clock::now();
    for (Job& job : batch->jobs) {
      if (!job.started || job.done || now < job.deadline) continue;
      job.abandoned = true;
      job.done = true;
      ++batch->finished;
      ++timeouts;
      Score s;
      for (const auto& entry : rewards_->entries()) {
        const std::string& id = entry.reward->name();
        auto it = job.partial.find(id);
        double value = it == job.partial.end() ? 0.0 : it->second;
        s.components[id] = value;
        s.value += entry.weight * value;
      }
      s.reason = (job.running.empty() ? std::string() : job.running + ": ") + "timeout";
      if (!job.running.empty()) s.failed.push_back(job.running);
      job.result = std::move(s);
      std::thread(work, batch).detach();  // replaces the stuck worker
    }
  }
  if (batch->fatal) std::rethrow_exception(batch->fatal);
  std::vector<Score> out;
  out.reserve(batch->jobs.size());
  for (Job& job : batch->jobs) out.push_back(std::move(job.result));
  if (stats) {
    stats->timeouts = timeouts;
    stats->failures.clear();
    for (const auto& score : out) {
      for (const auto& component : score.failed) ++stats->failures[component];
    }
  }
  return out;
}

}  // namespace r1::rewards
