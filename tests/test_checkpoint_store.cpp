// run/checkpoint_store.h: checkpoint folders written atomically, the last K kept, a failed write
// leaving the previous one intact, and a crash's leftovers never taken for a checkpoint.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

#include "tests/run_helpers.h"
#include "core/error.h"
#include "run/checkpoint_store.h"

namespace fs = std::filesystem;
using namespace r1::run;
using r1::test::fresh_dir;
using r1::test::write;

TEST_CASE("checkpoints: atomic, keep the last K, a failed write leaves the previous intact", "[checkpoint]") {
  const fs::path dir = fresh_dir("ckpt");
  r1::run::CheckpointStore store((dir / "checkpoints").string(), 2);
  CHECK_FALSE(store.latest());
  auto writer = [](const std::string& tag) {
    return [tag](const std::string& d) { write(fs::path(d) / "model.safetensors", tag); };
  };
  store.save(10, {{"step", 10}}, writer("ten"));
  store.save(20, {{"step", 20}}, writer("twenty"));
  store.save(30, {{"step", 30}}, writer("thirty"));
  auto all = store.list();
  REQUIRE(all.size() == 2);  // step 10 removed
  CHECK(all[0].first == 20);
  CHECK(r1::run::CheckpointStore::read_state(*store.latest())["step"] == 30);

  // A write that dies halfway (the disk filled up): partial files are removed, nothing else changes.
  CHECK_THROWS_WITH(store.save(40, {{"step", 40}}, [](const std::string& d) {
    write(fs::path(d) / "model.safetensors", "half");
    throw r1::Error(d + "/optimizer.pt: No space left on device");
  }), Catch::Contains("No space left"));
  all = store.list();
  REQUIRE(all.size() == 2);
  CHECK(all.back().first == 30);
  CHECK_FALSE(fs::exists(dir / "checkpoints" / "step-000040.partial"));
  CHECK_FALSE(fs::exists(dir / "checkpoints" / "step-000040"));
  std::ifstream in(fs::path(all.back().second) / "model.safetensors");
  std::string content((std::istreambuf_iterator<char>(in)), {});
  CHECK(content == "thirty");

  // Leftovers of a crash mid-write are not checkpoints.
  fs::create_directories(dir / "checkpoints" / "step-000050.partial");
  fs::create_directories(dir / "checkpoints" / "step-000060");  // no trainer_state.json
  CHECK(store.list().back().first == 30);
  CHECK_THROWS_WITH(r1::run::CheckpointStore::read_state((dir / "checkpoints" / "step-000060").string()),
                    Catch::Contains("not a checkpoint"));
  fs::remove_all(dir);
}
