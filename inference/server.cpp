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
#include "checkpoint/lora_config.h"
#include "inference/engine.h"
#include "inference/lora_apply.h"
#include "model/lora.h"
#include "rollout/weight_image.h"
#include "model/device.h"
#include "model/runtime.h"
#include "sandbox/sandbox.h"
#include "tokenizer/tokenizer.h"
#include "tools/tool_host.h"
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
  if (d == "F16") return at::kHalf;
  return at::kFloat;  // the image holds no other
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
  // The weights as the last updates sent them, and the models built from them: the one in service,
  // and the one it replaced (reused by the next update once the engine lets go of it), each with
  // the image generation it was built at (0: loaded from the checkpoint).
  std::unique_ptr<rollout::WeightImage> image;
  // `adapted`: the models adapters made of it (inference/lora_apply.h), which share its tensors: it is
  // written over in place only once none is alive.
  struct Built {
    std::shared_ptr<model::Transformer> model;
    uint64_t generation = 0;
    std::vector<std::weak_ptr<model::Transformer>> adapted;
    bool shared() const {
      if (model.use_count() != 1) return true;
      for (const auto& a : adapted)
        if (!a.expired()) return true;
      return false;
    }
  };
  Built current, retired;
  std::atomic<bool> stopping{false};
  // LoRA: how adapters are applied; the base weights they go on (0: those loaded, else the full
  // update that replaced them); an FP8 worker merging adapters keeps its layer matrices in bf16 too,
  // so that every merge starts from the base: from its first adapter on (or --adapter), never for a
  // worker that serves whole weights only (a third of the memory).
  inference::LoraMode lora_mode = inference::LoraMode::kMerged;
  uint64_t base_version = 0;
  bool serves_adapters = false;
  std::map<std::string, at::Tensor> unquantised;

  bool keeps_unquantised() const {
    return serves_adapters && options.precision == WeightPrecision::kFp8 && lora_mode == inference::LoraMode::kMerged;
  }
  // Before the first adapter (on the engine's thread): an FP8 worker that merges takes the bf16 layer
  // matrices of the base in service, from the image when a full update brought it, else from --model.
  void start_serving_adapters() {
    if (serves_adapters) return;
    serves_adapters = true;
    if (!keeps_unquantised()) return;
    if (image->version()) {
      for (const auto& [name, t] : image->tensors()) {
        const at::Tensor src = at::from_blob(t.bytes.get(), t.shape, at::TensorOptions(wire_dtype(t.dtype)));
        if (model::Transformer::quantized_in_fp8(name, src.dim()))
          unquantised[name] = src.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
      }
      return;
    }
    const model::Transformer loaded = model::Transformer::load(options.model_dir, dtype, device);
    for (const auto& [name, t] : loaded.weights())
      if (model::Transformer::quantized_in_fp8(name, t.dim())) unquantised[name] = t;
  }
  model::Fp8Scaling scaling() const {
    return options.fp8_scaling == "block" ? model::Fp8Scaling::kPerBlock : model::Fp8Scaling::kPerChannel;
  }

  std::shared_ptr<model::Transformer> prepare(model::Transformer m) {
    if (options.precision == WeightPrecision::kFp8) {
      if (keeps_unquantised())
        for (const auto& [name, t] : m.weights())
          if (model::Transformer::quantized_in_fp8(name, t.dim())) unquantised[name] = t;
      m.quantize_fp8(scaling());
    }
    return std::make_shared<model::Transformer>(std::move(m));
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

  // Reads and checks every chunk into the weight image, builds the new model from it (quantised again
  // in FP8) and swaps it in: a faulty update is refused whole and the worker serves on with the old
  // weights. A delta against weights the image does not hold is FAILED_PRECONDITION.
  Status UpdateWeights(ServerContext* context, grpc::ServerReader<v1::TensorChunk>* reader,
                       v1::UpdateWeightsReply* reply) override {
    if (!authorised(context, options.token)) return unauthenticated();
    std::lock_guard<std::mutex> one_at_a_time(update_mutex);
    const auto t0 = std::chrono::steady_clock::now();
    v1::TensorChunk first;
    const bool any = reader->Read(&first);
    if (any && !first.adapter_config().empty()) return UpdateAdapter(reader, std::move(first), reply);
    bool fed = false;
    const rollout::UpdateStream stream = rollout::read_update(
        [&](v1::TensorChunk& c) {
          if (fed) return reader->Read(&c);
          fed = true;
          if (any) c = std::move(first);
          return any;
        },
        *image, engine->version());
    if (!stream.stale.empty()) {
      log::info() << "UpdateWeights: " << stream.stale << "; a full update is needed";
      return Status(StatusCode::FAILED_PRECONDITION, stream.stale);
    }
    if (!stream.error.empty()) {
      log::warn() << "UpdateWeights refused: " << stream.error;
      return Status(StatusCode::INVALID_ARGUMENT, stream.error);
    }
    const auto t1 = std::chrono::steady_clock::now();
    Built next;
    size_t rebuilt = 0;
    if (Status built = build_model(&next, &rebuilt); !built.ok()) return built;
    const auto t2 = std::chrono::steady_clock::now();
    try {
      engine->update_weights(next.model, *stream.version, stream.abort_in_flight);
    } catch (const Error& e) {
      return Status(StatusCode::UNAVAILABLE, e.what());
    }
    retired = std::move(current);
    current = std::move(next);
    base_version = *stream.version;  // an adapter in service is dropped: the next one goes on these weights
    const auto t3 = std::chrono::steady_clock::now();
    auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    log::info() << "policy version " << *stream.version << " in service (" << (stream.base ? "delta" : "full")
                << " update, " << rebuilt << " of " << image->tensors().size() << " tensors rebuilt): received in "
                << secs(t0, t1) << " s, built in " << secs(t1, t2) << " s, swapped in " << secs(t2, t3) << " s";
    reply->set_version(*stream.version);
    reply->set_tensors(static_cast<int32_t>(image->tensors().size()));
    return Status::OK;
  }

  // An adapter update (proto/rollout.proto): PEFT's config from the first chunk, checked; the adapter's
  // tensors read into an image of exactly the shapes it targets in this model (name, shape, dtype,
  // offsets, finite values); then the model the adapter makes of the base weights goes into service
  // as `version`. A faulty update is refused whole, naming the key or tensor, and the worker serves on.
  Status UpdateAdapter(grpc::ServerReader<v1::TensorChunk>* reader, v1::TensorChunk first, v1::UpdateWeightsReply* reply) {
    const auto t0 = std::chrono::steady_clock::now();
    auto refuse = [&](StatusCode code, const std::string& why) {
      v1::TensorChunk rest;
      while (reader->Read(&rest)) {
      }
      log::warn() << "adapter update refused: " << why;
      return Status(code, why);
    };
    checkpoint::LoraOptions lora;
    std::vector<checkpoint::LoraTarget> targets;
    try {
      lora = checkpoint::parse_peft_config(first.adapter_config(), "adapter_config");
      targets = checkpoint::lora_targets(config, lora, "adapter_config");
    } catch (const Error& e) {
      return refuse(StatusCode::INVALID_ARGUMENT, e.what());
    }
    const uint64_t base = first.base_version();
    if (base != base_version)
      return refuse(StatusCode::FAILED_PRECONDITION,
                    "the adapter goes on base weights version " + std::to_string(base) + ", this worker holds " +
                        (base_version ? "version " + std::to_string(base_version) : std::string("the weights it loaded (0)")));
    rollout::WeightImage::Shapes shapes;
    for (const auto& t : targets) {
      shapes[t.a_name] = {lora.r, t.in};
      shapes[t.b_name] = {t.out, lora.r};
    }
    rollout::WeightImage adapter_image(std::move(shapes), std::string("LoRA adapter (r ") + std::to_string(lora.r) +
                                                              ") of this " + config.architecture_name());
    bool fed = false;
    const rollout::UpdateStream stream = rollout::read_update(
        [&](v1::TensorChunk& c) {
          if (!fed) {
            fed = true;
            c = std::move(first);
          } else if (!reader->Read(&c)) {
            return false;
          }
          if (c.base_version() == base) c.set_base_version(0);  // the base weights, not a delta's base
          return true;
        },
        adapter_image, engine->version());
    if (!stream.error.empty()) return refuse(StatusCode::INVALID_ARGUMENT, stream.error);
    const auto t1 = std::chrono::steady_clock::now();
    std::shared_ptr<model::Transformer> next;
    Status built = Status::OK;
    try {
      engine->call([&] {
        at::NoGradGuard no_grad;
        std::map<std::string, at::Tensor> tensors;
        for (const auto& [name, t] : adapter_image.tensors())
          tensors[name] = at::from_blob(t.bytes.get(), t.shape, at::TensorOptions(wire_dtype(t.dtype)));
        try {
          auto adapter = model::LoraAdapter::from_tensors(config, lora, tensors, "adapter update", device);
          start_serving_adapters();
          next = inference::adapted_model(*current.model, adapter, lora_mode, &unquantised, scaling());
        } catch (const Error& e) {
          built = Status(StatusCode::INVALID_ARGUMENT, e.what());
        }
      });
    } catch (const std::exception& e) {
      return Status(StatusCode::INTERNAL, e.what());
    }
    if (!built.ok()) return built;
    const auto t2 = std::chrono::steady_clock::now();
    try {
      engine->update_weights(next, *stream.version, stream.abort_in_flight);
    } catch (const Error& e) {
      return Status(StatusCode::UNAVAILABLE, e.what());
    }
    std::erase_if(current.adapted, [](const auto& a) { return a.expired(); });
    current.adapted.push_back(next);
    const auto t3 = std::chrono::steady_clock::now();
    auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    log::info() << "policy version " << *stream.version << " in service (adapter update: r " << lora.r << ", "
                << targets.size() << " modules, " << inference::lora_mode_name(lora_mode) << ", "
                << adapter_image.bytes() << " bytes): received in " << secs(t0, t1) << " s, applied in " << secs(t1, t2)
                << " s, swapped in " << secs(t2, t3) << " s";
    reply->set_version(*stream.version);
    reply->set_tensors(static_cast<int32_t>(adapter_image.tensors().size()));
    return Status::OK;
  }

  // The next model, built from the image on the engine's thread (Engine::call: one OpenMP team for the
  // process). On the CPU the model retired by the last update is written over when nothing uses it any
  // more, and only its tensors the image changed since it was built; otherwise a new one is assembled.
  // INTERNAL when LibTorch fails (out of memory, say): the update is refused and the worker serves on.
  Status build_model(Built* next, size_t* rebuilt) {
    try {
      engine->call([&] {
        at::NoGradGuard no_grad;
        const bool fp8 = options.precision == WeightPrecision::kFp8;
        const model::Fp8Scaling scaling =
            options.fp8_scaling == "block" ? model::Fp8Scaling::kPerBlock : model::Fp8Scaling::kPerChannel;
        if (device.is_cpu() && retired.model && !retired.shared()) {
          *next = std::move(retired);
          next->adapted.clear();
        } else {
          next->model = std::make_shared<model::Transformer>(model::Transformer::unfilled(config, dtype, device));
          next->generation = 0;
        }
        retired = {};
        model::Transformer& m = *next->model;
        for (const auto& [name, t] : image->tensors()) {
          if (t.written <= next->generation) continue;
          const at::Tensor src = at::from_blob(t.bytes.get(), t.shape, at::TensorOptions(wire_dtype(t.dtype)));
          if (fp8 && model::Transformer::quantized_in_fp8(name, src.dim())) {
            m.overwrite_fp8_weight(name, src, scaling);
            if (keeps_unquantised()) {
              auto kept = unquantised.find(name);
              if (kept != unquantised.end() && kept->second.sizes() == src.sizes()) kept->second.copy_(src);
              else unquantised[name] = src.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
            }
          } else
            m.overwrite_weight(name, src);
          ++*rebuilt;
        }
        next->generation = image->generation();
      });
    } catch (const std::exception& e) {
      return Status(StatusCode::INTERNAL, e.what());
    }
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
  s.lora_mode = inference::resolve_lora_apply(o.lora_apply);
  s.device = model::resolve_device(o.device, "--device");
  if (std::filesystem::exists(std::filesystem::path(o.model_dir) / "tokenizer.json")) s.tokenizer = Tokenizer::load(o.model_dir);
  // Every tensor operation of the worker runs on the engine's thread: loading and quantising here,
  // decoding, and the weight updates (through Engine::call). Then the process has one OpenMP team of
  // `threads`, which libgomp keeps spinning between the parallel regions of a decode step.
  inference::EngineOptions eo;
  eo.max_running = o.max_running;
  eo.tokenizer = s.tokenizer ? &*s.tokenizer : nullptr;
  // Groups that ask for tools run their calls here, next to the KV cache: the python tool in a sandbox
  // this worker starts on its first call (docs/tools.md, "Where the loop runs"), with as many slots as
  // the tool host has threads (4), so the calls of different trajectories run at once.
  if (s.tokenizer)
    eo.tools = std::make_shared<tools::ToolHost>(*s.tokenizer, sandbox::shared_sandbox({static_cast<size_t>(std::max(4, o.threads))}));
  std::shared_ptr<model::Transformer> model;
  std::promise<void> ready;
  const int threads = o.threads;
  s.engine_thread = std::thread([&s, &o, &eo, &model, &ready, threads] {
    try {
      model::configure_threads(threads);  // intra-op threads are set per thread
      at::NoGradGuard no_grad;
      model::Transformer m = model::Transformer::load(o.model_dir, s.dtype, s.device);
      s.config = m.config();
      s.serves_adapters = !o.adapter_dir.empty();
      model = s.prepare(std::move(m));
      s.current.model = model;
      if (!o.adapter_dir.empty()) {  // served from the start, on the loaded weights
        model = inference::adapted_model(*model, model::LoraAdapter::load(o.adapter_dir, s.config, s.device), s.lora_mode,
                                         &s.unquantised, s.scaling());
        s.current.adapted.push_back(model);
      }
      rollout::WeightImage::Shapes shapes;
      for (const auto& t : checkpoint::checkpoint_tensors(s.config)) shapes[t.name] = t.shape;
      s.image = std::make_unique<rollout::WeightImage>(std::move(shapes), s.config.architecture_name());
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
  // gRPC reads the socket in buffers of up to 4 MiB by default; above the worker's 1 MiB mmap threshold
  // (model/runtime.h) each is a fresh mapping whose pages fault in during the copy out of the socket.
  // Half a megabyte stays in the heap and is reused: a weight push ran 2-4x faster on loopback.
  builder.AddChannelArgument(GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, 512 * 1024);
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
              << model->weight_bytes() / 1048576.0 << " MiB of weights, KV cache " << eo.kv_cache_tokens << " tokens"
              << (o.adapter_dir.empty() ? "" : ", adapter " + o.adapter_dir) << ", LoRA adapters "
              << inference::lora_mode_name(s.lora_mode) << ") on "
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
