// c10d process groups and gradient all-reduce: see distributed.h.
#include "trainer/distributed.h"

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/log.h"

namespace r1::trainer {

namespace {

class GlooGroup final : public run::Collective {
 public:
  GlooGroup(const run::Launch& launch, std::chrono::seconds timeout) : launch_(launch), timeout_(timeout) {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(launch.master_port);
    so.isServer = launch.rank == 0;
    so.numWorkers = static_cast<size_t>(launch.world_size);
    so.waitWorkers = true;
    so.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    try {
      store_ = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, so);
    } catch (const std::exception& e) {
      throw Error("distributed: " + launch.describe() + ": no rendezvous at " + launch.master_addr + ":" +
                  std::to_string(launch.master_port) + " within " + std::to_string(timeout.count()) +
                  " s (is the master reachable, and are all " + std::to_string(launch.world_size) +
                  " ranks started?): " + first_line(e.what()));
    }
    auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    options->devices.push_back(loopback() ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                   : c10d::ProcessGroupGloo::createDefaultDevice());
    try {
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("r1", store_),
                                                            launch.rank, launch.world_size, options);
    } catch (const std::exception& e) {
      throw Error("distributed: " + launch.describe() + ": the Gloo group did not form: " + first_line(e.what()));
    }
  }

  int rank() const override { return launch_.rank; }
  int world_size() const override { return launch_.world_size; }
  int node_rank() const override { return launch_.node_rank; }
  int local_rank() const override { return launch_.local_rank; }

  std::string node_address() const override {
    if (loopback()) return "127.0.0.1";
    // The source address of this node's route to the master: a UDP socket "connected" to it sends
    // nothing, but the kernel picks the interface.
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    if (::getaddrinfo(launch_.master_addr.c_str(), std::to_string(launch_.master_port).c_str(), &hints, &res) != 0 || !res)
      throw Error("distributed: " + launch_.describe() + ": cannot resolve the master " + launch_.master_addr);
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in local{};
    socklen_t len = sizeof local;
    const bool ok = fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0;
    ::freeaddrinfo(res);
    if (fd >= 0) ::close(fd);
    char text[INET_ADDRSTRLEN] = {};
    if (!ok || !::inet_ntop(AF_INET, &local.sin_addr, text, sizeof text))
      throw Error("distributed: " + launch_.describe() + ": no route to the master " + launch_.master_addr);
    return text;
  }

  void barrier(const std::string& what) override {
    run("barrier " + what, [&] { return group_->barrier(); });
  }

  void all_reduce_sum(float* data, int64_t n) override { reduce(at::from_blob(data, {n}, at::kFloat)); }
  void all_reduce_sum(double* data, int64_t n) override { reduce(at::from_blob(data, {n}, at::kDouble)); }

  std::unique_ptr<run::Pending> start_all_reduce_sum(float* data, int64_t n) override {
    std::vector<at::Tensor> ts = {at::from_blob(data, {n}, at::kFloat)};
    return start("all-reduce", [&] { return group_->allreduce(ts); });
  }

  std::unique_ptr<run::Pending> start_reduce_sum(float* data, int64_t n, int root) override {
    std::vector<at::Tensor> ts = {at::from_blob(data, {n}, at::kFloat)};
    c10d::ReduceOptions o;
    o.rootRank = root;
    o.rootTensor = 0;
    return start("reduce", [&] { return group_->reduce(ts, o); });
  }

  void broadcast(float* data, int64_t n, int root) override {
    std::vector<at::Tensor> ts = {at::from_blob(data, {n}, at::kFloat)};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    run("broadcast", [&] { return group_->broadcast(ts, o); });
  }

  std::vector<uint64_t> all_gather(uint64_t value) override {
    std::vector<at::Tensor> in = {at::tensor({static_cast<int64_t>(value)}, at::kLong)};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < launch_.world_size; ++r) out[0].push_back(at::zeros({1}, at::kLong));
    run("all-gather", [&] { return group_->allgather(out, in); });
    std::vector<uint64_t> values;
    for (const at::Tensor& t : out[0]) values.push_back(static_cast<uint64_t>(t.item<int64_t>()));
    return values;
  }

  std::vector<std::string> all_gather(const std::string& value) override {
    // The lengths first, then every rank's bytes padded to the longest.
    const std::vector<uint64_t> sizes = all_gather(static_cast<uint64_t>(value.size()));
    const int64_t longest = static_cast<int64_t>(std::max<uint64_t>(1, *std::max_element(sizes.begin(), sizes.end())));
    std::vector<at::Tensor> in = {at::zeros({longest}, at::kByte)};
    std::memcpy(in[0].data_ptr(), value.data(), value.size());
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < launch_.world_size; ++r) out[0].push_back(at::empty({longest}, at::kByte));
    run("all-gather", [&] { return group_->allgather(out, in); });
    std::vector<std::string> values;
    for (size_t r = 0; r < out[0].size(); ++r)
      values.emplace_back(static_cast<const char*>(out[0][r].data_ptr()), static_cast<size_t>(sizes[r]));
    return values;
  }

  void broadcast(std::string& data) override {
    std::vector<at::Tensor> size = {at::tensor({static_cast<int64_t>(data.size())}, at::kLong)};
    run("broadcast", [&] { return group_->broadcast(size); });
    data.resize(static_cast<size_t>(size[0].item<int64_t>()));
    if (data.empty()) return;
    std::vector<at::Tensor> bytes = {at::from_blob(data.data(), {static_cast<int64_t>(data.size())}, at::kByte)};
    run("broadcast", [&] { return group_->broadcast(bytes); });
  }

  std::string share_from_leader(const std::string& key, const std::string& value) override {
    const std::string k = "r1-share/" + key;
    if (leader()) {
      store_->set(k, std::vector<uint8_t>(value.begin(), value.end()));
      return value;
    }
    try {
      // Longest wait the store's socket poll takes (its int milliseconds): ~24 days.
      store_->wait({k}, std::chrono::hours(24 * 24));
      const std::vector<uint8_t> v = store_->get(k);
      return std::string(v.begin(), v.end());
    } catch (const std::exception& e) {
      throw Error("distributed: " + launch_.describe() + ": rank 0 went away while this rank waited for '" + key +
                  "': " + first_line(e.what()));
    }
  }

 private:
  static std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }
  bool loopback() const { return launch_.master_addr == "127.0.0.1" || launch_.master_addr == "localhost"; }

  void reduce(at::Tensor t) {
    std::vector<at::Tensor> ts = {std::move(t)};
    run("all-reduce", [&] { return group_->allreduce(ts); });
  }

  // A collective in flight; waiting turns a failure (a peer gone, the timeout) into one line.
  class GlooPending final : public run::Pending {
   public:
    GlooPending(const GlooGroup& g, std::string what, c10::intrusive_ptr<c10d::Work> work)
        : g_(g), what_(std::move(what)), work_(std::move(work)) {}
    void wait() override {
      try {
        work_->wait(std::chrono::duration_cast<std::chrono::milliseconds>(g_.timeout_));
      } catch (const std::exception& e) {
        throw Error("distributed: " + g_.launch_.describe() + ": " + what_ + " failed (another rank died, hung or took " +
                    "another path; the timeout is " + std::to_string(g_.timeout_.count()) + " s): " + first_line(e.what()));
      }
    }
    bool done() override { return work_->isCompleted(); }

   private:
    const GlooGroup& g_;
    std::string what_;
    c10::intrusive_ptr<c10d::Work> work_;
  };

  template <typename F>
  std::unique_ptr<run::Pending> start(const std::string& what, F&& begin) {
    c10::intrusive_ptr<c10d::Work> work;
    try {
      work = begin();
    } catch (const std::exception& e) {
      throw Error("distributed: " + launch_.describe() + ": " + what + " could not start: " + first_line(e.what()));
    }
    return std::make_unique<GlooPending>(*this, what, std::move(work));
  }

  // Runs one collective and waits for it.
  template <typename F>
  void run(const std::string& what, F&& begin) {
    start(what, std::forward<F>(begin))->wait();
  }

  run::Launch launch_;
  std::chrono::seconds timeout_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};

}  // namespace

std::shared_ptr<run::Collective> join_process_group(const run::Launch& launch, std::chrono::seconds timeout) {
  if (!launch.distributed()) return std::make_shared<run::SingleProcess>();
  log::info() << "distributed: joining as " << launch.describe();
  auto group = std::make_shared<GlooGroup>(launch, timeout);
  log::info() << "distributed: " << launch.world_size << " ranks joined (Gloo)";
  return group;
}

std::vector<double> state_mb(const std::vector<uint64_t>& bytes) {
  std::vector<double> out;
  for (uint64_t b : bytes) out.push_back(static_cast<double>(b) / 1e6);
  return out;
}

}  // namespace r1::trainer
