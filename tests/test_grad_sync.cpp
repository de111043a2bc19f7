// trainer/grad_sync.h: gradients summed over two ranks of a real Gloo group (two threads of this
// process on loopback), bucket by bucket during the backward, whole or partitioned (ZeRO-2); the
// order buckets follow, and the owners a partitioned optimiser gives each parameter.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <functional>
#include <map>
#include <thread>

#include "tests/run_helpers.h"
#include "run/collective.h"
#include "run/launch.h"
#include "trainer/distributed.h"
#include "trainer/grad_sync.h"

using namespace r1::trainer;
using Named = std::vector<std::pair<std::string, at::Tensor>>;

namespace {

// Runs body(rank, group) on two ranks of one Gloo group, one thread each; rethrows a rank's failure.
// Catch2's assertions are not thread-safe: the bodies record what they saw, the test checks it after.
void two_ranks(const std::function<void(int, r1::run::Collective&)>& body) {
  const int port = r1::test::free_port();
  std::exception_ptr failed[2];
  auto rank = [&](int r) {
    try {
      r1::run::Launch l;
      l.rank = r;
      l.world_size = 2;
      l.local_rank = r;
      l.local_world_size = 2;
      l.master_port = port;
      l.launcher = "torchrun";
      auto group = join_process_group(l, std::chrono::seconds(60));
      body(r, *group);
    } catch (...) {
      failed[r] = std::current_exception();
    }
  };
  std::thread other(rank, 1);
  rank(0);
  other.join();
  for (auto& f : failed)
    if (f) std::rethrow_exception(f);
}

// Fixed values of a shape, without the global generator (the two ranks' threads make theirs at once).
at::Tensor values(at::IntArrayRef shape, double seed, double scale) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return (at::sin(at::arange(n, at::kFloat) * 0.737 + seed) * scale).view(shape);
}

// A small model with Hugging Face names: embeddings, three layers, a final norm and a head.
Named make_params() {
  Named p = {{"model.embed_tokens.weight", values({11, 6}, 1, 1)},
             {"model.layers.0.mlp.weight", values({6, 6}, 2, 0.5)},
             {"model.layers.1.mlp.weight", values({6, 6}, 3, 0.5)},
             {"model.layers.2.mlp.weight", values({6, 6}, 4, 0.5)},
             {"model.layers.2.mlp.bias", values({6}, 5, 0.1)},
             {"model.norm.weight", at::ones({6})},
             {"lm_head.weight", values({11, 6}, 6, 1)}};
  for (auto& [name, t] : p) t.requires_grad_(true);
  return p;
}

// The loss of one micro-batch of `rank`'s data (ids differ per rank and micro-batch).
at::Tensor loss_of(const Named& p, int rank, int micro) {
  std::map<std::string, at::Tensor> w(p.begin(), p.end());
  at::Tensor ids = (at::arange(5, at::kLong) * (rank + 2) + micro) % 11;
  at::Tensor h = w["model.embed_tokens.weight"].index_select(0, ids);
  for (int l = 0; l < 3; ++l) h = at::tanh(at::matmul(h, w["model.layers." + std::to_string(l) + ".mlp.weight"]));
  h = (h + w["model.layers.2.mlp.bias"]) * w["model.norm.weight"];
  at::Tensor logits = at::matmul(h, w["lm_head.weight"].t());
  return at::log_softmax(logits, -1).gather(1, ((ids + 1) % 11).unsqueeze(1)).sum().neg();
}

// The gradients of both ranks' losses (two micro-batches each), summed: what every rank must end with.
std::vector<at::Tensor> reference_sum() {
  Named p = make_params();
  at::Tensor total = at::zeros({});
  for (int r = 0; r < 2; ++r)
    for (int m = 0; m < 2; ++m) total = total + loss_of(p, r, m);
  total.backward();
  std::vector<at::Tensor> g;
  for (auto& [name, t] : p) g.push_back(t.grad().clone());
  return g;
}

// Counts the collectives a GradientSync starts, and how many it started while a flag was up.
class Counting final : public r1::run::Collective {
 public:
  explicit Counting(r1::run::Collective& g) : g_(g) {}
  std::atomic<int> started{0}, started_in_backward{0};
  std::atomic<bool> in_backward{false};
  int rank() const override { return g_.rank(); }
  int world_size() const override { return g_.world_size(); }
  int node_rank() const override { return g_.node_rank(); }
  int local_rank() const override { return g_.local_rank(); }
  std::string node_address() const override { return g_.node_address(); }
  void barrier(const std::string& w) override { g_.barrier(w); }
  void all_reduce_sum(float* d, int64_t n) override { g_.all_reduce_sum(d, n); }
  void all_reduce_sum(double* d, int64_t n) override { g_.all_reduce_sum(d, n); }
  std::unique_ptr<r1::run::Pending> start_all_reduce_sum(float* d, int64_t n) override {
    count();
    return g_.start_all_reduce_sum(d, n);
  }
  std::unique_ptr<r1::run::Pending> start_reduce_sum(float* d, int64_t n, int root) override {
    count();
    return g_.start_reduce_sum(d, n, root);
  }
  void broadcast(float* d, int64_t n, int root) override { g_.broadcast(d, n, root); }
  std::vector<uint64_t> all_gather(uint64_t v) override { return g_.all_gather(v); }
  std::vector<std::string> all_gather(const std::string& v) override { return g_.all_gather(v); }
  void broadcast(std::string& d) override { g_.broadcast(d); }
  std::string share_from_leader(const std::string& k, const std::string& v) override { return g_.share_from_leader(k, v); }

 private:
  void count() {
    ++started;
    if (in_backward) ++started_in_backward;
  }
  r1::run::Collective& g_;
};

}  // namespace

TEST_CASE("gradient order: the head and final norm first, layers from the last (numerically), embeddings last", "[grad-sync]") {
  const std::vector<std::string> names = {"lm_head.weight", "model.embed_tokens.weight", "model.layers.0.a.weight",
                                          "model.layers.10.a.weight", "model.layers.2.a.weight", "model.layers.9.a.weight",
                                          "model.norm.weight"};
  const std::vector<size_t> order = backward_order(names);
  std::vector<std::string> got;
  for (size_t i : order) got.push_back(names[i]);
  CHECK(got == std::vector<std::string>{"model.norm.weight", "lm_head.weight", "model.layers.10.a.weight",
                                        "model.layers.9.a.weight", "model.layers.2.a.weight", "model.layers.0.a.weight",
                                        "model.embed_tokens.weight"});
}

TEST_CASE("owners: contiguous runs along the gradient order, the largest as small as whole tensors allow", "[grad-sync]") {
  Named p;
  const int64_t sizes[] = {40, 10, 10, 10, 10, 10, 10, 30};  // embed 40, six layers of 10, head 30
  p.emplace_back("model.embed_tokens.weight", at::zeros({sizes[0]}));
  for (int l = 0; l < 6; ++l) p.emplace_back("model.layers." + std::to_string(l) + ".w", at::zeros({sizes[l + 1]}));
  p.emplace_back("lm_head.weight", at::zeros({sizes[7]}));
  std::vector<std::string> names;
  for (auto& [n, t] : p) names.push_back(n);
  for (int world : {1, 2, 3, 4, 8}) {
    INFO("world " << world);
    const std::vector<int> owner = assign_owners(p, world);
    std::vector<int64_t> load(static_cast<size_t>(world), 0);
    int last = 0;
    for (size_t i : backward_order(names)) {
      CHECK(owner[i] >= last);  // non-decreasing along the order: contiguous runs
      CHECK(owner[i] < world);
      last = owner[i];
      load[static_cast<size_t>(owner[i])] += p[i].second.numel();
    }
    const int64_t worst = *std::max_element(load.begin(), load.end());
    // The best contiguous split of [30, 10 x6, 40]: 130 on 1 rank, 70 on 2, 50 on 3, 40 on 4 or more
    // (the embeddings alone).
    const std::map<int, int64_t> best = {{1, 130}, {2, 70}, {3, 50}, {4, 40}, {8, 40}};
    CHECK(worst == best.at(world));
  }
}

TEST_CASE("gradient sync: two ranks end with the sum of both ranks' gradients, started during the backward", "[grad-sync]") {
  const std::vector<at::Tensor> want = reference_sum();
  for (int64_t bucket_bytes : {int64_t{64}, int64_t{1} << 20}) {  // a bucket per tensor; one bucket for all
    for (bool overlap : {true, false}) {
      INFO("bucket bytes " << bucket_bytes << (overlap ? ", overlapped" : ", not overlapped (overlap_comm false)"));
      std::vector<at::Tensor> got[2][2];  // [rank][step]: the gradients after finish()
      int in_backward_starts[2] = {0, 0};
      two_ranks([&](int rank, r1::run::Collective& group) {
        Named p = make_params();
        Counting counting(group);
        GradientSync sync(counting, p, {{}, bucket_bytes, overlap});
        // Step 0 accumulates into fresh gradients, copied into the buckets; step 1 straight into the
        // buckets (begin()), over the sums step 0 left there.
        for (int step = 0; step < 2; ++step) {
          for (auto& [n, t] : p) t.mutable_grad() = at::Tensor();
          if (step == 1) sync.begin();
          loss_of(p, rank, 0).backward();
          sync.arm();
          counting.in_backward = true;
          loss_of(p, rank, 1).backward();
          counting.in_backward = false;
          sync.finish();
          for (auto& [n, t] : p) got[rank][step].push_back(t.grad().defined() ? t.grad().clone() : at::Tensor());
        }
        in_backward_starts[rank] = counting.started_in_backward.load();
      });
      for (int rank = 0; rank < 2; ++rank)
        for (int step = 0; step < 2; ++step)
          for (size_t i = 0; i < want.size(); ++i) {
            INFO("rank " << rank << ", step " << step << ", parameter " << i);
            REQUIRE(got[rank][step][i].defined());
            CHECK(at::allclose(got[rank][step][i], want[i], 1e-5, 1e-6));
          }
      // Overlapped, every bucket starts as its gradients land: all of them while the backward runs.
      for (int n : in_backward_starts) CHECK(n == (overlap ? (bucket_bytes == 64 ? 2 * 7 : 2 * 1) : 0));
    }
  }
}

TEST_CASE("gradient sync, partitioned (ZeRO-2): each rank keeps only its own parameters' sums", "[grad-sync]") {
  const std::vector<at::Tensor> want = reference_sum();
  Named shapes = make_params();
  const std::vector<int> owners = assign_owners(shapes, 2);
  std::vector<at::Tensor> got[2];
  int64_t held[2] = {0, 0}, whole = 0;
  for (const at::Tensor& g : want) whole += g.numel() * 4;
  two_ranks([&](int rank, r1::run::Collective& group) {
    Named p = make_params();
    GradientSync sync(group, p, {owners, 64, true});
    sync.begin();
    loss_of(p, rank, 0).backward();
    sync.arm();
    loss_of(p, rank, 1).backward();
    sync.finish();
    for (auto& [n, t] : p) got[rank].push_back(t.grad().defined() ? t.grad().clone() : at::Tensor());
    held[rank] = sync.gradient_bytes();
  });
  for (int rank = 0; rank < 2; ++rank)
    for (size_t i = 0; i < want.size(); ++i) {
      INFO("rank " << rank << ", " << shapes[i].first << " owned by " << owners[i]);
      if (owners[i] == rank) {
        REQUIRE(got[rank][i].defined());
        CHECK(at::allclose(got[rank][i], want[i], 1e-5, 1e-6));
      } else {
        CHECK(!got[rank][i].defined());
      }
    }
  CHECK(held[0] + held[1] == whole);
  for (int64_t h : held) CHECK(h < whole * 3 / 4);
}

TEST_CASE("gradient sync: a rank with no backward at all takes part with zeros", "[grad-sync]") {
  // Rank 1 had no sequences this step: the sums are rank 0's gradients alone, on both ranks.
  Named q = make_params();
  loss_of(q, 0, 0).backward();
  std::vector<at::Tensor> got[2];
  two_ranks([&](int rank, r1::run::Collective& group) {
    Named p = make_params();
    GradientSync sync(group, p, {{}, 64, true});
    sync.arm();
    if (rank == 0) loss_of(p, 0, 0).backward();
    sync.finish();
    for (auto& [n, t] : p) got[rank].push_back(t.grad().defined() ? t.grad().clone() : at::Tensor());
  });
  for (int rank = 0; rank < 2; ++rank)
    for (size_t i = 0; i < q.size(); ++i) {
      INFO("rank " << rank << ", " << q[i].first);
      REQUIRE(got[rank][i].defined());
      CHECK(at::allclose(got[rank][i], q[i].second.grad(), 1e-6, 1e-7));
    }
}
