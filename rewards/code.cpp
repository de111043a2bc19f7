#include "rewards/code.h"

#include <cctype>

#include "core/error.h"
#include "rewards/format.h"

namespace r1::rewards {
std::optional<CodeBlock> last_code_block(std::string_view text) {
  std::optional<CodeBlock> found;
  size_t at = 0;
  while ((at = text.find("```", at)) != std::string_view::npos) {
    size_t line_end = text.find('\n', at + 3);
    if (line_end == std::string_view::npos) break;
    std::string_view info = text.substr(at + 3, line_end - at - 3);
    size_t close = text.find("```", line_end + 1);
    if (close == std::string_view::npos) break;
    CodeBlock block;
    for (char c : info) {
      if (std::isspace(static_cast<unsigned char>(c))) break;
      block.language.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    block.code = std::string(text.substr(line_end + 1, close - line_end - 1));
    found = std::move(block);
    at = close + 3;
  }
  return found;
}

CodeReward::CodeReward(std::string name, CodeOptions options, std::shared_ptr<sandbox::Runner> runner)
    : name_(std::move(name)), options_(std::move(options)), runner_(std::move(runner)) {
  if (!runner_) throw ConfigError(name_ + ": the code reward needs a sandbox runner, and none is available");
}

Score CodeReward::score(const Sample& sample, const Components&, const Deadline&) const {
  std::string_view where = sample.completion;
  std::optional<std::string_view> answer = tag_content(sample.completion, "answer");
  std::optional<CodeBlock> block = answer ? last_code_block(*answer) : std::nullopt;
  if (!block) block = last_code_block(where);
  Score s;
  if (!block || block->code.find_first_not_of(" \t\r\n") == std::string::npos) {
    s.reason = "no code block";
    return s;
  }
  sandbox::Job job;
  job.language = !block->language.empty() ? block->language
                 : sample.reference.contains("language") && sample.reference["language"].is_string()
                     ? sample.reference["language"].get<std::string>()
                     : options_.language;
  if (job.language == "py" || job.language == "python3") job.language = "python";
  if (job.language == "c++" || job.language == "cc") job.language = "cpp";
  job.source = block->code;
  // Tests: the tests field (an array of {input, output} cases is stdin/stdout), or HumanEval's
  // "test" + "entry_point" fields (function tests; for C/C++ the test is a main() with asserts).
  auto tests = sample.reference.find(options_.tests_field);
  if (tests != sample.reference.end()) {
    job.tests = tests->is_array() ? nlohmann::json{{"type", "stdio"}, {"cases", *tests}} : *tests;
  } else if (sample.reference.contains("test") && sample.reference["test"].is_string()) {
    if (job.language == "python") {
      job.tests = {{"type", "function"}, {"test", sample.reference["test"]},
                   {"entry_point", sample.reference.value("entry_point", "")}};
    } else {
      job.tests = {{"type", "assert-main"}, {"test", sample.reference["test"]}};
    }
  } else {
    throw Error("the sample has no reference field '" + options_.tests_field + "' (nor HumanEval's 'test')");
  }
  sandbox::Result r = runner_->run(job);
  if (r.verdict == sandbox::Verdict::SE) throw Error("sandbox error: " + r.message);
  if (r.total <= 0) throw Error("the sandbox ran no tests");
  s.value = options_.fraction ? static_cast<double>(r.passed) / static_cast<double>(r.total)
                              : (r.verdict == sandbox::Verdict::AC ? 1.0 : 0.0);
  if (r.verdict != sandbox::Verdict::AC) {
    s.reason = std::string(sandbox::to_string(r.verdict)) + ", " + std::to_string(r.passed) + "/" +
               std::to_string(r.total) + " tests passed";
  }
  return s;
}

}  // namespace r1::rewards
