// Where a completion states its final answer: see math_extract.h.
#include "rewards/math_extract.h"

#include <cctype>
#include <sstream>
#include <vector>

#include "core/text.h"
#include "rewards/math_parse.h"

namespace r1::rewards::math {
namespace {

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct Box {
  size_t begin = 0, end = 0;  // the command's backslash; one past its closing brace
  std::string content;
};

// Every top-level \boxed{...} / \fbox{...} in order (a box inside a box is part of its content), and
// whether the last one is cut off (an unbalanced brace: then the completion states no readable box).
struct Boxes {
  std::vector<Box> boxes;
  bool truncated = false;
};

Boxes find_boxes(std::string_view text) {
  Boxes out;
  size_t i = 0;
  for (;;) {
    size_t boxed = text.find("\\boxed", i), fbox = text.find("\\fbox", i);
    size_t at = std::min(boxed, fbox);
    if (at == std::string_view::npos) break;
    size_t k = at + (at == boxed ? 6 : 5);
    while (k < text.size() && text[k] == ' ') ++k;
    if (k >= text.size()) {
      out.truncated = true;
      break;
    }
    if (text[k] != '{') {  // \boxed 5: up to a space or a closing $
      size_t e = k;
      while (e < text.size() && !is_space(text[e]) && text[e] != '$') ++e;
      if (e > k && !is_alpha(text[k])) out.boxes.push_back({at, e, std::string(text.substr(k, e - k))});
      i = std::max(e, k + 1);
      continue;
    }
    int depth = 0;
    size_t close = std::string_view::npos;
    for (size_t m = k; m < text.size() && close == std::string_view::npos; ++m) {
      if (text[m] == '{') ++depth;
      else if (text[m] == '}' && --depth == 0) close = m;
    }
    if (close == std::string_view::npos) {
      out.truncated = true;
      break;
    }
    out.boxes.push_back({at, close + 1, std::string(text.substr(k + 1, close - k - 1))});
    i = close + 1;
  }
  return out;
}

// True when the text between two answers only joins them: spacing, $, commas, "and", "or", and
// with `naming`, "x =" (between boxes: "x = \boxed{2} or x = \boxed{3}").
bool only_connectives(std::string_view between, bool naming) {
  if (between.size() > 60) return false;
  std::string s(between);
  for (const char* joiner : {"\\qquad", "\\quad", "\\textrm{", "\\text{", "\\mbox{", "\\(", "\\)", "\\[", "\\]", "\\\\",
                             "\\,", "\\;", "\\ ", "$", ",", ";", "{", "}"}) {
    replace_all(s, joiner, " ");
  }
  std::istringstream words(s);
  for (std::string w; words >> w;) {
    if (w == "and" || w == "or") continue;
    if (!naming) return false;
    if (w == "=") continue;
    if (w.back() == '=') w.pop_back();
    // a variable the next box is the value of: x, x_1, x_{2} (braces are gone by now)
    bool variable = !w.empty() && is_alpha(w[0]) &&
                    (w.size() == 1 || (w[1] == '_' && w.size() > 2 && w.find_first_not_of("0123456789", 2) == std::string::npos));
    if (!variable) return false;
  }
  return true;
}

std::string join(const std::vector<Box>& boxes, size_t first) {
  std::string out;
  for (size_t k = first; k < boxes.size(); ++k) out += (k > first ? ", " : "") + boxes[k].content;
  return out;
}

// A sentence's candidates: inline formulas and numbers standing on their own, in order.
struct Candidate {
  size_t begin = 0, end = 0;
  std::string text;
};

// A formula's span in a text: the delimiters included, and its inside.
struct Span {
  size_t begin, end, inner_begin, inner_end;
};

// The spans of $...$, $$...$$, \(...\) and \[...\] in `s` (an unclosed one runs to the end).
std::vector<Span> formula_spans(std::string_view s) {
  std::vector<Span> spans;
  for (size_t i = 0; i < s.size(); ++i) {
    std::string_view close;
    if (s.compare(i, 2, "$$") == 0) close = "$$";
    else if (s[i] == '$' && (i == 0 || s[i - 1] != '\\')) close = "$";
    else if (s.compare(i, 2, "\\(") == 0) close = "\\)";
    else if (s.compare(i, 2, "\\[") == 0) close = "\\]";
    else continue;
    size_t inner = i + (close == "$" ? 1 : 2);
    size_t inner_end = std::min(s.find(close, inner), s.size());
    size_t end = std::min(s.size(), inner_end + close.size());
    spans.push_back({i, end, inner, inner_end});
    i = end - 1;
  }
  return spans;
}

// A number written as one: not inside a word ("G20", "mp3", "B52", "x64") unless a unit follows
// it directly ("12cm"); with its sign, thousands groups and decimals.
std::vector<Candidate> numbers_in(std::string_view s, size_t from, size_t to) {
  std::vector<Candidate> out;
  size_t i = from;
  while (i < to) {
    if (!is_digit(s[i]) || (i > 0 && (is_alpha(s[i - 1]) || is_digit(s[i - 1]) || s[i - 1] == '_'))) {
      ++i;
      continue;
    }
    size_t b = i, e = i;
    while (e < to && (is_digit(s[e]) || ((s[e] == ',' || s[e] == '.') && e + 1 < to && is_digit(s[e + 1])))) ++e;
    size_t w = e;
    while (w < to && is_alpha(s[w])) ++w;
    i = w;
    if (w > e && !is_unit_word(std::string(s.substr(e, w - e)))) continue;  // letters glued on: a word
    if (w < to && is_digit(s[w])) continue;                                  // 4x4
    if (b > from && s[b - 1] == '-') --b;
    out.push_back({b, e, std::string(s.substr(b, e - b))});
  }
  return out;
}

std::vector<Candidate> candidates(std::string_view s) {
  std::vector<Candidate> out;
  size_t plain = 0;
  for (const Span& f : formula_spans(s)) {
    auto numbers = numbers_in(s, plain, f.begin);
    out.insert(out.end(), numbers.begin(), numbers.end());
    std::string inner(s.substr(f.inner_begin, f.inner_end - f.inner_begin));
    if (inner.find_first_not_of(" \t\r\n") != std::string::npos) out.push_back({f.begin, f.end, inner});
    plain = f.end;
  }
  auto numbers = numbers_in(s, plain, s.size());
  out.insert(out.end(), numbers.begin(), numbers.end());
  return out;
}

// Sentences: split at a newline, or at . ! ? followed by white space or the end, outside formulas.
std::vector<std::string_view> sentences(std::string_view text) {
  std::vector<std::string_view> out;
  auto spans = formula_spans(text);
  size_t span = 0, start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    while (span < spans.size() && spans[span].end <= i) ++span;
    if (span < spans.size() && spans[span].begin <= i) continue;
    bool end = text[i] == '\n' || ((text[i] == '.' || text[i] == '!' || text[i] == '?') &&
                                   (i + 1 == text.size() || is_space(text[i + 1])));
    if (end) {
      out.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

// The word positions in `s` outside formulas, lower-cased.
struct Word {
  size_t begin, end;
  std::string text;
};
std::vector<Word> words_outside_formulas(std::string_view s) {
  std::vector<Word> out;
  auto spans = formula_spans(s);
  size_t span = 0;
  for (size_t i = 0; i < s.size();) {
    while (span < spans.size() && spans[span].end <= i) ++span;
    if (span < spans.size() && spans[span].begin <= i) {
      i = spans[span].end;
      continue;
    }
    if (is_alpha(s[i]) || s[i] == '=' || s[i] == '\'') {
      size_t e = i;
      if (s[i] == '=') ++e;
      else while (e < s.size() && (is_alpha(s[e]) || s[e] == '\'')) ++e;
      out.push_back({i, e, lower(s.substr(i, e - i))});
      i = e;
    } else {
      ++i;
    }
  }
  return out;
}

bool is_copula(const std::string& w) {
  for (const char* c : {"is", "are", "was", "were", "be", "equals", "equal", "gives", "give", "yields", "makes", "becomes",
                        "=", "it's", "that's"}) {
    if (w == c) return true;
  }
  return false;
}

enum class Found { kAnswer, kNegated, kNone };

// The run of candidates around [first, last] that only connectives join, as one list: "the roots are
// 2 and 3" answers "2, 3", and "it is 5, 6, 7 or 8" is that list, never its first or last value.
std::string joined_run(std::string_view s, const std::vector<Candidate>& all, size_t first, size_t last) {
  auto joined = [&](size_t a, size_t b) { return only_connectives(s.substr(all[a].end, all[b].begin - all[a].end), false); };
  while (first > 0 && joined(first - 1, first)) --first;
  while (last + 1 < all.size() && joined(last, last + 1)) ++last;
  std::string out;
  for (size_t k = first; k <= last; ++k) out += (k > first ? ", " : "") + all[k].text;
  return out;
}

// One sentence's answer: the first candidate after its last verb ("not A but B": B; "not A": none),
// else its last candidate.
Found sentence_answer(std::string_view s, std::string& answer) {
  std::vector<Candidate> all = candidates(s);
  if (all.empty()) return Found::kNone;
  std::vector<Word> words = words_outside_formulas(s);
  size_t verb = std::string_view::npos;
  for (const Word& w : words) {
    if (is_copula(w.text)) verb = w.end;
  }
  if (verb != std::string_view::npos) {
    size_t from = verb;
    // "not" between the verb and the value negates it, unless "but" brings another value.
    for (const Word& w : words) {
      if (w.begin < verb || (w.text != "not" && w.text != "never")) continue;
      size_t but = std::string_view::npos;
      for (const Word& x : words) {
        if (x.begin > w.begin && x.text == "but") but = x.end;
      }
      bool value_between = false;
      for (const Candidate& c : all) value_between = value_between || (c.begin >= verb && c.end <= w.begin);
      if (value_between) break;  // "it is 12, not 13"
      if (but == std::string_view::npos) return Found::kNegated;
      from = but;
      break;
    }
    for (size_t k = 0; k < all.size(); ++k) {
      if (all[k].begin >= from) {
        answer = joined_run(s, all, k, k);
        return Found::kAnswer;
      }
    }
  }
  answer = joined_run(s, all, all.size() - 1, all.size() - 1);
  return Found::kAnswer;
}

}  // namespace

std::optional<std::string> boxed_answer(std::string_view text) {
  Boxes found = find_boxes(text);
  if (found.truncated || found.boxes.empty()) return std::nullopt;
  const auto& b = found.boxes;
  size_t first = b.size() - 1;
  while (first > 0 && only_connectives(text.substr(b[first - 1].end, b[first].begin - b[first - 1].end), true)) --first;
  return join(b, first);
}

std::optional<std::string> all_boxes(std::string_view text) {
  Boxes found = find_boxes(text);
  if (found.truncated || found.boxes.empty()) return std::nullopt;
  return join(found.boxes, 0);
}

bool ends_inside_box(std::string_view text) { return find_boxes(text).truncated; }

std::optional<std::string> answer_tag(std::string_view text, const std::string& tag) {
  std::string open = "<" + tag + ">", close = "</" + tag + ">";
  size_t b = text.rfind(open);
  if (b == std::string_view::npos) return std::nullopt;
  size_t e = text.find(close, b + open.size());
  if (e == std::string_view::npos) return std::nullopt;
  std::string_view inner = text.substr(b + open.size(), e - b - open.size());
  if (auto boxed = boxed_answer(inner)) return boxed;
  return std::string(inner);
}

std::optional<std::string> answer_is(std::string_view text) {
  std::string low = lower(text);
  size_t at = std::string::npos, len = 0;
  for (std::string_view phrase : {"the final answer is", "the answer is", "final answer:", "answer:", "####"}) {
    size_t p = low.rfind(phrase);
    if (p != std::string::npos && (at == std::string::npos || p > at)) at = p, len = phrase.size();
  }
  if (at == std::string::npos) return std::nullopt;
  std::string_view rest = text.substr(at + len);
  // Up to the end of the sentence: a newline, or a full stop followed by a space or the end.
  size_t end = rest.size();
  for (size_t k = 0; k < rest.size() && end == rest.size(); ++k) {
    if (rest[k] == '\n') end = k;
    else if (rest[k] == '.' && (k + 1 == rest.size() || is_space(rest[k + 1]))) end = k;
  }
  std::string out(rest.substr(0, end));
  if (auto boxed = boxed_answer(out)) return boxed;
  // "the answer is not 12 but 13"
  std::string low_out = lower(out);
  size_t not_at = low_out.find("not ");
  size_t but_at = low_out.find(" but ", not_at == std::string::npos ? 0 : not_at);
  if (not_at != std::string::npos && low_out.find_first_not_of(' ') == not_at && but_at != std::string::npos) {
    return out.substr(but_at + 5);
  }
  return out;
}

std::optional<std::string> final_statement(std::string_view text) {
  std::vector<std::string_view> all = sentences(text);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    std::string answer;
    switch (sentence_answer(*it, answer)) {
      case Found::kAnswer: return answer;
      case Found::kNegated: return std::nullopt;
      case Found::kNone: break;
    }
  }
  return std::nullopt;
}

}  // namespace r1::rewards::math
