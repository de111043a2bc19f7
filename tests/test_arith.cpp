// The synthetic arithmetic task (tasks/arith.h): answers, worked solutions re-verified step by
// step, determinism, distinct problems, the corpus mix, the R1-Zero prompt against r1's renderer; the
// tool task's long multiplication (mulm) and its tool-calling documents (template_tool).
#include "tasks/arith.h"

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "tokenizer/chat_template.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <tuple>

using r1::tasks::ArithOptions;
using r1::tasks::Problem;

namespace {

int64_t evaluate(const std::string& op, int64_t a, int64_t b) { return op == "add" ? a + b : op == "sub" ? a - b : a * b; }
const char* symbol(const std::string& op) { return op == "add" ? "+" : op == "sub" ? "-" : "*"; }
int digit(int64_t v, size_t i) {
  while (i-- > 0) v /= 10;
  return static_cast<int>(v % 10);
}
size_t length(int64_t v) { return std::to_string(v).size(); }

bool is_chinese(const std::string& worked) { return worked.find("所以") != std::string::npos; }
// Chinese step phrases mapped to the English ones, so one parser checks both.
std::string to_english(std::string s) {
  for (const char* w : {"So ", ", write ", " carry ", " borrow "}) REQUIRE(s.find(w) == std::string::npos);
  const std::pair<const char*, const char*> map[] = {{"：", ": "}, {"。", ". "}, {"所以 ", "So "}, {" 加 ", " + "},
                                                     {" 减 ", " - "}, {" 乘 ", " * "}, {" 等于 ", " = "},
                                                     {"，写 ", ", write "}, {" 进 ", " carry "}, {" 借 ", " borrow "}};
  for (const auto& [from, to] : map) r1::replace_all(s, from, to);
  REQUIRE(s.back() == ' ');
  s.pop_back();
  return s;
}

// Re-computes every step of a worked solution of `op a b`; returns the final "So ... = N" value.
int64_t check_worked(const std::string& op, int64_t a, int64_t b, std::string text) {
  INFO(text);
  if (is_chinese(text)) text = to_english(text);
  const std::string expr = std::to_string(a) + " " + symbol(op) + " " + std::to_string(b);
  REQUIRE(text.rfind(expr + ": ", 0) == 0);
  const std::string so = ". So " + expr + " = ";
  const size_t at = text.rfind(so);
  REQUIRE(at != std::string::npos);
  REQUIRE(text.back() == '.');
  const std::string final_value = text.substr(at + so.size(), text.size() - at - so.size() - 1);
  static const std::regex number("0|[1-9][0-9]*");
  REQUIRE(std::regex_match(final_value, number));
  std::string body = text.substr(expr.size() + 2, at - expr.size() - 2);
  static const std::regex add_re(R"((\d) \+ (\d)(?: \+ (\d))? = (\d+), write (\d+)(?: carry (\d))?)");
  static const std::regex sub_re(R"((\d+) - (\d)(?: - (\d))? = (\d+), write (\d+)(?: borrow (\d))?)");
  static const std::regex mul_re(R"((\d) \* (\d)(?: \+ (\d))? = (\d+), write (\d+)(?: carry (\d))?)");
  const std::regex& re = op == "add" ? add_re : op == "sub" ? sub_re : mul_re;
  const size_t columns = op == "add" ? std::max(length(a), length(b)) : length(a);
  std::vector<std::string> steps;
  for (size_t s = 0, e; s <= body.size(); s = e + 2) {
    e = body.find(". ", s);
    if (e == std::string::npos) e = body.size();
    steps.push_back(body.substr(s, e - s));
  }
  REQUIRE(steps.size() == columns);
  int64_t in = 0, written = 0, scale = 1;
  for (size_t i = 0; i < columns; ++i) {
    INFO("step " << i << ": " << steps[i]);
    std::smatch m;
    REQUIRE(std::regex_match(steps[i], m, re));
    const int64_t x = std::stoll(m[1]), y = std::stoll(m[2]), c = m[3].matched ? std::stoll(m[3]) : 0;
    const int64_t value = std::stoll(m[4]), write = std::stoll(m[5]), out = m[6].matched ? std::stoll(m[6]) : 0;
    const bool last = i + 1 == columns;
    REQUIRE(c == in);  // the carry or borrow taken in is the one given out, written only when not 0
    if (m[3].matched) REQUIRE(c > 0);
    if (m[6].matched) REQUIRE(out > 0);
    if (op == "sub") {
      REQUIRE(x == digit(a, i) + 10 * out);  // a borrowing column shows its top digit plus 10
      REQUIRE(y == digit(b, i));
      REQUIRE(value == x - y - c);
      REQUIRE((value >= 0 && value <= 9));
      REQUIRE(out == ((digit(a, i) - c < y) ? 1 : 0));  // borrows exactly when it must
      REQUIRE(write == value);
      if (last) REQUIRE(out == 0);
    } else {
      REQUIRE(x == digit(a, i));
      REQUIRE(y == (op == "add" ? digit(b, i) : b));
      REQUIRE(value == (op == "add" ? x + y + c : x * y + c));
      REQUIRE(write == (last ? value : value % 10));
      REQUIRE(out == (last ? 0 : value / 10));
    }
    written += write * scale;
    scale *= 10;
    in = out;
  }
  REQUIRE(written == std::stoll(final_value));
  return std::stoll(final_value);
}

void check_problem(const r1::tasks::Problem& p, const r1::tasks::ArithOptions& o) {
  INFO(r1::tasks::problem_key(p));
  const int64_t lo = o.min_digits == 1 ? 0 : static_cast<int64_t>(std::pow(10, o.min_digits - 1));
  const int64_t hi = static_cast<int64_t>(std::pow(10, o.max_digits)) - 1;
  REQUIRE((p.a >= lo && p.a <= hi));
  if (p.op == "mul") REQUIRE((p.b >= 2 && p.b <= 9));
  else REQUIRE((p.b >= lo && p.b <= hi));
  if (p.op == "sub") REQUIRE(p.a >= p.b);
  REQUIRE(p.answer == std::to_string(evaluate(p.op, p.a, p.b)));
  static const std::regex phrasing("(?:Compute|Calculate|Find|Work out|Evaluate) (.*)");
  std::smatch q;
  REQUIRE(std::regex_match(p.question, q, phrasing));
  REQUIRE(q[1] == std::to_string(p.a) + " " + symbol(p.op) + " " + std::to_string(p.b));
  REQUIRE(check_worked(p.op, p.a, p.b, p.worked) == evaluate(p.op, p.a, p.b));
  REQUIRE(p.worked == r1::tasks::worked_solution(p));
  REQUIRE(check_worked(p.op, p.a, p.b, r1::tasks::worked_solution(p, r1::tasks::StepLanguage::Chinese)) == evaluate(p.op, p.a, p.b));
}

// Re-computes a mulm worked solution ("385 * 47: 385 * 7 = 2695. 385 * 40 = 15400. 2695 + 15400 =
// 18095. So 385 * 47 = 18095."): one true partial product per nonzero digit of b, in order, then their
// true sum (when two or more). Returns the final value.
int64_t check_mulm_worked(int64_t a, int64_t b, std::string text) {
  INFO(text);
  if (is_chinese(text)) text = to_english(text);
  const std::string expr = std::to_string(a) + " * " + std::to_string(b);
  REQUIRE(text.rfind(expr + ": ", 0) == 0);
  const std::string so = "So " + expr + " = ";
  const size_t at = text.rfind(so);
  REQUIRE(at != std::string::npos);
  REQUIRE(text.back() == '.');
  const int64_t final_value = std::stoll(text.substr(at + so.size()));
  REQUIRE(text.substr(at + so.size()) == std::to_string(final_value) + ".");
  std::vector<int64_t> factors, parts;
  for (int64_t scale = 1, rest = b; rest > 0; rest /= 10, scale *= 10)
    if (rest % 10) factors.push_back(rest % 10 * scale);
  std::string want = expr + ": ";
  for (int64_t f : factors) {
    want += std::to_string(a) + " * " + std::to_string(f) + " = " + std::to_string(a * f) + ". ";
    parts.push_back(a * f);
  }
  if (parts.size() > 1) {
    int64_t sum = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      want += (i ? " + " : "") + std::to_string(parts[i]);
      sum += parts[i];
    }
    want += " = " + std::to_string(sum) + ". ";
  }
  REQUIRE(text == want + so + std::to_string(a * b) + ".");
  return final_value;
}

// One corpus document taken apart by its shape.
struct Parsed {
  // template_worked | template_direct | template_tag_misuse | qa_direct | qa_worked | template_tool |
  // template_tool_flawed
  std::string kind;
  std::string op;  // "*" with a b of two digits or more is mulm (mul's b is one digit)
  int64_t a = 0, b = 0;
  std::string answer, worked;
  std::string reason, call, response;  // a tool document's reasoning sentence, call and tool reply
  std::string so;                      // and the expression of its "So 385 * 47 = 18095."
};

// The call of a tool document: valid JSON naming the python tool with code "print(a op b)" whose value
// is the reply, or flawed.
struct ToolCall {
  bool json = false, python = false, computes = false;
  int64_t value = 0;
};
ToolCall read_call(const std::string& call) {
  ToolCall t;
  nlohmann::json j = nlohmann::json::parse(call, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return t;
  t.json = true;
  REQUIRE(j.is_object());
  REQUIRE(j.size() == 2);
  REQUIRE(j["arguments"].is_object());
  REQUIRE(j["arguments"].size() == 1);
  t.python = j["name"] == "python";
  static const std::regex code(R"(print\((\d+) ([-+*]) (\d+)\))");
  const std::string c = j["arguments"]["code"];
  std::smatch m;
  if (!std::regex_match(c, m, code)) return t;
  t.computes = true;
  t.value = evaluate(m[2] == "+" ? "add" : m[2] == "-" ? "sub" : "mul", std::stoll(m[1]), std::stoll(m[3]));
  return t;
}

Parsed parse_document(const std::string& doc) {
  INFO(doc);
  static const std::regex tmpl(R"(A conversation between User .* User: ([^\n]+)\. Assistant:([\s\S]*))");
  static const std::regex qa(R"(Question: ([^\n]+)\n(?:Solution: ([^\n]+)\n)?Answer: (\d+))");
  static const std::regex question(R"((?:Compute|Calculate|Find|Work out|Evaluate) (\d+) ([-+*]) (\d+))");
  static const std::regex worked(R"( <think> ([^\n]+) </think> <answer> (\d+) </answer>)");
  static const std::regex direct(R"( The answer is (\d+)\.)");
  static const std::regex misuse(R"( <answer> (\d+) </answer>| <think> (\d+) </think>| <think> </think> <answer> (\d+) </answer>)"
                                 R"(| <think> (\d+) </answer>| <answer> (\d+))");
  // The trajectory shape of arith.h, spaces and all: an optional sentence, the call, the reply, then "So
  // ... = N." and the answer; or, after an error reply, the answer at once.
  static const std::regex tool(R"( <think> (?:([A-Z][a-z ]+\.) )?<tool_call> ([^\n]+?) </tool_call> <tool_response> ([^\n]+?) </tool_response>)"
                               R"((?: So (\d+ [-+*] \d+) = (\d+)\.)? </think> <answer> (\d+) </answer>)");
  Parsed p;
  std::smatch m, q, r;
  std::string rest;
  if (std::regex_match(doc, m, tmpl)) {
    REQUIRE(doc == r1::tasks::r1_zero_prompt(m[1]) + m[2].str());
    rest = m[2];
    if (std::regex_match(rest, r, tool)) {
      p.kind = r[4].matched ? "template_tool" : "template_tool_flawed";
      p.reason = r[1];
      p.call = r[2];
      p.response = r[3];
      p.answer = r[6];
      p.so = r[4];
      if (r[4].matched) REQUIRE(r[5] == r[6]);
    } else if (std::regex_match(rest, r, worked)) p = {"template_worked", "", 0, 0, r[2], r[1]};
    else if (std::regex_match(rest, r, direct)) p = {"template_direct", "", 0, 0, r[1], ""};
    else {
      REQUIRE(std::regex_match(rest, r, misuse));
      p.kind = "template_tag_misuse";
      for (size_t i = 1; i < r.size(); ++i)
        if (r[i].matched) p.answer = r[i];
    }
  } else {
    REQUIRE(std::regex_match(doc, m, qa));
    p = {m[2].matched ? "qa_worked" : "qa_direct", "", 0, 0, m[3], m[2]};
  }
  const std::string qtext = m[1];
  REQUIRE(std::regex_match(qtext, q, question));
  p.a = std::stoll(q[1]);
  p.b = std::stoll(q[3]);
  p.op = q[2] == "+" ? "add" : q[2] == "-" ? "sub" : p.b >= 10 ? "mulm" : "mul";
  if (p.kind == "template_tool") REQUIRE(p.so == q[1].str() + " " + q[2].str() + " " + q[3].str());
  return p;
}

std::set<std::string> keys(const std::vector<r1::tasks::Problem>& ps) {
  std::set<std::string> k;
  for (const auto& p : ps) k.insert(r1::tasks::problem_key(p));
  return k;
}

}  // namespace

TEST_CASE("arith: answers and worked solutions are right for every op", "[arith]") {
  for (const std::string op : {"add", "sub", "mul"}) {
    for (auto [lo, hi] : {std::pair{2, 3}, std::pair{1, 4}}) {
      r1::tasks::ArithOptions o;
      o.ops = {op};
      o.min_digits = lo;
      o.max_digits = hi;
      std::mt19937_64 rng(42);
      for (int i = 0; i < 10000; ++i) check_problem(r1::tasks::make_problem(rng, o), o);
    }
  }
  // The example of the brief, and edge cases: carries out of the top column, long borrow chains.
  auto fixed = [](std::string op, int64_t a, int64_t b) {
    r1::tasks::Problem p{op, a, b, "", std::to_string(evaluate(op, a, b)), ""};
    return r1::tasks::worked_solution(p);
  };
  CHECK(fixed("add", 47, 385) ==
        "47 + 385: 7 + 5 = 12, write 2 carry 1. 4 + 8 + 1 = 13, write 3 carry 1. 0 + 3 + 1 = 4, write 4. So 47 + 385 = 432.");
  CHECK(fixed("mul", 385, 7) ==
        "385 * 7: 5 * 7 = 35, write 5 carry 3. 8 * 7 + 3 = 59, write 9 carry 5. 3 * 7 + 5 = 26, write 26. So 385 * 7 = 2695.");
  CHECK(fixed("sub", 52, 17) == "52 - 17: 12 - 7 = 5, write 5 borrow 1. 5 - 1 - 1 = 3, write 3. So 52 - 17 = 35.");
  CHECK(r1::tasks::worked_solution(r1::tasks::Problem{"add", 7, 5, "", "12", ""}, r1::tasks::StepLanguage::Chinese) == "7 + 5：7 加 5 等于 12，写 12。所以 7 + 5 = 12。");
  for (auto [op, a, b] : {std::tuple{"add", 999, 999}, {"sub", 1000, 1}, {"sub", 100, 99}, {"sub", 5, 5}, {"mul", 999, 9},
                          {"add", 0, 0}, {"mul", 10, 2}})
    CHECK(check_worked(op, a, b, fixed(op, a, b)) == evaluate(op, a, b));
}

TEST_CASE("arith: a seed gives the same problems and corpus, another seed others", "[arith]") {
  r1::tasks::ArithOptions o;
  auto a = r1::tasks::make_problems(200, 7, o), b = r1::tasks::make_problems(200, 7, o), c = r1::tasks::make_problems(200, 8, o);
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].question == b[i].question);
    CHECK(a[i].worked == b[i].worked);
  }
  CHECK(keys(a) != keys(c));
  CHECK(r1::tasks::make_corpus(300, o) == r1::tasks::make_corpus(300, o));
  r1::tasks::ArithOptions o2 = o;
  o2.seed = 2;
  CHECK(r1::tasks::make_corpus(300, o) != r1::tasks::make_corpus(300, o2));
  // Pinned: r1's own random mapping, the same on every standard library.
  auto pinned = r1::tasks::make_problems(3, 1, o);
  CHECK(r1::tasks::problem_key(pinned[0]) + " " + r1::tasks::problem_key(pinned[1]) + " " + r1::tasks::problem_key(pinned[2]) == "mul:10:8 add:55:14 mul:507:6");
}

TEST_CASE("arith: make_problems gives distinct problems outside the excluded set", "[arith]") {
  r1::tasks::ArithOptions o;
  const auto held_out = keys(r1::tasks::make_problems(500, 1, o));
  REQUIRE(held_out.size() == 500);
  const auto train = r1::tasks::make_problems(3000, 2, o, &held_out);
  const auto k = keys(train);
  CHECK(k.size() == train.size());
  for (const auto& key : k) CHECK(!held_out.count(key));

  // A small space: every problem can be had, one more cannot.
  r1::tasks::ArithOptions mul;
  mul.ops = {"mul"};
  mul.min_digits = mul.max_digits = 1;  // 0..9 times 2..9: 80 problems
  CHECK(keys(r1::tasks::make_problems(80, 3, mul)).size() == 80);
  CHECK_THROWS_WITH(r1::tasks::make_problems(81, 3, mul), Catch::Contains("asked for 81 distinct problems but only 80 exist"));
  std::set<std::string> some = keys(r1::tasks::make_problems(30, 4, mul));
  some.insert("mul:123:4");  // outside the space: does not count
  some.insert("nonsense");
  const auto rest = r1::tasks::make_problems(50, 5, mul, &some);
  CHECK(keys(rest).size() == 50);
  for (const auto& p : rest) CHECK(!some.count(r1::tasks::problem_key(p)));
  CHECK_THROWS_AS(r1::tasks::make_problems(51, 5, mul, &some), r1::Error);
  r1::tasks::ArithOptions sub;
  sub.ops = {"sub", "add"};
  sub.min_digits = sub.max_digits = 1;
  CHECK(keys(r1::tasks::make_problems(155, 6, sub)).size() == 155);  // 55 with a >= b, 100 sums
  CHECK_THROWS_AS(r1::tasks::make_problems(156, 6, sub), r1::Error);
}

TEST_CASE("arith: the corpus mix, the slips and the held-out problems", "[arith]") {
  r1::tasks::ArithOptions o;
  o.seed = 11;
  const auto docs = r1::tasks::make_corpus(10000, o);
  std::map<std::string, int> count;
  int direct = 0, wrong = 0;
  for (const auto& doc : docs) {
    const Parsed p = parse_document(doc);
    INFO(doc);
    ++count[p.kind];
    const std::string truth = std::to_string(evaluate(p.op, p.a, p.b));
    if (p.kind == "template_worked" || p.kind == "qa_worked") {
      CHECK(p.answer == truth);
      CHECK(check_worked(p.op, p.a, p.b, p.worked) == evaluate(p.op, p.a, p.b));
      CHECK(!is_chinese(p.worked));
    } else {
      ++direct;
      if (p.answer != truth) ++wrong;
      static const std::regex number("0|[1-9][0-9]*");
      CHECK(std::regex_match(p.answer, number));
    }
  }
  const double n = static_cast<double>(docs.size());
  CHECK(std::abs(count["template_worked"] / n - 0.20) < 0.02);
  CHECK(std::abs(count["template_direct"] / n - 0.25) < 0.02);
  CHECK(std::abs(count["template_tag_misuse"] / n - 0.10) < 0.02);
  CHECK(std::abs(count["qa_direct"] / n - 0.30) < 0.02);
  CHECK(std::abs(count["qa_worked"] / n - 0.15) < 0.02);
  CHECK(std::abs(static_cast<double>(wrong) / direct - 0.35) < 0.02);

  // A different, unnormalised mix; a kind weighted 0 never appears.
  r1::tasks::ArithOptions m;
  m.template_worked = 2;
  m.template_direct = 0;
  m.template_tag_misuse = 1;
  m.qa_direct = 1;
  m.qa_worked = 0;
  m.direct_error_rate = 0.8;
  std::map<std::string, int> c2;
  int d2 = 0, w2 = 0;
  for (const auto& doc : r1::tasks::make_corpus(10000, m)) {
    const Parsed p = parse_document(doc);
    ++c2[p.kind];
    if (p.kind != "template_worked") {
      ++d2;
      w2 += p.answer != std::to_string(evaluate(p.op, p.a, p.b));
    }
  }
  CHECK(c2.count("template_direct") == 0);
  CHECK(c2.count("qa_worked") == 0);
  CHECK(std::abs(c2["template_worked"] / 10000.0 - 0.5) < 0.02);
  CHECK(std::abs(c2["qa_direct"] / 10000.0 - 0.25) < 0.02);
  CHECK(std::abs(static_cast<double>(w2) / d2 - 0.8) < 0.02);

  // Held-out problems never reach the corpus.
  r1::tasks::ArithOptions small;
  small.ops = {"mul"};
  small.min_digits = small.max_digits = 1;
  const auto held_out = keys(r1::tasks::make_problems(40, 9, small));
  for (const auto& doc : r1::tasks::make_corpus(2000, small, &held_out)) {
    const Parsed p = parse_document(doc);
    CHECK(!held_out.count(p.op + ":" + std::to_string(p.a) + ":" + std::to_string(p.b)));
  }
}

TEST_CASE("arith: second_language writes that fraction of worked solutions in Chinese", "[arith]") {
  r1::tasks::ArithOptions o;
  o.second_language = 0.3;
  int worked = 0, chinese = 0;
  for (const auto& doc : r1::tasks::make_corpus(10000, o)) {
    const Parsed p = parse_document(doc);
    if (p.worked.empty()) continue;
    ++worked;
    if (is_chinese(p.worked)) {
      ++chinese;
      CHECK(p.worked.find(" 等于 ") != std::string::npos);
      CHECK(p.worked.find("，写 ") != std::string::npos);
    }
    CHECK(check_worked(p.op, p.a, p.b, p.worked) == std::stoll(p.answer));
  }
  CHECK(worked > 3000);
  CHECK(std::abs(static_cast<double>(chinese) / worked - 0.3) < 0.03);
}

TEST_CASE("arith: r1_zero_prompt is what r1's r1-zero chat template renders", "[arith]") {
  const auto tmpl = r1::ChatTemplate::named("r1-zero");
  std::mt19937_64 rng(3);
  std::vector<std::string> questions = {"Compute 47 + 385", "", "What is 2+3?", "数学 7 * 8"};
  for (int i = 0; i < 50; ++i) questions.push_back(r1::tasks::make_problem(rng, r1::tasks::ArithOptions{}).question);
  for (const auto& q : questions) CHECK(r1::tasks::r1_zero_prompt(q) == tmpl.render({{"user", q, std::nullopt}}));
}

TEST_CASE("arith: GRPO rows written as JSON lines, atomically", "[arith]") {
  const auto problems = r1::tasks::make_problems(50, 1, r1::tasks::ArithOptions{});
  const std::string dir = std::filesystem::temp_directory_path() / ("r1_test_arith_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/rows.jsonl";
  r1::tasks::write_problems_jsonl(path, problems);
  std::ifstream in(path);
  std::string line;
  size_t i = 0;
  while (std::getline(in, line)) {
    REQUIRE(i < problems.size());
    const auto row = nlohmann::json::parse(line);
    CHECK(row == nlohmann::json{{"prompt", problems[i].question}, {"answer", problems[i].answer}, {"op", problems[i].op},
                                     {"difficulty", r1::tasks::problem_steps(problems[i])}});
    CHECK(row == r1::tasks::problem_row(problems[i]));
    ++i;
  }
  CHECK(i == problems.size());
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
  std::filesystem::remove_all(dir);
  CHECK_THROWS_WITH(r1::tasks::write_problems_jsonl(dir + "/missing/rows.jsonl", problems), Catch::Contains(dir + "/missing/rows.jsonl"));
  CHECK_THROWS_AS(r1::tasks::write_problems_jsonl(dir + "/missing/rows.jsonl", problems), r1::Error);
}

TEST_CASE("arith: options are checked and read by key", "[arith]") {
  r1::tasks::ArithOptions bad;
  bad.ops = {"add", "div"};
  CHECK_THROWS_WITH(r1::tasks::check_arith_options(bad), Catch::Contains("arith.ops: unknown op 'div'"));
  bad = {};
  bad.min_digits = 0;
  CHECK_THROWS_AS(r1::tasks::make_problems(1, 1, bad), r1::ConfigError);
  bad = {};
  bad.qa_direct = -1;
  CHECK_THROWS_WITH(r1::tasks::make_corpus(1, bad), Catch::Contains("qa_direct"));
  const auto j = nlohmann::json::parse(R"({"seed": 5, "ops": ["mul"], "max_digits": 4, "second_language": 0.5})");
  r1::ConfigReader r(j, "recipe.data");
  const auto o = r1::tasks::read_arith_options(r);
  r.finish();
  CHECK(o.seed == 5);
  CHECK(o.ops == std::vector<std::string>{"mul"});
  CHECK(o.max_digits == 4);
  CHECK(o.second_language == 0.5);
  const auto wrong = nlohmann::json::parse(R"({"max_digits": 12})");
  r1::ConfigReader r2(wrong, "recipe.data");
  CHECK_THROWS_WITH(r1::tasks::read_arith_options(r2), Catch::Contains("recipe.data.max_digits"));
}

TEST_CASE("arith: fact drills are true column-step equations in the mix's share", "[arith]") {
  r1::tasks::ArithOptions o;
  o.seed = 5;
  o.facts = 1;  // of 0.2 + 0.25 + 0.1 + 0.3 + 0.15 + 1 = 2: half the documents
  o.facts_per_document = 6;
  static const std::regex drill(R"(Facts:(?: [^.]+\.){6})");
  static const std::regex eq(R"((\d+) ([-+*]) (\d)(?: ([-+]) (\d))? = (\d+))");
  std::map<std::string, int> ops;
  int facts = 0, with_carry = 0;
  const auto docs = r1::tasks::make_corpus(4000, o);
  for (const auto& doc : docs) {
    INFO(doc);
    if (doc.rfind("Facts:", 0) != 0) continue;
    ++facts;
    REQUIRE(std::regex_match(doc, drill));
    for (std::sregex_iterator it(doc.begin(), doc.end(), eq), end; it != end; ++it) {
      const std::smatch& m = *it;
      const int64_t x = std::stoll(m[1]), y = std::stoll(m[3]), value = std::stoll(m[6]);
      const int64_t c = m[5].matched ? std::stoll(m[5]) : 0;
      int64_t want = 0;
      if (m[2] == "+") want = x + y + c;
      if (m[2] == "-") {
        REQUIRE((!m[4].matched || m[4] == "-"));
        want = x - y - c;
        CHECK(want >= 0);
        CHECK(want <= 9);   // a column's digit: a borrowing column shows its top digit plus 10
        CHECK(x <= 19);  // 9 with a borrow in, below 9 + 1: "19 - 9 - 1 = 9"
      }
      if (m[2] == "*") {
        REQUIRE((!m[4].matched || m[4] == "+"));
        want = x * y + c;
        CHECK(y >= 2);
        CHECK(c < y);  // the carry into a column of a product by y is below y
      }
      CHECK(value == want);
      ++ops[m[2]];
      with_carry += m[5].matched;
    }
  }
  CHECK(std::abs(facts / 4000.0 - 0.5) < 0.03);
  for (const char* op : {"+", "-", "*"}) CHECK(std::abs(ops[op] / (6.0 * facts) - 1.0 / 3) < 0.03);
  CHECK(with_carry > facts);  // steps with a carry or borrow in are drilled too
  // Chinese drills when every worked text is Chinese.
  o.second_language = 1;
  int chinese = 0;
  for (const auto& doc : r1::tasks::make_corpus(400, o)) chinese += doc.rfind("口诀：", 0) == 0;
  CHECK(chinese > 150);
  // A bad count is refused by name.
  o.facts_per_document = 0;
  CHECK_THROWS_WITH(r1::tasks::check_arith_options(o), Catch::Contains("facts_per_document"));
}

TEST_CASE("arith: cold-start rows are readable English chains of thought in the format the rewards read", "[arith]") {
  r1::tasks::ArithOptions o;
  o.second_language = 1.0;  // the corpus may be all Chinese, or mix languages step by step;
  o.mix_steps = true;       // cold-start data never does
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200; ++i) {
    const r1::tasks::Problem p = r1::tasks::make_problem(rng, o);
    const std::string r = r1::tasks::cold_start_response(p);
    INFO(r);
    CHECK(r == "<think> " + r1::tasks::worked_solution(p) + " </think> <answer> " + p.answer + " </answer>");
    CHECK(r.find("So " + std::to_string(p.a)) != std::string::npos);  // the summary sentence
    for (unsigned char ch : r) CHECK(ch < 0x80);  // English only: no byte of a CJK character
    const nlohmann::json row = r1::tasks::cold_start_row(p);
    CHECK(row["messages"][0]["content"] == p.question);
    CHECK(row["messages"][1]["role"] == "assistant");
    CHECK(row["messages"][1]["content"] == r);
    CHECK(row["answer"] == p.answer);
  }
}

TEST_CASE("arith: non-reasoning fact rows are true one-step facts", "[arith]") {
  r1::tasks::ArithOptions o;
  std::mt19937_64 rng(4);
  std::map<std::string, int> ops;
  for (int i = 0; i < 300; ++i) {
    const nlohmann::json row = r1::tasks::fact_row(rng, o);
    const std::string q = row["messages"][0]["content"], a = row["messages"][1]["content"];
    int64_t x = 0, y = 0;
    char sign = 0;
    REQUIRE(std::sscanf(q.c_str(), "Compute %ld %c %ld", &x, &sign, &y) == 3);
    const int64_t v = sign == '+' ? x + y : sign == '-' ? x - y : x * y;
    CHECK(v >= 0);
    CHECK(row["answer"] == std::to_string(v));
    CHECK(a == "<think> " + q.substr(8) + " = " + std::to_string(v) + ". </think> <answer> " + std::to_string(v) + " </answer>");
    ++ops[row["op"].get<std::string>()];
  }
  CHECK(ops.size() == 3);
}

TEST_CASE("arith: step-level language mixing switches phrases mid-solution around the same arithmetic", "[arith]") {
  r1::tasks::ArithOptions o;
  std::mt19937_64 rng(11), pick(12);
  auto to_english = [](std::string s) {
    for (const auto& [zh, en] : std::vector<std::pair<std::string, std::string>>{
             {"，写 ", ", write "}, {" 进 ", " carry "}, {" 借 ", " borrow "}, {"：", ": "}, {"所以 ", "So "}, {"。", ". "}})
      for (size_t at = s.find(zh); at != std::string::npos; at = s.find(zh, at + en.size())) s.replace(at, zh.size(), en);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  };
  int mixed = 0;
  for (int i = 0; i < 300; ++i) {
    const r1::tasks::Problem p = r1::tasks::make_problem(rng, o);
    const std::string english = r1::tasks::worked_solution(p);
    CHECK(r1::tasks::code_switched_solution(p, pick, 0.0) == english);
    const std::string all = r1::tasks::code_switched_solution(p, pick, 1.0);
    CHECK(all.find("write") == std::string::npos);
    CHECK(to_english(all) == english);
    const std::string half = r1::tasks::code_switched_solution(p, pick, 0.5);
    INFO(half);
    CHECK(to_english(half) == english);  // only the phrases differ: the steps and digits are the same
    mixed += half.find("write") != std::string::npos && half.find("写") != std::string::npos;
  }
  CHECK(mixed > 50);  // many solutions switch language mid-way

  // In the corpus: worked documents mix within themselves; the fact drills stay symbolic English.
  o.second_language = 0.5;
  o.mix_steps = true;
  o.facts = 0.2;
  int switching = 0, chinese_facts = 0;
  for (const auto& doc : r1::tasks::make_corpus(2000, o)) {
    switching += doc.find("write") != std::string::npos && doc.find("写") != std::string::npos;
    chinese_facts += doc.rfind("口诀", 0) == 0;
  }
  CHECK(switching > 100);
  CHECK(chinese_facts == 0);
  const auto j = nlohmann::json::parse(R"({"language_mixing": "step", "second_language": 0.2})");
  r1::ConfigReader r(j, "task");
  CHECK(r1::tasks::read_arith_options(r).mix_steps);
  const auto bad = nlohmann::json::parse(R"({"language_mixing": "word"})");
  r1::ConfigReader rb(bad, "task");
  CHECK_THROWS_WITH(r1::tasks::read_arith_options(rb), Catch::Contains("task.language_mixing"));
}

TEST_CASE("arith: mulm problems are long multiplications with right answers and partial-product solutions", "[arith][tool]") {
  for (auto [lo, hi, bd] : {std::tuple{2, 3, 2}, std::tuple{1, 4, 3}, std::tuple{3, 3, 4}}) {
    r1::tasks::ArithOptions o;
    o.ops = {"mulm"};
    o.mulm_min_digits = lo;
    o.mulm_max_digits = hi;
    o.mulm_b_digits = bd;
    std::mt19937_64 rng(42);
    std::set<size_t> a_lengths;
    for (int i = 0; i < 5000; ++i) {
      const Problem p = r1::tasks::make_problem(rng, o);
      INFO(r1::tasks::problem_key(p));
      REQUIRE(p.op == "mulm");
      REQUIRE((length(p.a) >= static_cast<size_t>(lo) && length(p.a) <= static_cast<size_t>(hi)));
      REQUIRE(length(p.b) == static_cast<size_t>(bd));
      REQUIRE(p.answer == std::to_string(p.a * p.b));
      static const std::regex phrasing("(?:Compute|Calculate|Find|Work out|Evaluate) (\\d+) \\* (\\d+)");
      std::smatch q;
      REQUIRE(std::regex_match(p.question, q, phrasing));
      REQUIRE((std::stoll(q[1]) == p.a && std::stoll(q[2]) == p.b));
      REQUIRE(r1::tasks::problem_key(p) == "mulm:" + std::to_string(p.a) + ":" + std::to_string(p.b));
      REQUIRE(p.worked == r1::tasks::worked_solution(p));
      REQUIRE(check_mulm_worked(p.a, p.b, p.worked) == p.a * p.b);
      REQUIRE(check_mulm_worked(p.a, p.b, r1::tasks::worked_solution(p, r1::tasks::StepLanguage::Chinese)) == p.a * p.b);
      // Step-level language mixing: only the phrases around the same symbols differ.
      std::mt19937_64 pick(static_cast<uint64_t>(i));
      std::string mixed = r1::tasks::code_switched_solution(p, pick, 0.5);
      for (const auto& [zh, en] : std::vector<std::pair<std::string, std::string>>{{"：", ": "}, {"。", ". "}, {"所以 ", "So "}})
        r1::replace_all(mixed, zh, en);
      while (mixed.back() == ' ') mixed.pop_back();
      REQUIRE(mixed == p.worked);
      a_lengths.insert(length(p.a));
    }
    CHECK(a_lengths.size() == static_cast<size_t>(hi - lo + 1));
  }
  const Problem p{"mulm", 385, 47, "Compute 385 * 47", "18095", ""};
  CHECK(r1::tasks::worked_solution(p) == "385 * 47: 385 * 7 = 2695. 385 * 40 = 15400. 2695 + 15400 = 18095. So 385 * 47 = 18095.");
  CHECK(r1::tasks::worked_solution(p, r1::tasks::StepLanguage::Chinese) ==
        "385 * 47：385 乘 7 等于 2695。385 乘 40 等于 15400。2695 加 15400 等于 18095。所以 385 * 47 = 18095。");
  // A zero digit of b has no partial product; one partial product needs no sum.
  CHECK(r1::tasks::worked_solution(Problem{"mulm", 385, 40, "", "15400", ""}) == "385 * 40: 385 * 40 = 15400. So 385 * 40 = 15400.");
  CHECK(r1::tasks::worked_solution(Problem{"mulm", 12, 305, "", "3660", ""}) ==
        "12 * 305: 12 * 5 = 60. 12 * 300 = 3600. 60 + 3600 = 3660. So 12 * 305 = 3660.");
  CHECK(r1::tasks::cold_start_response(p) == "<think> " + r1::tasks::worked_solution(p) + " </think> <answer> 18095 </answer>");
  CHECK(r1::tasks::problem_row(p) ==
        nlohmann::json{{"prompt", "Compute 385 * 47"}, {"answer", "18095"}, {"op", "mulm"}, {"difficulty", 3}});
  CHECK(r1::tasks::tool_code(p) == "print(385 * 47)");

  // The space is counted and enumerated: 0..9 times 10..99 is 900 problems.
  r1::tasks::ArithOptions small;
  small.ops = {"mulm"};
  small.mulm_min_digits = small.mulm_max_digits = 1;
  CHECK(keys(r1::tasks::make_problems(900, 3, small)).size() == 900);
  CHECK_THROWS_WITH(r1::tasks::make_problems(901, 3, small), Catch::Contains("asked for 901 distinct problems but only 900 exist"));
  std::set<std::string> some = keys(r1::tasks::make_problems(100, 4, small));
  some.insert("mulm:10:10");  // outside the space (a has one digit): does not count
  const auto rest = r1::tasks::make_problems(800, 5, small, &some);
  for (const auto& q : rest) CHECK(!some.count(r1::tasks::problem_key(q)));
  CHECK_THROWS_AS(r1::tasks::make_problems(801, 5, small, &some), r1::Error);

  // With other ops: mul keeps its one-digit b, mulm its own operand sizes; both in held-out style sets.
  r1::tasks::ArithOptions mix;
  mix.ops = {"add", "mul", "mulm"};
  mix.min_digits = 1;
  mix.max_digits = 2;
  std::map<std::string, int> ops;
  std::mt19937_64 rng(6);
  for (int i = 0; i < 3000; ++i) {
    const Problem q = r1::tasks::make_problem(rng, mix);
    ++ops[q.op];
    if (q.op == "mul") CHECK((q.b >= 2 && q.b <= 9 && q.a <= 99));
    if (q.op == "mulm") CHECK((q.a >= 10 && q.a <= 999 && q.b >= 10 && q.b <= 99));
  }
  for (const char* op : {"add", "mul", "mulm"}) CHECK(std::abs(ops[op] / 3000.0 - 1.0 / 3) < 0.04);
}

TEST_CASE("arith: direct mulm answers slip like people do, and mulm stays out of worked documents unless asked", "[arith][tool]") {
  r1::tasks::ArithOptions o;
  o.ops = {"add", "mulm"};
  o.direct_error_rate = 0.5;
  int mulm_direct = 0, mulm_wrong = 0, unshifted = 0, worked = 0;
  for (const auto& doc : r1::tasks::make_corpus(6000, o)) {
    const Parsed p = parse_document(doc);
    INFO(doc);
    if (p.kind == "template_worked" || p.kind == "qa_worked") {
      ++worked;
      CHECK(p.op == "add");  // mulm_worked = 0
      continue;
    }
    if (p.op != "mulm" || p.kind == "template_tag_misuse") continue;
    ++mulm_direct;
    if (p.answer == std::to_string(p.a * p.b)) continue;
    ++mulm_wrong;
    int64_t sum = 0;
    for (int64_t rest = p.b; rest > 0; rest /= 10) sum += p.a * (rest % 10);
    unshifted += p.answer == std::to_string(sum);
  }
  CHECK(worked > 1500);
  CHECK(std::abs(static_cast<double>(mulm_wrong) / mulm_direct - 0.5) < 0.04);
  CHECK(unshifted > mulm_wrong / 5);  // the partial products added without their shifts

  o.mulm_worked = 1;  // every worked document keeps the mulm problem it draws: about half are mulm
  int with_mulm = 0;
  worked = 0;
  for (const auto& doc : r1::tasks::make_corpus(4000, o)) {
    const Parsed p = parse_document(doc);
    if (p.kind != "template_worked" && p.kind != "qa_worked") continue;
    ++worked;
    if (p.op != "mulm") continue;
    ++with_mulm;
    CHECK(check_mulm_worked(p.a, p.b, p.worked) == std::stoll(p.answer));
    CHECK(p.answer == std::to_string(p.a * p.b));
  }
  CHECK(std::abs(static_cast<double>(with_mulm) / worked - 0.5) < 0.05);
  o.ops = {"mulm"};  // nothing else to work out: worked documents show mulm
  o.mulm_worked = 0;
  int only = 0;
  for (const auto& doc : r1::tasks::make_corpus(500, o)) only += parse_document(doc).kind == "qa_worked";
  CHECK(only > 30);
}

TEST_CASE("arith: tool_call_text and tool_response_text are the hermes format of the tool recipe", "[arith][tool]") {
  CHECK(r1::tasks::tool_call_text("print(385 * 47)") ==
        R"J(<tool_call> {"name": "python", "arguments": {"code": "print(385 * 47)"}} </tool_call>)J");
  CHECK(r1::tasks::tool_response_text("18095") == "<tool_response> 18095 </tool_response>");
  // Code is written as a JSON string: quotes, backslashes and newlines escaped.
  const std::string code = "x = \"a\\b\"\nprint(x)";
  const std::string call = r1::tasks::tool_call_text(code);
  const std::string inner = call.substr(12, call.size() - 25);  // within "<tool_call> " and " </tool_call>"
  CHECK(call == "<tool_call> " + inner + " </tool_call>");
  const auto j = nlohmann::json::parse(inner);
  CHECK(j["name"] == "python");
  CHECK(j["arguments"]["code"] == code);
  CHECK(inner.find('\n') == std::string::npos);
}

TEST_CASE("arith: template_tool documents have the exact trajectory shape and their calls compute the answer", "[arith][tool]") {
  r1::tasks::ArithOptions o;
  o.seed = 21;
  o.ops = {"add", "sub", "mul", "mulm"};
  o.template_tool = 1;  // of 0.2 + 0.25 + 0.1 + 0.3 + 0.15 + 1 = 2: half the documents
  o.tool_error_rate = 0;
  std::map<std::string, int> ops;
  int tools = 0, reasons = 0;
  const auto docs = r1::tasks::make_corpus(6000, o);
  for (const auto& doc : docs) {
    const Parsed p = parse_document(doc);
    INFO(doc);
    CHECK(p.kind != "template_tool_flawed");
    if (p.kind != "template_tool") continue;
    ++tools;
    ++ops[p.op];
    const ToolCall call = read_call(p.call);
    REQUIRE(call.json);
    CHECK(call.python);
    REQUIRE(call.computes);
    const int64_t truth = evaluate(p.op, p.a, p.b);
    CHECK(call.value == truth);                       // the code computes the problem,
    CHECK(p.response == std::to_string(truth));       // the reply is what it prints,
    CHECK(p.answer == std::to_string(truth));         // and the answer is the reply
    const std::string expr = std::to_string(p.a) + " " + symbol(p.op) + " " + std::to_string(p.b);
    // The whole document, rebuilt from the one place the format is written.
    const std::string q = doc.substr(doc.find("User: ") + 6, doc.find(". Assistant:") - doc.find("User: ") - 6);
    CHECK(doc == r1::tasks::r1_zero_prompt(q) + " <think> " + (p.reason.empty() ? "" : p.reason + " ") +
                     r1::tasks::tool_call_text("print(" + expr + ")") + " " + r1::tasks::tool_response_text(p.answer) + " So " +
                     expr + " = " + p.answer + ". </think> <answer> " + p.answer + " </answer>");
    if (!p.reason.empty()) {
      ++reasons;
      CHECK(p.reason.find("python") != std::string::npos);
    }
  }
  CHECK(std::abs(tools / 6000.0 - 0.5) < 0.03);
  for (const char* op : {"add", "sub", "mul", "mulm"}) CHECK(std::abs(ops[op] / static_cast<double>(tools) - 0.25) < 0.04);
  CHECK(std::abs(static_cast<double>(reasons) / tools - 0.25) < 0.04);
  // The example of arith.h, character for character.
  const std::string example = R"J( <think> <tool_call> {"name": "python", "arguments": {"code": "print(385 * 47)"}} </tool_call>)J"
                              R"J( <tool_response> 18095 </tool_response> So 385 * 47 = 18095. </think> <answer> 18095 </answer>)J";
  CHECK(parse_document(r1::tasks::r1_zero_prompt("Compute 385 * 47") + example).kind == "template_tool");
  CHECK(" <think> " + r1::tasks::tool_call_text("print(385 * 47)") + " " + r1::tasks::tool_response_text("18095") +
            " So 385 * 47 = 18095. </think> <answer> 18095 </answer>" == example);
}

TEST_CASE("arith: flawed tool documents break the call, get the runtime's error and answer without the tool", "[arith][tool]") {
  r1::tasks::ArithOptions o;
  o.seed = 22;
  o.ops = {"add", "mul", "mulm"};
  o.min_digits = 1;
  o.max_digits = 2;
  o.template_tool = 1;
  o.tool_error_rate = 1;
  o.direct_error_rate = 0.6;
  int flawed = 0, bad_json = 0, bad_tool = 0, bad_code = 0, wrong = 0;
  for (const auto& doc : r1::tasks::make_corpus(4000, o)) {
    const Parsed p = parse_document(doc);
    INFO(doc);
    CHECK(p.kind != "template_tool");
    if (p.kind != "template_tool_flawed") continue;
    ++flawed;
    const ToolCall call = read_call(p.call);
    CHECK(!(call.json && call.python && call.computes));  // every one of them fails
    CHECK(p.response.rfind("Error: ", 0) == 0);
    if (!call.json) {
      ++bad_json;
      CHECK(p.response == "Error: the tool call is not valid JSON");
      CHECK(nlohmann::json::parse(p.call + "}", nullptr, false).is_object());  // a brace short of a good call
    } else if (!call.python) {
      ++bad_tool;
      CHECK(p.response == "Error: unknown tool 'calculator'");
      CHECK(call.computes);
    } else {
      ++bad_code;
      CHECK(p.response == "Error: SyntaxError: invalid syntax");
    }
    wrong += p.answer != std::to_string(evaluate(p.op, p.a, p.b));
  }
  CHECK(std::abs(flawed / 4000.0 - 1.0 / 2) < 0.03);
  for (int n : {bad_json, bad_tool, bad_code}) CHECK(std::abs(static_cast<double>(n) / flawed - 1.0 / 3) < 0.05);
  CHECK(std::abs(static_cast<double>(wrong) / flawed - 0.6) < 0.05);

  // In the tool recipe's mix: template_tool's share of documents, tool_error_rate's of those flawed.
  o.template_worked = 0.1;
  o.template_direct = 0.2;
  o.template_tag_misuse = 0.05;
  o.qa_direct = 0.3;
  o.qa_worked = 0.1;
  o.facts = 0.17;
  o.template_tool = 0.08;
  o.tool_error_rate = 0.15;
  std::map<std::string, int> count;
  for (const auto& doc : r1::tasks::make_corpus(20000, o)) {
    if (doc.rfind("Facts:", 0) == 0) continue;
    ++count[parse_document(doc).kind];
  }
  const int tool_docs = count["template_tool"] + count["template_tool_flawed"];
  CHECK(std::abs(tool_docs / 20000.0 - 0.08) < 0.006);
  CHECK(std::abs(static_cast<double>(count["template_tool_flawed"]) / tool_docs - 0.15) < 0.03);
}

namespace {
uint64_t corpus_hash(const std::vector<std::string>& docs) {  // FNV-1a over the documents, 0xff between them
  uint64_t h = 1469598103934665603ULL;
  for (const auto& d : docs) {
    for (unsigned char c : d) h = (h ^ c) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
  }
  return h;
}
}  // namespace

TEST_CASE("arith: without template_tool and mulm the corpus is byte for byte the one before the tool task", "[arith][tool]") {
  // Hashes of the corpora the code before mulm and template_tool wrote for these options: existing
  // recipes' cached bases and tests depend on them.
  r1::tasks::ArithOptions a;
  a.seed = 11;
  CHECK(corpus_hash(r1::tasks::make_corpus(3000, a)) == 0xd7e4e1960dc06cd6ULL);
  r1::tasks::ArithOptions t;  // r1-zero-tiny's base, with its held-out problems excluded
  t.seed = 1;
  t.ops = {"add", "sub", "mul"};
  t.min_digits = 1;
  t.max_digits = 2;
  t.template_worked = 0.08;
  t.template_direct = 0.14;
  t.template_tag_misuse = 0.06;
  t.qa_direct = 0.22;
  t.qa_worked = 0.3;
  t.facts = 0.2;
  t.second_language = 0.3;
  t.mix_steps = true;
  const auto held = keys(r1::tasks::make_problems(200, 1000, t));
  CHECK(corpus_hash(r1::tasks::make_corpus(3000, t, &held)) == 0xa6adb7cc0ecdb30fULL);
  r1::tasks::ArithOptions z;
  z.seed = 3;
  z.second_language = 0.5;
  z.facts = 0.1;
  CHECK(corpus_hash(r1::tasks::make_corpus(3000, z)) == 0x8a768bd581777d70ULL);
  // The tool options alone change nothing while template_tool is 0 and mulm is not an op.
  z.tool_error_rate = 0.9;
  z.mulm_worked = 0.5;
  z.mulm_b_digits = 3;
  CHECK(corpus_hash(r1::tasks::make_corpus(3000, z)) == 0x8a768bd581777d70ULL);
  z.template_tool = 0.05;
  CHECK(corpus_hash(r1::tasks::make_corpus(3000, z)) != 0x8a768bd581777d70ULL);
}

TEST_CASE("arith: the tool task's options are read by key and checked by name", "[arith][tool]") {
  const auto j = nlohmann::json::parse(R"({"ops": ["add", "mulm"], "mulm_min_digits": 3, "mulm_max_digits": 4, "mulm_b_digits": 3,
                                          "mulm_worked": 0.1, "template_tool": 0.07, "tool_error_rate": 0.2})");
  r1::ConfigReader r(j, "base.task");
  const auto o = r1::tasks::read_arith_options(r);
  r.finish();
  CHECK(o.ops == std::vector<std::string>{"add", "mulm"});
  CHECK(o.mulm_min_digits == 3);
  CHECK(o.mulm_max_digits == 4);
  CHECK(o.mulm_b_digits == 3);
  CHECK(o.mulm_worked == 0.1);
  CHECK(o.template_tool == 0.07);
  CHECK(o.tool_error_rate == 0.2);
  const r1::tasks::ArithOptions d;
  CHECK(d.template_tool == 0);
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {R"({"mulm_b_digits": 1})", "base.task.mulm_b_digits"},
           {R"({"mulm_min_digits": 0})", "base.task.mulm_min_digits"},
           {R"({"mulm_min_digits": 3, "mulm_max_digits": 2})", "base.task.mulm_max_digits"},
           {R"({"template_tool": -0.1})", "base.task.template_tool"},
           {R"({"tool_error_rate": 1.5})", "base.task.tool_error_rate"},
           {R"({"mulm_worked": 2})", "base.task.mulm_worked"},
           {R"({"ops": ["mulm", "div"]})", "expected add, sub, mul, mulm"}}) {
    const auto bad = nlohmann::json::parse(text);
    r1::ConfigReader rb(bad, "base.task");
    CHECK_THROWS_WITH(r1::tasks::read_arith_options(rb), Catch::Contains(key));
  }
  // op_weights: one weight > 0 per op; problems (and so train and held-out sets) follow them.
  const auto w = nlohmann::json::parse(R"({"ops": ["add", "mul", "mulm"], "op_weights": [1, 1, 3]})");
  r1::ConfigReader rw(w, "base.task");
  r1::tasks::ArithOptions weighted = r1::tasks::read_arith_options(rw);
  rw.finish();
  CHECK(weighted.op_weights == std::vector<double>{1, 1, 3});
  std::map<std::string, int> ops;
  for (const auto& p : r1::tasks::make_problems(5000, 7, weighted)) ++ops[p.op];
  CHECK(std::abs(ops["mulm"] / 5000.0 - 0.6) < 0.03);
  CHECK(std::abs(ops["add"] / 5000.0 - 0.2) < 0.03);
  CHECK(std::abs(ops["mul"] / 5000.0 - 0.2) < 0.03);
  for (const auto& [text, what] : std::vector<std::pair<std::string, std::string>>{
           {R"({"ops": ["add", "mulm"], "op_weights": [1]})", "base.task.op_weights: expected one weight per op"},
           {R"({"ops": ["add", "mulm"], "op_weights": [1, 0]})", "base.task.op_weights: expected weights > 0"},
           {R"({"op_weights": "1"})", "base.task.op_weights: expected an array"},
           {R"({"op_weights": [1, "a", 2]})", "base.task.op_weights[1]: expected number"}}) {
    const auto bad = nlohmann::json::parse(text);
    r1::ConfigReader rb(bad, "base.task");
    CHECK_THROWS_WITH(r1::tasks::read_arith_options(rb), Catch::Contains(what));
  }

  // template_tool alone is a valid mix.
  r1::tasks::ArithOptions only;
  only.template_worked = only.template_direct = only.template_tag_misuse = only.qa_direct = only.qa_worked = 0;
  only.template_tool = 1;
  only.tool_error_rate = 0;
  for (const auto& doc : r1::tasks::make_corpus(50, only)) CHECK(parse_document(doc).kind == "template_tool");
}
