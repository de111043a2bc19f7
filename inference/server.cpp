#include "inference/server.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <future>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "checkpoint/config.h"
#include "inference/engine.h"
#include "model/device.h"
#include "model/runtime.h"
#include "tokenizer/tokenizer.h"
#include "model/transformer.h"
#include "proto/health_service.h"
#include "proto/rollout.grpc.pb.h"
#include "rollout/request.h"
#include "rollout/wire.h"

namespace r1::inference {
namespace {

using grpc::ServerContext;
using grpc::Status;
using grpc::StatusCode;

bool authorised(const ServerContext* context, const std::string& token) {
  if (token.empty()) return true;
  const auto& meta = context->client_metadata();
  auto it = meta.find("x-r1-token");
  if (it == meta.end()) return false;
  const std::string given(it->second.data(), it->second.size());
  // Constant-time comparison: the time taken says nothing about how much of the token matched.
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ token[i % token.size()]);
  return diff == 0;
}

Status unauthenticated() { return Status(StatusCode::UNAUTHENTICATED, "missing or wrong x-r1-token"); }

at::ScalarType wire_dtype(const std::string& d) {
  if (d == "BF16") return at::kBFloat16;
  if (d == "F32") return at::kFloat;
  if (d == "F16") return at::kHalf;
  return at::kByte;  // refused by the caller
}

// One tensor of an update, as its chunks arrive.
struct Incoming {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  size_t expected = 0;
};

// The model's tensors by name, with their shapes: what an update must bring, exactly.
using Shapes = std::map<std::string, std::vector<int64_t>>;

// One UpdateWeights stream as it arrives: the version and abort flag of its first chunk, and the
// tensors gathered so far.
struct Update {
  std::optional<uint64_t> version;
  bool abort_in_flight = false;
  std::map<std::string, Incoming> tensors;
};

std::string shape_text(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}

// The first chunk names the update's version, which must be newer than the one in service; every
// later chunk repeats it. Returns the fault, or "".
std::string check_version(const v1::TensorChunk& chunk, int64_t index, Update& u, const inference::Engine& engine) {
  if (!u.version) {
    u.version = chunk.version();
    u.abort_in_flight = chunk.abort_in_flight();
    if (*u.version <= engine.version())
      return "version " + std::to_string(*u.version) + " is not newer than the version in service (" +
             std::to_string(engine.version()) + ")";
    return "";
  }
  if (chunk.version() != *u.version)
    return "chunk " + std::to_string(index) + " (" + chunk.name() + "): version " + std::to_string(chunk.version()) +
           " differs from the stream's " + std::to_string(*u.version);
  return "";
}

// Appends a chunk's bytes to its tensor once its name, dtype and shape are the model's and its
// offset continues what arrived before. Returns the fault, or "".
std::string append_chunk(const v1::TensorChunk& chunk, Update& u, const Shapes& expected, const std::string& architecture) {
  auto want = expected.find(chunk.name());
  if (want == expected.end()) return "tensor '" + chunk.name() + "' is not part of this " + architecture;
  const at::ScalarType type = wire_dtype(chunk.dtype());
  if (type == at::kByte) return "tensor '" + chunk.name() + "': dtype '" + chunk.dtype() + "' is not BF16, F32 or F16";
  std::vector<int64_t> shape(chunk.shape().begin(), chunk.shape().end());
  if (shape != want->second)
    return "tensor '" + chunk.name() + "': shape " + shape_text(shape) + ", the model's is " + shape_text(want->second);
  auto [it, fresh] = u.tensors.try_emplace(chunk.name());
  Incoming& in = it->second;
  if (fresh) {
    in.dtype = chunk.dtype();
    in.shape = shape;
    size_t numel = 1;
    for (int64_t d : shape) numel *= static_cast<size_t>(d);
    in.expected = numel * c10::elementSize(type);
    in.bytes.reserve(in.expected);
  } else if (in.dtype != chunk.dtype()) {
    return "tensor '" + chunk.name() + "': chunks of different dtypes";
  }
  if (chunk.offset() != in.bytes.size() || in.bytes.size() + chunk.data().size() > in.expected)
    return "tensor '" + chunk.name() + "': chunk at offset " + std::to_string(chunk.offset()) + " of " +
           std::to_string(chunk.data().size()) + " bytes does not continue the " + std::to_string(in.bytes.size()) +
           " received (of " + std::to_string(in.expected) + ")";
  in.bytes.insert(in.bytes.end(), chunk.data().begin(), chunk.data().end());
  return "";
}

// Every tensor of the model arrived, whole. Returns the fault, or "".
std::string check_complete(const Update& u, const Shapes& expected) {
  if (!u.version) return "an empty update";
  for (const auto& [name, shape] : expected) {
    auto it = u.tensors.find(name);
    if (it == u.tensors.end()) return "tensor '" + name + "' is missing from the update";
    if (it->second.bytes.size() != it->second.expected)
      return "tensor '" + name + "': " + std::to_string(it->second.bytes.size()) + " of " +
             std::to_string(it->second.expected) + " bytes arrived";
  }
  return "";
}

// Reads the whole stream into `u` and returns its first fault, or "". After a fault the rest of
// the stream is drained unread, so the client gets one answer.
std::string read_update(grpc::ServerReader<v1::TensorChunk>* reader, Update& u, const Shapes& expected,
                        const inference::Engine& engine, const std::string& architecture) {
  std::string error;
  v1::TensorChunk chunk;
  int64_t chunks = 0;
  while (reader->Read(&chunk)) {
    ++chunks;
    if (!error.empty()) continue;
    error = check_version(chunk, chunks, u, engine);
    if (error.empty()) error = append_chunk(chunk, u, expected, architecture);
  }
  return error.empty() ? check_complete(u, expected) : error;
}

// Whether every value of a CPU tensor is finite: one parallel pass over the bits (an exponent of all
// ones is an infinity or a NaN), without the bool tensor at::isfinite would fill first.
bool all_finite(const at::Tensor& t) {
  const int64_t n = t.numel();
  std::atomic<bool> ok{true};
  auto scan = [&](const auto* bits, auto exponent) {
    at::parallel_for(0, n, 1 << 16, [&](int64_t begin, int64_t end) {
      bool fine = true;
      for (int64_t i = begin; i < end; ++i) fine &= (bits[i] & exponent) != exponent;
      if (!fine) ok = false;
    });
  };
  switch (t.scalar_type()) {
    case at::kFloat: scan(static_cast<const uint32_t*>(t.data_ptr()), uint32_t{0x7F800000}); break;
    case at::kBFloat16: scan(static_cast<const uint16_t*>(t.data_ptr()), uint16_t{0x7F80}); break;
    case at::kHalf: scan(static_cast<const uint16_t*>(t.data_ptr()), uint16_t{0x7C00}); break;
    default: return at::isfinite(t).all().item<bool>();
  }
  return ok;
}

class HealthWithToken final : public v1::Health::Service {
 public:
  HealthWithToken(proto::HealthServiceImpl& inner, std::string token) : inner_(inner), token_(std::move(token)) {}
  Status Check(ServerContext* context, const v1::HealthCheckRequest* request, v1::HealthCheckResponse* response) override {
    if (!authorised(context, token_)) return unauthenticated();
    return inner_.Check(context, request, response);
  }

 private:
  proto::HealthServiceImpl& inner_;
  std::string token_;
};

}  // namespace

struct RolloutServer::Impl final : public v1::Rollout::Service {
  rollout::WorkerOptions options;
  checkpoint::ModelConfig config;
  at::ScalarType dtype = at::kBFloat16;
  at::Device device = at::kCPU;
  std::optional<Tokenizer> tokenizer;
  std::unique_ptr<inference::Engine> engine;
  std::thread engine_thread;
  proto::HealthServiceImpl health{"r1"};
  std::unique_ptr<HealthWithToken> health_with_token;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::mutex update_mutex;  // one UpdateWeights at a time
  std::atomic<bool> stopping{false};

  std::shared_ptr<const model::Transformer> prepare(model::Transformer m) const {
    if (options.precision == WeightPrecision::kFp8)
      m.quantize_fp8(options.fp8_scaling == "block" ? model::Fp8Scaling::kPerBlock : model::Fp8Scaling::kPerChannel);
    return std::make_shared<const model::Transformer>(std::move(m));
  }

  Status Generate(ServerContext* context, const v1::GenerateRequest* request,
                  grpc::ServerWriter<v1::Completion>* writer) override {
    if (!authorised(context, options.token)) return unauthenticated();
    if (stopping) return Status(StatusCode::UNAVAILABLE, "the worker is shutting down");
    rollout::ModelLimits limits{config.vocab_size, config.max_position_embeddings, options.max_n};
    rollout::GroupRequest group_request;
    try {
      group_request = rollout::prepare_request(*request, limits, tokenizer ? &*tokenizer : nullptr);
    } catch (const rollout::InvalidRequest& e) {
      return Status(StatusCode::INVALID_ARGUMENT, e.what());
    }
    const int64_t n = group_request.params.n;

    // Completions come from the engine's thread; this one writes them out.
    struct Inbox {
      std::mutex mutex;
      std::condition_variable ready;
      std::deque<v1::Completion> items;
    };
    auto inbox = std::make_shared<Inbox>();
    auto on_completion = [inbox, id = group_request.id, prompt_tokens = group_request.prompt.size()](rollout::Completion&& c) {
      v1::Completion out = rollout::to_proto(c, id, static_cast<int64_t>(prompt_tokens));
      std::lock_guard<std::mutex> lock(inbox->mutex);
      inbox->items.push_back(std::move(out));
      inbox->ready.notify_all();
    };
    inference::Engine::GroupId group = 0;
    try {
      group = engine->submit(std::move(group_request), on_completion);
    } catch (const inference::KvBudgetError& e) {
      return Status(StatusCode::RESOURCE_EXHAUSTED, e.what());
    } catch (const Error& e) {
      return Status(StatusCode::INVALID_ARGUMENT, e.what());
    }
    int64_t left = n;
    while (left > 0) {
      std::deque<v1::Completion> batch;
      {
        std::unique_lock<std::mutex> lock(inbox->mutex);
        inbox->ready.wait_for(lock, std::chrono::milliseconds(50), [&] { return !inbox->items.empty(); });
        batch.swap(inbox->items);
      }
      if (stopping) {  // what the engine aborted on its way out is no answer
        engine->cancel(group);
        return Status(StatusCode::UNAVAILABLE, "the worker is shutting down");
      }
      for (auto& c : batch) {
        if (!writer->Write(c)) {
          engine->cancel(group);
          return Status(StatusCode::CANCELLED, "the client went away");
        }
        --left;
      }
      if (left > 0 && context->IsCancelled()) {
        engine->cancel(group);
        return Status(StatusCode::CANCELLED, "cancelled by the client");
      }
      if (left > 0 && stopping) {
        engine->cancel(group);
        return Status(StatusCode::UNAVAILABLE, "the worker is shutting down");
      }
    }
    return Status::OK;
  }

  // Reads and checks every chunk, assembles the tensors into a new model (quantised again in FP8),
  // and swaps it in: a faulty update is refused whole and the worker serves on with the old weights.
  Status UpdateWeights(ServerContext* context, grpc::ServerReader<v1::TensorChunk>* reader,
                       v1::UpdateWeightsReply* reply) override {
    if (!authorised(context, options.token)) return unauthenticated();
    std::lock_guard<std::mutex> one_at_a_time(update_mutex);
    Shapes expected;
    for (const auto& t : checkpoint::checkpoint_tensors(config)) expected[t.name] = t.shape;
    Update update;
    const auto t0 = std::chrono::steady_clock::now();
    std::string error = read_update(reader, update, expected, *engine, config.architecture_name());
    if (!error.empty()) {
      log::warn() << "UpdateWeights refused: " << error;
      return Status(StatusCode::INVALID_ARGUMENT, error);
    }
    const auto t1 = std::chrono::steady_clock::now();
    std::shared_ptr<const model::Transformer> prepared;
    if (Status built = build_model(update, &prepared); !built.ok()) return built;
    const auto t2 = std::chrono::steady_clock::now();
    try {
      engine->update_weights(prepared, *update.version, update.abort_in_flight);
    } catch (const Error& e) {
      return Status(StatusCode::UNAVAILABLE, e.what());
    }
    const auto t3 = std::chrono::steady_clock::now();
    auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    log::info() << "policy version " << *update.version << " in service (" << expected.size() << " tensors): received in "
                << secs(t0, t1) << " s, built in " << secs(t1, t2) << " s, swapped in " << secs(t2, t3) << " s";
    reply->set_version(*update.version);
    reply->set_tensors(static_cast<int32_t>(expected.size()));
    return Status::OK;
  }

  // The new model from the update's tensors, prepared for serving; the tensors are freed. The work
  // runs on the engine's thread (Engine::call): one OpenMP team for the process. INVALID_ARGUMENT
  // for a tensor with NaN or infinite values; INTERNAL when LibTorch fails (out of memory, say): the
  // update is refused and the worker serves on.
  Status build_model(Update& update, std::shared_ptr<const model::Transformer>* prepared) {
    std::string error;
    try {
      engine->call([&] {
        // Each tensor goes straight from the received bytes into the new model (a layer matrix of an
        // FP8 worker quantised from them, as quantize_fp8 would from the model's copy), and its bytes
        // are freed at once: no zero-filled model first, no second copy, a lower peak.
        at::NoGradGuard no_grad;
        const bool fp8 = options.precision == WeightPrecision::kFp8;
        const model::Fp8Scaling scaling =
            options.fp8_scaling == "block" ? model::Fp8Scaling::kPerBlock : model::Fp8Scaling::kPerChannel;
        model::Transformer m = model::Transformer::unfilled(config, dtype, device);
        for (auto& [name, in] : update.tensors) {
          at::Tensor src = at::from_blob(in.bytes.data(), in.shape, at::TensorOptions(wire_dtype(in.dtype)));
          if (!all_finite(src)) {
            error = "tensor '" + name + "' holds NaN or infinite values";
            return;
          }
          if (fp8 && model::Transformer::quantized_in_fp8(name, src.dim()))
            m.set_fp8_weight(name, model::Fp8Weight::quantize(src.to(dtype), scaling));
          else
            m.set_weight(name, src.to(dtype, /*non_blocking=*/false, /*copy=*/true));
          std::vector<uint8_t>().swap(in.bytes);
        }
        *prepared = std::make_shared<const model::Transformer>(std::move(m));
      });
    } catch (const std::exception& e) {
      return Status(StatusCode::INTERNAL, e.what());
    }
    update.tensors.clear();
    if (!error.empty()) return Status(StatusCode::INVALID_ARGUMENT, error);
    return Status::OK;
  }

  Status GetStatus(ServerContext* context, const v1::StatusRequest*, v1::Status* out) override {
    if (!authorised(context, options.token)) return unauthenticated();
    const inference::EngineStatus s = engine->status();
    out->set_version(s.version);
    out->set_queue_depth(static_cast<int32_t>(s.queued_groups));
    out->set_running_sequences(static_cast<int32_t>(s.running_sequences));
    out->set_kv_cache_used(s.kv_blocks_total ? static_cast<float>(s.kv_blocks_used) / static_cast<float>(s.kv_blocks_total) : 0.f);
    out->set_tokens_per_second(static_cast<float>(s.tokens_per_second));
    out->set_precision(name(options.precision));
    out->set_kv_cache_tokens(s.kv_cache_tokens);
    out->set_model(options.model_dir);
    return Status::OK;
  }
};

RolloutServer::RolloutServer(const rollout::WorkerOptions& o) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = o;
  if (o.fp8_scaling != "channel" && o.fp8_scaling != "block")
    throw Error("--fp8-scaling: '" + o.fp8_scaling + "' is not one of channel, block");
  if (!(o.kv_cache_mb > 0)) throw Error("--kv-cache-mb must be > 0");
  s.dtype = o.precision == WeightPrecision::kFp32 ? at::kFloat : at::kBFloat16;
  s.device = model::resolve_device(o.device, "--device");
  if (std::filesystem::exists(std::filesystem::path(o.model_dir) / "tokenizer.json")) s.tokenizer = Tokenizer::load(o.model_dir);
  // Every tensor operation of the worker runs on the engine's thread: loading and quantising here,
  // decoding, and the weight updates (through Engine::call). Then the process has one OpenMP team of
  // `threads`, which libgomp keeps spinning between the parallel regions of a decode step.
  inference::EngineOptions eo;
  eo.max_running = o.max_running;
  eo.tokenizer = s.tokenizer ? &*s.tokenizer : nullptr;
  std::shared_ptr<const model::Transformer> model;
  std::promise<void> ready;
  const int threads = o.threads;
  s.engine_thread = std::thread([&s, &o, &eo, &model, &ready, threads] {
    try {
      model::configure_threads(threads);  // intra-op threads are set per thread
      at::NoGradGuard no_grad;
      model::Transformer m = model::Transformer::load(o.model_dir, s.dtype, s.device);
      s.config = m.config();
      model = s.prepare(std::move(m));
      eo.kv_cache_tokens = inference::kv_tokens_for_budget(*model, o.kv_cache_mb, o.kv_cache_fraction);
      s.engine = std::make_unique<inference::Engine>(model, eo, o.version);
    } catch (...) {
      ready.set_exception(std::current_exception());
      return;
    }
    ready.set_value();
    at::NoGradGuard no_grad;
    s.engine->run();
  });
  try {
    ready.get_future().get();
  } catch (...) {
    s.engine_thread.join();
    throw;
  }

  grpc::ServerBuilder builder;
  const std::string address = o.host + ":" + std::to_string(o.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &s.port);
  const int max_bytes = static_cast<int>(std::min<int64_t>(o.max_message_mb, 2000) * 1024 * 1024);
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  builder.RegisterService(&s);
  s.health_with_token = std::make_unique<HealthWithToken>(s.health, o.token);
  builder.RegisterService(s.health_with_token.get());
  s.health.set_status("r1.v1.Rollout", v1::HealthCheckResponse::SERVING);
  s.server = builder.BuildAndStart();
  if (!s.server || s.port == 0) {
    s.engine->stop();
    s.engine_thread.join();
    throw Error("cannot listen on " + address + " (in use, or not an address of this machine)");
  }
  log::info() << "serving " << o.model_dir << " (" << s.config.architecture_name() << ", " << name(o.precision) << " on "
              << model::describe_device(s.device) << ", "
              << model->weight_bytes() / 1048576.0 << " MiB of weights, KV cache " << eo.kv_cache_tokens << " tokens) on "
              << o.host << ":" << s.port;
}

RolloutServer::~RolloutServer() { shutdown(); }

int RolloutServer::port() const { return impl_->port; }

std::string RolloutServer::address() const { return impl_->options.host + ":" + std::to_string(impl_->port); }

void RolloutServer::wait() {
  if (impl_->server) impl_->server->Wait();
}

void RolloutServer::shutdown() {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  s.health.set_status("", v1::HealthCheckResponse::NOT_SERVING);
  s.engine->stop();  // running groups end as aborted, so streams finish
  if (s.engine_thread.joinable()) s.engine_thread.join();
  if (s.server) s.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

}  // namespace r1::inference
