// core/config: typed reading, unknown keys with suggestions, type errors with key paths, and
// JSON syntax errors with file, line and column.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include "core/config.h"
#include "core/error.h"
#include "core/jsonl.h"
#include "core/text.h"

using r1::ConfigError;
using r1::ConfigReader;

TEST_CASE("config: typed values, defaults and nested objects", "[config]") {
  auto j = nlohmann::json::parse(R"({"beta": 0.04, "steps": 10, "name": "x", "clip": {"low": 0.2}, "on": true,
                                      "_comment": "ignored", "big": 1e3})");
  ConfigReader r(j, "grpo");
  CHECK(r.get("beta", 0.0) == Approx(0.04));
  CHECK(r.get("steps", 0) == 10);
  CHECK(r.get("big", int64_t{0}) == 1000);
  CHECK(r.get("missing", 7) == 7);
  CHECK(r.get("name", "") == "x");
  CHECK(r.get("on", false));
  auto clip = r.child("clip");
  CHECK(clip.get("low", 0.0) == Approx(0.2));
  CHECK(clip.get("high", 0.28) == Approx(0.28));
  CHECK_NOTHROW(clip.finish());
  CHECK_NOTHROW(r.finish());
}

TEST_CASE("config: an unknown key names the path and the closest valid key", "[config]") {
  auto j = nlohmann::json::parse(R"({"clip": {"lo": 0.2}, "beta": 0.1})");
  ConfigReader r(j, "grpo");
  r.get("beta", 0.0);
  auto clip = r.child("clip");
  clip.get("low", 0.2);
  clip.get("high", 0.28);
  CHECK_THROWS_WITH(clip.finish(), "grpo.clip.lo: unknown key (did you mean 'low'?)");
  auto k = nlohmann::json::parse(R"({"totally_different": 1})");
  ConfigReader r2(k, "");
  r2.get("beta", 0.0);
  CHECK_THROWS_WITH(r2.finish(), "totally_different: unknown key");
}

TEST_CASE("config: a wrong type names the key path and both types", "[config]") {
  auto j = nlohmann::json::parse(R"({"clip": {"low": "0.2"}, "steps": 1.5, "tags": ["a", 2]})");
  ConfigReader r(j, "grpo");
  auto clip = r.child("clip");
  CHECK_THROWS_WITH(clip.get("low", 0.0), "grpo.clip.low: expected number, got string");
  CHECK_THROWS_WITH(r.get("steps", 0), "grpo.steps: expected integer, got number");
  CHECK_THROWS_WITH(r.get("tags", std::vector<std::string>{}), "grpo.tags[1]: expected string, got integer");
  CHECK_THROWS_WITH(r.child("steps"), "grpo.steps: expected object, got number");
  CHECK_THROWS_WITH(r.require_string("model"), "grpo.model: required key is missing");
  auto top = nlohmann::json::parse("[1]");
  CHECK_THROWS_WITH(ConfigReader(top, "recipe"), "recipe: expected object, got array");
}

TEST_CASE("config: choices suggest the closest allowed value", "[config]") {
  auto j = nlohmann::json::parse(R"({"scale": "grp"})");
  ConfigReader r(j, "grpo");
  CHECK_THROWS_WITH(r.get_choice("scale", "group", {"group", "batch", "none"}),
                    "grpo.scale: expected one of group|batch|none, got 'grp' (did you mean 'group'?)");
}

TEST_CASE("config: JSON syntax errors name file, line and column", "[config]") {
  std::string path = "/tmp/r1_test_config_bad.json";
  {
    std::ofstream out(path);
    out << "{\n  \"a\": 1,\n  \"b\": ,\n}\n";
  }
  try {
    r1::read_json_file(path);
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    std::string what = e.what();
    CHECK(what.rfind(path + ":3:", 0) == 0);
    CHECK(what.find("malformed JSON") != std::string::npos);
  }
  CHECK_THROWS_WITH(r1::read_json_file("/nonexistent/x.json"), Catch::Contains("/nonexistent/x.json: cannot open"));
}

TEST_CASE("config: JSON lines reader counts lines and skips blank ones", "[config]") {
  std::istringstream in("{\"a\":1}\n\n  \n{\"a\":2}\r\n{bad\n");
  r1::JsonLinesReader reader(in, "data.jsonl");
  nlohmann::json row;
  REQUIRE(reader.next(row));
  CHECK(row["a"] == 1);
  CHECK(reader.line() == 1);
  REQUIRE(reader.next(row));
  CHECK(row["a"] == 2);
  CHECK(reader.line() == 4);
  CHECK_THROWS_WITH(reader.next(row), Catch::StartsWith("data.jsonl:5: malformed JSON"));
}

TEST_CASE("text: edit distance and closest match", "[config]") {
  CHECK(r1::edit_distance("kitten", "sitting") == 3);
  CHECK(r1::edit_distance("", "abc") == 3);
  CHECK(r1::closest_match("lerning_rate", {"learning_rate", "beta"}) == "learning_rate");
  CHECK(r1::closest_match("zzzzzz", {"learning_rate", "beta"}).empty());
}

#include "core/progress.h"

TEST_CASE("progress: the line shows bar, percent, sizes, rate and items", "[progress]") {
  CHECK(r1::Progress::render("tokenize", 5'000'000, 10'000'000, 1234, "lines", 2.0) ==
        "tokenize [##########----------]  50%  5.0/10.0 MB  2.50 MB/s  1234 lines");
  CHECK(r1::Progress::render("tokenize", 3'000'000, 0, 7, "lines", 1.5) == "tokenize  3.0 MB  2.00 MB/s  7 lines");
  CHECK(r1::Progress::render("x", 20, 10, 1, "lines", 0.0).find("100%") != std::string::npos);  // clamped
}
