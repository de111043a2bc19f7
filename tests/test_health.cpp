// Tests for proto/health_service.*: a real grpc::Server on a loopback port, a real channel.
// (No CATCH_CONFIG_MAIN here: the test binary links the shared Catch2 main.)
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "proto/health_service.h"

namespace {

using r1::proto::HealthCheckResult;
using r1::proto::HealthClient;
using r1::proto::HealthServiceImpl;
using r1::v1::HealthCheckResponse;

constexpr const char* kVersion = "0.1.0-test";

// A HealthServiceImpl served on 127.0.0.1:<ephemeral port>; shut down on destruction.
struct LoopbackServer {
  HealthServiceImpl service{kVersion};
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  LoopbackServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
  }
  ~LoopbackServer() { shutdown(); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port); }

  void shutdown() {
    if (!server) return;
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    server->Wait();
    server.reset();
  }
};

std::shared_ptr<grpc::Channel> loopback_channel(const LoopbackServer& s) {
  return grpc::CreateChannel(s.address(), grpc::InsecureChannelCredentials());
}

}  // namespace

TEST_CASE("health: Check over loopback reports SERVING, version and monotone uptime",
          "[health][proto][grpc]") {
  LoopbackServer s;
  REQUIRE(s.server != nullptr);
  REQUIRE(s.port > 0);
  HealthClient client(loopback_channel(s));

  HealthCheckResult first = client.Check("", 5000);
  INFO("code " << first.code << ": " << first.message);
  REQUIRE(first.ok);
  CHECK(first.code == grpc::StatusCode::OK);
  CHECK(first.message.empty());
  CHECK(first.status == HealthCheckResponse::SERVING);
  CHECK(first.serving());
  CHECK(first.version == kVersion);

  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  HealthCheckResult second = client.Check("", 5000);
  REQUIRE(second.ok);
  CHECK(second.status == HealthCheckResponse::SERVING);
  CHECK(second.uptime_ms > first.uptime_ms);
  CHECK(second.uptime_ms - first.uptime_ms >= 19);  // ms truncation can cost one
  CHECK(second.uptime_ms <= s.service.uptime_ms());
}

TEST_CASE("health: named services and the overall status follow set_status",
          "[health][proto][grpc]") {
  LoopbackServer s;
  REQUIRE(s.port > 0);
  HealthClient client(loopback_channel(s));

  s.service.set_status("sandbox", HealthCheckResponse::SERVING);
  HealthCheckResult r = client.Check("sandbox", 5000);
  REQUIRE(r.ok);
  CHECK(r.status == HealthCheckResponse::SERVING);

  s.service.set_status("sandbox", HealthCheckResponse::NOT_SERVING);
  r = client.Check("sandbox", 5000);
  REQUIRE(r.ok);
  CHECK(r.status == HealthCheckResponse::NOT_SERVING);
  CHECK_FALSE(r.serving());
  CHECK(r.version == kVersion);

  // A named service going down does not change the server's overall status.
  r = client.Check("", 5000);
  REQUIRE(r.ok);
  CHECK(r.status == HealthCheckResponse::SERVING);

  s.service.set_status("", HealthCheckResponse::NOT_SERVING);
  r = client.Check("", 5000);
  REQUIRE(r.ok);
  CHECK(r.status == HealthCheckResponse::NOT_SERVING);

  // Forgetting a named service makes it unknown again.
  s.service.set_status("sandbox", HealthCheckResponse::SERVICE_UNKNOWN);
  r = client.Check("sandbox", 5000);
  REQUIRE(r.ok);
  CHECK(r.status == HealthCheckResponse::SERVICE_UNKNOWN);
}

TEST_CASE("health: an unknown service name gets SERVICE_UNKNOWN", "[health][proto][grpc]") {
  LoopbackServer s;
  REQUIRE(s.port > 0);
  s.service.set_status("rollout", HealthCheckResponse::SERVING);
  HealthClient client(loopback_channel(s));

  HealthCheckResult r = client.Check("no.such.Service", 5000);
  REQUIRE(r.ok);  // the RPC succeeds; the answer says the name is unknown
  CHECK(r.code == grpc::StatusCode::OK);
  CHECK(r.status == HealthCheckResponse::SERVICE_UNKNOWN);
  CHECK_FALSE(r.serving());
  CHECK(r.version == kVersion);
}

TEST_CASE("health: after server shutdown the client gets UNAVAILABLE within the deadline",
          "[health][proto][grpc]") {
  LoopbackServer s;
  REQUIRE(s.port > 0);
  HealthClient client(loopback_channel(s));
  REQUIRE(client.Check("", 5000).serving());  // the channel is connected before the shutdown

  s.shutdown();

  constexpr int kDeadlineMs = 500;
  for (int attempt = 0; attempt < 3; ++attempt) {  // first call sees the dropped connection,
    HealthCheckResult r;                             // later ones a refused reconnect
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE_NOTHROW(r = client.Check("", kDeadlineMs));
    auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
    INFO("attempt " << attempt << ": code " << r.code << " (" << r.message << ") after "
                    << elapsed_ms << " ms");
    CHECK_FALSE(r.ok);
    CHECK((r.code == grpc::StatusCode::UNAVAILABLE ||
           r.code == grpc::StatusCode::DEADLINE_EXCEEDED));
    CHECK_FALSE(r.message.empty());
    CHECK(r.status == HealthCheckResponse::UNKNOWN);
    CHECK(r.version.empty());
    CHECK(elapsed_ms < kDeadlineMs + 1000);  // returns by the deadline (plus scheduling slack)
  }

  // A fresh channel to the dead port fails the same way (it may hit the deadline while gRPC's
  // shared subchannel is still backing off, so allow DEADLINE_EXCEEDED here too).
  HealthClient fresh(loopback_channel(s));
  HealthCheckResult r;
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE_NOTHROW(r = fresh.Check("", kDeadlineMs));
  auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - t0)
                        .count();
  INFO("fresh channel: code " << r.code << " (" << r.message << ") after " << elapsed_ms << " ms");
  CHECK(elapsed_ms < kDeadlineMs + 1000);
  CHECK_FALSE(r.ok);
  CHECK((r.code == grpc::StatusCode::UNAVAILABLE ||
         r.code == grpc::StatusCode::DEADLINE_EXCEEDED));
}

TEST_CASE("health: a client without a channel returns UNAVAILABLE", "[health][proto]") {
  HealthClient client(nullptr);
  HealthCheckResult r = client.Check("", 100);
  CHECK_FALSE(r.ok);
  CHECK(r.code == grpc::StatusCode::UNAVAILABLE);
}
