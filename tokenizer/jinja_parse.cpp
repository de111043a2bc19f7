// Jinja's grammar, with its precedence (jinja2/parser.py): conditional < or < and < not < comparison
// < + - < ~ < * / // % < ** < unary - + < postfix (. [] ()), filters and `is` tests. A filter or a
// test binds to the unary operand before it: `a + b | trim` trims b, `not x is none` negates the test.
#include <charconv>
#include <set>

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_lex.h"

namespace r1::jinja {
namespace {

using T = Token::Type;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Body parse() {
    std::string end;
    Body body = parse_body({}, &end);
    if (!end.empty()) fail("unexpected '" + end + "'");
    return body;
  }

 private:
  const Token& peek(size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  const Token& next() { return t_[std::min(i_++, t_.size() - 1)]; }
  bool at_op(std::string_view op) const { return peek().type == T::kOperator && peek().text == op; }
  bool at_name(std::string_view name) const { return peek().type == T::kName && peek().text == name; }
  bool skip_op(std::string_view op) {
    if (!at_op(op)) return false;
    ++i_;
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!at_name(name)) return false;
    ++i_;
    return true;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw TemplateError(what, peek().line);
  }
  std::string describe(const Token& t) const {
    switch (t.type) {
      case T::kEnd: return "end of template";
      case T::kBlockEnd: return "end of statement block";
      case T::kVarEnd: return "end of print statement";
      case T::kData: return "template data";
      default: return "'" + t.text + "'";
    }
  }
  void expect_op(std::string_view op) {
    if (!skip_op(op)) fail("expected '" + std::string(op) + "', got " + describe(peek()));
  }
  std::string expect_name() {
    if (peek().type != T::kName) fail("expected a name, got " + describe(peek()));
    return next().text;
  }
  void expect_block_end() {
    if (peek().type != T::kBlockEnd) fail("expected end of statement block, got " + describe(peek()));
    ++i_;
  }

  static ExprPtr make(Expr::Kind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  // ---- statements ----

  // Statements up to a block tag named in `ends` (consumed up to its name; *end says which) or the
  // end of the template.
  Body parse_body(const std::set<std::string>& ends, std::string* end) {
    Body body;
    while (true) {
      const Token& tok = peek();
      if (tok.type == T::kEnd) {
        if (!ends.empty()) fail("unexpected end of template; expected one of: " + join(ends));
        return body;
      }
      if (tok.type == T::kData) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kText;
        n->line = tok.line;
        n->text = tok.text;
        body.push_back(std::move(n));
        ++i_;
      } else if (tok.type == T::kVarBegin) {
        ++i_;
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kOutput;
        n->line = tok.line;
        n->expr = parse_tuple();
        if (peek().type != T::kVarEnd) fail("expected end of print statement, got " + describe(peek()));
        ++i_;
        body.push_back(std::move(n));
      } else if (tok.type == T::kBlockBegin) {
        ++i_;
        if (peek().type != T::kName) fail("expected a statement name, got " + describe(peek()));
        const std::string name = peek().text;
        if (ends.count(name)) {
          ++i_;
          *end = name;
          return body;
        }
        body.push_back(parse_statement());
      } else {
        fail("unexpected " + describe(tok));
      }
    }
  }

  static std::string join(const std::set<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
    return out;
  }

  std::unique_ptr<Node> parse_statement() {
    Nest nest(*this);
    const Token& tok = next();
    auto n = std::make_unique<Node>();
    n->line = tok.line;
    const std::string& name = tok.text;
    std::string end;
    if (name == "if") {
      n->kind = Node::Kind::kIf;
      ExprPtr cond = parse_tuple();
      expect_block_end();
      while (true) {
        Body body = parse_body({"elif", "else", "endif"}, &end);
        n->branches.emplace_back(std::move(cond), std::move(body));
        if (end == "elif") {
          cond = parse_tuple();
          expect_block_end();
          continue;
        }
        if (end == "else") {
          expect_block_end();
          n->else_body = parse_body({"endif"}, &end);
        }
        break;
      }
    } else if (name == "for") {
      n->kind = Node::Kind::kFor;
      n->target = parse_target(/*allow_attribute=*/false);
      if (!skip_name("in")) fail("expected 'in' in a for loop, got " + describe(peek()));
      n->expr = parse_tuple(/*with_condexpr=*/false);
      if (skip_name("if")) n->condition = parse_expression();
      if (at_name("recursive")) fail("recursive for loops are not supported");
      expect_block_end();
      n->body = parse_body({"else", "endfor"}, &end);
      if (end == "else") {
        expect_block_end();
        n->else_body = parse_body({"endfor"}, &end);
      }
    } else if (name == "set") {
      n->target = parse_target(/*allow_attribute=*/true);
      if (skip_op("=")) {
        n->kind = Node::Kind::kSet;
        n->expr = parse_tuple();
      } else {
        n->kind = Node::Kind::kSetBlock;
        if (!n->target.attribute.empty() || n->target.names.size() != 1) fail("a set block assigns one name");
        n->filters = parse_filter_chain();
        expect_block_end();
        n->body = parse_body({"endset"}, &end);
      }
    } else if (name == "macro") {
      n->kind = Node::Kind::kMacro;
      n->text = expect_name();
      expect_op("(");
      while (!skip_op(")")) {
        if (!n->params.empty()) expect_op(",");
        if (skip_op(")")) break;
        std::string param = expect_name();
        ExprPtr dflt;
        if (skip_op("=")) dflt = parse_expression();
        else if (!n->params.empty() && n->params.back().second) fail("non-default argument follows default argument");
        n->params.emplace_back(std::move(param), std::move(dflt));
      }
      expect_block_end();
      n->body = parse_body({"endmacro"}, &end);
    } else if (name == "filter") {
      n->kind = Node::Kind::kFilterBlock;
      n->filters = parse_filter_chain(/*leading_pipe=*/false);
      expect_block_end();
      n->body = parse_body({"endfilter"}, &end);
    } else if (name == "with") {
      n->kind = Node::Kind::kWith;
      while (peek().type != T::kBlockEnd) {
        if (!n->params.empty()) expect_op(",");
        std::string var = expect_name();
        expect_op("=");
        n->params.emplace_back(std::move(var), parse_expression());
      }
      expect_block_end();
      n->body = parse_body({"endwith"}, &end);
    } else if (name == "generation") {
      n->kind = Node::Kind::kGeneration;
      expect_block_end();
      n->body = parse_body({"endgeneration"}, &end);
    } else if (name == "break" || name == "continue") {
      n->kind = name == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
    } else if (name == "call" || name == "include" || name == "import" || name == "from" || name == "extends" ||
               name == "block" || name == "do") {
      --i_;
      fail("the '" + name + "' tag is not supported in chat templates");
    } else {
      --i_;
      fail("unknown tag '" + name + "'");
    }
    expect_block_end();
    return n;
  }

  Target parse_target(bool allow_attribute) {
    Target target;
    const bool parens = skip_op("(");
    target.names.push_back(expect_name());
    if (allow_attribute && skip_op(".")) {
      target.attribute = expect_name();
      return target;
    }
    while (skip_op(",")) {
      if (peek().type != T::kName) break;
      target.names.push_back(expect_name());
    }
    if (parens) expect_op(")");
    return target;
  }

  // `| a | b(x)` after a set block's name (leading pipe), or `a | b(x)` in a filter block.
  std::vector<ExprPtr> parse_filter_chain(bool leading_pipe = true) {
    std::vector<ExprPtr> filters;
    if (!leading_pipe && peek().type == T::kName) filters.push_back(parse_filter(nullptr));
    while (skip_op("|")) filters.push_back(parse_filter(nullptr));
    return filters;
  }

  // ---- expressions ----

  // Several expressions separated by commas make a tuple (`{{ a, b }}`, `for x in a, b`).
  ExprPtr parse_tuple(bool with_condexpr = true) {
    const int line = peek().line;
    ExprPtr first = with_condexpr ? parse_expression() : parse_or();
    if (!at_op(",")) return first;
    auto tuple = make(Expr::Kind::kTuple, line);
    tuple->children.push_back(std::move(first));
    while (skip_op(",")) {
      if (peek().type == T::kBlockEnd || peek().type == T::kVarEnd || at_op(")")) break;
      tuple->children.push_back(with_condexpr ? parse_expression() : parse_or());
    }
    return tuple;
  }

  // Nesting deeper than this (brackets, statements) is refused before it can exhaust the stack.
  static constexpr int kMaxNesting = 200;
  struct Nest {
    Parser& p;
    explicit Nest(Parser& parser) : p(parser) {
      if (++p.nesting_ > kMaxNesting) p.fail("nesting deeper than " + std::to_string(kMaxNesting) + " levels");
    }
    ~Nest() { --p.nesting_; }
  };

  ExprPtr parse_expression() {
    Nest nest(*this);
    ExprPtr expr = parse_or();
    while (at_name("if")) {
      const int line = next().line;
      auto cond = make(Expr::Kind::kCondition, line);
      cond->children.push_back(parse_or());
      cond->children.push_back(std::move(expr));
      cond->children.push_back(skip_name("else") ? parse_expression() : nullptr);
      expr = std::move(cond);
    }
    return expr;
  }

  ExprPtr binary(Expr::Kind kind, std::string op, ExprPtr left, ExprPtr right, int line) {
    auto e = make(kind, line);
    e->name = std::move(op);
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (at_name("or")) {
      const int line = next().line;
      left = binary(Expr::Kind::kOr, "or", std::move(left), parse_and(), line);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (at_name("and")) {
      const int line = next().line;
      left = binary(Expr::Kind::kAnd, "and", std::move(left), parse_not(), line);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (at_name("not")) {
      auto e = make(Expr::Kind::kNot, next().line);
      e->children.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr left = parse_math1();
    while (true) {
      const int line = peek().line;
      std::string op;
      if (peek().type == T::kOperator && (at_op("==") || at_op("!=") || at_op("<") || at_op("<=") || at_op(">") || at_op(">="))) {
        op = next().text;
      } else if (skip_name("in")) {
        op = "in";
      } else if (at_name("not") && peek(1).type == T::kName && peek(1).text == "in") {
        i_ += 2;
        op = "notin";
      } else {
        return left;
      }
      left = binary(Expr::Kind::kCompare, op, std::move(left), parse_math1(), line);
    }
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (at_op("+") || at_op("-")) {
      const Token& op = next();
      left = binary(Expr::Kind::kBinary, op.text, std::move(left), parse_concat(), op.line);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (at_op("~")) {
      const int line = next().line;
      left = binary(Expr::Kind::kBinary, "~", std::move(left), parse_math2(), line);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const Token& op = next();
      left = binary(Expr::Kind::kBinary, op.text, std::move(left), parse_pow(), op.line);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary();
    while (at_op("**")) {
      const int line = next().line;
      left = binary(Expr::Kind::kBinary, "**", std::move(left), parse_unary(), line);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter = true) {
    Nest nest(*this);
    ExprPtr node;
    if (at_op("-") || at_op("+")) {
      const Token& op = next();
      node = make(op.text == "-" ? Expr::Kind::kNeg : Expr::Kind::kPos, op.line);
      node->children.push_back(parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& tok = next();
    switch (tok.type) {
      case T::kName: {
        const std::string& n = tok.text;
        auto lit = make(Expr::Kind::kLiteral, tok.line);
        if (n == "true" || n == "True") lit->value = Value(true);
        else if (n == "false" || n == "False") lit->value = Value(false);
        else if (n == "none" || n == "None") lit->value = Value::none();
        else {
          auto name = make(Expr::Kind::kName, tok.line);
          name->name = n;
          return name;
        }
        return lit;
      }
      case T::kString: {
        std::string s = tok.text;
        while (peek().type == T::kString) s += next().text;  // adjacent literals join, as in Python
        auto lit = make(Expr::Kind::kLiteral, tok.line);
        lit->value = Value(std::move(s));
        return lit;
      }
      case T::kInt: {
        int64_t v = 0;
        auto [p, ec] = std::from_chars(tok.text.data(), tok.text.data() + tok.text.size(), v);
        if (ec != std::errc()) fail("integer literal " + tok.text + " is too large");
        auto lit = make(Expr::Kind::kLiteral, tok.line);
        lit->value = Value(v);
        return lit;
      }
      case T::kFloat: {
        auto lit = make(Expr::Kind::kLiteral, tok.line);
        lit->value = Value(std::stod(tok.text));
        return lit;
      }
      case T::kOperator:
        if (tok.text == "(") {
          if (skip_op(")")) return make(Expr::Kind::kTuple, tok.line);
          ExprPtr inner = parse_tuple();  // `(a)` is a; `(a,)` and `(a, b)` are tuples
          expect_op(")");
          return inner;
        }
        if (tok.text == "[") {
          auto list = make(Expr::Kind::kList, tok.line);
          while (!skip_op("]")) {
            if (!list->children.empty()) expect_op(",");
            if (skip_op("]")) break;
            list->children.push_back(parse_expression());
          }
          return list;
        }
        if (tok.text == "{") {
          auto dict = make(Expr::Kind::kDict, tok.line);
          while (!skip_op("}")) {
            if (!dict->children.empty()) expect_op(",");
            if (skip_op("}")) break;
            dict->children.push_back(parse_expression());
            expect_op(":");
            dict->children.push_back(parse_expression());
          }
          return dict;
        }
        break;
      default: break;
    }
    --i_;
    fail("unexpected " + describe(tok));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (at_op(".")) {
        const int line = next().line;
        if (peek().type == T::kInt) {  // `a.0` is a[0]
          auto item = make(Expr::Kind::kGetItem, line);
          auto index = make(Expr::Kind::kLiteral, line);
          index->value = Value(static_cast<int64_t>(std::stoll(next().text)));
          item->children.push_back(std::move(node));
          item->children.push_back(std::move(index));
          node = std::move(item);
          continue;
        }
        auto attr = make(Expr::Kind::kGetAttr, line);
        attr->name = expect_name();
        attr->children.push_back(std::move(node));
        node = std::move(attr);
      } else if (at_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (at_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    const int line = next().line;  // '['
    auto part = [&]() -> ExprPtr {
      if (at_op(":") || at_op("]")) return nullptr;
      return parse_expression();
    };
    ExprPtr start = part();
    if (!at_op(":")) {
      expect_op("]");
      auto item = make(Expr::Kind::kGetItem, line);
      item->children.push_back(std::move(node));
      item->children.push_back(std::move(start));
      return item;
    }
    auto slice = make(Expr::Kind::kSlice, line);
    slice->children.push_back(std::move(node));
    slice->children.push_back(std::move(start));
    expect_op(":");
    slice->children.push_back(part());
    slice->children.push_back(skip_op(":") ? part() : nullptr);
    expect_op("]");
    return slice;
  }

  // `( args )` into e->children (after what is already there) and e->kwargs.
  void parse_args(Expr& e) {
    expect_op("(");
    bool first = true;
    while (!skip_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (skip_op(")")) break;
      if (at_op("*") || at_op("**")) fail("*args and **kwargs in calls are not supported");
      if (peek().type == T::kName && peek(1).type == T::kOperator && peek(1).text == "=") {
        std::string key = next().text;
        ++i_;
        e.kwargs.emplace_back(std::move(key), parse_expression());
      } else {
        if (!e.kwargs.empty()) fail("positional argument follows keyword argument");
        e.children.push_back(parse_expression());
      }
    }
  }

  ExprPtr parse_call(ExprPtr node) {
    auto call = make(Expr::Kind::kCall, peek().line);
    call->children.push_back(std::move(node));
    parse_args(*call);
    return call;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (at_op("|")) {
        ++i_;
        node = parse_filter(std::move(node));
      } else if (at_name("is")) {
        node = parse_test(std::move(node));
      } else if (at_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  // A filter's name (dotted names are joined) and its arguments; `subject` null in filter chains.
  ExprPtr parse_filter(ExprPtr subject) {
    auto f = make(Expr::Kind::kFilter, peek().line);
    f->name = expect_name();
    while (skip_op(".")) f->name += "." + expect_name();
    f->children.push_back(std::move(subject));
    if (at_op("(")) parse_args(*f);
    return f;
  }

  ExprPtr parse_test(ExprPtr subject) {
    auto t = make(Expr::Kind::kTest, next().line);  // 'is'
    t->negated = skip_name("not");
    t->name = expect_name();
    while (skip_op(".")) t->name += "." + expect_name();
    t->children.push_back(std::move(subject));
    if (at_op("(")) {
      parse_args(*t);
    } else if ((peek().type == T::kName && !at_name("else") && !at_name("or") && !at_name("and") && !at_name("if") &&
                !at_name("is") && !at_name("in") && !at_name("not")) ||
               peek().type == T::kString || peek().type == T::kInt || peek().type == T::kFloat || at_op("(") ||
               at_op("[") || at_op("{")) {
      // `x is divisibleby 3`: one argument without parentheses.
      t->children.push_back(parse_postfix(parse_primary()));
    }
    return t;
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int nesting_ = 0;
};

}  // namespace

Body parse_template(const std::string& source) { return Parser(lex(source)).parse(); }

}  // namespace r1::jinja
