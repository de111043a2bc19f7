// The synthetic arithmetic task: problems, their keys and steps, worked solutions (arith.h); the
// documents and rows made of them are arith_corpus.cpp's.
#include "tasks/arith.h"
#include "tasks/arith_detail.h"

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "core/jsonl.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

namespace r1::tasks {
namespace detail {

const std::array<std::string, 5> kOps = {"add", "sub", "mul", "mulm", "chain"};
const std::array<const char*, 5> kPhrasings = {"Compute", "Calculate", "Find", "Work out", "Evaluate"};

// Same numbers on every standard library: r1's own mapping of the engine's output.
uint64_t below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}
int64_t between(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(below(rng, static_cast<uint64_t>(hi - lo) + 1));
}
double unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

int64_t pow10(int d) {
  int64_t p = 1;
  while (d-- > 0) p *= 10;
  return p;
}
// d-digit numbers: 0..9 for one digit, 10^(d-1)..10^d-1 otherwise.
int64_t lowest(int digits) { return digits == 1 ? 0 : pow10(digits - 1); }
int64_t highest(int digits) { return pow10(digits) - 1; }

std::vector<int> digits_of(int64_t v) {  // least significant first
  std::vector<int> d;
  do {
    d.push_back(static_cast<int>(v % 10));
    v /= 10;
  } while (v > 0);
  return d;
}

const char* symbol(const std::string& op) { return op == "add" ? "+" : op == "sub" ? "-" : "*"; }  // mul, mulm: "*"
// "47 + 385"; a chain "7 + 5 - 3 + 8" (`spaced` false: "7+5-3+8", its key's form).
std::string expression(const Problem& p, bool spaced) {
  if (p.op != "chain") return std::to_string(p.a) + " " + symbol(p.op) + " " + std::to_string(p.b);
  std::string out = std::to_string(p.terms[0]);
  for (size_t i = 0; i < p.signs.size(); ++i)
    out += (spaced ? std::string(" ") + p.signs[i] + " " : std::string(1, p.signs[i])) + std::to_string(p.terms[i + 1]);
  return out;
}

int64_t evaluate(const std::string& op, int64_t a, int64_t b) { return op == "add" ? a + b : op == "sub" ? a - b : a * b; }
int64_t chain_value(const std::vector<int64_t>& terms, const std::string& signs) {
  int64_t v = terms[0];
  for (size_t i = 0; i < signs.size(); ++i) v += signs[i] == '+' ? terms[i + 1] : -terms[i + 1];
  return v;
}

Problem finish(Problem p, std::mt19937_64& rng) {
  p.question = std::string(kPhrasings[below(rng, kPhrasings.size())]) + " " + expression(p);
  p.answer = std::to_string(p.op == "chain" ? chain_value(p.terms, p.signs) : evaluate(p.op, p.a, p.b));
  p.worked = worked_solution(p);
  return p;
}

Problem build(const std::string& op, int64_t a, int64_t b, std::mt19937_64& rng) {
  Problem p;
  p.op = op;
  p.a = a;
  p.b = b;
  return finish(std::move(p), rng);
}

// A chain: a first number 1..9, then each further digit 1..9 added or subtracted at even odds, except
// where that would leave 0..chain_max_total.
Problem build_chain(std::mt19937_64& rng, const ArithOptions& o) {
  Problem p;
  p.op = "chain";
  const int64_t ops = between(rng, o.chain_min_ops, o.chain_max_ops);
  p.terms.push_back(between(rng, 1, 9));
  int64_t total = p.terms[0];
  for (int64_t i = 0; i < ops; ++i) {
    const int64_t d = between(rng, 1, 9);
    bool plus = below(rng, 2) == 0;
    if (plus && total + d > o.chain_max_total) plus = false;
    if (!plus && total - d < 0) plus = true;
    p.signs += plus ? '+' : '-';
    p.terms.push_back(d);
    total += plus ? d : -d;
  }
  p.a = p.terms.front();
  p.b = p.terms.back();
  return finish(std::move(p), rng);
}

// The operands' ranges of an op: a in [a_lo, a_hi], b in [b_lo, b_hi] (sub also has b <= a).
struct Ranges {
  int64_t a_lo, a_hi, b_lo, b_hi;
};
Ranges ranges(const std::string& op, const ArithOptions& o) {
  if (op == "mulm")
    return {lowest(o.mulm_min_digits), highest(o.mulm_max_digits), pow10(o.mulm_b_digits - 1), highest(o.mulm_b_digits)};
  const int64_t lo = lowest(o.min_digits), hi = highest(o.max_digits);
  if (op == "mul") return {lo, hi, 2, 9};
  return {lo, hi, lo, hi};
}

bool in_space(const std::string& op, int64_t a, int64_t b, const ArithOptions& o) {
  if (op == "chain" || std::find(o.ops.begin(), o.ops.end(), op) == o.ops.end()) return false;
  if (op == "mulm") {
    const Ranges r = ranges(op, o);
    return a >= r.a_lo && a <= r.a_hi && b >= r.b_lo && b <= r.b_hi;
  }
  const int64_t lo = lowest(o.min_digits), hi = highest(o.max_digits);
  if (a < lo || a > hi) return false;
  if (op == "mul") return b >= 2 && b <= 9;
  return b >= lo && b <= hi && (op != "sub" || a >= b);
}

// Calls f(op, a, b) for every problem the options allow, in a fixed order.
template <typename F>
void for_each_problem(const ArithOptions& o, F&& f) {
  for (const auto& op : o.ops) {
    if (op == "chain") continue;  // far too many to list; make_problems samples them
    const Ranges r = ranges(op, o);
    for (int64_t a = r.a_lo; a <= r.a_hi; ++a)
      for (int64_t b = r.b_lo, b_hi = op == "sub" ? a : r.b_hi; b <= b_hi; ++b) f(op, a, b);
  }
}

uint64_t space_size(const ArithOptions& o) {
  const uint64_t n = static_cast<uint64_t>(highest(o.max_digits) - lowest(o.min_digits) + 1);
  uint64_t total = 0;
  for (const auto& op : o.ops) {
    if (op == "chain") {
      total += 1'000'000'000;  // 9 * 18^k chains of k operations, fewer under the total's bounds: plenty
    } else if (op == "mulm") {
      const Ranges r = ranges(op, o);
      total += static_cast<uint64_t>(r.a_hi - r.a_lo + 1) * static_cast<uint64_t>(r.b_hi - r.b_lo + 1);
    } else {
      total += op == "add" ? n * n : op == "sub" ? n * (n + 1) / 2 : n * 8;
    }
  }
  return total;
}

bool parse_key(const std::string& key, std::string& op, int64_t& a, int64_t& b) {
  const size_t c1 = key.find(':'), c2 = key.find(':', c1 == std::string::npos ? c1 : c1 + 1);
  if (c2 == std::string::npos) return false;
  try {
    size_t used = 0;
    op = key.substr(0, c1);
    a = std::stoll(key.substr(c1 + 1, c2 - c1 - 1), &used);
    if (used != c2 - c1 - 1) return false;
    b = std::stoll(key.substr(c2 + 1), &used);
    return used == key.size() - c2 - 1;
  } catch (const std::exception&) {
    return false;
  }
}

struct Words {
  const char *plus, *minus, *times, *equals, *write, *carry, *borrow, *header, *step_end, *so, *wait;
};
const Words kEnglish = {" + ", " - ", " * ", " = ", ", write ", " carry ", " borrow ", ": ", ". ", "So ", ", wait, "};
const Words kChinese = {" 加 ", " 减 ", " 乘 ", " 等于 ", "，写 ", " 进 ", " 借 ", "：", "。", "所以 ", "，等等，"};
// Chinese phrases around the same symbols: what language_mixing "step" switches to, step by step.
const Words kChineseSymbols = {" + ", " - ", " * ", " = ", "，写 ", " 进 ", " 借 ", "：", "。", "所以 ", "，等等，"};

// A plausible slip: a dropped carry or borrow, two neighbouring digits swapped, or one digit off by
// one. Always differs from the true answer and is never negative.
std::string slip(const Problem& p, std::mt19937_64& rng) {
  const std::string& truth = p.answer;
  std::string wrong;
  switch (below(rng, 3)) {
    case 0: {
      if (p.op == "chain") {  // one operation's sign flipped (a subtraction read as an addition, or back)
        std::string signs = p.signs;
        const size_t i = below(rng, signs.size());
        signs[i] = signs[i] == '+' ? '-' : '+';
        const int64_t v = chain_value(p.terms, signs);
        if (v >= 0) wrong = std::to_string(v);
        break;
      }
      if (p.op == "mulm") {  // the partial products added without their shifts: 385 * 47 -> 2695 + 1540
        int64_t sum = 0;
        for (int d : digits_of(p.b)) sum += p.a * d;
        wrong = std::to_string(sum);
        break;
      }
      // no carries / borrows: each column on its own (sub: the smaller digit from the larger)
      const auto da = digits_of(p.a), db = digits_of(p.b);
      const size_t n = std::max(da.size(), p.op == "mul" ? 0 : db.size());
      std::string digits;  // most significant first
      for (size_t i = 0; i < n; ++i) {
        const int x = i < da.size() ? da[i] : 0, y = i < db.size() ? db[i] : 0;
        const int v = p.op == "add" ? x + y : p.op == "sub" ? std::abs(x - y) : x * static_cast<int>(p.b);
        digits.insert(0, std::to_string(i + 1 == n ? v : v % 10));
      }
      wrong = std::to_string(std::stoll(digits));
      break;
    }
    case 1: {
      std::vector<size_t> at;
      for (size_t i = 0; i + 1 < truth.size(); ++i)
        if (truth[i] != truth[i + 1] && !(i == 0 && truth[1] == '0')) at.push_back(i);
      if (at.empty()) break;
      wrong = truth;
      const size_t i = at[below(rng, at.size())];
      std::swap(wrong[i], wrong[i + 1]);
      break;
    }
    default: break;
  }
  if (!wrong.empty() && wrong != truth) return wrong;
  wrong = truth;  // one digit off by one
  const size_t i = below(rng, truth.size());
  const int d = truth[i] - '0';
  int delta = below(rng, 2) ? 1 : -1;
  if (d == 9) delta = -1;
  if (d == 0 || (i == 0 && d == 1 && truth.size() > 1)) delta = 1;  // no leading zero
  wrong[i] = static_cast<char>('0' + d + delta);
  return wrong;
}

}  // namespace detail
using namespace detail;

void check_arith_options(const ArithOptions& o, const std::string& where) {
  auto key = [&](const char* field) { return where.empty() ? std::string(field) : where + "." + field; };
  if (o.ops.empty()) throw ConfigError(key("ops") + ": give at least one of add, sub, mul, mulm, chain");
  for (const auto& op : o.ops) {
    if (std::find(kOps.begin(), kOps.end(), op) == kOps.end())
      throw ConfigError(key("ops") + ": unknown op '" + op + "' (expected add, sub, mul, mulm, chain)");
    if (std::count(o.ops.begin(), o.ops.end(), op) > 1) throw ConfigError(key("ops") + ": '" + op + "' given twice");
  }
  if (o.min_digits < 1 || o.min_digits > 9)
    throw ConfigError(key("min_digits") + ": expected 1..9, got " + std::to_string(o.min_digits));
  if (o.max_digits < o.min_digits || o.max_digits > 9)
    throw ConfigError(key("max_digits") + ": expected min_digits.." + "9, got " + std::to_string(o.max_digits));
  if (!o.op_weights.empty()) {
    if (o.op_weights.size() != o.ops.size())
      throw ConfigError(key("op_weights") + ": expected one weight per op (" + std::to_string(o.ops.size()) + "), got " +
                        std::to_string(o.op_weights.size()));
    for (double w : o.op_weights)
      if (!std::isfinite(w) || !(w > 0)) throw ConfigError(key("op_weights") + ": expected weights > 0, got " + std::to_string(w));
  }
  if (o.mulm_min_digits < 1 || o.mulm_min_digits > 9)
    throw ConfigError(key("mulm_min_digits") + ": expected 1..9, got " + std::to_string(o.mulm_min_digits));
  if (o.mulm_max_digits < o.mulm_min_digits || o.mulm_max_digits > 9)
    throw ConfigError(key("mulm_max_digits") + ": expected mulm_min_digits..9, got " + std::to_string(o.mulm_max_digits));
  if (o.chain_min_ops < 1 || o.chain_min_ops > 12)
    throw ConfigError(key("chain_min_ops") + ": expected 1..12, got " + std::to_string(o.chain_min_ops));
  if (o.chain_max_ops < o.chain_min_ops || o.chain_max_ops > 12)
    throw ConfigError(key("chain_max_ops") + ": expected chain_min_ops..12, got " + std::to_string(o.chain_max_ops));
  if (o.chain_max_total < 18 || o.chain_max_total > 999)
    throw ConfigError(key("chain_max_total") + ": expected 18..999, got " + std::to_string(o.chain_max_total));
  if (o.mulm_b_digits < 2 || o.mulm_b_digits > 4)
    throw ConfigError(key("mulm_b_digits") + ": expected 2..4, got " + std::to_string(o.mulm_b_digits));
  const std::pair<const char*, double> mix[] = {{"template_worked", o.template_worked},
                                                {"template_direct", o.template_direct},
                                                {"template_tag_misuse", o.template_tag_misuse},
                                                {"qa_direct", o.qa_direct},
                                                {"qa_worked", o.qa_worked},
                                                {"facts", o.facts},
                                                {"template_tool", o.template_tool},
                                                {"template_brief", o.template_brief}};
  double sum = 0;
  for (const auto& [name, v] : mix) {
    if (!std::isfinite(v) || v < 0) throw ConfigError(key(name) + ": expected a fraction >= 0, got " + std::to_string(v));
    sum += v;
  }
  if (!(sum > 0)) throw ConfigError(key("template_worked") + ": the corpus mix fractions are all zero");
  if (o.facts_per_document < 1 || o.facts_per_document > 1000)
    throw ConfigError(key("facts_per_document") + ": expected 1..1000, got " + std::to_string(o.facts_per_document));
  for (const auto& [name, v] : {std::pair{"direct_error_rate", o.direct_error_rate}, std::pair{"second_language", o.second_language},
                                std::pair{"mulm_worked", o.mulm_worked}, std::pair{"tool_error_rate", o.tool_error_rate},
                                std::pair{"direct_error_per_step", o.direct_error_per_step}, std::pair{"self_correct", o.self_correct}})
    if (!(v >= 0 && v <= 1)) throw ConfigError(key(name) + ": expected 0..1, got " + std::to_string(v));
}

ArithOptions read_arith_options(ConfigReader& r) {
  ArithOptions o;
  const int64_t seed = r.get("seed", static_cast<int64_t>(o.seed));
  if (seed < 0) throw ConfigError(r.key_path("seed") + ": expected a non-negative integer");
  o.seed = static_cast<uint64_t>(seed);
  o.ops = r.get("ops", o.ops);
  if (const nlohmann::json* w = r.raw("op_weights"); w && !w->is_null()) {
    if (!w->is_array()) throw ConfigError(r.key_path("op_weights") + ": expected an array of numbers, got " + w->type_name());
    for (size_t i = 0; i < w->size(); ++i) {
      if (!(*w)[i].is_number())
        throw ConfigError(r.key_path("op_weights") + "[" + std::to_string(i) + "]: expected number, got " + (*w)[i].type_name());
      o.op_weights.push_back((*w)[i].get<double>());
    }
  }
  o.min_digits = r.get("min_digits", o.min_digits);
  o.max_digits = r.get("max_digits", o.max_digits);
  o.template_worked = r.get("template_worked", o.template_worked);
  o.template_direct = r.get("template_direct", o.template_direct);
  o.template_tag_misuse = r.get("template_tag_misuse", o.template_tag_misuse);
  o.qa_direct = r.get("qa_direct", o.qa_direct);
  o.qa_worked = r.get("qa_worked", o.qa_worked);
  o.facts = r.get("facts", o.facts);
  o.template_tool = r.get("template_tool", o.template_tool);
  o.template_brief = r.get("template_brief", o.template_brief);
  o.direct_error_per_step = r.get("direct_error_per_step", o.direct_error_per_step);
  o.self_correct = r.get("self_correct", o.self_correct);
  o.tool_error_rate = r.get("tool_error_rate", o.tool_error_rate);
  o.mulm_min_digits = r.get("mulm_min_digits", o.mulm_min_digits);
  o.mulm_max_digits = r.get("mulm_max_digits", o.mulm_max_digits);
  o.mulm_b_digits = r.get("mulm_b_digits", o.mulm_b_digits);
  o.mulm_worked = r.get("mulm_worked", o.mulm_worked);
  o.chain_min_ops = r.get("chain_min_ops", o.chain_min_ops);
  o.chain_max_ops = r.get("chain_max_ops", o.chain_max_ops);
  o.chain_max_total = r.get("chain_max_total", o.chain_max_total);
  o.facts_per_document = r.get("facts_per_document", o.facts_per_document);
  o.direct_error_rate = r.get("direct_error_rate", o.direct_error_rate);
  o.second_language = r.get("second_language", o.second_language);
  o.mix_steps = r.get_choice("language_mixing", o.mix_steps ? "step" : "solution", {"solution", "step"}) == "step";
  check_arith_options(o, r.path());
  return o;
}

namespace {

// Step `step`'s slipped attempt when `fix` corrects that step: its left side, a result one off (never
// negative: 0 slips up) and "wait"; "" for every other step.
std::string corrected_slip(const Correction& fix, size_t step, const std::string& lhs, int64_t result, const Words& w) {
  if (fix.delta == 0 || fix.step != step) return "";
  return lhs + w.equals + std::to_string(result + fix.delta < 0 ? result + 1 : result + fix.delta) + w.wait;
}

// The worked solution with each part's words from words(k): k = 0 the header, 1..n the column steps,
// n + 1 the closing "So".
std::string worked_with(const Problem& p, const std::function<const Words&(size_t)>& words, Correction fix = {}) {
  const auto da = digits_of(p.a), db = digits_of(p.b);
  std::string out = expression(p) + words(0).header;
  auto str = [](int64_t v) { return std::to_string(v); };
  if (p.op == "chain") {
    // One step per operation on the running total: parts 1..k the steps, k + 1 the closing "So".
    int64_t total = p.terms[0];
    for (size_t i = 0; i < p.signs.size(); ++i) {
      // A chain step has no words but its operator and "equals": a step switched to Chinese says them
      // in words ("14 加 9 等于 23。"), or it would differ from English by its full stop alone.
      const Words& w = &words(i + 1) == &kChineseSymbols ? kChinese : words(i + 1);
      const int64_t next = total + (p.signs[i] == '+' ? p.terms[i + 1] : -p.terms[i + 1]);
      const std::string lhs = str(total) + (p.signs[i] == '+' ? w.plus : w.minus) + str(p.terms[i + 1]);
      out += corrected_slip(fix, i + 1, lhs, next, w);
      out += lhs + w.equals + str(next) + w.step_end;
      total = next;
    }
    const Words& end = words(p.signs.size() + 1);
    out += end.so + expression(p) + " = " + p.answer + (&end == &kEnglish ? "." : "。");
    return out;
  }
  if (p.op == "mulm") {
    // One partial product per nonzero digit of b ("385 * 40 = 15400"), then their sum when there are two
    // or more: parts 1..k the products, k + 1 the sum, then the closing "So".
    std::vector<int64_t> parts;
    size_t k = 0;
    for (size_t i = 0; i < db.size(); ++i) {
      if (db[i] == 0) continue;
      const int64_t factor = db[i] * pow10(static_cast<int>(i));
      const Words& w = words(++k);
      out += str(p.a) + w.times + str(factor) + w.equals + str(p.a * factor) + w.step_end;
      parts.push_back(p.a * factor);
    }
    if (parts.size() > 1) {
      const Words& w = words(++k);
      int64_t sum = 0;
      for (size_t i = 0; i < parts.size(); ++i) {
        out += (i ? w.plus : "") + str(parts[i]);
        sum += parts[i];
      }
      out += w.equals + str(sum) + w.step_end;
    }
    const Words& end = words(k + 1);
    out += end.so + expression(p) + " = " + p.answer + (&end == &kEnglish ? "." : "。");
    return out;
  }
  const size_t n = p.op == "add" ? std::max(da.size(), db.size()) : da.size();
  int in = 0;  // carry or borrow into this column
  for (size_t i = 0; i < n; ++i) {
    const Words& w = words(i + 1);
    const int x = i < da.size() ? da[i] : 0, y = i < db.size() ? db[i] : 0;
    const bool last = i + 1 == n;
    // The corrected slip: the step's left side and a wrong result, "wait", then the step again in full.
    auto begin_step = [&](const std::string& lhs, int result) {
      out += corrected_slip(fix, i + 1, lhs, result, w);
      out += lhs + w.equals + str(result);
    };
    if (p.op == "add") {
      const int s = x + y + in;
      begin_step(str(x) + w.plus + str(y) + (in ? w.plus + str(in) : ""), s);
      out += w.write;
      out += last ? str(s) : str(s % 10) + (s >= 10 ? w.carry + str(s / 10) : "");
      in = s / 10;
    } else if (p.op == "sub") {
      const bool borrow = x - in < y;
      const int top = x + (borrow ? 10 : 0), r = top - y - in;
      begin_step(str(top) + w.minus + str(y) + (in ? w.minus + str(in) : ""), r);
      out += w.write + str(r);
      if (borrow) out += w.borrow + std::string("1");
      in = borrow ? 1 : 0;
    } else {
      const int v = x * static_cast<int>(p.b) + in;
      begin_step(str(x) + w.times + str(p.b) + (in ? w.plus + str(in) : ""), v);
      out += w.write;
      out += last ? str(v) : str(v % 10) + (v >= 10 ? w.carry + str(v / 10) : "");
      in = v / 10;
    }
    out += w.step_end;
  }
  const Words& end = words(n + 1);
  out += end.so + expression(p) + " = " + p.answer + (&end == &kEnglish ? "." : "。");
  return out;
}

}  // namespace

namespace detail {

std::string worked_in(const Problem& p, StepLanguage language, Correction fix) {
  const Words& w = language == StepLanguage::Chinese ? kChinese : kEnglish;
  return worked_with(p, [&w](size_t) -> const Words& { return w; }, fix);
}

std::string code_switched(const Problem& p, std::mt19937_64& rng, double chinese, Correction fix) {
  std::vector<const Words*> parts;
  return worked_with(
      p,
      [&](size_t k) -> const Words& {
        while (parts.size() <= k) parts.push_back(unit(rng) < chinese ? &kChineseSymbols : &kEnglish);
        return *parts[k];
      },
      fix);
}

}  // namespace detail

std::string worked_solution(const Problem& p, StepLanguage language) { return worked_in(p, language, {}); }

std::string code_switched_solution(const Problem& p, std::mt19937_64& rng, double chinese) {
  return code_switched(p, rng, chinese, {});
}

int problem_steps(const Problem& p) {
  if (p.op == "chain") return static_cast<int>(p.signs.size());
  if (p.op == "mulm") {
    int parts = 0;
    for (int d : digits_of(p.b)) parts += d != 0;
    return parts > 1 ? parts + 1 : parts;
  }
  const size_t a = digits_of(p.a).size(), b = digits_of(p.b).size();
  return static_cast<int>(p.op == "add" ? std::max(a, b) : a);
}

std::string step_fact(std::mt19937_64& rng, const ArithOptions& o, StepLanguage language) {
  const Words& w = language == StepLanguage::Chinese ? kChinese : kEnglish;
  const std::string& op = o.ops[below(rng, o.ops.size())];
  auto str = [](int64_t v) { return std::to_string(v); };
  const int x = static_cast<int>(below(rng, 10));
  if (op == "add") {
    const int y = static_cast<int>(below(rng, 10)), in = static_cast<int>(below(rng, 2));
    return str(x) + w.plus + str(y) + (in ? w.plus + str(in) : "") + w.equals + str(x + y + in);
  }
  if (op == "sub") {
    const int y = static_cast<int>(below(rng, 10)), in = static_cast<int>(below(rng, 2));
    const int top = x + (x - in < y ? 10 : 0);
    return str(top) + w.minus + str(y) + (in ? w.minus + str(in) : "") + w.equals + str(top - y - in);
  }
  if (op == "chain") {  // a running total 0..chain_max_total, a digit 1..9 added or subtracted
    const int total = static_cast<int>(below(rng, static_cast<uint64_t>(o.chain_max_total) + 1));
    const int d = static_cast<int>(between(rng, 1, 9));
    const bool plus = total - d < 0 || (total + d <= o.chain_max_total && below(rng, 2) == 0);
    return str(total) + (plus ? w.plus : w.minus) + str(d) + w.equals + str(plus ? total + d : total - d);
  }
  // mul, and mulm (whose problems' facts are mul's column steps)
  const int b = static_cast<int>(between(rng, 2, 9));
  const int in = below(rng, 2) ? static_cast<int>(below(rng, static_cast<uint64_t>(b))) : 0;  // a carry is < b
  return str(x) + w.times + str(b) + (in ? w.plus + str(in) : "") + w.equals + str(x * b + in);
}

Problem make_problem(std::mt19937_64& rng, const ArithOptions& o) {
  check_arith_options(o);
  size_t pick = 0;
  if (o.op_weights.empty()) {
    pick = below(rng, o.ops.size());
  } else {
    double total = 0;
    for (double w : o.op_weights) total += w;
    double u = unit(rng) * total;
    for (; pick + 1 < o.ops.size() && u >= o.op_weights[pick]; ++pick) u -= o.op_weights[pick];
  }
  const std::string& op = o.ops[pick];
  if (op == "chain") return build_chain(rng, o);
  auto number = [&] {
    const int d = static_cast<int>(between(rng, o.min_digits, o.max_digits));
    return between(rng, lowest(d), highest(d));
  };
  if (op == "mulm") {
    const Ranges r = ranges(op, o);
    const int d = static_cast<int>(between(rng, o.mulm_min_digits, o.mulm_max_digits));
    const int64_t a = between(rng, lowest(d), highest(d));
    return build(op, a, between(rng, r.b_lo, r.b_hi), rng);
  }
  int64_t a = number(), b = op == "mul" ? between(rng, 2, 9) : number();
  if (op == "sub" && a < b) std::swap(a, b);
  return build(op, a, b, rng);
}

std::string problem_key(const Problem& p) {
  if (p.op == "chain") return "chain:" + expression(p, false);
  return p.op + ":" + std::to_string(p.a) + ":" + std::to_string(p.b);
}

std::vector<Problem> make_problems(size_t n, uint64_t seed, const ArithOptions& o, const std::set<std::string>* exclude) {
  check_arith_options(o);
  uint64_t excluded = 0;
  if (exclude)
    for (const auto& k : *exclude) {
      std::string op;
      int64_t a, b;
      if (parse_key(k, op, a, b) && in_space(op, a, b, o)) ++excluded;
    }
  const uint64_t available = space_size(o) - excluded;
  if (n > available) {
    std::string ops;
    for (const auto& op : o.ops) ops += (ops.empty() ? "" : ",") + op;
    throw Error("make_problems: asked for " + std::to_string(n) + " distinct problems but only " + std::to_string(available) +
                " exist (ops " + ops + ", " + std::to_string(o.min_digits) + "-" + std::to_string(o.max_digits) +
                " digit operands, " + std::to_string(excluded) + " excluded)");
  }
  std::mt19937_64 rng(seed);
  std::vector<Problem> out;
  std::set<std::string> seen;
  auto taken = [&](const std::string& k) { return seen.count(k) || (exclude && exclude->count(k)); };
  int misses = 0;
  while (out.size() < n && misses < 20000) {
    Problem p = make_problem(rng, o);
    std::string k = problem_key(p);
    if (taken(k)) {
      ++misses;
      continue;
    }
    misses = 0;
    seen.insert(std::move(k));
    out.push_back(std::move(p));
  }
  if (out.size() < n) {
    // Nearly all of the space is wanted: pick the rest uniformly from what is left (selection sampling).
    if (space_size(o) > 5'000'000)
      throw Error("make_problems: found only " + std::to_string(out.size()) + " of " + std::to_string(n) +
                  " distinct problems by sampling; ask for fewer");
    uint64_t left = available - out.size(), want = n - out.size();
    const size_t first_new = out.size();
    for_each_problem(o, [&](const std::string& op, int64_t a, int64_t b) {
      if (want == 0 || taken(op + ":" + std::to_string(a) + ":" + std::to_string(b))) return;
      if (below(rng, left--) < want) {
        out.push_back(build(op, a, b, rng));
        --want;
      }
    });
    for (size_t i = out.size() - 1; i > first_new; --i) std::swap(out[i], out[first_new + below(rng, i - first_new + 1)]);
  }
  return out;
}

}  // namespace r1::tasks
