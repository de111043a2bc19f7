// A scripted r1.v1.Rollout worker for the rollout client's tests: deterministic completions (ids from
// the request id and the sample index), a delay per completion, faults on demand, and a record of
// every stream and weight chunk. Served in-process (FakeServer) or as the fake_rollout_worker
// executable, which speaks the local worker's protocol (`rollout serve --port 0`, address on stdout).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "proto/health_service.h"
#include "proto/rollout.grpc.pb.h"
#include "rollout/weight_image.h"

namespace r1::test {

struct FakeConfig {
  std::string token;           // required as x-r1-token when set
  uint64_t version = 1;
  int delay_ms = 0;            // before each completion
  int fail_after = -1;         // completions served before the worker "dies": every call then fails UNAVAILABLE
  std::set<std::string> invalid;  // request ids refused with INVALID_ARGUMENT
  int mixed_versions = 0;      // this many streams give their last completion another policy version
  int aborted_streams = 0;     // this many streams end every sample with FINISH_REASON_ABORT
  int short_streams = 0;       // this many streams end OK one completion short
  int switch_delay_ms = 0;     // after UpdateWeights, GetStatus reports the new version this much later
  int queue_depth = -1;        // what GetStatus reports; -1: the streams in progress
  // When set, weight updates are written into a rollout::WeightImage of these tensors, as the real
  // worker does (a delta it cannot apply is FAILED_PRECONDITION, a faulty update INVALID_ARGUMENT).
  std::map<std::string, std::vector<int64_t>> image_shapes;
  int stalled_updates = 0;     // this many weight updates stop reading after their second chunk, until cancelled
  int frozen_status_ms = 0;    // once it has taken a group, GetStatus answers only after this long (or when
                               // cancelled): a process stopped mid-generation
};

// The completion ids the fake gives sample `index` of a request.
inline std::vector<int32_t> fake_ids(const std::string& request_id, int index) {
  int32_t h = 7;
  for (char c : request_id) h = (h * 31 + static_cast<unsigned char>(c)) % 100003;
  return {h, index, static_cast<int32_t>(request_id.size())};
}

struct ReceivedChunk {
  uint64_t version = 0;
  bool abort_in_flight = false;
  std::string name, dtype;
  std::vector<int64_t> shape;
  uint64_t offset = 0;
  std::string data;
  uint64_t base_version = 0;
  bool changed = false;  // CHUNK_ENCODING_CHANGED
  uint64_t span = 0;
};

class FakeRollout final : public v1::Rollout::Service {
 public:
  explicit FakeRollout(FakeConfig config) : config_(std::move(config)), version_(config_.version) {
    if (!config_.image_shapes.empty())
      image_ = std::make_unique<rollout::WeightImage>(config_.image_shapes, "fake model");
  }

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::Completion>* writer) override {
    if (auto s = check(context); !s.ok()) return s;
    int mixed = 0, aborted = 0, short_stream = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      streams_.push_back(request->request_id());
      tokens_.push_back(token_of(context));
      if (config_.invalid.count(request->request_id()))
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "prompt_ids: id 999999 is outside the vocabulary");
      ++active_;
      max_active_ = std::max(max_active_, active_);
      if (config_.mixed_versions > 0) mixed = config_.mixed_versions--;
      if (config_.aborted_streams > 0) aborted = config_.aborted_streams--;
      if (config_.short_streams > 0) short_stream = config_.short_streams--;
    }
    struct Active {
      FakeRollout* self;
      ~Active() {
        std::lock_guard<std::mutex> lock(self->mutex_);
        --self->active_;
      }
    } active{this};
    const int n = request->has_params() ? request->params().n() : 1;
    const uint64_t version = version_.load();
    for (int i = 0; i < n - (short_stream ? 1 : 0); ++i) {
      // Samples finish in reverse order: the client sorts them.
      const int index = n - 1 - i;
      if (config_.delay_ms > 0) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.delay_ms);
        while (std::chrono::steady_clock::now() < until) {
          if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (dead_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the fake worker is dead");
        if (config_.fail_after >= 0 && served_ >= config_.fail_after) {
          dead_ = true;
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the fake worker died");
        }
        ++served_;
      }
      v1::Completion c;
      c.set_request_id(request->request_id());
      c.set_index(index);
      for (int32_t id : fake_ids(request->request_id(), index)) {
        c.add_ids(id);
        c.add_logprobs(-0.5f);
      }
      c.set_text(request->request_id() + "#" + std::to_string(index));
      c.set_finish_reason(aborted ? v1::FINISH_REASON_ABORT : v1::FINISH_REASON_STOP);
      c.set_policy_version(mixed && i == n - 1 ? version + 100 : version);
      if (!writer->Write(c)) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    }
    std::lock_guard<std::mutex> lock(mutex_);
    completed_.push_back(request->request_id());
    return grpc::Status::OK;
  }

  grpc::Status UpdateWeights(grpc::ServerContext* context, grpc::ServerReader<v1::TensorChunk>* reader,
                             v1::UpdateWeightsReply* reply) override {
    if (auto s = check(context); !s.ok()) return s;
    uint64_t version = 0;
    std::set<std::string> names;
    bool stall = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (config_.stalled_updates > 0) {
        --config_.stalled_updates;
        stall = true;
      }
    }
    int read = 0;
    auto next = [&](v1::TensorChunk& chunk) {
      if (stall && read == 2)
        while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (!reader->Read(&chunk)) return false;
      ++read;
      ReceivedChunk r;
      r.version = chunk.version();
      r.abort_in_flight = chunk.abort_in_flight();
      r.name = chunk.name();
      r.dtype = chunk.dtype();
      r.shape.assign(chunk.shape().begin(), chunk.shape().end());
      r.offset = chunk.offset();
      r.data = chunk.data();
      r.base_version = chunk.base_version();
      r.changed = chunk.encoding() == v1::CHUNK_ENCODING_CHANGED;
      r.span = chunk.span();
      if (!version) version = chunk.version();
      names.insert(chunk.name());
      std::lock_guard<std::mutex> lock(mutex_);
      chunks_.push_back(std::move(r));
      return true;
    };
    if (image_) {
      std::lock_guard<std::mutex> one_at_a_time(image_mutex_);
      const rollout::UpdateStream s = rollout::read_update(next, *image_, version_.load());
      if (!s.stale.empty()) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, s.stale);
      if (!s.error.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, s.error);
    } else {
      v1::TensorChunk chunk;
      while (next(chunk)) {
      }
    }
    if (version <= version_.load())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "version " + std::to_string(version) +
                                                                  " is not above the version in service");
    reply->set_version(version);
    reply->set_tensors(static_cast<int32_t>(names.size()));
    if (config_.switch_delay_ms <= 0) {
      version_ = version;
    } else {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_version_ = version;
      switch_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.switch_delay_ms);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetStatus(grpc::ServerContext* context, const v1::StatusRequest*, v1::Status* reply) override {
    if (auto s = check(context); !s.ok()) return s;
    bool generating;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generating = !streams_.empty();
    }
    if (config_.frozen_status_ms > 0 && generating) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.frozen_status_ms);
      while (std::chrono::steady_clock::now() < until && !context->IsCancelled())
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    std::lock_guard<std::mutex> lock(mutex_);
    ++status_calls_;
    if (pending_version_ && std::chrono::steady_clock::now() >= switch_at_) {
      version_ = pending_version_;
      pending_version_ = 0;
    }
    reply->set_version(version_.load());
    reply->set_queue_depth(config_.queue_depth >= 0 ? config_.queue_depth : active_);
    reply->set_running_sequences(active_);
    reply->set_precision("bf16");
    reply->set_model("fake");
    return grpc::Status::OK;
  }

  // Records.
  std::vector<std::string> streams() {  // request ids, one per Generate call
    std::lock_guard<std::mutex> lock(mutex_);
    return streams_;
  }
  std::vector<std::string> completed() {  // request ids whose streams ended OK
    std::lock_guard<std::mutex> lock(mutex_);
    return completed_;
  }
  std::vector<std::string> tokens() {  // the x-r1-token of each Generate call ("" when absent)
    std::lock_guard<std::mutex> lock(mutex_);
    return tokens_;
  }
  std::vector<ReceivedChunk> chunks() {
    std::lock_guard<std::mutex> lock(mutex_);
    return chunks_;
  }
  int max_active() {
    std::lock_guard<std::mutex> lock(mutex_);
    return max_active_;
  }
  int status_calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return status_calls_;
  }
  uint64_t version() const { return version_.load(); }
  void set_version(uint64_t v) { version_ = v; }
  // The bytes of each tensor in the weight image (image_shapes set), and the version it holds.
  std::map<std::string, std::string> image_bytes() {
    std::lock_guard<std::mutex> lock(image_mutex_);
    std::map<std::string, std::string> out;
    for (const auto& [name, t] : image_->tensors())
      out[name] = t.bytes ? std::string(reinterpret_cast<const char*>(t.bytes.get()), t.size) : "";
    return out;
  }
  std::optional<uint64_t> image_version() {
    std::lock_guard<std::mutex> lock(image_mutex_);
    return image_->version();
  }
  // Forgets the image, as a restarted worker would (the next delta is refused).
  void lose_image() {
    std::lock_guard<std::mutex> lock(image_mutex_);
    image_ = std::make_unique<rollout::WeightImage>(config_.image_shapes, "fake model");
  }
  void die() {  // every call fails UNAVAILABLE until revive()
    std::lock_guard<std::mutex> lock(mutex_);
    dead_ = true;
  }
  void revive() {
    std::lock_guard<std::mutex> lock(mutex_);
    dead_ = false;
    config_.fail_after = -1;
  }

 private:
  static std::string token_of(grpc::ServerContext* context) {
    auto it = context->client_metadata().find("x-r1-token");
    return it == context->client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
  }

  grpc::Status check(grpc::ServerContext* context) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (dead_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the fake worker is dead");
    if (!config_.token.empty() && token_of(context) != config_.token)
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or wrong x-r1-token");
    return grpc::Status::OK;
  }

  FakeConfig config_;
  std::atomic<uint64_t> version_;
  std::mutex mutex_;
  bool dead_ = false;
  int served_ = 0, active_ = 0, max_active_ = 0, status_calls_ = 0;
  uint64_t pending_version_ = 0;
  std::chrono::steady_clock::time_point switch_at_{};
  std::vector<std::string> streams_, completed_, tokens_;
  std::vector<ReceivedChunk> chunks_;
  std::mutex image_mutex_;
  std::unique_ptr<rollout::WeightImage> image_;
};

// A FakeRollout (and r1.v1.Health) on 127.0.0.1:<port>; port 0 picks a free one.
struct FakeServer {
  FakeRollout service;
  proto::HealthServiceImpl health{"fake"};
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  explicit FakeServer(FakeConfig config = {}, int want_port = 0) : service(std::move(config)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(want_port), grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    builder.RegisterService(&health);
    server = builder.BuildAndStart();
  }
  ~FakeServer() { shutdown(); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port); }

  // Streams in flight are cancelled after grace_ms.
  void shutdown(int grace_ms = 0) {
    if (!server) return;
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
    server->Wait();
    server.reset();
  }
};

}  // namespace r1::test
