// RolloutClient::update_weights(): check the tensors; open one stream per live worker; write each
// chunk (built once, rollout/weight_chunks.h) to every stream; judge each worker's reply; wait until
// each reports the new version in GetStatus.
#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "rollout/client_impl.h"
#include "rollout/weight_chunks.h"

namespace r1::rollout {

using namespace detail;

namespace {

// Names unique and present, and exactly the bytes the shape and dtype need.
void check_tensors(uint64_t version, const std::vector<WeightTensor>& tensors) {
  if (tensors.empty()) throw Error("weight update to version " + std::to_string(version) + " has no tensors");
  std::set<std::string> names;
  for (const auto& t : tensors) {
    const std::string name = "weight \"" + t.name + "\"";
    if (t.name.empty()) throw Error("a weight of the update to version " + std::to_string(version) + " has no name");
    if (!names.insert(t.name).second) throw Error(name + " appears twice in the update");
    size_t elements = 1;
    for (int64_t d : t.shape) {
      if (d < 0) throw Error(name + " has a negative dimension");
      elements *= static_cast<size_t>(d);
    }
    size_t expected = elements * element_bytes(t.dtype);
    if (t.bytes != expected)
      throw Error(name + " holds " + std::to_string(t.bytes) + " bytes; its shape and dtype need " +
                  std::to_string(expected));
    if (t.bytes && !t.data) throw Error(name + " has no data");
  }
}

void open_streams(const std::vector<std::unique_ptr<Push>>& pushes, const ClientOptions& o,
                  std::chrono::system_clock::time_point deadline) {
  for (auto& p : pushes) {
    p->context.set_deadline(deadline);
    if (!o.token.empty()) p->context.AddMetadata(kTokenKey, o.token);
    p->writer = p->stub->UpdateWeights(&p->context, &p->reply);
  }
}

// Each chunk is built once and written to every stream still open in turn; then every stream is
// closed and its status collected.
void write_chunks(const std::vector<std::unique_ptr<Push>>& pushes, const ClientOptions& o, uint64_t version,
                  const std::vector<WeightTensor>& tensors, bool abort_in_flight) {
  v1::TensorChunk chunk;
  chunk.set_version(version);
  chunk.set_abort_in_flight(abort_in_flight);
  for (const auto& t : tensors)
    for_each_chunk(t, o.weight_chunk_bytes, o.weights_as_f32, chunk, [&](const v1::TensorChunk& c) {
      for (auto& p : pushes)
        if (p->open && !p->writer->Write(c)) p->open = false;
    });
  for (auto& p : pushes) {
    if (p->open) p->writer->WritesDone();
    p->status = p->writer->Finish();
  }
}

}  // namespace

std::vector<std::unique_ptr<Push>> RolloutClient::Impl::begin_update(uint64_t version) {
  std::vector<std::unique_ptr<Push>> pushes;
  std::lock_guard<std::mutex> lock(mutex);
  ++updating;
  for (auto& w : workers) {
    if (!w->alive) {
      log::warn() << "rollout worker " << w->address << " is down and misses weights version " << version
                  << "; it takes work again after a later update reaches it";
      continue;
    }
    auto p = std::make_unique<Push>();
    p->worker = w.get();
    p->address = w->address;
    p->stub = w->stub;
    pushes.push_back(std::move(p));
  }
  return pushes;
}

std::vector<Push*> RolloutClient::Impl::judge_pushes(const std::vector<std::unique_ptr<Push>>& pushes,
                                                     uint64_t version, std::vector<std::string>& errors) {
  std::vector<Push*> switching;
  std::lock_guard<std::mutex> lock(mutex);
  for (auto& p : pushes) {
    const grpc::Status& s = p->status;
    Worker& w = *p->worker;
    if (s.ok() && p->reply.version() != version) {
      errors.push_back("rollout worker " + p->address + " answered version " + std::to_string(p->reply.version()) +
                       " to the weight update to version " + std::to_string(version));
    } else if (s.ok()) {
      switching.push_back(p.get());
    } else if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      errors.push_back(token_error(p->address, options.token, s));
    } else if (worker_down(s.error_code()) && s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      // Down, not wrong: skipped with a warning; a worker restarted meanwhile is not the one that failed.
      if (w.address == p->address) mark_down(w, "weight update: " + describe(s));
    } else {
      errors.push_back("rollout worker " + p->address + " did not take weights version " + std::to_string(version) +
                       " (" + describe(s) + ")");
    }
  }
  return switching;
}

size_t RolloutClient::Impl::await_version(std::vector<Push*> switching, uint64_t version, Clock::time_point until,
                                          std::vector<std::string>& errors) {
  size_t confirmed = 0;
  while (!switching.empty()) {
    for (auto it = switching.begin(); it != switching.end();) {
      Push& p = **it;
      v1::Status status;
      grpc::Status s = get_status(*p.stub, &status, kStatusTimeoutS, false);
      std::lock_guard<std::mutex> lock(mutex);
      Worker& w = *p.worker;
      const bool same = w.address == p.address;
      if (s.ok() && status.version() >= version) {
        if (same) take_status(w, status);
        ++confirmed;
        it = switching.erase(it);
      } else if (s.ok() && Clock::now() >= until) {
        errors.push_back("rollout worker " + p.address + " still reports version " + std::to_string(status.version()) +
                         " " + std::to_string(static_cast<int>(options.update_timeout_s)) +
                         " s after taking weights version " + std::to_string(version));
        it = switching.erase(it);
      } else if (!s.ok() && s.error_code() == grpc::StatusCode::UNAVAILABLE) {
        if (same) mark_down(w, "after the weight update: " + describe(s));
        it = switching.erase(it);
      } else if (!s.ok() && Clock::now() >= until) {
        errors.push_back("rollout worker " + p.address + " took weights version " + std::to_string(version) +
                         " but GetStatus fails (" + describe(s) + ")");
        it = switching.erase(it);
      } else {
        ++it;
      }
    }
    if (!switching.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return confirmed;
}

void RolloutClient::update_weights(uint64_t version, const std::vector<WeightTensor>& tensors, bool abort_in_flight) {
  Impl& m = *impl_;
  const ClientOptions& o = m.options;
  check_tensors(version, tensors);
  std::vector<std::unique_ptr<Push>> pushes = m.begin_update(version);
  // While `updating` counts this update, generate() waits for the workers instead of giving up.
  struct Done {
    Impl& m;
    ~Done() {
      std::lock_guard<std::mutex> lock(m.mutex);
      --m.updating;
      m.bump();
    }
  } done{m};
  if (pushes.empty()) throw Error("no rollout worker is alive to take weights version " + std::to_string(version));

  const auto deadline = deadline_in(o.update_timeout_s);
  const auto until = Clock::now() + seconds(o.update_timeout_s);
  open_streams(pushes, o, deadline);
  write_chunks(pushes, o, version, tensors, abort_in_flight);

  std::vector<std::string> errors;
  std::vector<Push*> switching = m.judge_pushes(pushes, version, errors);
  const size_t confirmed = m.await_version(std::move(switching), version, until, errors);
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    if (confirmed) m.policy_version = std::max(m.policy_version.value_or(0), version);
    m.bump();
  }
  if (!errors.empty())
    throw Error(errors.front() + (errors.size() > 1 ? " (and " + std::to_string(errors.size() - 1) + " more)" : ""));
  if (!confirmed)
    throw Error("no rollout worker took weights version " + std::to_string(version) +
                ": all went down during the update");
}

}  // namespace r1::rollout
