#include "proto/health_service.h"

#include <exception>
#include <utility>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

namespace r1::proto {

using r1::v1::HealthCheckResponse;

// --- server -------------------------------------------------------------------------------------

HealthServiceImpl::HealthServiceImpl(std::string version)
    : version_(std::move(version)), start_(std::chrono::steady_clock::now()) {}

void HealthServiceImpl::set_status(const std::string& service, ServingStatus status) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (service.empty()) {
    overall_ = status;
  } else if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    services_.erase(service);
  } else {
    services_[service] = status;
  }
}

ServingStatus HealthServiceImpl::status(const std::string& service) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (service.empty()) return overall_;
  auto it = services_.find(service);
  return it == services_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

std::uint64_t HealthServiceImpl::uptime_ms() const {
  auto elapsed = std::chrono::steady_clock::now() - start_;
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
}

grpc::Status HealthServiceImpl::Check(grpc::ServerContext* /*context*/,
                                      const r1::v1::HealthCheckRequest* request,
                                      r1::v1::HealthCheckResponse* response) {
  response->set_status(status(request->service()));
  response->set_version(version_);
  response->set_uptime_ms(uptime_ms());
  return grpc::Status::OK;
}

// --- client -------------------------------------------------------------------------------------

HealthClient::HealthClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)),
      stub_(channel_ ? r1::v1::Health::NewStub(channel_) : nullptr) {}

HealthCheckResult HealthClient::Check(const std::string& service,
                                      std::int64_t deadline_ms) const noexcept {
  HealthCheckResult result;
  if (!stub_) {
    result.code = grpc::StatusCode::UNAVAILABLE;
    result.message = "health client has no channel";
    return result;
  }
  try {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(deadline_ms < 1 ? 1 : deadline_ms));
    // wait_for_ready stays false (the default): a down server fails at once with UNAVAILABLE
    // instead of holding the call until the deadline.
    r1::v1::HealthCheckRequest request;
    request.set_service(service);
    r1::v1::HealthCheckResponse response;
    grpc::Status status = stub_->Check(&context, request, &response);

    result.code = status.error_code();
    result.ok = status.ok();
    if (!result.ok) {
      result.message = status.error_message();
      return result;
    }
    result.status = response.status();
    result.version = response.version();
    result.uptime_ms = response.uptime_ms();
  } catch (const std::exception& e) {  // gRPC itself does not throw; only allocation can.
    result = HealthCheckResult{};
    result.code = grpc::StatusCode::INTERNAL;
    result.message = e.what();
  } catch (...) {
    result = HealthCheckResult{};
    result.code = grpc::StatusCode::INTERNAL;
    result.message = "unknown exception in health check";
  }
  return result;
}

}  // namespace r1::proto
