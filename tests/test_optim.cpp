// trainer/optim.h: the learning-rate schedules, AdamW's step (decay, clipping, a non-finite gradient
// skipped), its state saved and loaded, and its config's errors.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <sys/resource.h>
#include <unistd.h>

#include "tests/run_helpers.h"
#include "core/config.h"
#include "core/error.h"
#include "trainer/optim.h"

namespace fs = std::filesystem;
using namespace r1::trainer;
using r1::test::fresh_dir;
using r1::test::write;
using Catch::Matchers::WithinAbs;


TEST_CASE("learning-rate schedules: warmup, constant, cosine, linear", "[optim]") {
  r1::run::OptimConfig c;
  c.lr = 1.0;
  c.warmup_steps = 4;
  c.min_lr_ratio = 0.1;
  c.schedule = r1::LrSchedule::kCosine;
  CHECK_THAT(scheduled_lr(c, 0, 104), WithinAbs(0.25, 1e-12));
  CHECK_THAT(scheduled_lr(c, 3, 104), WithinAbs(1.0, 1e-12));
  CHECK_THAT(scheduled_lr(c, 4, 104), WithinAbs(1.0, 1e-12));               // p = 0
  CHECK_THAT(scheduled_lr(c, 54, 104), WithinAbs(0.1 + 0.9 * 0.5, 1e-12));  // p = 1/2: halfway
  CHECK_THAT(scheduled_lr(c, 104, 104), WithinAbs(0.1, 1e-12));             // p = 1: the floor
  c.schedule = r1::LrSchedule::kLinear;
  CHECK_THAT(scheduled_lr(c, 29, 104), WithinAbs(0.1 + 0.9 * 0.75, 1e-12));
  c.schedule = r1::LrSchedule::kConstant;
  CHECK_THAT(scheduled_lr(c, 90, 104), WithinAbs(1.0, 1e-12));
}

TEST_CASE("optimiser: AdamW's first step, weight decay on matrices only, clipping, non-finite skip", "[optim]") {
  r1::run::OptimConfig c;
  c.lr = 0.1;
  c.weight_decay = 0.5;
  c.max_grad_norm = 0;
  at::Tensor w = at::ones({2, 2}).set_requires_grad(true), b = at::ones({2}).set_requires_grad(true);
  Optimizer opt({{"layer.weight", w}, {"layer.bias", b}}, c, 10);
  (w.sum() * 3 + b.sum() * -2).backward();
  const double norm = opt.step(0);
  CHECK_THAT(norm, WithinAbs(std::sqrt(4 * 9.0 + 2 * 4.0), 1e-9));
  // Adam's first step moves each weight by lr·sign(g) (m/√v = g/|g| after bias correction), and
  // decoupled decay multiplies by (1 - lr·wd) first: 1·(1 - 0.05) - 0.1 = 0.85; the bias has no decay.
  CHECK_THAT(w[0][0].item<double>(), WithinAbs(0.85, 1e-6));
  CHECK_THAT(b[0].item<double>(), WithinAbs(1.1, 1e-6));
  CHECK_FALSE(w.grad().defined());
  // A NaN gradient: the norm says so and nothing moves.
  (w.sum() * std::nan("")).backward();
  const at::Tensor before = w.detach().clone();
  CHECK(std::isnan(opt.step(1)));
  CHECK(at::equal(before, w.detach()));
  // Clipping: a gradient of norm 10 is scaled to max_grad_norm before the step (the reported norm is the raw one).
  c.max_grad_norm = 1.0;
  c.weight_decay = 0;
  at::Tensor v = at::zeros({1, 2}).set_requires_grad(true);
  Optimizer opt2({{"v.weight", v}}, c, 10);
  (v * at::tensor(std::vector<float>{6, 8}).view({1, 2})).sum().backward();
  CHECK_THAT(opt2.step(0), WithinAbs(10.0, 1e-9));
}

TEST_CASE("optimiser state round-trips through a file, a truncated one is refused", "[optim]") {
  const fs::path dir = fresh_dir("optim");
  r1::run::OptimConfig c;
  c.lr = 0.01;
  at::Tensor w = at::ones({3, 3}).set_requires_grad(true);
  Optimizer a({{"x.weight", w}}, c, 10);
  for (int s = 0; s < 3; ++s) {
    (w * w).sum().backward();
    a.step(s);
  }
  a.save((dir / "opt.pt").string());
  at::Tensor w2 = w.detach().clone().set_requires_grad(true);
  Optimizer b({{"x.weight", w2}}, c, 10);
  b.load((dir / "opt.pt").string());
  (w * w).sum().backward();
  (w2 * w2).sum().backward();
  a.step(3);
  b.step(3);
  CHECK(at::allclose(w, w2));  // same moments, same step count: the same update
  const auto size = fs::file_size(dir / "opt.pt");
  fs::resize_file(dir / "opt.pt", size / 2);
  CHECK_THROWS_AS(b.load((dir / "opt.pt").string()), r1::Error);
  CHECK_THROWS_WITH(b.load((dir / "missing.pt").string()), Catch::Contains("missing.pt"));
  fs::remove_all(dir);
}

TEST_CASE("optimiser config: typos and bad values name the key", "[optim]") {
  nlohmann::json j = {{"lr", 1e-3}, {"schedul", "cosine"}};
  r1::ConfigReader r(j, "optim");
  r1::run::OptimConfig::read(r, r1::run::OptimConfig{});
  CHECK_THROWS_WITH(r.finish(), Catch::Contains("schedule"));
  nlohmann::json bad = {{"lr", -1.0}};
  r1::ConfigReader r2(bad, "optim");
  CHECK_THROWS_WITH(r1::run::OptimConfig::read(r2, r1::run::OptimConfig{}), Catch::Contains("optim.lr"));
  for (const nlohmann::json& wrong : {nlohmann::json{{"zero_stage", 3}}, nlohmann::json{{"bucket_cap_mb", 0}},
                                      nlohmann::json{{"overlap_comm", "yes"}}}) {
    r1::ConfigReader r3(wrong, "optim");
    CHECK_THROWS_WITH(r1::run::OptimConfig::read(r3, r1::run::OptimConfig{}), Catch::Contains("optim." + wrong.begin().key()));
  }
  nlohmann::json good = {{"zero_stage", 2}, {"overlap_comm", false}, {"bucket_cap_mb", 4}};
  r1::ConfigReader r4(good, "optim");
  const r1::run::OptimConfig c = r1::run::OptimConfig::read(r4, r1::run::OptimConfig{});
  CHECK(c.zero_stage == 2);
  CHECK(!c.overlap_comm);
  CHECK(c.bucket_cap_mb == 4);
}

TEST_CASE("optimiser state on a full disk: an r1::Error naming the file, no abort, nothing half-written left", "[optim]") {
  const fs::path dir = fresh_dir("optim-full");
  r1::run::OptimConfig c;
  at::Tensor w = at::ones({64, 64}).set_requires_grad(true);
  Optimizer a({{"x.weight", w}}, c, 10);
  (w * w).sum().backward();
  a.step(0);
  // A file-size limit stands in for a full disk (a write past it fails with EFBIG, as ENOSPC would);
  // the signal it raises is ignored, as a process writing to a full disk gets none.
  struct rlimit before {};
  getrlimit(RLIMIT_FSIZE, &before);
  struct rlimit small = before;
  small.rlim_cur = 16 * 1024;  // the state is ~33 KB
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string message;
  try {
    a.save((dir / "opt.pt").string());
  } catch (const r1::Error& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &before);
  std::signal(SIGXFSZ, old_handler);
  CHECK(message.find("opt.pt") != std::string::npos);
  CHECK(message.find("cannot write the optimiser state") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "opt.pt"));
  for (const auto& entry : fs::directory_iterator(dir)) FAIL_CHECK("left behind: " << entry.path());
  a.save((dir / "opt.pt").string());  // space again: it saves
  CHECK(fs::exists(dir / "opt.pt"));
  fs::remove_all(dir);
}
