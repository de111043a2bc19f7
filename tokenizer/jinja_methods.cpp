// Attribute and item access, the methods of str / dict / list a template may call, and the globals.
// The sandbox's rules hold: no attribute starting with '_', no method that changes a list or dict.
#include <utf8proc.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/unicode.h"

namespace r1::jinja {
namespace {

std::vector<char32_t> code_points(const std::string& s) {
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  unicode::decode(s, cps, offsets);
  return cps;
}

std::string encode(const std::vector<char32_t>& cps, size_t from = 0, size_t to = std::string::npos) {
  std::string out;
  for (size_t i = from; i < cps.size() && i < to; ++i) unicode::append(out, cps[i]);
  return out;
}

bool is_cased(char32_t c) {
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

std::string map_case(const std::string& s, int mode) {  // 0 lower, 1 upper, 2 title, 3 capitalize
  std::string out;
  bool previous_cased = false;
  bool first = true;
  for (char32_t c : code_points(s)) {
    const auto cp = static_cast<utf8proc_int32_t>(c);
    utf8proc_int32_t m = cp;
    if (mode == 0) m = utf8proc_tolower(cp);
    else if (mode == 1) m = utf8proc_toupper(cp);
    else if (mode == 2) m = previous_cased ? utf8proc_tolower(cp) : utf8proc_totitle(cp);
    else m = first ? utf8proc_totitle(cp) : utf8proc_tolower(cp);
    previous_cased = is_cased(c);
    first = false;
    unicode::append(out, static_cast<char32_t>(m));
  }
  return out;
}

std::string string_arg(const Args& args, size_t position, const char* name, const std::string& method) {
  const Value* v = arg(args, position, name);
  if (!v || !v->is_string()) throw TemplateError(method + "() argument '" + name + "' must be str");
  return v->as_string();
}

int64_t int_arg(const Args& args, size_t position, const char* name, int64_t fallback) {
  const Value* v = arg(args, position, name);
  if (!v || v->is_none()) return fallback;
  if (!v->is_int() && !v->is_bool()) throw TemplateError(std::string("argument '") + name + "' must be an int");
  return v->as_int();
}

// Python's str.split / rsplit.
Value split(const std::string& s, const Args& args, bool from_right) {
  const Value* sep = arg(args, 0, "sep");
  const int64_t maxsplit = int_arg(args, 1, "maxsplit", -1);
  List parts;
  if (!sep || sep->is_none()) {
    const std::vector<char32_t> cps = code_points(s);
    std::vector<std::pair<size_t, size_t>> words;
    for (size_t i = 0; i < cps.size();) {
      while (i < cps.size() && python_isspace(cps[i])) ++i;
      if (i == cps.size()) break;
      size_t j = i;
      while (j < cps.size() && !python_isspace(cps[j])) ++j;
      words.emplace_back(i, j);
      i = j;
    }
    if (maxsplit >= 0 && static_cast<int64_t>(words.size()) > maxsplit) {
      // The unsplit remainder keeps its whitespace on the far side (Python's `'  a  b  '.split(None, 1)`
      // is ['a', 'b  ']).
      if (from_right) {
        const size_t keep = words.size() - static_cast<size_t>(maxsplit);
        parts.emplace_back(encode(cps, 0, words[keep - 1].second));
        for (size_t k = keep; k < words.size(); ++k) parts.emplace_back(encode(cps, words[k].first, words[k].second));
      } else {
        for (int64_t k = 0; k < maxsplit; ++k) parts.emplace_back(encode(cps, words[k].first, words[k].second));
        parts.emplace_back(encode(cps, words[static_cast<size_t>(maxsplit)].first));
      }
      return Value::list(std::move(parts));
    }
    for (const auto& [a, b] : words) parts.emplace_back(encode(cps, a, b));
    return Value::list(std::move(parts));
  }
  if (!sep->is_string()) throw TemplateError("split() argument 'sep' must be str or None");
  const std::string& d = sep->as_string();
  if (d.empty()) throw TemplateError("empty separator");
  std::vector<std::string> pieces;
  size_t at = 0;
  for (size_t hit; (hit = s.find(d, at)) != std::string::npos; at = hit + d.size()) pieces.push_back(s.substr(at, hit - at));
  pieces.push_back(s.substr(at));
  if (maxsplit >= 0 && static_cast<int64_t>(pieces.size()) > maxsplit + 1) {
    std::vector<std::string> joined;
    const size_t n = static_cast<size_t>(maxsplit);
    if (from_right) {
      std::string head = pieces[0];
      for (size_t k = 1; k + n < pieces.size(); ++k) head += d + pieces[k];
      joined.push_back(head);
      for (size_t k = pieces.size() - n; k < pieces.size(); ++k) joined.push_back(pieces[k]);
    } else {
      for (size_t k = 0; k < n; ++k) joined.push_back(pieces[k]);
      std::string tail = pieces[n];
      for (size_t k = n + 1; k < pieces.size(); ++k) tail += d + pieces[k];
      joined.push_back(tail);
    }
    pieces = std::move(joined);
  }
  for (auto& p : pieces) parts.emplace_back(std::move(p));
  return Value::list(std::move(parts));
}

// startswith / endswith with a str or a tuple of them.
bool affix(const std::string& s, const Value& what, bool prefix) {
  auto one = [&](const Value& v) {
    if (!v.is_string()) throw TemplateError(std::string(prefix ? "startswith" : "endswith") + " first arg must be str or a tuple of str");
    return prefix ? s.starts_with(v.as_string()) : s.ends_with(v.as_string());
  };
  if (what.is_list()) {
    for (const auto& v : what.as_list()) {
      if (one(v)) return true;
    }
    return false;
  }
  return one(what);
}

bool all_of(const std::string& s, bool (*pred)(char32_t)) {
  const auto cps = code_points(s);
  if (cps.empty()) return false;
  for (char32_t c : cps) {
    if (!pred(c)) return false;
  }
  return true;
}

Value string_method(const std::string& s, const std::string& name, Args& args) {
  if (name == "startswith" || name == "endswith") {
    const Value* what = arg(args, 0, "prefix");
    if (!what) throw TemplateError(name + "() takes at least 1 argument");
    return Value(affix(s, *what, name == "startswith"));
  }
  if (name == "split" || name == "rsplit") return split(s, args, name == "rsplit");
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Value* chars = arg(args, 0, "chars");
    return Value(strip(s, chars ? *chars : Value::none(), name != "rstrip", name != "lstrip"));
  }
  if (name == "replace") {
    const std::string from = string_arg(args, 0, "old", name), to = string_arg(args, 1, "new", name);
    int64_t count = int_arg(args, 2, "count", -1);
    std::string out;
    if (from.empty()) {  // Python inserts `to` around every character
      const auto cps = code_points(s);
      for (size_t i = 0; i <= cps.size(); ++i) {
        if (count < 0 || static_cast<int64_t>(i) < count) out += to;
        if (i < cps.size()) unicode::append(out, cps[i]);
      }
      return Value(out);
    }
    size_t at = 0;
    for (size_t hit; count != 0 && (hit = s.find(from, at)) != std::string::npos; at = hit + from.size(), --count) {
      out.append(s, at, hit - at).append(to);
    }
    return Value(out.append(s, at));
  }
  if (name == "upper") return Value(map_case(s, 1));
  if (name == "lower") return Value(map_case(s, 0));
  if (name == "title") return Value(map_case(s, 2));
  if (name == "capitalize") return Value(map_case(s, 3));
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    const std::string sub = string_arg(args, 0, "sub", name);
    if (name == "count") {
      if (sub.empty()) return Value(static_cast<int64_t>(Value(s).length() + 1));
      int64_t n = 0;
      for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
      return Value(n);
    }
    const size_t hit = name[0] == 'r' ? s.rfind(sub) : s.find(sub);
    if (hit == std::string::npos) {
      if (name.ends_with("index")) throw TemplateError("substring not found");
      return Value(static_cast<int64_t>(-1));
    }
    return Value(static_cast<int64_t>(Value(s.substr(0, hit)).length()));
  }
  if (name == "join") {
    const Value* items = arg(args, 0, "iterable");
    if (!items) throw TemplateError("join() takes exactly one argument");
    std::string out;
    bool first = true;
    for (const auto& v : items->iterate()) {
      if (!v.is_string()) throw TemplateError("sequence item: expected str instance, " + v.type_name() + " found");
      out += (first ? "" : s) + v.as_string();
      first = false;
    }
    return Value(out);
  }
  if (name == "isdigit") return Value(all_of(s, [](char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_ND; }));
  if (name == "isalpha") return Value(all_of(s, [](char32_t c) { return (unicode::category_bit(c) & unicode::kLetterMask) != 0; }));
  if (name == "isspace") return Value(all_of(s, [](char32_t c) { return python_isspace(c); }));
  if (name == "isupper" || name == "islower") {
    const bool upper = name == "isupper";
    bool any = false;
    for (char32_t c : code_points(s)) {
      const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
      if (cat == UTF8PROC_CATEGORY_LT || cat == (upper ? UTF8PROC_CATEGORY_LL : UTF8PROC_CATEGORY_LU)) return Value(false);
      any = any || cat == (upper ? UTF8PROC_CATEGORY_LU : UTF8PROC_CATEGORY_LL);
    }
    return Value(any);
  }
  throw TemplateError("'str' object has no attribute '" + name + "'");
}

bool is_string_method(const std::string& name) {
  static const char* const kNames[] = {"startswith", "endswith", "split", "rsplit", "strip", "lstrip", "rstrip",
                                       "replace", "upper", "lower", "title", "capitalize", "find", "rfind", "index",
                                       "rindex", "count", "join", "isdigit", "isalpha", "isspace", "isupper", "islower"};
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return false;
}

Value dict_method(const Value& obj, const std::string& name, Args& args) {
  const Dict& d = obj.as_dict();
  if (name == "items" || name == "keys" || name == "values") {
    List out;
    for (const auto& [k, v] : d.items) {
      if (name == "items") out.push_back(Value::list({k, v}, /*tuple=*/true));
      else out.push_back(name == "keys" ? k : v);
    }
    return Value::list(std::move(out));
  }
  if (name == "get") {
    const Value* key = arg(args, 0, "key");
    if (!key) throw TemplateError("get expected at least 1 argument, got 0");
    if (const Value* v = d.find(*key)) return *v;
    const Value* fallback = arg(args, 1, "default");
    return fallback ? *fallback : Value::none();
  }
  throw TemplateError("access to attribute '" + name + "' of 'dict' object is unsafe");
}

Value bind_method(const Value& obj, const std::string& name, Value (*method)(const Value&, const std::string&, Args&)) {
  return Value::function(name, [obj, name, method](Args& args) { return method(obj, name, args); });
}

Value undefined_attribute(const Value& obj, const std::string& what) {
  return Value::undefined("'" + (obj.is_none() ? std::string("None") : obj.type_name() + " object") + "' has no attribute " + what);
}

}  // namespace

const Value* arg(const Args& args, size_t position, const char* name) {
  if (position < args.positional.size()) return &args.positional[position];
  for (const auto& [k, v] : args.keyword) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::string strip(const std::string& s, const Value& chars, bool left, bool right) {
  const std::vector<char32_t> cps = code_points(s);
  std::vector<char32_t> set;
  const bool whitespace = chars.is_none() || chars.is_undefined();
  if (!whitespace) {
    if (!chars.is_string()) throw TemplateError("strip arg must be None or str");
    set = code_points(chars.as_string());
  }
  auto strip_it = [&](char32_t c) {
    return whitespace ? python_isspace(c) : std::find(set.begin(), set.end(), c) != set.end();
  };
  size_t a = 0, b = cps.size();
  if (left) {
    while (a < b && strip_it(cps[a])) ++a;
  }
  if (right) {
    while (b > a && strip_it(cps[b - 1])) --b;
  }
  return encode(cps, a, b);
}

void fail_undefined(const Value& v) {
  const std::string& hint = v.undefined_hint();
  throw TemplateError(hint.empty() ? "undefined value" : hint);
}

Value get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (name.starts_with("_")) {  // the sandbox hides private attributes: undefined, as in Jinja2
    return Value::undefined("access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe.");
  }
  switch (obj.type()) {
    case Value::Type::kString:
      if (is_string_method(name)) {
        return bind_method(obj, name, [](const Value& o, const std::string& n, Args& a) { return string_method(o.as_string(), n, a); });
      }
      break;
    case Value::Type::kDict:
      if (obj.is_namespace()) {
        if (const Value* v = obj.as_dict().find(name)) return *v;
        break;
      }
      if (name == "items" || name == "keys" || name == "values" || name == "get") return bind_method(obj, name, dict_method);
      if (const Value* v = obj.as_dict().find(name)) return *v;
      if (name == "pop" || name == "update" || name == "clear" || name == "setdefault" || name == "popitem") {
        throw TemplateError("access to attribute '" + name + "' of 'dict' object is unsafe");
      }
      break;
    case Value::Type::kList:
      if (name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" ||
          name == "sort" || name == "reverse" || name == "clear") {
        throw TemplateError("access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe");
      }
      if (name == "index" || name == "count") {
        return bind_method(obj, name, [](const Value& o, const std::string& n, Args& a) -> Value {
          const Value* x = arg(a, 0, "value");
          if (!x) throw TemplateError(n + "() takes exactly one argument");
          int64_t count = 0;
          const List& items = o.as_list();
          for (size_t i = 0; i < items.size(); ++i) {
            if (!items[i].equals(*x)) continue;
            if (n == "index") return Value(static_cast<int64_t>(i));
            ++count;
          }
          if (n == "index") throw TemplateError(x->repr() + " is not in list");
          return Value(count);
        });
      }
      break;
    default: break;
  }
  return undefined_attribute(obj, "'" + name + "'");
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.is_dict() && !obj.is_namespace()) {
    if (const Value* v = obj.as_dict().find(key)) return *v;
  } else if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    const int64_t n = static_cast<int64_t>(obj.is_list() ? obj.as_list().size() : obj.length());
    int64_t i = key.as_int();
    if (i < 0) i += n;
    if (i >= 0 && i < n) {
      if (obj.is_list()) return obj.as_list()[static_cast<size_t>(i)];
      return Value(encode(code_points(obj.as_string()), static_cast<size_t>(i), static_cast<size_t>(i) + 1));
    }
    return undefined_attribute(obj, key.repr());
  }
  if (key.is_string()) return get_attr(obj, key.as_string());
  return undefined_attribute(obj, key.repr());
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (!obj.is_list() && !obj.is_string()) throw TemplateError("'" + obj.type_name() + "' object is not subscriptable");
  auto part = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) throw TemplateError(std::string("slice ") + what + " must be an integer or None");
    return v.as_int();
  };
  const int64_t n = static_cast<int64_t>(obj.is_list() ? obj.as_list().size() : obj.length());
  const int64_t st = part(step, "step").value_or(1);
  if (st == 0) throw TemplateError("slice step cannot be zero");
  // Python's slice.indices().
  auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v < 0 ? *v + n : *v;
    if (st > 0) return std::clamp<int64_t>(x, 0, n);
    return std::clamp<int64_t>(x, -1, n - 1);
  };
  const int64_t a = clamp(part(start, "start"), st > 0 ? 0 : n - 1);
  const int64_t b = clamp(part(stop, "stop"), st > 0 ? n : -1);
  std::vector<size_t> picks;
  for (int64_t i = a; st > 0 ? i < b : i > b; i += st) picks.push_back(static_cast<size_t>(i));
  if (obj.is_list()) {
    List out;
    for (size_t i : picks) out.push_back(obj.as_list()[i]);
    return Value::list(std::move(out), obj.is_tuple());
  }
  const auto cps = code_points(obj.as_string());
  std::string out;
  for (size_t i : picks) unicode::append(out, cps[i]);
  return Value(out);
}

Value global(const std::string& name) {
  if (name == "range") {
    return Value::function("range", [](Args& a) {
      std::vector<int64_t> p;
      for (const auto& v : a.positional) {
        if (!v.is_int() && !v.is_bool()) throw TemplateError("range() arguments must be integers, not " + v.type_name());
        p.push_back(v.as_int());
      }
      if (p.empty() || p.size() > 3) throw TemplateError("range expected 1 to 3 arguments");
      const int64_t start = p.size() > 1 ? p[0] : 0, stop = p.size() > 1 ? p[1] : p[0], step = p.size() > 2 ? p[2] : 1;
      if (step == 0) throw TemplateError("range() arg 3 must not be zero");
      List out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (out.size() >= 100000) throw TemplateError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        out.emplace_back(i);
      }
      return Value::list(std::move(out));
    });
  }
  if (name == "dict" || name == "namespace") {
    const bool ns = name == "namespace";
    return Value::function(name, [ns](Args& a) {
      auto d = std::make_shared<Dict>();
      d->is_namespace = ns;
      for (const auto& v : a.positional) {  // namespace({...}) / dict({...}) copy a mapping first
        if (!v.is_dict()) throw TemplateError(std::string(ns ? "namespace" : "dict") + "() takes a mapping");
        for (const auto& [k, x] : v.as_dict().items) d->set(k, x);
      }
      for (const auto& [k, v] : a.keyword) d->set(Value(k), v);
      return Value::dict(std::move(d));
    });
  }
  if (name == "raise_exception") {
    return Value::function(name, [](Args& a) -> Value {
      const Value* m = arg(a, 0, "message");
      throw TemplateError(m ? m->str() : std::string("raise_exception"), 0, /*raised=*/true);
    });
  }
  if (name == "strftime_now") {
    return Value::function(name, [](Args& a) {
      const Value* f = arg(a, 0, "format");
      if (!f || !f->is_string()) throw TemplateError("strftime_now() takes a format string");
      const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
      std::tm local{};
      localtime_r(&now, &local);
      char buf[256];
      const size_t n = std::strftime(buf, sizeof buf, f->as_string().c_str(), &local);
      return Value(std::string(buf, n));
    });
  }
  return Value::undefined("'" + name + "' is undefined");
}

}  // namespace r1::jinja
