// run/dataset.h: prompt datasets from JSON lines (bad lines stop or are skipped, by line number), a
// seeded order per epoch, and a position that resumes exactly.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "tests/run_helpers.h"
#include "run/dataset.h"

namespace fs = std::filesystem;
using namespace r1::run;
using r1::test::fresh_dir;
using r1::test::write;

TEST_CASE("prompt dataset: rows, reference fields, bad lines stop or skip with their line number", "[dataset]") {
  const fs::path dir = fresh_dir("dataset");
  write(dir / "ok.jsonl",
        "{\"prompt\": \"Compute 2 + 3\", \"answer\": \"5\"}\n\n"
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"tests\": {\"type\": \"stdio\"}}\n");
  r1::run::PromptDataset d = r1::run::PromptDataset::load((dir / "ok.jsonl").string(), false, 1);
  REQUIRE(d.size() == 2);
  CHECK(d.row(0).prompt == "Compute 2 + 3");
  CHECK(d.row(0).reference["answer"] == "5");
  CHECK(d.row(1).messages.size() == 1);
  CHECK(d.row(1).line == 3);
  CHECK(d.row(1).reference.contains("tests"));

  write(dir / "bad.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"\n{\"answer\": \"1\"}\n{\"prompt\": \"c\"}\n");
  CHECK_THROWS_WITH(r1::run::PromptDataset::load((dir / "bad.jsonl").string(), false, 1), Catch::Contains("bad.jsonl:2"));
  r1::run::PromptDataset s = r1::run::PromptDataset::load((dir / "bad.jsonl").string(), true, 1);
  CHECK(s.size() == 2);
  CHECK(s.skipped() == 2);
  write(dir / "third.jsonl", "{\"answer\": \"1\"}\n");
  CHECK_THROWS_WITH(r1::run::PromptDataset::load((dir / "third.jsonl").string(), false, 1),
                    Catch::Contains("third.jsonl:1") && Catch::Contains("\"prompt\""));
  CHECK_THROWS_WITH(r1::run::PromptDataset::load((dir / "none.jsonl").string(), false, 1), Catch::Contains("none.jsonl"));
  write(dir / "empty.jsonl", "\n");
  CHECK_THROWS_WITH(r1::run::PromptDataset::load((dir / "empty.jsonl").string(), false, 1), Catch::Contains("no usable rows"));
  fs::remove_all(dir);
}

TEST_CASE("prompt dataset: a seeded order per epoch, and a position that resumes exactly", "[dataset]") {
  const fs::path dir = fresh_dir("order");
  std::string text;
  for (int i = 0; i < 10; ++i) text += "{\"prompt\": \"p" + std::to_string(i) + "\"}\n";
  write(dir / "d.jsonl", text);
  r1::run::PromptDataset d = r1::run::PromptDataset::load((dir / "d.jsonl").string(), false, 7);
  r1::run::DatasetPosition p;
  std::vector<size_t> first = d.next(10, p);  // one epoch: a permutation
  std::vector<size_t> sorted = first;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < 10; ++i) CHECK(sorted[i] == i);
  CHECK(p.epoch == 0);
  CHECK(p.index == 10);
  // Straight through vs. stopped, saved as JSON and resumed: the same rows.
  r1::run::DatasetPosition a;
  std::vector<size_t> straight = d.next(23, a);
  r1::run::DatasetPosition b;
  std::vector<size_t> part = d.next(7, b);
  r1::run::DatasetPosition c = r1::run::DatasetPosition::from_json(nlohmann::json::parse(b.to_json().dump()));
  std::vector<size_t> rest = d.next(16, c);
  part.insert(part.end(), rest.begin(), rest.end());
  CHECK(part == straight);
  CHECK(a.epoch == 2);
  std::vector<size_t> epoch1(straight.begin() + 10, straight.begin() + 20);
  CHECK(epoch1 != first);  // reshuffled
  fs::remove_all(dir);
}
