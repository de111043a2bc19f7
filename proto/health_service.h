// Health checking for r1 servers (schema: proto/health.proto).
//
// Server side: register a HealthServiceImpl with every grpc::ServerBuilder, next to the real
// services, and flip named services between SERVING and NOT_SERVING as they come up or drain.
//
//   r1::proto::HealthServiceImpl health("0.1.0");
//   builder.RegisterService(&health);
//   health.set_status("sandbox", r1::v1::HealthCheckResponse::SERVING);
//
// Client side: HealthClient wraps the generated stub. It never throws for RPC failures; a dead or
// unreachable server comes back as a HealthCheckResult with ok == false and the gRPC status code
// (UNAVAILABLE, or DEADLINE_EXCEEDED once the deadline passes).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "proto/health.grpc.pb.h"

namespace r1::proto {

using ServingStatus = r1::v1::HealthCheckResponse::ServingStatus;

// Answers r1.v1.Health/Check. Thread-safe: set_status may be called while RPCs are in flight.
//
// Status rules:
//   * empty service name  -> the overall status (SERVING from construction until changed);
//   * a name given to set_status -> the status set for it;
//   * any other name      -> SERVICE_UNKNOWN.
class HealthServiceImpl final : public r1::v1::Health::Service {
 public:
  // `version` is reported in every response (the r1 version string, e.g. "0.1.0"). Uptime is
  // measured from construction on a monotonic clock.
  explicit HealthServiceImpl(std::string version);

  // Sets the status of a named service, or of the whole server when `service` is empty.
  // Setting SERVICE_UNKNOWN for a named service forgets it again.
  void set_status(const std::string& service, ServingStatus status);

  // The status Check would report for `service` right now.
  ServingStatus status(const std::string& service) const;

  const std::string& version() const { return version_; }
  std::uint64_t uptime_ms() const;

  grpc::Status Check(grpc::ServerContext* context, const r1::v1::HealthCheckRequest* request,
                     r1::v1::HealthCheckResponse* response) override;

 private:
  const std::string version_;
  const std::chrono::steady_clock::time_point start_;
  mutable std::mutex mutex_;
  ServingStatus overall_ = r1::v1::HealthCheckResponse::SERVING;
  std::map<std::string, ServingStatus, std::less<>> services_;
};

// Outcome of one HealthClient::Check. `ok` is true iff the RPC itself succeeded (code == OK); the
// server's answer fields are only meaningful then.
struct HealthCheckResult {
  bool ok = false;
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string message;  // gRPC error message; empty on success
  ServingStatus status = r1::v1::HealthCheckResponse::UNKNOWN;
  std::string version;
  std::uint64_t uptime_ms = 0;

  // Reachable and SERVING.
  bool serving() const { return ok && status == r1::v1::HealthCheckResponse::SERVING; }
};

// Client for r1.v1.Health. Cheap to construct; safe to share between threads.
class HealthClient {
 public:
  explicit HealthClient(std::shared_ptr<grpc::Channel> channel);

  // One Check RPC with a deadline of `deadline_ms` milliseconds (values below 1 are treated as 1).
  // Does not wait for the channel to become ready: an unreachable server usually fails at once
  // with UNAVAILABLE (connection refused); while gRPC is still (re)connecting the call ends at the
  // deadline with DEADLINE_EXCEEDED at the latest. Never throws.
  HealthCheckResult Check(const std::string& service = "",
                          std::int64_t deadline_ms = 1000) const noexcept;

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<r1::v1::Health::Stub> stub_;
};

}  // namespace r1::proto
