#include "rewards/remote.h"

#include <grpcpp/grpcpp.h>

#include "core/error.h"
#include "proto/reward.grpc.pb.h"
#include "rewards/scorer.h"

namespace r1::rewards {
namespace {

constexpr const char* kTokenHeader = "r1-token";

class RemoteReward : public Reward {
 public:
  RemoteReward(std::string id, const std::string& address, std::string token)
      : id_(std::move(id)), address_(address), token_(std::move(token)),
        stub_(r1::v1::RewardService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}
  const std::string& name() const override { return id_; }

  Score score(const Sample& sample, const Components&, const Deadline& deadline) const override {
    r1::v1::ScoreRequest request;
    auto* s = request.add_samples();
    s->set_prompt(sample.prompt);
    s->set_completion(sample.completion);
    s->set_target_language(sample.target_language);
    s->set_reference_json(sample.reference.dump());
    s->set_completion_tokens(sample.completion_tokens);
    s->set_truncated(sample.truncated);
    grpc::ClientContext context;
    context.set_deadline(deadline.at() == Deadline::Clock::time_point::max()
                             ? std::chrono::system_clock::now() + std::chrono::hours(1)
                             : std::chrono::system_clock::now() + (deadline.at() - Deadline::Clock::now()));
    if (!token_.empty()) context.AddMetadata(kTokenHeader, token_);
    r1::v1::ScoreResponse response;
    grpc::Status status = stub_->Score(&context, request, &response);
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) throw DeadlineExceeded{};
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      throw Error("unavailable: " + address_ + " (" + status.error_message() + ")");
    }
    if (!status.ok()) throw Error("remote reward failed: " + status.error_message());
    if (response.results_size() != 1) throw Error("remote reward answered " + std::to_string(response.results_size()) + " results for 1 sample");
    const auto& r = response.results(0);
    return Score{r.value(), {}, r.reason()};
  }

 private:
  std::string id_, address_, token_;
  std::unique_ptr<r1::v1::RewardService::Stub> stub_;
};

class RewardServiceImpl final : public r1::v1::RewardService::Service {
 public:
  RewardServiceImpl(std::shared_ptr<const RewardSet> rewards, std::string token, size_t threads)
      : scorer_(std::move(rewards), threads), token_(std::move(token)) {}

  grpc::Status Score(grpc::ServerContext* context, const r1::v1::ScoreRequest* request,
                     r1::v1::ScoreResponse* response) override {
    if (!token_.empty()) {
      auto it = context->client_metadata().find(kTokenHeader);
      if (it == context->client_metadata().end() || std::string(it->second.data(), it->second.size()) != token_) {
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or wrong r1-token");
      }
    }
    std::vector<Sample> samples;
    for (int i = 0; i < request->samples_size(); ++i) {
      const auto& s = request->samples(i);
      Sample sample;
      sample.prompt = s.prompt();
      sample.completion = s.completion();
      sample.target_language = s.target_language();
      sample.completion_tokens = s.completion_tokens();
      sample.truncated = s.truncated();
      try {
        sample.reference = s.reference_json().empty() ? nlohmann::json::object() : nlohmann::json::parse(s.reference_json());
      } catch (const std::exception&) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "samples[" + std::to_string(i) + "].reference_json is not JSON");
      }
      samples.push_back(std::move(sample));
    }
    for (const auto& score : scorer_.score(samples)) {
      auto* r = response->add_results();
      r->set_value(score.value);
      r->set_reason(score.reason);
      for (const auto& [k, v] : score.components) (*r->mutable_components())[k] = v;
    }
    return grpc::Status::OK;
  }

 private:
  BatchScorer scorer_;
  std::string token_;
};

}  // namespace

std::unique_ptr<Reward> make_remote_reward(const std::string& id, const std::string& address, const std::string& token) {
  return std::make_unique<RemoteReward>(id, address, token);
}

struct RewardServer::Impl {
  std::unique_ptr<RewardServiceImpl> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

RewardServer::RewardServer(std::shared_ptr<const RewardSet> rewards, const std::string& host, int port,
                           const std::string& token, size_t threads)
    : impl_(std::make_unique<Impl>()) {
  impl_->service = std::make_unique<RewardServiceImpl>(std::move(rewards), token, threads);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(host + ":" + std::to_string(port), grpc::InsecureServerCredentials(), &impl_->port);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(impl_->service.get());
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || impl_->port == 0) throw Error("reward server: cannot listen on " + host + ":" + std::to_string(port));
}

RewardServer::~RewardServer() { shutdown(); }
int RewardServer::port() const { return impl_->port; }
void RewardServer::wait() { impl_->server->Wait(); }
void RewardServer::shutdown() {
  if (impl_->server) impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace r1::rewards
