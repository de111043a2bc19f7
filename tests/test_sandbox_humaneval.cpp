// HumanEval's 164 problems (tests/data/humaneval.jsonl, MIT, OpenAI) through the function-test mode:
// every canonical solution passes, and two broken variants of each do not — the body replaced by
// `return None`, and an off-by-one: the canonical result nudged (numbers +1, strings and lists one
// element longer, booleans flipped, None turned into 0).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "sandbox/sandbox.h"

using nlohmann::json;

namespace {

json job(const json& row, const std::string& code) {
  return {{"language", "python"},
          {"code", code},
          {"tests", {{"type", "function"}, {"entry_point", row["entry_point"]}, {"test", row["test"]}}},
          {"limits", {{"cpu_s", 5}, {"wall_s", 20}}}};
}

// The canonical solution under another name, and the entry point returning its result nudged.
std::string off_by_one(const json& row) {
  const std::string entry = row["entry_point"];
  std::string code = row["prompt"].get<std::string>() + row["canonical_solution"].get<std::string>();
  code +=
      "\n\n_r1_original = " + entry + "\n"
      "def " + entry + "(*args, **kwargs):\n"
      "    r = _r1_original(*args, **kwargs)\n"
      "    if isinstance(r, bool): return not r\n"
      "    if isinstance(r, (int, float)): return r + 1\n"
      "    if isinstance(r, str): return r + 'x'\n"
      "    if isinstance(r, list): return r + [r[0] if r else 0]\n"
      "    if isinstance(r, tuple): return r + (0,)\n"
      "    if r is None: return 0\n"
      "    return None\n";
  return code;
}

}  // namespace

TEST_CASE("sandbox: HumanEval canonical solutions pass, broken variants do not", "[sandbox][humaneval]") {
  std::vector<json> rows = r1::test::read_rows(std::string(R1_SOURCE_DIR) + "/tests/data/humaneval.jsonl");
  REQUIRE(rows.size() == 164);
  std::vector<json> jobs;
  for (const json& row : rows) jobs.push_back(job(row, row["prompt"].get<std::string>() + row["canonical_solution"].get<std::string>()));
  for (const json& row : rows) jobs.push_back(job(row, row["prompt"].get<std::string>() + "    return None\n"));
  for (const json& row : rows) jobs.push_back(job(row, off_by_one(row)));
  r1::sandbox::Sandbox sandbox;
  std::vector<json> results = sandbox.run_batch(jobs);
  size_t canonical_passed = 0, none_failed = 0, nudged_failed = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const json& canonical = results[i];
    const json& none = results[rows.size() + i];
    const json& nudged = results[2 * rows.size() + i];
    INFO(rows[i]["task_id"].get<std::string>() << ": canonical " << canonical.dump().substr(0, 300));
    CHECK(canonical["verdict"] == "AC");
    CHECK(canonical["passed"] == canonical["total"]);
    canonical_passed += canonical["verdict"] == "AC";
    INFO("return None: " << none.dump().substr(0, 300));
    CHECK(none["verdict"] != "AC");
    CHECK(none["verdict"] != "SE");
    none_failed += none["verdict"] != "AC";
    INFO("off by one: " << nudged.dump().substr(0, 300));
    CHECK(nudged["verdict"] != "AC");
    nudged_failed += nudged["verdict"] != "AC";
  }
  CHECK(canonical_passed == 164);
  CHECK(none_failed == 164);
  CHECK(nudged_failed == 164);
}
