// The synthetic arithmetic task (tasks/arith.h): answers, worked solutions re-verified step by
// step, determinism, distinct problems, the corpus mix, the R1-Zero prompt against r1's renderer.
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

// One corpus document taken apart by its shape.
struct Parsed {
  std::string kind;  // template_worked | template_direct | template_tag_misuse | qa_direct | qa_worked
  std::string op;
  int64_t a = 0, b = 0;
  std::string answer, worked;
};

Parsed parse_document(const std::string& doc) {
  INFO(doc);
  static const std::regex tmpl(R"(A conversation between User .* User: ([^\n]+)\. Assistant:([\s\S]*))");
  static const std::regex qa(R"(Question: ([^\n]+)\n(?:Solution: ([^\n]+)\n)?Answer: (\d+))");
  static const std::regex question(R"((?:Compute|Calculate|Find|Work out|Evaluate) (\d+) ([-+*]) (\d+))");
  static const std::regex worked(R"( <think> ([^\n]+) </think> <answer> (\d+) </answer>)");
  static const std::regex direct(R"( The answer is (\d+)\.)");
  static const std::regex misuse(R"( <answer> (\d+) </answer>| <think> (\d+) </think>| <think> </think> <answer> (\d+) </answer>)"
                                 R"(| <think> (\d+) </answer>| <answer> (\d+))");
  Parsed p;
  std::smatch m, q, r;
  std::string rest;
  if (std::regex_match(doc, m, tmpl)) {
    REQUIRE(doc == r1::tasks::r1_zero_prompt(m[1]) + m[2].str());
    rest = m[2];
    if (std::regex_match(rest, r, worked)) p = {"template_worked", "", 0, 0, r[2], r[1]};
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
  p.op = q[2] == "+" ? "add" : q[2] == "-" ? "sub" : "mul";
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
    CHECK(row == nlohmann::json{{"prompt", problems[i].question}, {"answer", problems[i].answer}, {"op", problems[i].op}});
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
