// An evaluation's measures: see eval_metrics.h.
#include "run/eval_metrics.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "run/eval_stats.h"

namespace r1::run {

double pass_at_k(int64_t n, int64_t c, int64_t k) {
  if (k < 1 || k > n || c < 0 || c > n)
    throw Error("pass@k: needs 1 <= k <= n and 0 <= c <= n (n " + std::to_string(n) + ", c " + std::to_string(c) +
                ", k " + std::to_string(k) + ")");
  if (n - c < k) return 1.0;  // every draw of k holds a correct sample
  // C(n-c, k) / C(n, k) = prod_{i=n-c+1..n} (1 - k/i): c factors, each in (0, 1).
  double none = 1.0;
  for (int64_t i = n - c + 1; i <= n; ++i) none *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - none;
}

std::vector<int64_t> pass_k_values(int64_t samples_per_problem) {
  if (samples_per_problem < 1) throw Error("pass@k: samples per problem must be >= 1");
  std::vector<int64_t> ks;
  for (int64_t k = 1; k < samples_per_problem; k *= 2) ks.push_back(k);
  ks.push_back(samples_per_problem);
  return ks;
}

int majority_vote(const std::vector<std::optional<std::string>>& answers,
                  const std::function<bool(const std::string&, const std::string&)>& same) {
  struct Group {
    size_t first;
    size_t count;
  };
  std::vector<Group> groups;  // in order of first appearance
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i]) continue;
    const std::string& a = *answers[i];
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      const std::string& rep = *answers[g.first];
      return rep == a || same(rep, a);
    });
    if (it == groups.end()) groups.push_back({i, 1});
    else ++it->count;
  }
  const Group* best = nullptr;
  for (const Group& g : groups)  // strictly more votes wins; a tie keeps the earlier group
    if (!best || g.count > best->count) best = &g;
  return best ? static_cast<int>(best->first) : -1;
}

double ProblemOutcome::pass_at_1() const {
  if (samples.empty()) return 0;
  size_t c = 0;
  for (const SampleOutcome& s : samples) c += s.correct() ? 1 : 0;
  return static_cast<double>(c) / static_cast<double>(samples.size());
}

namespace {

nlohmann::json optional_number(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

// A number that may be null or absent (none).
std::optional<double> read_optional(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  if (!j.at(key).is_number()) throw Error(where + ": \"" + key + "\" is not a number (or null)");
  return j.at(key).get<double>();
}

}  // namespace

DifficultyResult DifficultyResult::of(const EvalResult& r) {
  DifficultyResult d;
  d.problems = r.problems;
  d.samples = r.samples;
  d.accuracy = r.accuracy;
  auto p1 = r.pass_at_k.find(1);
  d.pass_at_1 = p1 != r.pass_at_k.end() ? p1->second : r.accuracy;
  d.accuracy_ci95 = r.accuracy_ci95;
  d.mean_response_tokens = r.mean_response_tokens;
  d.format_rate = r.format_rate;
  d.reflection_rate = r.reflection_rate;
  return d;
}

nlohmann::json DifficultyResult::to_json() const {
  return {{"problems", problems},          {"samples", samples},
          {"accuracy", accuracy},          {"pass_at_1", pass_at_1},
          {"accuracy_ci95", optional_number(accuracy_ci95)},
          {"mean_response_tokens", mean_response_tokens},
          {"format_rate", format_rate},    {"reflection_rate", reflection_rate}};
}

DifficultyResult DifficultyResult::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected an object");
  auto number = [&](const char* key) {
    if (!j.contains(key) || !j.at(key).is_number()) throw Error(where + ": \"" + key + "\" missing or not a number");
    return j.at(key).get<double>();
  };
  DifficultyResult d;
  d.problems = static_cast<int64_t>(number("problems"));
  d.samples = static_cast<int64_t>(number("samples"));
  d.accuracy = number("accuracy");
  d.pass_at_1 = number("pass_at_1");
  d.accuracy_ci95 = read_optional(j, "accuracy_ci95", where);
  d.mean_response_tokens = number("mean_response_tokens");
  d.format_rate = number("format_rate");
  d.reflection_rate = number("reflection_rate");
  return d;
}

nlohmann::json EvalResult::to_json() const {
  nlohmann::json pass = nlohmann::json::object();
  for (const auto& [k, v] : pass_at_k) pass[std::to_string(k)] = v;
  nlohmann::json j = {{"accuracy", accuracy},
          {"accuracy_ci95", optional_number(accuracy_ci95)},
          {"format_rate", format_rate},
          {"language_consistency", language_consistency},
          {"mean_response_tokens", mean_response_tokens},
          {"samples", samples},
          {"problems", problems},
          {"samples_per_problem", samples_per_problem},
          {"pass_at_k", pass},
          {"maj_at_k", maj_at_k},
          {"truncation_rate", truncation_rate},
          {"tool_call_rate", tool_call_rate},
          {"tool_error_rate", tool_error_rate},
          {"reflection_rate", reflection_rate},
          {"reflection_measured", reflection_measured}};
  if (!by_difficulty.empty()) {
    nlohmann::json levels = nlohmann::json::object();
    for (const auto& [d, r] : by_difficulty) levels[std::to_string(d)] = r.to_json();
    j["by_difficulty"] = levels;
  }
  return j;
}

EvalResult EvalResult::from_json(const nlohmann::json& j, const std::string& where) {
  EvalResult r;
  auto number = [&](const char* key, std::optional<double> fallback = std::nullopt) {
    if (j.is_object() && !j.contains(key) && fallback) return *fallback;
    if (!j.is_object() || !j.contains(key) || !j.at(key).is_number())
      throw Error(where + ": \"" + key + "\" missing or not a number");
    return j.at(key).get<double>();
  };
  r.accuracy = number("accuracy");
  r.format_rate = number("format_rate");
  r.language_consistency = number("language_consistency");
  r.mean_response_tokens = number("mean_response_tokens");
  r.samples = static_cast<int64_t>(number("samples"));
  // Written since samples per problem became an option: an older file is one sample a problem.
  r.samples_per_problem = static_cast<int64_t>(number("samples_per_problem", 1.0));
  r.problems = static_cast<int64_t>(number("problems", static_cast<double>(r.samples)));
  r.maj_at_k = number("maj_at_k", r.accuracy);
  r.truncation_rate = number("truncation_rate", 0.0);
  r.tool_call_rate = number("tool_call_rate", 0.0);
  r.tool_error_rate = number("tool_error_rate", 0.0);
  // Written since the interval, reflection and difficulty were measured: an older file has none.
  r.accuracy_ci95 = read_optional(j, "accuracy_ci95", where);
  r.reflection_rate = number("reflection_rate", 0.0);
  if (j.contains("reflection_measured")) {
    if (!j.at("reflection_measured").is_boolean()) throw Error(where + ": \"reflection_measured\" is not a boolean");
    r.reflection_measured = j.at("reflection_measured").get<bool>();
  }
  if (j.contains("by_difficulty")) {
    const nlohmann::json& levels = j.at("by_difficulty");
    if (!levels.is_object()) throw Error(where + ": \"by_difficulty\" is not an object");
    for (const auto& [key, v] : levels.items()) {
      int64_t d = 0;
      try {
        size_t used = 0;
        d = std::stoll(key, &used);
        if (used != key.size()) throw std::invalid_argument(key);
      } catch (const std::exception&) {
        throw Error(where + ": \"by_difficulty." + key + "\": the key is not an integer");
      }
      r.by_difficulty[d] = DifficultyResult::from_json(v, where + ": by_difficulty." + key);
    }
  }
  if (j.contains("pass_at_k")) {
    const nlohmann::json& p = j.at("pass_at_k");
    if (!p.is_object()) throw Error(where + ": \"pass_at_k\" is not an object");
    for (const auto& [k, v] : p.items()) {
      if (!v.is_number()) throw Error(where + ": \"pass_at_k." + k + "\" is not a number");
      try {
        r.pass_at_k[std::stoll(k)] = v.get<double>();
      } catch (const std::exception&) {
        throw Error(where + ": \"pass_at_k." + k + "\": the key is not a number");
      }
    }
  } else {
    r.pass_at_k[1] = r.accuracy;
  }
  return r;
}

EvalResult summarize(const std::vector<const ProblemOutcome*>& problems) {
  EvalResult r;
  if (problems.empty()) return r;
  const int64_t n = static_cast<int64_t>(problems.front()->samples.size());
  if (n < 1) throw Error("eval: a problem has no samples");
  const std::vector<int64_t> ks = pass_k_values(n);
  double tokens = 0, accuracy = 0, formatted = 0, truncated = 0, maj = 0, calls = 0, errors = 0, reflecting = 0;
  size_t target_words = 0, words = 0;
  bool reflection_measured = false;
  std::vector<double> per_problem;
  for (const ProblemOutcome* p : problems) {
    if (static_cast<int64_t>(p->samples.size()) != n)
      throw Error("eval: problems with different numbers of samples (" + std::to_string(n) + " and " +
                  std::to_string(p->samples.size()) + ")");
    int64_t c = 0;
    for (const SampleOutcome& s : p->samples) {
      c += s.correct() ? 1 : 0;
      accuracy += s.accuracy;
      formatted += s.formatted ? 1 : 0;
      truncated += s.truncated ? 1 : 0;
      tokens += static_cast<double>(s.tokens);
      calls += static_cast<double>(s.tool_calls);
      errors += static_cast<double>(s.tool_errors);
      target_words += s.target_words;
      words += s.words;
      if (s.reflects) {
        reflection_measured = true;
        reflecting += *s.reflects ? 1 : 0;
      }
    }
    per_problem.push_back(static_cast<double>(c) / static_cast<double>(n));
    for (int64_t k : ks) r.pass_at_k[k] += pass_at_k(n, c, k);
    if (p->vote >= 0 && static_cast<size_t>(p->vote) < p->samples.size() && p->samples[static_cast<size_t>(p->vote)].correct())
      maj += 1;
  }
  const double count = static_cast<double>(problems.size());
  r.problems = static_cast<int64_t>(problems.size());
  r.samples_per_problem = n;
  r.samples = r.problems * n;
  const double samples = static_cast<double>(r.samples);
  for (auto& [k, v] : r.pass_at_k) v /= count;
  r.accuracy = accuracy / samples;
  r.format_rate = formatted / samples;
  r.truncation_rate = truncated / samples;
  r.mean_response_tokens = tokens / samples;
  r.tool_call_rate = calls / samples;
  r.tool_error_rate = calls > 0 ? errors / calls : 0.0;
  r.maj_at_k = maj / count;
  r.language_consistency = words > 0 ? static_cast<double>(target_words) / static_cast<double>(words) : 0.0;
  r.accuracy_ci95 = mean_ci95(per_problem).ci95;
  r.reflection_measured = reflection_measured;
  r.reflection_rate = reflecting / samples;
  return r;
}

EvalReport summarize(const std::vector<ProblemOutcome>& problems) {
  EvalReport report;
  std::vector<const ProblemOutcome*> all;
  std::map<std::string, std::vector<const ProblemOutcome*>> sources;
  std::map<int64_t, std::vector<const ProblemOutcome*>> levels;
  bool any_source = false;
  for (const ProblemOutcome& p : problems) {
    all.push_back(&p);
    any_source = any_source || !p.source.empty();
    if (p.difficulty) levels[*p.difficulty].push_back(&p);
    report.per_problem.push_back(p.pass_at_1());
    report.problem_lines.push_back(p.line);
  }
  report.overall = summarize(all);
  for (const auto& [d, list] : levels) report.overall.by_difficulty[d] = DifficultyResult::of(summarize(list));
  if (any_source)
    for (const ProblemOutcome& p : problems) sources[p.source.empty() ? "(none)" : p.source].push_back(&p);
  for (const auto& [name, list] : sources) report.by_source[name] = summarize(list);
  return report;
}

nlohmann::json EvalReport::to_json() const {
  nlohmann::json sources = nlohmann::json::object();
  for (const auto& [name, r] : by_source) sources[name] = r.to_json();
  return {{"overall", overall.to_json()}, {"by_source", sources}, {"per_problem", per_problem}};
}

std::string mean_with_ci(double mean, const std::optional<double>& ci95, int digits) {
  char buf[96];
  if (ci95) std::snprintf(buf, sizeof buf, "%.*f ± %.*f", digits, mean, digits, *ci95);
  else std::snprintf(buf, sizeof buf, "%.*f ± n/a", digits, mean);
  return buf;
}

std::string markdown_table(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return "";
  // Widths in characters, not bytes: "±" is two bytes of UTF-8.
  auto chars = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
    return n;
  };
  std::vector<size_t> width(rows[0].size(), 3);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], chars(row[i]));
  std::string out;
  auto line = [&](const std::vector<std::string>& row) {
    out += "|";
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {  // names left, numbers right
      out.push_back(' ');
      if (i > 0) out.append(width[i] - chars(row[i]), ' ');
      out.append(row[i]);
      if (i == 0) out.append(width[i] - chars(row[i]), ' ');
      out.append(" |");
    }
    out += "\n";
  };
  line(rows[0]);
  out += "|";
  for (size_t i = 0; i < width.size(); ++i) {  // the numbers' columns aligned right
    out.push_back(' ');
    out.append(i == 0 ? width[i] : width[i] - 1, '-');
    out.append(i == 0 ? " |" : ": |");
  }
  out += "\n";
  for (size_t i = 1; i < rows.size(); ++i) line(rows[i]);
  return out;
}

std::string difficulty_table(const std::vector<std::pair<std::string, const EvalResult*>>& results) {
  bool any = false, reflection = false;
  for (const auto& [name, r] : results) {
    any = any || !r->by_difficulty.empty();
    reflection = reflection || r->reflection_measured;
  }
  if (!any) return "";
  const bool named = results.size() > 1;
  std::vector<std::string> header;
  if (named) header.push_back("model");
  for (const char* h : {"difficulty", "problems", "pass@1", "tokens"}) header.push_back(h);
  if (reflection) header.push_back("reflection");
  std::vector<std::vector<std::string>> rows = {header};
  char cell[64];
  for (const auto& [name, r] : results)
    for (const auto& [d, b] : r->by_difficulty) {
      std::vector<std::string> row;
      if (named) row.push_back(name);
      row.push_back(std::to_string(d));
      row.push_back(std::to_string(b.problems));
      row.push_back(mean_with_ci(b.pass_at_1, b.accuracy_ci95));
      std::snprintf(cell, sizeof cell, "%.1f", b.mean_response_tokens);
      row.push_back(cell);
      if (reflection) {
        std::snprintf(cell, sizeof cell, "%.3f", b.reflection_rate);
        row.push_back(r->reflection_measured ? cell : "off");
      }
      rows.push_back(std::move(row));
    }
  return markdown_table(rows);
}

std::string eval_report_table(const EvalReport& report) {
  const int64_t k_max = report.overall.samples_per_problem;
  const bool reflection = report.overall.reflection_measured;
  std::vector<std::string> header = {"source", "problems"};
  for (const auto& [k, v] : report.overall.pass_at_k) header.push_back("pass@" + std::to_string(k));
  if (k_max > 1) header.push_back("maj@" + std::to_string(k_max));
  for (const char* h : {"format", "language", "tokens", "truncated"}) header.push_back(h);
  if (reflection) header.push_back("reflection");
  std::vector<std::vector<std::string>> rows = {header};
  auto add = [&](const std::string& name, const EvalResult& r) {
    char cell[64];
    std::vector<std::string> row = {name, std::to_string(r.problems)};
    auto number = [&](double v, const char* format = "%.3f") {
      std::snprintf(cell, sizeof cell, format, v);
      row.push_back(cell);
    };
    for (const auto& [k, v] : report.overall.pass_at_k) {
      auto it = r.pass_at_k.find(k);
      const double value = it != r.pass_at_k.end() ? it->second : 0.0;
      if (k == 1) row.push_back(mean_with_ci(value, r.accuracy_ci95));  // pass@1 with its 95% interval
      else number(value);
    }
    if (k_max > 1) number(r.maj_at_k);
    number(r.format_rate);
    number(r.language_consistency);
    number(r.mean_response_tokens, "%.1f");
    number(r.truncation_rate);
    if (reflection) number(r.reflection_rate);
    rows.push_back(std::move(row));
  };
  add("all", report.overall);
  for (const auto& [name, r] : report.by_source) add(name, r);
  std::string out = markdown_table(rows);
  const std::string levels = difficulty_table({{"", &report.overall}});
  if (!levels.empty()) out += "\n" + levels;
  return out;
}

}  // namespace r1::run
