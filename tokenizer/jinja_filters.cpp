// Jinja's filters and tests (jinja2/filters.py, jinja2/tests.py), with transformers' tojson:
// json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys).
#include <algorithm>
#include <cstdint>
#include <cmath>

#include "tokenizer/jinja_builtins.h"

namespace r1::jinja {
namespace {

constexpr size_t kKeywordOnly = SIZE_MAX;  // a position no call has: the argument is looked up by name only

bool flag(const Args& args, size_t position, const char* name, bool fallback) {
  const Value* v = arg(args, position, name);
  return v ? v->truthy() : fallback;
}

// `attribute` as Jinja's make_attrgetter reads it: dotted names, integer parts index.
Value attribute_of(const Value& item, const std::string& attribute) {
  Value v = item;
  size_t at = 0;
  while (true) {
    const size_t dot = attribute.find('.', at);
    const std::string part = attribute.substr(at, dot == std::string::npos ? std::string::npos : dot - at);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = digits ? get_item(v, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(v, Value(part));
    if (dot == std::string::npos) return v;
    at = dot + 1;
  }
}

std::string attribute_arg(const Args& args, size_t position, const char* filter) {
  const Value* a = arg(args, position, "attribute");
  if (!a || !a->is_string()) throw TemplateError(std::string(filter) + ": the attribute must be a string");
  return a->as_string();
}

// The arguments after the first `skip` positional ones (what select / map pass on to a test / filter).
Args rest(const Args& args, size_t skip) {
  Args out;
  for (size_t i = skip; i < args.positional.size(); ++i) out.positional.push_back(args.positional[i]);
  out.keyword = args.keyword;
  return out;
}

// select / reject / selectattr / rejectattr.
Value select(const Value& seq, const Args& args, bool keep, bool by_attribute) {
  std::string attribute;
  size_t next = 0;
  if (by_attribute) attribute = attribute_arg(args, next++, by_attribute ? "selectattr" : "select");
  const Value* test = next < args.positional.size() ? &args.positional[next] : nullptr;
  Args test_args = rest(args, next + 1);
  if (by_attribute) {
    test_args.keyword.erase(std::remove_if(test_args.keyword.begin(), test_args.keyword.end(),
                                           [](const auto& kv) { return kv.first == "attribute"; }),
                            test_args.keyword.end());
  }
  List out;
  for (const auto& item : seq.iterate()) {
    const Value subject = by_attribute ? attribute_of(item, attribute) : item;
    bool passes = test ? call_test(test->str(), subject, test_args) : subject.truthy();
    if (passes == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value map(const Value& seq, const Args& args) {
  List out;
  if (const Value* a = arg(args, kKeywordOnly, "attribute")) {
    if (!a->is_string()) throw TemplateError("map: the attribute must be a string");
    const Value* dflt = arg(args, kKeywordOnly, "default");
    for (const auto& item : seq.iterate()) {
      Value v = attribute_of(item, a->as_string());
      out.push_back(v.is_undefined() && dflt ? *dflt : v);
    }
    return Value::list(std::move(out));
  }
  if (args.positional.empty()) throw TemplateError("map requires a filter argument");
  const std::string filter = args.positional[0].str();
  Args filter_args = rest(args, 1);
  for (const auto& item : seq.iterate()) out.push_back(call_filter(filter, item, filter_args));
  return Value::list(std::move(out));
}

// Python's splitlines().
std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::string line;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    if (c == '\n' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e)) len = 1;
    else if (c == '\r') len = (i + 1 < s.size() && s[i + 1] == '\n') ? 2 : 1;
    else if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x85) len = 2;
    else if (c == 0xe2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
             (static_cast<unsigned char>(s[i + 2]) == 0xa8 || static_cast<unsigned char>(s[i + 2]) == 0xa9)) len = 3;
    if (len == 0) {
      line += s[i];
      continue;
    }
    lines.push_back(std::move(line));
    line.clear();
    i += len - 1;
  }
  if (!line.empty()) lines.push_back(std::move(line));
  return lines;
}

Value indent(const Value& subject, const Args& args) {
  const Value* width = arg(args, 0, "width");
  std::string pad = width && width->is_string() ? width->as_string() : std::string(width ? static_cast<size_t>(width->as_int()) : 4, ' ');
  const bool first = flag(args, 1, "first", false), blank = flag(args, 2, "blank", false);
  const std::vector<std::string> lines = split_lines(subject.str() + "\n");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i == 0) {
      out = lines[0];
      continue;
    }
    out += "\n";
    if (blank || !lines[i].empty()) out += pad;
    out += lines[i];
  }
  return Value(first ? pad + out : out);
}

Value to_json(const Value& subject, const Args& args) {
  std::optional<std::string> pad;
  if (const Value* i = arg(args, 1, "indent"); i && !i->is_none()) {
    pad = i->is_string() ? i->as_string() : std::string(static_cast<size_t>(std::max<int64_t>(0, i->as_int())), ' ');
  }
  std::optional<std::pair<std::string, std::string>> separators;
  if (const Value* s = arg(args, 2, "separators"); s && !s->is_none()) {
    if (!s->is_list() || s->as_list().size() != 2) throw TemplateError("tojson: separators must be a pair of strings");
    separators.emplace(s->as_list()[0].str(), s->as_list()[1].str());
  }
  if (flag(args, 0, "ensure_ascii", false)) throw TemplateError("tojson: ensure_ascii=True is not supported");
  return Value(subject.to_json(pad, separators, flag(args, 3, "sort_keys", false)));
}

Value sort_items(List items, bool reverse, bool case_sensitive, const Value* attribute) {
  auto key = [&](const Value& v) {
    Value k = attribute && !attribute->is_none() ? attribute_of(v, attribute->str()) : v;
    Args none;
    return k.is_string() && !case_sensitive ? call_filter("lower", k, none) : k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    const int c = key(a).compare(key(b));
    return reverse ? c > 0 : c < 0;
  });
  return Value::list(std::move(items));
}

Value html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value(out);
}

Value number_filter(const Value& subject, const Args& args, bool to_float) {
  const Value* dflt = arg(args, 0, "default");
  const Value fallback = dflt ? *dflt : to_float ? Value(0.0) : Value(static_cast<int64_t>(0));
  if (subject.is_int() || subject.is_bool()) return to_float ? Value(subject.as_double()) : Value(subject.as_int());
  if (subject.is_float()) {
    const double d = subject.as_double();
    if (to_float) return subject;
    if (!std::isfinite(d)) return fallback;
    return Value(static_cast<int64_t>(std::trunc(d)));
  }
  if (!subject.is_string()) return fallback;
  const std::string s = strip(subject.as_string(), Value::none(), true, true);
  const Value* base = arg(args, 1, "base");
  try {
    size_t used = 0;
    if (!to_float) {
      const int64_t v = std::stoll(s, &used, base ? static_cast<int>(base->as_int()) : 10);
      if (used == s.size()) return Value(v);
    }
    used = 0;
    const double d = std::stod(s, &used);
    if (used != s.size()) return fallback;
    if (to_float) return Value(d);
    if (!std::isfinite(d)) return fallback;
    return Value(static_cast<int64_t>(std::trunc(d)));
  } catch (const std::exception&) {
    return fallback;
  }
}

}  // namespace

Value call_filter(const std::string& name, const Value& subject, Args& args) {
  const bool undefined_ok = name == "default" || name == "d" || name == "length" || name == "count" ||
                            name == "string" || name == "list" || name == "items" || name == "join" ||
                            name == "trim" || name == "safe" || name == "first" || name == "last";
  if (subject.is_undefined() && !undefined_ok && name != "tojson") fail_undefined(subject);
  if (name == "default" || name == "d") {
    const Value* dflt = arg(args, 0, "default_value");
    const bool boolean = flag(args, 1, "boolean", false);
    if (subject.is_undefined() || (boolean && !subject.truthy())) return dflt ? *dflt : Value("");
    return subject;
  }
  if (name == "length" || name == "count") return Value(static_cast<int64_t>(subject.length()));
  if (name == "string") return Value(subject.str());
  if (name == "safe") return subject;
  if (name == "trim") {
    const Value* chars = arg(args, 0, "chars");
    return Value(strip(subject.str(), chars ? *chars : Value::none(), true, true));
  }
  if (name == "list") return Value::list(subject.iterate());
  if (name == "items") {
    if (subject.is_undefined()) return Value::list({});
    if (!subject.is_dict()) throw TemplateError("Can only get item pairs from a mapping.");
    Args none;
    return get_attr(subject, "items").as_function().call(none);
  }
  if (name == "join") {
    const Value* sep = arg(args, 0, "d");
    const Value* attr = arg(args, 1, "attribute");
    std::string out;
    bool first = true;
    for (const auto& item : subject.iterate()) {
      out += (first ? "" : sep ? sep->str() : "") + (attr && !attr->is_none() ? attribute_of(item, attr->str()) : item).str();
      first = false;
    }
    return Value(out);
  }
  if (name == "first" || name == "last") {
    const List items = subject.iterate();
    if (items.empty()) return Value::undefined(std::string("No ") + name + " item, sequence was empty.");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "tojson") {
    if (subject.is_undefined()) fail_undefined(subject);
    return to_json(subject, args);
  }
  if (name == "indent") return indent(subject, args);
  // The filters that are str methods of the same name and arguments.
  if (name == "upper" || name == "lower" || name == "capitalize" || name == "replace") {
    return get_attr(Value(subject.str()), name).as_function().call(args);
  }
  if (name == "title") {
    // Jinja's title: words begin after '-', whitespace or an opening bracket.
    std::string s = subject.str(), out;
    bool start = true;
    for (const auto& ch : Value(s).iterate()) {
      const std::string& c = ch.as_string();
      const bool boundary = c == "-" || c == "(" || c == "{" || c == "[" || c == "<" || (c.size() == 1 && python_isspace(static_cast<unsigned char>(c[0])));
      Args none;
      out += boundary ? c : get_attr(ch, start ? "upper" : "lower").as_function().call(none).as_string();
      start = boundary;
    }
    return Value(out);
  }
  if (name == "int") return number_filter(subject, args, false);
  if (name == "float") return number_filter(subject, args, true);
  if (name == "abs") {
    if (subject.is_float()) return Value(std::fabs(subject.as_double()));
    if (subject.is_int() || subject.is_bool()) return Value(std::abs(subject.as_int()));
    throw TemplateError("bad operand type for abs(): '" + subject.type_name() + "'");
  }
  if (name == "round") {
    const int64_t precision = arg(args, 0, "precision") ? arg(args, 0, "precision")->as_int() : 0;
    const Value* method = arg(args, 1, "method");
    const std::string how = method ? method->str() : "common";
    const double scale = std::pow(10.0, static_cast<double>(precision));
    const double x = subject.as_double() * scale;
    double r = how == "ceil" ? std::ceil(x) : how == "floor" ? std::floor(x) : std::nearbyint(x);
    if (how != "common" && how != "ceil" && how != "floor") throw TemplateError("method must be common, ceil or floor");
    return Value(r / scale);
  }
  if (name == "map") return map(subject, args);
  if (name == "select" || name == "reject") return select(subject, args, name == "select", false);
  if (name == "selectattr" || name == "rejectattr") return select(subject, args, name == "selectattr", true);
  if (name == "unique") {
    List out;
    for (const auto& item : subject.iterate()) {
      if (std::none_of(out.begin(), out.end(), [&](const Value& v) { return v.equals(item); })) out.push_back(item);
    }
    return Value::list(std::move(out));
  }
  if (name == "reverse") {
    if (subject.is_string()) {
      List chars = subject.iterate();
      std::string out;
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += it->as_string();
      return Value(out);
    }
    List items = subject.iterate();
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (name == "sort") {
    return sort_items(subject.iterate(), flag(args, 0, "reverse", false), flag(args, 1, "case_sensitive", false),
                      arg(args, 2, "attribute"));
  }
  if (name == "dictsort") {
    if (!subject.is_dict()) throw TemplateError("You can only sort by either \"key\" or \"value\"");
    const bool case_sensitive = flag(args, 0, "case_sensitive", false);
    const Value* by = arg(args, 1, "by");
    const bool by_value = by && by->str() == "value";
    if (by && !by_value && by->str() != "key") throw TemplateError("You can only sort by either \"key\" or \"value\"");
    Args no_args;
    List pairs = get_attr(subject, "items").as_function().call(no_args).as_list();
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& a, const Value& b) {
      Value ka = a.as_list()[by_value ? 1 : 0], kb = b.as_list()[by_value ? 1 : 0];
      Args none;
      if (!case_sensitive && ka.is_string()) ka = call_filter("lower", ka, none);
      if (!case_sensitive && kb.is_string()) kb = call_filter("lower", kb, none);
      const int c = ka.compare(kb);
      return flag(args, 2, "reverse", false) ? c > 0 : c < 0;
    });
    return Value::list(std::move(pairs));
  }
  if (name == "sum") {
    const Value* attr = arg(args, 0, "attribute");
    const Value* start = arg(args, 1, "start");
    Value total = start ? *start : Value(static_cast<int64_t>(0));
    for (const auto& item : subject.iterate()) {
      const Value v = attr && !attr->is_none() ? attribute_of(item, attr->str()) : item;
      if (!v.is_number() || !total.is_number()) throw TemplateError("sum: unsupported operand type(s) for +");
      total = total.is_float() || v.is_float() ? Value(total.as_double() + v.as_double()) : Value(total.as_int() + v.as_int());
    }
    return total;
  }
  if (name == "min" || name == "max") {
    List items = sort_items(subject.iterate(), false, flag(args, 0, "case_sensitive", false), arg(args, 1, "attribute")).as_list();
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    return name == "min" ? items.front() : items.back();
  }
  if (name == "escape" || name == "e") return html_escape(subject.str());
  if (name == "wordcount") {
    Args none;
    return Value(static_cast<int64_t>(get_attr(Value(subject.str()), "split").as_function().call(none).as_list().size()));
  }
  if (name == "attr") {
    const Value* a = arg(args, 0, "name");
    if (!a || !a->is_string()) throw TemplateError("attr: the name must be a string");
    // Python's getattr only: a dict's keys are items, not attributes.
    if (subject.is_dict() && !subject.is_namespace() && subject.as_dict().find(a->as_string())) {
      const std::string& n = a->as_string();
      if (n != "items" && n != "keys" && n != "values" && n != "get") return Value::undefined("no attribute '" + n + "'");
    }
    return get_attr(subject, a->as_string());
  }
  throw TemplateError("No filter named '" + name + "'.");
}

bool has_filter(const std::string& name) {
  static const char* const kNames[] = {"default", "d", "length", "count", "string", "safe", "trim", "list", "items",
                                       "join", "first", "last", "tojson", "indent", "upper", "lower", "capitalize",
                                       "title", "replace", "int", "float", "abs", "round", "map", "select", "reject",
                                       "selectattr", "rejectattr", "unique", "reverse", "sort", "dictsort", "sum",
                                       "min", "max", "escape", "e", "wordcount", "attr"};
  return std::any_of(std::begin(kNames), std::end(kNames), [&](const char* n) { return name == n; });
}

bool call_test(const std::string& name, const Value& v, Args& args) {
  const Value* other = arg(args, 0, "value");
  auto need_other = [&]() -> const Value& {
    if (!other) throw TemplateError("test '" + name + "' takes an argument");
    return *other;
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict() && !v.is_namespace();
  if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace());
  if (name == "sequence") return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace());
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "callable") return v.is_function();
  if (name == "odd" || name == "even") {
    if (!v.is_int() && !v.is_bool()) throw TemplateError("test '" + name + "' needs an integer");
    return (((v.as_int() % 2) + 2) % 2 == 1) == (name == "odd");
  }
  if (name == "divisibleby") {
    const Value& d = need_other();
    if (d.as_int() == 0) throw TemplateError("integer division or modulo by zero");
    return v.as_int() % d.as_int() == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return v.equals(need_other());
  if (name == "ne" || name == "!=") return !v.equals(need_other());
  if (name == "lt" || name == "lessthan" || name == "<") return v.compare(need_other()) < 0;
  if (name == "le" || name == "<=") return v.compare(need_other()) <= 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return v.compare(need_other()) > 0;
  if (name == "ge" || name == ">=") return v.compare(need_other()) >= 0;
  if (name == "in") {
    const Value& seq = need_other();
    if (seq.is_string()) {
      if (!v.is_string()) throw TemplateError("'in <string>' requires string as left operand, not " + v.type_name());
      return seq.as_string().find(v.as_string()) != std::string::npos;
    }
    if (seq.is_dict()) return seq.as_dict().find(v) != nullptr;
    for (const auto& item : seq.iterate()) {
      if (item.equals(v)) return true;
    }
    return false;
  }
  if (name == "sameas") {
    const Value& o = need_other();
    if (v.is_dict() && o.is_dict()) return v.dict_ptr() == o.dict_ptr();
    if (v.is_none() || v.is_bool() || v.is_undefined()) return v.type() == o.type() && v.equals(o);
    return false;
  }
  if (name == "lower" || name == "upper") {
    if (!v.is_string()) return false;
    Args none;
    return get_attr(v, name == "lower" ? "islower" : "isupper").as_function().call(none).truthy();
  }
  if (name == "escaped") return false;
  if (name == "filter") return has_filter(need_other().str());
  if (name == "test") return has_test(need_other().str());
  throw TemplateError("No test named '" + name + "'.");
}

bool has_test(const std::string& name) {
  static const char* const kNames[] = {"defined", "undefined", "none", "string", "mapping", "iterable", "sequence",
                                       "number", "integer", "float", "boolean", "true", "false", "callable", "odd",
                                       "even", "divisibleby", "eq", "equalto", "==", "ne", "!=", "lt", "lessthan",
                                       "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in", "sameas",
                                       "lower", "upper", "escaped", "filter", "test"};
  return std::any_of(std::begin(kNames), std::end(kNames), [&](const char* n) { return name == n; });
}

}  // namespace r1::jinja
