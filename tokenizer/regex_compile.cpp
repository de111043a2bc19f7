// The tokenizer regex compiler: recursive descent over the UTF-8 pattern into an AST, then into a
// program of instructions (regex_program.h) for the matcher in regex.cpp. Alternation and
// quantifiers emit their preferred branch first, so matching gives the leftmost-first match
// Oniguruma, PCRE or JavaScript return.
#include <algorithm>
#include <memory>

#include "core/error.h"
#include "tokenizer/regex_program.h"

namespace r1::regex {
namespace {

// AST.
struct Node {
  enum Kind { kClass, kConcat, kAlternate, kRepeat, kLookahead, kBegin, kEnd, kEmpty } kind;
  int cls = -1;                              // kClass
  std::vector<std::unique_ptr<Node>> kids;   // kConcat, kAlternate, kRepeat (1), kLookahead (1)
  int min = 0, max = -1;                     // kRepeat; max -1 = unbounded
  bool greedy = true;                        // kRepeat
  bool negate = false;                       // kLookahead
};

class Parser {
 public:
  Parser(std::string_view pattern, Regex::Program& program) : p_(pattern), program_(program) {
    std::vector<uint32_t> offsets;
    if (auto bad = unicode::decode(pattern, cps_, offsets)) fail("invalid UTF-8 in pattern");
  }

  std::unique_ptr<Node> parse() {
    auto node = alternation();
    if (i_ < cps_.size()) fail(cps_[i_] == ')' ? "unbalanced ')'" : "unexpected character");
    return node;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("tokenizer regex /" + std::string(p_) + "/: " + what + " at character " + std::to_string(i_));
  }
  bool at_end() const { return i_ >= cps_.size(); }
  char32_t peek(size_t ahead = 0) const { return i_ + ahead < cps_.size() ? cps_[i_ + ahead] : 0; }
  bool eat(char32_t c) {
    if (!at_end() && cps_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  std::unique_ptr<Node> make(Node::Kind kind) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    return n;
  }
  std::unique_ptr<Node> class_node(CharClass cls) {
    program_.classes.push_back(std::move(cls));
    auto n = make(Node::kClass);
    n->cls = static_cast<int>(program_.classes.size() - 1);
    return n;
  }
  CharClass literal_class(char32_t c) {
    CharClass cls;
    if (fold_) {
      cls.items.push_back({ClassItem::kFold, unicode::fold_case(c), 0, 0, false});
    } else {
      cls.items.push_back({ClassItem::kRange, c, c, 0, false});
    }
    return cls;
  }

  std::unique_ptr<Node> alternation() {
    auto first = concatenation();
    if (peek() != '|') return first;
    auto alt = make(Node::kAlternate);
    alt->kids.push_back(std::move(first));
    while (eat('|')) alt->kids.push_back(concatenation());
    return alt;
  }

  std::unique_ptr<Node> concatenation() {
    auto cat = make(Node::kConcat);
    while (!at_end() && peek() != '|' && peek() != ')') cat->kids.push_back(quantified());
    if (cat->kids.empty()) return make(Node::kEmpty);
    if (cat->kids.size() == 1) return std::move(cat->kids[0]);
    return cat;
  }

  std::unique_ptr<Node> quantified() {
    auto atom_node = atom();
    for (;;) {
      int min, max;
      if (eat('?')) {
        min = 0, max = 1;
      } else if (eat('*')) {
        min = 0, max = -1;
      } else if (eat('+')) {
        min = 1, max = -1;
      } else if (peek() == '{' && is_counted()) {
        ++i_;
        min = number();
        max = min;
        if (eat(',')) max = peek() == '}' ? -1 : number();
        if (!eat('}')) fail("expected '}'");
        if (max != -1 && max < min) fail("quantifier {m,n} with n < m");
      } else {
        return atom_node;
      }
      bool greedy = true;
      if (eat('?')) greedy = false;
      else if (peek() == '+') fail("possessive quantifiers are not supported");
      if (atom_node->kind == Node::kBegin || atom_node->kind == Node::kEnd || atom_node->kind == Node::kLookahead) {
        fail("quantifier on an assertion");
      }
      auto rep = make(Node::kRepeat);
      rep->min = min;
      rep->max = max;
      rep->greedy = greedy;
      rep->kids.push_back(std::move(atom_node));
      atom_node = std::move(rep);
    }
  }
  bool is_counted() const {
    size_t j = i_ + 1;
    bool digits = false;
    while (j < cps_.size() && cps_[j] >= '0' && cps_[j] <= '9') ++j, digits = true;
    if (!digits) return false;
    if (j < cps_.size() && cps_[j] == ',') {
      ++j;
      while (j < cps_.size() && cps_[j] >= '0' && cps_[j] <= '9') ++j;
    }
    return j < cps_.size() && cps_[j] == '}';
  }
  int number() {
    int v = 0;
    bool any = false;
    while (!at_end() && peek() >= '0' && peek() <= '9') {
      v = v * 10 + static_cast<int>(cps_[i_++] - '0');
      any = true;
      if (v > 100000) fail("repetition count too large");
    }
    if (!any) fail("expected a number");
    return v;
  }

  std::unique_ptr<Node> atom() {
    char32_t c = cps_[i_++];
    switch (c) {
      case '(': return group();
      case '[': return class_node(bracket());
      case '.': {
        CharClass cls;
        cls.negate = true;
        cls.items.push_back({ClassItem::kRange, '\n', '\n', 0, false});
        return class_node(std::move(cls));
      }
      case '^': return make(Node::kBegin);
      case '$': return make(Node::kEnd);
      case '\\': {
        CharClass cls;
        if (!escape(cls.items, false)) fail("unsupported escape");
        return class_node(std::move(cls));
      }
      case '*':
      case '+':
      case '?': --i_; fail("nothing to repeat");
      default: return class_node(literal_class(c));
    }
  }

  std::unique_ptr<Node> group() {
    bool saved_fold = fold_;
    std::unique_ptr<Node> result;
    if (eat('?')) {
      if (eat(':')) {
        result = alternation();
      } else if (eat('=') || peek() == '!') {
        bool negate = eat('!');
        auto look = make(Node::kLookahead);
        look->negate = negate;
        look->kids.push_back(alternation());
        result = std::move(look);
      } else if (peek() == 'i' && peek(1) == ':') {
        i_ += 2;
        fold_ = true;
        result = alternation();
      } else if (peek() == '<' && (peek(1) == '=' || peek(1) == '!')) {
        fail("lookbehind is not supported");
      } else {
        fail("unsupported group syntax '(?" + std::string(1, static_cast<char>(peek())) + "'");
      }
    } else {
      result = alternation();  // capturing groups: nothing is captured, they only group
    }
    fold_ = saved_fold;
    if (!eat(')')) fail("missing ')'");
    return result;
  }

  CharClass bracket() {
    CharClass cls;
    if (eat('^')) cls.negate = true;
    bool first = true;
    for (;;) {
      if (at_end()) fail("missing ']'");
      char32_t c = peek();
      if (c == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      if (c == '[') fail("nested classes or POSIX classes are not supported");
      char32_t lo;
      ++i_;
      if (c == '\\') {
        size_t before = cls.items.size();
        if (escape(cls.items, true)) {
          if (cls.items.size() > before) continue;  // \s, \p{..}: not a range endpoint
        }
        lo = last_literal_;
      } else {
        lo = c;
      }
      // A range lo-hi (a '-' right before ']' is a literal).
      if (peek() == '-' && peek(1) != ']' && i_ + 1 < cps_.size()) {
        i_ += 1;
        char32_t hi;
        char32_t d = cps_[i_++];
        if (d == '\\') {
          std::vector<ClassItem> tmp;
          if (!escape(tmp, true) || !tmp.empty()) fail("bad range end in class");
          hi = last_literal_;
        } else {
          hi = d;
        }
        if (hi < lo) fail("class range out of order");
        if (fold_) fail("ranges in case-insensitive groups are not supported");
        cls.items.push_back({ClassItem::kRange, lo, hi, 0, false});
      } else {
        auto lit = literal_class(lo);
        cls.items.push_back(lit.items[0]);
      }
    }
    return cls;
  }

  // Parses the escape after a backslash. Adds class items for \s \d \w \p{..} (returns true), or
  // sets last_literal_ for a literal escape (returns true, adds nothing when in_class; outside a
  // class the literal is added too). Returns false for an unknown escape.
  bool escape(std::vector<ClassItem>& items, bool in_class) {
    if (at_end()) fail("pattern ends with a backslash");
    char32_t c = cps_[i_++];
    auto literal = [&](char32_t v) {
      last_literal_ = v;
      if (!in_class) {
        auto lit = literal_class(v);
        items.push_back(lit.items[0]);
      }
      return true;
    };
    switch (c) {
      case 's': items.push_back({ClassItem::kWhiteSpace, 0, 0, 0, false}); return true;
      case 'S': items.push_back({ClassItem::kWhiteSpace, 0, 0, 0, true}); return true;
      case 'd': items.push_back({ClassItem::kCategory, 0, 0, unicode::kDecimalMask, false}); return true;
      case 'D': items.push_back({ClassItem::kCategory, 0, 0, unicode::kDecimalMask, true}); return true;
      case 'w': items.push_back({ClassItem::kWord, 0, 0, 0, false}); return true;
      case 'W': items.push_back({ClassItem::kWord, 0, 0, 0, true}); return true;
      case 'p':
      case 'P': {
        std::string name;
        if (eat('{')) {
          bool neg = eat('^');
          while (!at_end() && peek() != '}') name.push_back(static_cast<char>(cps_[i_++]));
          if (!eat('}')) fail("missing '}' after \\p{");
          if (neg) c = c == 'p' ? 'P' : 'p';
        } else {
          if (at_end()) fail("\\p needs a category");
          name.push_back(static_cast<char>(cps_[i_++]));
        }
        uint32_t mask = unicode::category_mask(name);
        if (mask == 0) fail("unsupported Unicode property \\p{" + name + "}");
        items.push_back({ClassItem::kCategory, 0, 0, mask, c == 'P'});
        return true;
      }
      case 'n': return literal('\n');
      case 'r': return literal('\r');
      case 't': return literal('\t');
      case 'f': return literal('\f');
      case 'v': return literal('\v');
      case 'a': return literal('\a');
      case 'e': return literal(0x1B);
      case '0': return literal(0);
      case 'x': {
        if (eat('{')) {
          char32_t v = hex(8, '}');
          if (!eat('}')) fail("missing '}' after \\x{");
          return literal(v);
        }
        return literal(hex(2, 0, 2));
      }
      case 'u': return literal(hex(4, 0, 4));
      case 'b':
      case 'B':
      case 'A':
      case 'z':
      case 'Z':
      case 'G':
      case 'k':
      case 'K':
      case 'X':
      case 'R':
      case 'h':
      case 'H':
        --i_;
        fail(std::string("unsupported escape \\") + static_cast<char>(c));
      default:
        if (c >= '1' && c <= '9') {
          --i_;
          fail("backreferences are not supported");
        }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
          --i_;
          fail(std::string("unknown escape \\") + static_cast<char>(c));
        }
        return literal(c);  // escaped punctuation, e.g. \- \. \\ \[ \' \#
    }
  }
  char32_t hex(int max_digits, char32_t stop, int exact = 0) {
    char32_t v = 0;
    int n = 0;
    while (n < max_digits && !at_end() && peek() != stop) {
      char32_t c = peek();
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) break;
      v = v * 16 + static_cast<char32_t>(d);
      ++i_;
      ++n;
    }
    if (n == 0 || (exact && n != exact) || v > 0x10FFFF) fail("bad hexadecimal escape");
    return v;
  }

  std::string_view p_;
  Regex::Program& program_;
  std::vector<char32_t> cps_;
  size_t i_ = 0;
  bool fold_ = false;
  char32_t last_literal_ = 0;
};

bool nullable(const Node& n) {
  switch (n.kind) {
    case Node::kClass: return false;
    case Node::kConcat:
      return std::all_of(n.kids.begin(), n.kids.end(), [](const auto& k) { return nullable(*k); });
    case Node::kAlternate:
      return std::any_of(n.kids.begin(), n.kids.end(), [](const auto& k) { return nullable(*k); });
    case Node::kRepeat: return n.min == 0 || nullable(*n.kids[0]);
    default: return true;
  }
}

class Compiler {
 public:
  explicit Compiler(Regex::Program& program) : code_(program.code) {}

  void emit_program(const Node& root) {
    emit(root);
    code_.push_back({Op::kMatch});
    // Lookahead bodies are compiled after the main program, each ending in its own kMatch.
    while (!pending_.empty()) {
      auto [inst, node] = pending_.back();
      pending_.pop_back();
      code_[inst].x = static_cast<int>(code_.size());
      emit(*node);
      code_.push_back({Op::kMatch});
    }
  }

 private:
  int here() const { return static_cast<int>(code_.size()); }
  void emit(const Node& n) {
    switch (n.kind) {
      case Node::kEmpty: break;
      case Node::kClass: {
        Inst in{Op::kClass};
        in.cls = n.cls;
        code_.push_back(in);
        break;
      }
      case Node::kBegin: code_.push_back({Op::kBegin}); break;
      case Node::kEnd: code_.push_back({Op::kEnd}); break;
      case Node::kConcat:
        for (const auto& k : n.kids) emit(*k);
        break;
      case Node::kAlternate: {
        // split L1, next; L1: a; jmp end; next: split L2, next2; ...
        std::vector<int> jumps;
        for (size_t k = 0; k < n.kids.size(); ++k) {
          if (k + 1 < n.kids.size()) {
            int split = here();
            code_.push_back({Op::kSplit});
            code_[split].x = here();
            emit(*n.kids[k]);
            jumps.push_back(here());
            code_.push_back({Op::kJmp});
            code_[split].y = here();
          } else {
            emit(*n.kids[k]);
          }
        }
        for (int j : jumps) code_[j].x = here();
        break;
      }
      case Node::kLookahead: {
        Inst in{Op::kLookahead};
        in.negate = n.negate;
        pending_.push_back({here(), n.kids[0].get()});
        code_.push_back(in);
        break;
      }
      case Node::kRepeat: emit_repeat(n); break;
    }
  }

  void emit_repeat(const Node& n) {
    const Node& body = *n.kids[0];
    if (body.kind == Node::kClass) {
      Inst in{Op::kRepeat};
      in.cls = body.cls;
      in.min = static_cast<uint32_t>(n.min);
      in.max = n.max < 0 ? UINT32_MAX : static_cast<uint32_t>(n.max);
      in.greedy = n.greedy;
      code_.push_back(in);
      return;
    }
    if (n.max < 0 && nullable(body)) {
      throw Error("tokenizer regex: a repeated sub-pattern that can match the empty string is not supported");
    }
    for (int k = 0; k < n.min; ++k) emit(body);
    if (n.max < 0) {
      // L: split body, out (greedy) ; body ; jmp L
      int loop = here();
      code_.push_back({Op::kSplit});
      int body_start = here();
      emit(body);
      Inst jmp{Op::kJmp};
      jmp.x = loop;
      code_.push_back(jmp);
      set_split(loop, body_start, here(), n.greedy);
      return;
    }
    // Optional copies, nested so that each later copy is tried only after the previous one matched.
    std::vector<int> splits;
    for (int k = n.min; k < n.max; ++k) {
      int split = here();
      code_.push_back({Op::kSplit});
      splits.push_back(split);
      code_[split].x = here();  // body start, fixed below
      emit(body);
    }
    for (int split : splits) set_split(split, split + 1, here(), n.greedy);
  }
  void set_split(int at, int body, int out, bool greedy) {
    code_[at].x = greedy ? body : out;
    code_[at].y = greedy ? out : body;
  }

  std::vector<Inst>& code_;
  std::vector<std::pair<int, const Node*>> pending_;
};

}  // namespace

void compile(std::string_view pattern, Regex::Program& program) {
  Parser parser(pattern, program);
  auto root = parser.parse();
  Compiler(program).emit_program(*root);
  for (auto& cls : program.classes) cls.precompute();
}

}  // namespace r1::regex
