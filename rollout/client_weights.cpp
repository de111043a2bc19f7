// RolloutClient::update_weights(): check the tensors; open one stream per live worker, a delta for
// those holding the snapshot's version; write each chunk (built once per kind, rollout/weight_chunks.h)
// to every stream of its kind; judge each worker's reply, and send the update whole to a worker that
// refused its delta; wait until each reports the new version in GetStatus.
#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

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

void open_streams(const std::vector<Push*>& pushes, const ClientOptions& o, std::chrono::system_clock::time_point deadline) {
  for (Push* p : pushes) {
    p->context.set_deadline(deadline);
    if (!o.token.empty()) p->context.AddMetadata(kTokenKey, o.token);
    p->writer = p->stub->UpdateWeights(&p->context, &p->reply);
  }
}

// The chunks of one update as the pushing thread builds them, read by one writer thread per stream:
// each chunk is kept until every stream of its kind has written it (or given up). The builder waits
// while more than `budget` bytes wait for slow streams; meanwhile, and after the last chunk, a stream
// that has written nothing for straggler_s while another went on is cancelled (`cut`, see
// cut_stragglers), so one stalled worker holds neither the builder nor the other workers.
class ChunkFeed {
 public:
  ChunkFeed(const std::vector<Push*>& pushes, size_t budget, double straggler_s)
      : budget_(budget), straggler_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(straggler_s))) {
    for (Push* p : pushes) {
      ++kinds_[p->delta].readers;
      streams_.push_back({p, Clock::now()});
    }
  }

  void add(bool delta, const v1::TensorChunk& c) {
    std::unique_lock<std::mutex> lock(mutex_);
    Kind& k = kinds_[delta];
    k.chunks.push_back(std::make_shared<const v1::TensorChunk>(c));
    k.left.push_back(k.readers);
    waiting_ += c.data().size();
    ready_.notify_all();
    while (waiting_ > budget_) {
      ready_.wait_for(lock, std::chrono::milliseconds(50));
      cut_stragglers();
    }
  }

  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    ready_.notify_all();
  }

  // Writes chunk after chunk of the stream's kind to stream `index`, then closes it and collects its
  // status. Runs on the stream's own thread.
  void write(size_t index) {
    Push* p = streams_[index].push;
    for (size_t i = 0;; ++i) {
      std::shared_ptr<const v1::TensorChunk> c = next(index, p->delta, i);
      if (!c) break;
      if (p->open && p->writer->Write(*c)) {
        p->bytes_sent += c->data().size();
        std::lock_guard<std::mutex> lock(mutex_);
        streams_[index].progress = Clock::now();
      } else {
        p->open = false;  // the rest is only released
      }
      release(p->delta, i);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      streams_[index].writing = false;
    }
    if (p->open) p->writer->WritesDone();
    p->status = p->writer->Finish();
    std::lock_guard<std::mutex> lock(mutex_);
    streams_[index].finished = true;
    streams_[index].progress = Clock::now();
    ready_.notify_all();
  }

  // After close(): until every stream has finished, cutting the stragglers.
  void await_streams() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      bool all = true;
      for (const auto& s : streams_) all = all && s.finished;
      if (all) return;
      ready_.wait_for(lock, std::chrono::milliseconds(50));
      cut_stragglers();
    }
  }

 private:
  struct Kind {
    int readers = 0;
    std::vector<std::shared_ptr<const v1::TensorChunk>> chunks;
    std::vector<int> left;  // readers yet to pass each chunk
  };
  struct Stream {
    Push* push;
    Clock::time_point progress;  // its last chunk written, or its start
    bool writing = true;         // chunks still to write
    bool caught_up = false;      // waiting for the builder's next chunk
    bool finished = false;       // its status collected
  };

  std::shared_ptr<const v1::TensorChunk> next(size_t index, bool delta, size_t i) {
    std::unique_lock<std::mutex> lock(mutex_);
    Kind& k = kinds_[delta];
    streams_[index].caught_up = true;
    ready_.wait(lock, [&] { return i < k.chunks.size() || closed_; });
    streams_[index].caught_up = false;
    return i < k.chunks.size() ? k.chunks[i] : nullptr;
  }

  void release(bool delta, size_t i) {
    std::lock_guard<std::mutex> lock(mutex_);
    Kind& k = kinds_[delta];
    if (--k.left[i] == 0) {
      waiting_ -= k.chunks[i]->data().size();
      k.chunks[i].reset();
      ready_.notify_all();
    }
  }

  // Lock held. A stream still writing that has taken no chunk for straggler_, while another stream
  // took one within straggler_ / 2, waits for the builder's next one or has finished, is cancelled. A stream whose chunks are all
  // written is waiting for its worker to build and swap the model (after in-flight sequences finish,
  // which takes what it takes): only the update's deadline applies to it, as to a stall of them all.
  void cut_stragglers() {
    const auto now = Clock::now();
    bool others_fine = false;
    for (const auto& s : streams_)
      others_fine = others_fine || s.finished || s.caught_up || now - s.progress < straggler_ / 2;
    if (!others_fine) return;
    for (auto& s : streams_) {
      if (!s.writing || s.caught_up || s.push->cut || now - s.progress < straggler_) continue;
      s.push->cut = true;
      s.push->context.TryCancel();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  Kind kinds_[2];  // [false]: whole, [true]: delta
  std::vector<Stream> streams_;
  size_t waiting_ = 0, budget_;
  Clock::duration straggler_;
  bool closed_ = false;
};

// Each chunk is built once per kind (whole, or the delta against `snapshot`) and written to every
// stream of that kind, each stream by a thread of its own (ChunkFeed) when there are several; then
// every stream is closed and its status collected. `snapshot` (null without deltas) then holds this update's wire bytes.
// Returns the data bytes of the update whole. `adapter_config` (an adapter update; no deltas then): its
// first chunk carries it, and every chunk `adapter_base` as base_version.
uint64_t write_chunks(const std::vector<Push*>& pushes, const ClientOptions& o, uint64_t version,
                      const std::vector<WeightTensor>& tensors, bool abort_in_flight, Snapshot* snapshot,
                      const std::string* adapter_config = nullptr, uint64_t adapter_base = 0) {
  bool any_full = false, any_delta = false;
  for (Push* p : pushes) (p->delta ? any_delta : any_full) = true;
  v1::TensorChunk full, delta;
  full.set_version(version);
  full.set_abort_in_flight(abort_in_flight);
  delta.set_version(version);
  delta.set_abort_in_flight(abort_in_flight);
  if (any_delta) delta.set_base_version(*snapshot->version);
  if (adapter_config) {
    full.set_adapter_config(*adapter_config);
    full.set_base_version(adapter_base);
  }
  // One stream is written on this thread as its chunks are built (no copies, no thread: there is no
  // other worker to hold up); several go through the feed.
  const bool alone = pushes.size() == 1;
  ChunkFeed feed(pushes, o.push_buffer_bytes, o.straggler_s);
  std::vector<std::thread> writers;
  for (size_t i = 0; i < pushes.size() && !alone; ++i) writers.emplace_back([&feed, i] { feed.write(i); });
  struct Join {  // the writers end even when building throws: the feed is closed first
    ChunkFeed& feed;
    std::vector<std::thread>& threads;
    ~Join() {
      feed.close();
      for (auto& t : threads) t.join();
    }
  } join{feed, writers};
  auto emit = [&](bool to_delta, const v1::TensorChunk& c) {
    if (!alone) return feed.add(to_delta, c);
    Push* p = pushes.front();
    if (p->open && p->writer->Write(c)) p->bytes_sent += c.data().size();
    else p->open = false;
  };

  bool delta_written = false;
  const SendChunk send_full = any_full ? SendChunk([&](const v1::TensorChunk& c) {
    emit(false, c);
    if (!full.adapter_config().empty()) full.clear_adapter_config();  // the first chunk's alone
  }) : SendChunk();
  const SendChunk send_delta = any_delta ? SendChunk([&](const v1::TensorChunk& c) {
    delta_written = true;
    emit(true, c);
  }) : SendChunk();
  if (snapshot) snapshot->version.reset();
  uint64_t whole = 0;
  for (const auto& t : tensors) {
    whole += wire_bytes(t, o.weights_as_f32);
    for_each_chunk_and_delta(t, o.weight_chunk_bytes, o.weights_as_f32, snapshot ? &snapshot->tensors[t.name] : nullptr,
                             full, send_full, delta, send_delta);
  }
  if (snapshot) snapshot->version = version;
  if (any_delta && !delta_written) {
    // Nothing changed, but a stream must say which version it makes: one empty chunk.
    describe_tensor(tensors.front(), o.weights_as_f32, delta);
    delta.set_offset(0);
    delta.set_encoding(v1::CHUNK_ENCODING_DENSE);
    delta.clear_data();
    emit(true, delta);
  }
  if (alone) {
    Push* p = pushes.front();
    if (p->open) p->writer->WritesDone();
    p->status = p->writer->Finish();
    return whole;
  }
  feed.close();
  feed.await_streams();
  return whole;
}

std::vector<Push*> raw(const std::vector<std::unique_ptr<Push>>& pushes) {
  std::vector<Push*> out;
  for (const auto& p : pushes) out.push_back(p.get());
  return out;
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
                                                     uint64_t version, std::vector<std::string>& errors,
                                                     std::vector<Push*>* stale) {
  std::vector<Push*> switching;
  std::lock_guard<std::mutex> lock(mutex);
  for (auto& p : pushes) {
    const grpc::Status& s = p->status;
    Worker& w = *p->worker;
    if (p->cut && !s.ok()) {
      // Down, not wrong: it took nothing for straggler_s while the others went on. (A stream cut as
      // it completed is judged by its reply, below.)
      if (w.address == p->address)
        mark_down(w, "weight update: took no chunk for " + std::to_string(static_cast<int>(options.straggler_s)) +
                         " s while the other workers went on");
    } else if (s.ok() && p->reply.version() != version) {
      errors.push_back("rollout worker " + p->address + " answered version " + std::to_string(p->reply.version()) +
                       " to the weight update to version " + std::to_string(version));
    } else if (s.ok()) {
      switching.push_back(p.get());
    } else if (p->delta && stale && s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      stale->push_back(p.get());
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

RolloutClient::Impl::UpdateInFlight::~UpdateInFlight() {
  std::lock_guard<std::mutex> lock(m.mutex);
  --m.updating;
  m.bump();
}

RolloutClient::PushStats RolloutClient::update_weights(uint64_t version, const std::vector<WeightTensor>& tensors,
                                                        bool abort_in_flight) {
  Impl& m = *impl_;
  const ClientOptions& o = m.options;
  check_tensors(version, tensors);
  std::lock_guard<std::mutex> one_at_a_time(m.update_mutex);
  std::vector<std::unique_ptr<Push>> pushes = m.begin_update(version);
  // While `updating` counts this update, generate() waits for the workers instead of giving up.
  const Impl::UpdateInFlight done{m};
  if (pushes.empty()) throw Error("no rollout worker is alive to take weights version " + std::to_string(version));
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    for (auto& p : pushes) p->delta = o.weight_deltas && m.snapshot.version && p->worker->version == *m.snapshot.version;
  }

  const auto deadline = deadline_in(o.update_timeout_s);
  const auto until = Clock::now() + seconds(o.update_timeout_s);
  open_streams(raw(pushes), o, deadline);
  PushStats stats;
  stats.full_bytes = write_chunks(raw(pushes), o, version, tensors, abort_in_flight, o.weight_deltas ? &m.snapshot : nullptr);

  std::vector<std::string> errors;
  std::vector<Push*> stale;
  std::vector<Push*> switching = m.judge_pushes(pushes, version, errors, &stale);
  // A worker that no longer holds the delta's base (restarted, or its last update failed half-way)
  // gets the update whole, at once.
  std::vector<std::unique_ptr<Push>> again;
  for (Push* p : stale) {
    auto whole = std::make_unique<Push>();
    whole->worker = p->worker;
    whole->address = p->address;
    whole->stub = p->stub;
    stats.bytes_sent += p->bytes_sent;
    again.push_back(std::move(whole));
  }
  if (!again.empty()) {
    open_streams(raw(again), o, deadline);
    write_chunks(raw(again), o, version, tensors, abort_in_flight, nullptr);
    for (Push* p : m.judge_pushes(again, version, errors, nullptr)) switching.push_back(p);
  }
  for (Push* p : switching) {
    stats.bytes_sent += p->bytes_sent;
    ++(p->delta ? stats.workers_delta : stats.workers_full);
  }
  const size_t confirmed = m.await_version(std::move(switching), version, until, errors);
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    if (confirmed) m.policy_version = std::max(m.policy_version.value_or(0), version);
    m.bump();
  }
  // The workers that took it hold new base weights and no adapter.
  m.last_adapter.reset();
  if (confirmed) m.adapter_base = version;
  if (!errors.empty())
    throw Error(errors.front() + (errors.size() > 1 ? " (and " + std::to_string(errors.size() - 1) + " more)" : ""));
  if (!confirmed)
    throw Error("no rollout worker took weights version " + std::to_string(version) +
                ": all went down during the update");
  return stats;
}

RolloutClient::PushStats RolloutClient::update_adapter(uint64_t version, const std::vector<WeightTensor>& tensors,
                                                        const std::string& adapter_config_json, bool abort_in_flight) {
  Impl& m = *impl_;
  const ClientOptions& o = m.options;
  check_tensors(version, tensors);
  if (adapter_config_json.empty())
    throw Error("adapter update to version " + std::to_string(version) + " has no adapter_config (PEFT's adapter_config.json)");
  std::lock_guard<std::mutex> one_at_a_time(m.update_mutex);
  std::vector<std::unique_ptr<Push>> pushes = m.begin_update(version);
  const Impl::UpdateInFlight done{m};
  if (pushes.empty()) throw Error("no rollout worker is alive to take adapter version " + std::to_string(version));
  // The next weight update's delta would be against weights the workers no longer serve alone.
  m.snapshot.version.reset();

  const auto deadline = deadline_in(o.update_timeout_s);
  const auto until = Clock::now() + seconds(o.update_timeout_s);
  open_streams(raw(pushes), o, deadline);
  PushStats stats;
  stats.full_bytes = write_chunks(raw(pushes), o, version, tensors, abort_in_flight, nullptr, &adapter_config_json, m.adapter_base);
  // A worker holding other base weights cannot take the adapter: skipped, behind the policy until an
  // update it can take reaches it.
  std::erase_if(pushes, [&](const std::unique_ptr<Push>& p) {
    if (p->status.error_code() != grpc::StatusCode::FAILED_PRECONDITION) return false;
    log::warn() << "rollout worker " << p->address << " did not take adapter version " << version << " ("
                << describe(p->status) << "); it takes work again after an update it can take reaches it";
    return true;
  });
  std::vector<std::string> errors;
  std::vector<Push*> switching = m.judge_pushes(pushes, version, errors, nullptr);
  for (Push* p : switching) {
    stats.bytes_sent += p->bytes_sent;
    ++stats.workers_full;
  }
  const size_t confirmed = m.await_version(std::move(switching), version, until, errors);
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    if (confirmed) m.policy_version = std::max(m.policy_version.value_or(0), version);
    m.bump();
  }
  if (confirmed) {
    detail::AdapterUpdate kept;
    kept.version = version;
    kept.config = adapter_config_json;
    for (const WeightTensor& t : tensors) {
      const auto* bytes = static_cast<const uint8_t*>(t.data);
      kept.storage.emplace_back(bytes, bytes + t.bytes);
      kept.tensors.push_back(t);
      kept.tensors.back().data = kept.storage.back().data();
    }
    m.last_adapter = std::move(kept);
  }
  if (!errors.empty())
    throw Error(errors.front() + (errors.size() > 1 ? " (and " + std::to_string(errors.size() - 1) + " more)" : ""));
  if (!confirmed)
    throw Error("no rollout worker took adapter version " + std::to_string(version) + ": all went down or hold other base weights");
  return stats;
}

v1::Status RolloutClient::Impl::resend_adapter(Worker& w, const std::string& address, v1::Status status) {
  if (!last_adapter || status.version() >= last_adapter->version) return status;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (stopping || !policy_version || *policy_version != last_adapter->version) return status;
  }
  const AdapterUpdate& a = *last_adapter;
  Push p;
  p.worker = &w;
  p.address = address;
  p.stub = make_stub(address);
  open_streams({&p}, options, deadline_in(options.update_timeout_s));
  write_chunks({&p}, options, a.version, a.tensors, false, nullptr, &a.config, adapter_base);
  if (!p.status.ok() || p.reply.version() != a.version) {
    log::warn() << "rollout worker " << address << " (restarted) did not take adapter version " << a.version << " again ("
                << (p.status.ok() ? "it answered version " + std::to_string(p.reply.version()) : describe(p.status))
                << "); it takes work again after the next update";
    return status;
  }
  const auto until = Clock::now() + seconds(options.update_timeout_s);
  for (;;) {
    v1::Status now;
    if (get_status(*p.stub, &now, kStatusTimeoutS, false).ok() && now.version() >= a.version) {
      log::info() << "rollout worker " << address << " (restarted) serves adapter version " << a.version << " again";
      return now;
    }
    if (Clock::now() >= until) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace r1::rollout
