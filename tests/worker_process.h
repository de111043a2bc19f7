// A rollout worker for the tests that speak to one over raw gRPC: `r1 rollout serve ARGS` on a free
// port (its first line gives the address), stopped with SIGTERM when the test is done.
#pragma once

#include <signal.h>

#include <catch2/catch.hpp>

#include <boost/process.hpp>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "proto/rollout.grpc.pb.h"

namespace r1::test {

struct Worker {
  boost::process::ipstream out;
  boost::process::child child;
  std::string address;
  explicit Worker(const std::vector<std::string>& args) {
    namespace bp = boost::process;
    std::vector<std::string> all = {"-q", "rollout", "serve", "--port", "0", "--kv-cache-mb", "8"};
    all.insert(all.end(), args.begin(), args.end());
    child = bp::child(bp::exe = R1_BINARY, bp::args = all, bp::std_out > out, bp::std_err > bp::null);
    std::string line;
    REQUIRE(std::getline(out, line));
    REQUIRE(line.rfind("listening on ", 0) == 0);
    address = line.substr(13);
  }
  ~Worker() {
    if (child.running()) ::kill(child.id(), SIGTERM);
    child.wait();
  }
  std::unique_ptr<r1::v1::Rollout::Stub> stub() const {
    return r1::v1::Rollout::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }
};

}  // namespace r1::test
