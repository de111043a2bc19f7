#include "tokenizer/jinja_lex.h"

#include <cctype>
#include <string_view>

#include "tokenizer/jinja_value.h"
#include "tokenizer/unicode.h"

namespace r1::jinja {
namespace {

// Python's \s at `at` (Unicode White_Space as str.isspace sees it); 0 when not whitespace, else its
// length in bytes.
size_t space_at(std::string_view s, size_t at) {
  const unsigned char c = static_cast<unsigned char>(s[at]);
  if (c < 0x80) return python_isspace(c) ? 1 : 0;
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  size_t n = 1;
  while (at + n < s.size() && n < 4 && (static_cast<unsigned char>(s[at + n]) & 0xc0) == 0x80) ++n;
  if (unicode::decode(s.substr(at, n), cps, offsets) || cps.size() != 1) return 0;
  return python_isspace(cps[0]) ? n : 0;
}

size_t skip_space(std::string_view s, size_t at) {
  for (size_t n; at < s.size() && (n = space_at(s, at)) != 0;) at += n;
  return at;
}

// str.rstrip() with no arguments.
std::string_view rstrip_space(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) --start;
    if (space_at(s, start) != end - start) break;
    end = start;
  }
  return s.substr(0, end);
}

bool all_space(std::string_view s) {
  if (s.empty()) return false;
  return skip_space(s, 0) == s.size();
}

void append_code_point(std::string& out, uint32_t cp, int line) {
  if (cp > 0x10ffff) throw TemplateError("escape beyond U+10FFFF in a string", line);
  unicode::append(out, static_cast<char32_t>(cp));
}

// A string literal's body decoded as Python's unicode-escape codec decodes it (what Jinja does).
std::string decode_string(std::string_view body, int line) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 == body.size()) {
      out += body[i];
      continue;
    }
    const char e = body[++i];
    auto hex = [&](size_t digits) {
      uint32_t cp = 0;
      for (size_t k = 1; k <= digits; ++k) {
        if (i + k >= body.size() || !std::isxdigit(static_cast<unsigned char>(body[i + k]))) {
          throw TemplateError("truncated \\" + std::string(1, e) + " escape", line);
        }
        const char h = body[i + k];
        cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (h | 0x20) - 'a' + 10);
      }
      i += digits;
      append_code_point(out, cp, line);
    };
    switch (e) {
      case '\n': break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x': hex(2); break;
      case 'u': hex(4); break;
      case 'U': hex(8); break;
      default:
        if (e >= '0' && e <= '7') {
          uint32_t cp = static_cast<uint32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k) {
            cp = cp * 8 + static_cast<uint32_t>(body[++i] - '0');
          }
          append_code_point(out, cp, line);
        } else {
          out += '\\';  // unknown escapes stay as written
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : s_(std::move(source)) {}

  std::vector<Token> run() {
    bool line_starting = true;
    size_t pos = 0;
    while (pos < s_.size()) {
      const size_t tag = find_tag(pos);
      if (tag == std::string::npos) {
        emit_data(std::string_view(s_).substr(pos));
        break;
      }
      const char kind = s_[tag + 1];  // '{', '%' or '#'
      const char mod = tag + 2 < s_.size() && (s_[tag + 2] == '-' || s_[tag + 2] == '+') ? s_[tag + 2] : 0;
      std::string_view text = std::string_view(s_).substr(pos, tag - pos);
      if (mod == '-') {
        text = rstrip_space(text);
      } else if (mod != '+' && kind != '{') {
        const size_t l_pos = text.rfind('\n') + 1;  // npos + 1 == 0
        if ((l_pos > 0 || line_starting) && all_space(text.substr(l_pos))) text = text.substr(0, l_pos);
      }
      emit_data(text);
      line_ += count_lines(pos, tag);
      pos = tag + 2 + (mod ? 1 : 0);
      if (kind == '#') {
        pos = comment(pos);
      } else if (kind == '%' && is_raw(pos)) {
        pos = raw(pos);
      } else {
        pos = tag_tokens(pos, kind == '%');
      }
      line_starting = pos > 0 && s_[pos - 1] == '\n';
    }
    tokens_.push_back({Token::Type::kEnd, "", line_});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t at = s_.find('{', from); at != std::string::npos; at = s_.find('{', at + 1)) {
      if (at + 1 < s_.size() && (s_[at + 1] == '{' || s_[at + 1] == '%' || s_[at + 1] == '#')) return at;
    }
    return std::string::npos;
  }

  int count_lines(size_t from, size_t to) const {
    int n = 0;
    for (size_t i = from; i < to && i < s_.size(); ++i) n += s_[i] == '\n';
    return n;
  }

  void emit_data(std::string_view text) {
    if (!text.empty()) tokens_.push_back({Token::Type::kData, std::string(text), line_});
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw TemplateError(what, line_);
  }

  // After a block's `%}` or a comment's `#}`: `-` strips all whitespace, `+` keeps it, otherwise
  // trim_blocks drops one newline.
  size_t after_block_end(size_t end, char mod) const {
    if (mod == '-') return skip_space(s_, end);
    if (mod != '+' && end < s_.size() && s_[end] == '\n') return end + 1;
    return end;
  }

  size_t comment(size_t pos) {
    const size_t close = s_.find("#}", pos);
    if (close == std::string::npos) fail("missing end of comment tag");
    const char mod = close > pos && (s_[close - 1] == '-' || s_[close - 1] == '+') ? s_[close - 1] : 0;
    line_ += count_lines(pos, close + 2);
    const size_t next = after_block_end(close + 2, mod);
    line_ += count_lines(close + 2, next);
    return next;
  }

  // `{% raw %}` (the tag name alone, then its end).
  bool is_raw(size_t pos) const {
    size_t at = skip_space(s_, pos);
    if (s_.compare(at, 3, "raw") != 0) return false;
    at = skip_space(s_, at + 3);
    if (at < s_.size() && s_[at] == '-') ++at;
    return s_.compare(at, 2, "%}") == 0;
  }

  size_t raw(size_t pos) {
    size_t at = skip_space(s_, pos) + 3;
    at = skip_space(s_, at);
    const bool strip_after = s_[at] == '-';
    at += strip_after ? 3 : 2;
    if (strip_after) at = skip_space(s_, at);
    // The body runs to `{%[-+]? endraw [-+]?%}`.
    for (size_t tag = s_.find("{%", at); tag != std::string::npos; tag = s_.find("{%", tag + 2)) {
      size_t k = tag + 2;
      const char mod = k < s_.size() && (s_[k] == '-' || s_[k] == '+') ? s_[k] : 0;
      if (mod) ++k;
      k = skip_space(s_, k);
      if (s_.compare(k, 6, "endraw") != 0) continue;
      k = skip_space(s_, k + 6);
      const char end_mod = k < s_.size() && (s_[k] == '-' || s_[k] == '+') ? s_[k] : 0;
      if (end_mod) ++k;
      if (s_.compare(k, 2, "%}") != 0) continue;
      std::string_view body = std::string_view(s_).substr(at, tag - at);
      if (mod == '-') {
        body = rstrip_space(body);
      } else if (mod != '+') {
        const size_t l_pos = body.rfind('\n') + 1;
        if (l_pos > 0 && all_space(body.substr(l_pos))) body = body.substr(0, l_pos);
      }
      emit_data(body);
      line_ += count_lines(pos, k + 2);
      const size_t next = after_block_end(k + 2, end_mod);
      line_ += count_lines(k + 2, next);
      return next;
    }
    fail("missing endraw (raw block never closed)");
  }

  // The tokens of a `{{ ... }}` or `{% ... %}` up to its end; returns the position after it.
  size_t tag_tokens(size_t pos, bool block) {
    tokens_.push_back({block ? Token::Type::kBlockBegin : Token::Type::kVarBegin, "", line_});
    const char closer = block ? '%' : '}';
    while (true) {
      for (size_t n; pos < s_.size() && (n = space_at(s_, pos)) != 0; pos += n) line_ += s_[pos] == '\n';
      if (pos >= s_.size()) fail(block ? "unexpected end of template inside a {% %} tag" : "unexpected end of template inside {{ }}");
      const char c = s_[pos];
      // An end of tag, with its whitespace control.
      const char mod = (c == '-' || c == '+') ? c : 0;
      const size_t at = pos + (mod ? 1 : 0);
      if (at + 1 < s_.size() && s_[at] == closer && s_[at + 1] == '}' && (mod != '+' || block)) {
        tokens_.push_back({block ? Token::Type::kBlockEnd : Token::Type::kVarEnd, "", line_});
        size_t next = at + 2;
        if (block) next = after_block_end(next, mod);
        else if (mod == '-') next = skip_space(s_, next);
        line_ += count_lines(at + 2, next);
        return next;
      }
      pos = token(pos);
    }
  }

  size_t token(size_t pos) {
    const char c = s_[pos];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = pos + 1;
      while (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) ++end;
      tokens_.push_back({Token::Type::kName, s_.substr(pos, end - pos), line_});
      return end;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) return number(pos);
    if (c == '\'' || c == '"') {
      size_t end = pos + 1;
      while (end < s_.size() && s_[end] != c) end += s_[end] == '\\' ? 2 : 1;
      if (end >= s_.size()) fail("unterminated string");
      const int line = line_;
      line_ += count_lines(pos, end);
      tokens_.push_back({Token::Type::kString, decode_string(std::string_view(s_).substr(pos + 1, end - pos - 1), line), line});
      return end + 1;
    }
    static const char* const kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
    for (const char* op : kTwo) {
      if (s_.compare(pos, 2, op) == 0) {
        tokens_.push_back({Token::Type::kOperator, op, line_});
        return pos + 2;
      }
    }
    if (std::string_view("+-*/%~<>=.,:|()[]{};").find(c) != std::string_view::npos) {
      tokens_.push_back({Token::Type::kOperator, std::string(1, c), line_});
      return pos + 1;
    }
    fail(std::string("unexpected character '") + c + "'");
  }

  // Integers and floats as Jinja reads them: digits with `_` separators, a fraction, an exponent.
  size_t number(size_t pos) {
    auto digits = [&](size_t at) {
      const size_t start = at;
      while (at < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[at])) ||
                                (s_[at] == '_' && at > start && at + 1 < s_.size() &&
                                 std::isdigit(static_cast<unsigned char>(s_[at + 1]))))) {
        ++at;
      }
      return at;
    };
    size_t end = digits(pos);
    bool is_float = false;
    if (end + 1 < s_.size() && s_[end] == '.' && std::isdigit(static_cast<unsigned char>(s_[end + 1]))) {
      end = digits(end + 1);
      is_float = true;
    }
    if (end < s_.size() && (s_[end] == 'e' || s_[end] == 'E')) {
      size_t k = end + 1;
      if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
      if (k < s_.size() && std::isdigit(static_cast<unsigned char>(s_[k]))) {
        end = digits(k);
        is_float = true;
      }
    }
    std::string text;
    for (size_t i = pos; i < end; ++i) {
      if (s_[i] != '_') text += s_[i];
    }
    tokens_.push_back({is_float ? Token::Type::kFloat : Token::Type::kInt, text, line_});
    return end;
  }

  std::string s_;
  std::vector<Token> tokens_;
  int line_ = 1;
};

// Jinja's newline handling: \r\n and \r become \n, and one trailing newline is dropped
// (keep_trailing_newline is off).
std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

std::vector<Token> lex(const std::string& source) { return Lexer(normalize_newlines(source)).run(); }

}  // namespace r1::jinja
