// Runs a parsed template. Scoping follows Jinja2: a for loop's body and a macro's body are scopes
// of their own (a `set` inside a loop is gone after it, which is why templates use namespace()),
// `if` is not; a name not found in any scope is undefined, which prints as nothing and fails only
// when used as more than a blank.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "tokenizer/jinja.h"
#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_builtins.h"

namespace r1::jinja {

struct Parsed {
  Body body;
};

namespace {

struct Frame {
  std::vector<std::pair<std::string, Value>> vars;
  std::shared_ptr<Frame> parent;

  const Value* find(const std::string& name) const {
    for (const Frame* f = this; f; f = f->parent.get()) {
      for (const auto& kv : f->vars) {
        if (kv.first == name) return &kv.second;
      }
    }
    return nullptr;
  }
  void set(const std::string& name, Value v) {
    for (auto& kv : vars) {
      if (kv.first == name) {
        kv.second = std::move(v);
        return;
      }
    }
    vars.emplace_back(name, std::move(v));
  }
};
using FramePtr = std::shared_ptr<Frame>;

FramePtr child_of(const FramePtr& parent) {
  auto f = std::make_shared<Frame>();
  f->parent = parent;
  return f;
}

enum class Flow { kNormal, kBreak, kContinue };

[[noreturn]] void type_error(const std::string& op, const Value& a, const Value& b) {
  throw TemplateError("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
}

// `overflowed` is a __builtin_*_overflow's result, computed before the call reads `v`.
Value checked(bool overflowed, const int64_t& v) {
  if (overflowed) throw TemplateError("integer overflow");
  return Value(v);
}

// printf-style `"..." % args` for %s %r %d %i %f (with a precision) and %%.
Value format_percent(const std::string& fmt, const Value& args) {
  const List values = args.is_tuple() ? args.as_list() : List{args};
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    size_t j = i + 1;
    std::string precision;
    if (j < fmt.size() && fmt[j] == '.') {
      for (++j; j < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[j])); ++j) precision += fmt[j];
    }
    if (j >= fmt.size()) throw TemplateError("incomplete format");
    const char conv = fmt[j];
    i = j;
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (next >= values.size()) throw TemplateError("not enough arguments for format string");
    const Value& v = values[next++];
    if (conv == 's') out += v.str();
    else if (conv == 'r') out += v.repr();
    else if (conv == 'd' || conv == 'i') {
      if (!v.is_number()) throw TemplateError("%d format: a real number is required, not " + v.type_name());
      out += std::to_string(v.is_float() ? static_cast<int64_t>(std::trunc(v.as_double())) : v.as_int());
    } else if (conv == 'f') {
      if (!v.is_number()) throw TemplateError("must be real number, not " + v.type_name());
      char buf[512];
      std::snprintf(buf, sizeof buf, "%.*f", precision.empty() ? 6 : std::stoi(precision), v.as_double());
      out += buf;
    } else {
      throw TemplateError(std::string("unsupported format character '") + conv + "'");
    }
  }
  if (next < values.size()) throw TemplateError("not all arguments converted during string formatting");
  return Value(out);
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") return Value(a.str() + b.str());
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  const bool numbers = a.is_number() && b.is_number();
  const bool ints = numbers && !a.is_float() && !b.is_float();
  int64_t r = 0;
  if (op == "+") {
    if (ints) return checked(__builtin_add_overflow(a.as_int(), b.as_int(), &r), r);
    if (numbers) return Value(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
      List items = a.as_list();
      items.insert(items.end(), b.as_list().begin(), b.as_list().end());
      return Value::list(std::move(items), a.is_tuple());
    }
    type_error(op, a, b);
  }
  if (op == "-") {
    if (ints) return checked(__builtin_sub_overflow(a.as_int(), b.as_int(), &r), r);
    if (numbers) return Value(a.as_double() - b.as_double());
    type_error(op, a, b);
  }
  if (op == "*") {
    if (ints) return checked(__builtin_mul_overflow(a.as_int(), b.as_int(), &r), r);
    if (numbers) return Value(a.as_double() * b.as_double());
    const Value* seq = a.is_string() || a.is_list() ? &a : &b;
    const Value* times = seq == &a ? &b : &a;
    if ((seq->is_string() || seq->is_list()) && (times->is_int() || times->is_bool())) {
      const int64_t n = std::max<int64_t>(0, times->as_int());
      if (static_cast<double>(n) * static_cast<double>(seq->length()) > 1e7) throw TemplateError("repetition too large");
      if (seq->is_string()) {
        std::string out;
        for (int64_t i = 0; i < n; ++i) out += seq->as_string();
        return Value(out);
      }
      List out;
      for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq->as_list().begin(), seq->as_list().end());
      return Value::list(std::move(out), seq->is_tuple());
    }
    type_error(op, a, b);
  }
  if (op == "%" && a.is_string()) return format_percent(a.as_string(), b);
  if (!numbers) type_error(op, a, b);
  if (op == "/") {
    if (b.as_double() == 0) throw TemplateError("division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (b.as_double() == 0) throw TemplateError(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
    if (ints) {
      const int64_t x = a.as_int(), y = b.as_int();
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors; C++ truncates
        --q;
        m += y;
      }
      return op == "//" ? Value(q) : Value(m);
    }
    const double x = a.as_double(), y = b.as_double();
    const double m = std::fmod(x, y);
    const double mod = (m != 0 && ((m < 0) != (y < 0))) ? m + y : m;
    return op == "//" ? Value(std::floor((x - mod) / y)) : Value(mod);
  }
  if (op == "**") {
    if (ints && b.as_int() >= 0) {
      int64_t result = 1, base = a.as_int();
      for (int64_t e = b.as_int(); e > 0; --e) {
        if (__builtin_mul_overflow(result, base, &result)) throw TemplateError("integer overflow");
      }
      return Value(result);
    }
    return Value(std::pow(a.as_double(), b.as_double()));
  }
  type_error(op, a, b);
}

bool contains(const Value& container, const Value& item) {
  Args args;
  args.positional.push_back(container);
  return call_test("in", item, args);
}

class Renderer {
 public:
  explicit Renderer(std::vector<std::pair<size_t, size_t>>* spans) : spans_(spans) {}

  void run(const Body& body, const FramePtr& root, std::string& out) {
    top_ = &out;
    exec(body, root, out);
  }

 private:
  Flow exec(const Body& body, const FramePtr& frame, std::string& out) {
    for (const auto& node : body) {
      Flow flow;
      try {
        flow = exec(*node, frame, out);
      } catch (const TemplateError& e) {
        if (e.line()) throw;  // a statement inside this one already named its line
        throw TemplateError(e.message(), node->line, e.raised());
      }
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Flow exec(const Node& n, const FramePtr& frame, std::string& out) {
    switch (n.kind) {
      case Node::Kind::kText: out += n.text; return Flow::kNormal;
      case Node::Kind::kOutput: out += eval(*n.expr, frame).str(); return Flow::kNormal;
      case Node::Kind::kIf:
        for (const auto& [cond, body] : n.branches) {
          if (eval(*cond, frame).truthy()) return exec(body, frame, out);
        }
        return exec(n.else_body, frame, out);
      case Node::Kind::kFor: return exec_for(n, frame, out);
      case Node::Kind::kSet: assign(n.target, eval(*n.expr, frame), frame); return Flow::kNormal;
      case Node::Kind::kSetBlock: {
        std::string text;
        exec(n.body, frame, text);
        frame->set(n.target.names[0], apply_filters(n.filters, Value(text), frame));
        return Flow::kNormal;
      }
      case Node::Kind::kMacro: frame->set(n.text, macro(n, frame)); return Flow::kNormal;
      case Node::Kind::kFilterBlock: {
        std::string text;
        exec(n.body, child_of(frame), text);
        out += apply_filters(n.filters, Value(text), frame).str();
        return Flow::kNormal;
      }
      case Node::Kind::kWith: {
        FramePtr inner = child_of(frame);
        for (const auto& [name, expr] : n.params) inner->set(name, eval(*expr, frame));
        return exec(n.body, inner, out);
      }
      case Node::Kind::kGeneration: {
        const size_t start = out.size();
        const Flow flow = exec(n.body, frame, out);
        if (spans_ && &out == top_ && out.size() > start) spans_->emplace_back(start, out.size());
        return flow;
      }
      case Node::Kind::kBreak: return Flow::kBreak;
      case Node::Kind::kContinue: return Flow::kContinue;
    }
    return Flow::kNormal;
  }

  Flow exec_for(const Node& n, const FramePtr& frame, std::string& out) {
    const Value iterable = eval(*n.expr, frame);
    if (iterable.is_none()) throw TemplateError("'NoneType' object is not iterable");
    List items = iterable.iterate();
    if (n.condition) {  // `for x in xs if cond`: the loop sees only the items that pass
      List kept;
      for (auto& item : items) {
        FramePtr probe = child_of(frame);
        assign(n.target, item, probe);
        if (eval(*n.condition, probe).truthy()) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) return exec(n.else_body, frame, out);
    const int64_t length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
      FramePtr inner = child_of(frame);  // each iteration starts afresh: a `set` lasts one iteration
      assign(n.target, items[static_cast<size_t>(i)], inner);
      inner->set("loop", loop_object(items, i));
      if (exec(n.body, inner, out) == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  static Value loop_object(const List& items, int64_t i) {
    const int64_t length = static_cast<int64_t>(items.size());
    auto d = std::make_shared<Dict>();
    d->items.reserve(12);
    d->items.emplace_back(Value("index"), Value(i + 1));
    d->items.emplace_back(Value("index0"), Value(i));
    d->items.emplace_back(Value("revindex"), Value(length - i));
    d->items.emplace_back(Value("revindex0"), Value(length - i - 1));
    d->items.emplace_back(Value("first"), Value(i == 0));
    d->items.emplace_back(Value("last"), Value(i == length - 1));
    d->items.emplace_back(Value("length"), Value(length));
    d->items.emplace_back(Value("depth"), Value(1));
    d->items.emplace_back(Value("depth0"), Value(0));
    d->items.emplace_back(Value("previtem"), i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item"));
    d->items.emplace_back(Value("nextitem"), i + 1 < length ? items[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item"));
    d->items.emplace_back(Value("cycle"), Value::function("cycle", [i](Args& a) -> Value {
                            if (a.positional.empty()) throw TemplateError("no items for cycling given");
                            return a.positional[static_cast<size_t>(i) % a.positional.size()];
                          }));
    return Value::dict(std::move(d));
  }

  void assign(const Target& target, const Value& value, const FramePtr& frame) {
    if (!target.attribute.empty()) {
      const Value* ns = frame->find(target.names[0]);
      if (!ns || !ns->is_namespace()) throw TemplateError("cannot assign attribute on non-namespace object");
      ns->as_dict().set(Value(target.attribute), value);
      return;
    }
    if (target.names.size() == 1) {
      frame->set(target.names[0], value);
      return;
    }
    const List items = value.iterate();
    if (items.size() != target.names.size()) {
      throw TemplateError("cannot unpack " + std::to_string(items.size()) + " values into " + std::to_string(target.names.size()));
    }
    for (size_t i = 0; i < items.size(); ++i) frame->set(target.names[i], items[i]);
  }

  Value macro(const Node& n, const FramePtr& frame) {
    std::weak_ptr<Frame> defined_in = frame;
    const Node* node = &n;
    return Value::function(n.text, [this, node, defined_in](Args& args) -> Value {
      FramePtr parent = defined_in.lock();
      if (!parent) throw TemplateError("macro '" + node->text + "' called after its scope ended");
      // A macro that calls itself without end would overflow the stack; Python stops it as well.
      if (depth_ >= kMaxCallDepth) throw TemplateError("maximum recursion depth exceeded in macro '" + node->text + "'");
      struct Depth {
        int& d;
        explicit Depth(int& x) : d(++x) {}
        ~Depth() { --d; }
      } depth(depth_);
      if (args.positional.size() > node->params.size()) {
        throw TemplateError("macro '" + node->text + "' takes not more than " + std::to_string(node->params.size()) + " argument(s)");
      }
      FramePtr inner = child_of(parent);
      for (const auto& [key, v] : args.keyword) {
        const bool known = std::any_of(node->params.begin(), node->params.end(), [&](const auto& p) { return p.first == key; });
        if (!known) throw TemplateError("macro '" + node->text + "' takes no keyword argument '" + key + "'");
      }
      for (size_t i = 0; i < node->params.size(); ++i) {
        const auto& [name, dflt] = node->params[i];
        if (const Value* given = arg(args, i, name.c_str())) inner->set(name, *given);
        else inner->set(name, dflt ? eval(*dflt, inner) : Value::undefined("parameter '" + name + "' was not provided"));
      }
      std::string text;
      exec(node->body, inner, text);
      return Value(text);
    });
  }

  Value apply_filters(const std::vector<ExprPtr>& filters, Value v, const FramePtr& frame) {
    for (const auto& f : filters) {
      Args args = arguments(*f, 1, frame);
      v = call_filter(f->name, v, args);
    }
    return v;
  }

  Args arguments(const Expr& e, size_t first, const FramePtr& frame) {
    Args args;
    for (size_t i = first; i < e.children.size(); ++i) args.positional.push_back(eval(*e.children[i], frame));
    for (const auto& [k, x] : e.kwargs) args.keyword.emplace_back(k, eval(*x, frame));
    return args;
  }

  Value eval(const Expr& e, const FramePtr& frame) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return e.value;
      case Expr::Kind::kName: {
        if (const Value* v = frame->find(e.name)) return *v;
        return global(e.name);
      }
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        List items;
        for (const auto& c : e.children) items.push_back(eval(*c, frame));
        return Value::list(std::move(items), e.kind == Expr::Kind::kTuple);
      }
      case Expr::Kind::kDict: {
        auto d = std::make_shared<Dict>();
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) d->set(eval(*e.children[i], frame), eval(*e.children[i + 1], frame));
        return Value::dict(std::move(d));
      }
      case Expr::Kind::kGetAttr: return get_attr(eval(*e.children[0], frame), e.name);
      case Expr::Kind::kGetItem: return get_item(eval(*e.children[0], frame), eval(*e.children[1], frame));
      case Expr::Kind::kSlice: {
        auto part = [&](size_t i) { return e.children[i] ? eval(*e.children[i], frame) : Value::none(); };
        return get_slice(eval(*e.children[0], frame), part(1), part(2), part(3));
      }
      case Expr::Kind::kCall: {
        const Value callee = eval(*e.children[0], frame);
        if (callee.is_undefined()) fail_undefined(callee);
        if (!callee.is_function()) throw TemplateError("'" + callee.type_name() + "' object is not callable");
        Args args = arguments(e, 1, frame);
        return callee.as_function().call(args);
      }
      case Expr::Kind::kFilter: {
        const Value subject = eval(*e.children[0], frame);
        Args args = arguments(e, 1, frame);
        return call_filter(e.name, subject, args);
      }
      case Expr::Kind::kTest: {
        const Value subject = eval(*e.children[0], frame);
        Args args = arguments(e, 1, frame);
        return Value(call_test(e.name, subject, args) != e.negated);
      }
      case Expr::Kind::kNeg:
      case Expr::Kind::kPos: {
        const Value v = eval(*e.children[0], frame);
        if (v.is_undefined()) fail_undefined(v);
        if (!v.is_number()) throw TemplateError("bad operand type for unary " + std::string(e.kind == Expr::Kind::kNeg ? "-" : "+") + ": '" + v.type_name() + "'");
        if (e.kind == Expr::Kind::kPos) return v.is_bool() ? Value(v.as_int()) : v;
        if (v.is_float()) return Value(-v.as_double());
        if (v.as_int() == INT64_MIN) throw TemplateError("integer overflow");
        return Value(-v.as_int());
      }
      case Expr::Kind::kNot: return Value(!eval(*e.children[0], frame).truthy());
      case Expr::Kind::kAnd: {
        Value a = eval(*e.children[0], frame);
        return a.truthy() ? eval(*e.children[1], frame) : a;
      }
      case Expr::Kind::kOr: {
        Value a = eval(*e.children[0], frame);
        return a.truthy() ? a : eval(*e.children[1], frame);
      }
      case Expr::Kind::kCondition: {
        if (eval(*e.children[0], frame).truthy()) return eval(*e.children[1], frame);
        if (e.children[2]) return eval(*e.children[2], frame);
        return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                                " evaluated to false and no else section was defined.");
      }
      case Expr::Kind::kBinary: return arithmetic(e.name, eval(*e.children[0], frame), eval(*e.children[1], frame));
      case Expr::Kind::kCompare: {
        const Value a = eval(*e.children[0], frame), b = eval(*e.children[1], frame);
        if (e.name == "==") return Value(a.equals(b));
        if (e.name == "!=") return Value(!a.equals(b));
        if (e.name == "in") return Value(contains(b, a));
        if (e.name == "notin") return Value(!contains(b, a));
        if (a.is_undefined()) fail_undefined(a);
        if (b.is_undefined()) fail_undefined(b);
        const int c = a.compare(b);
        if (e.name == "<") return Value(c < 0);
        if (e.name == "<=") return Value(c <= 0);
        if (e.name == ">") return Value(c > 0);
        return Value(c >= 0);
      }
    }
    return Value();
  }

  static constexpr int kMaxCallDepth = 256;
  std::vector<std::pair<size_t, size_t>>* spans_;
  const std::string* top_ = nullptr;
  int depth_ = 0;
};

// Unknown filters and tests are errors when the template is parsed, as in Jinja2.
void check_names(const Expr* e) {
  if (!e) return;
  if (e->kind == Expr::Kind::kFilter && !has_filter(e->name)) throw TemplateError("No filter named '" + e->name + "'.", e->line);
  if (e->kind == Expr::Kind::kTest && !has_test(e->name)) throw TemplateError("No test named '" + e->name + "'.", e->line);
  for (const auto& c : e->children) check_names(c.get());
  for (const auto& kv : e->kwargs) check_names(kv.second.get());
}

void check_names(const Body& body) {
  for (const auto& n : body) {
    check_names(n->expr.get());
    check_names(n->condition.get());
    for (const auto& f : n->filters) check_names(f.get());
    for (const auto& [cond, b] : n->branches) {
      check_names(cond.get());
      check_names(b);
    }
    for (const auto& p : n->params) check_names(p.second.get());
    check_names(n->body);
    check_names(n->else_body);
  }
}

}  // namespace

Template::Template(const std::string& source) {
  auto parsed = std::make_shared<Parsed>();
  parsed->body = parse_template(source);
  check_names(parsed->body);
  parsed_ = std::move(parsed);
}
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;
Template::~Template() = default;

std::string Template::render(const Value& context) const { return render(context, nullptr); }

std::string Template::render(const Value& context, std::vector<std::pair<size_t, size_t>>* generation_spans) const {
  auto root = std::make_shared<Frame>();
  if (context.is_dict()) {
    for (const auto& [k, v] : context.as_dict().items) root->set(k.str(), v);
  }
  std::string out;
  Renderer(generation_spans).run(parsed_->body, root, out);
  return out;
}

}  // namespace r1::jinja
