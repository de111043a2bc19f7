#include "tokenizer/jinja_value.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "tokenizer/unicode.h"

namespace r1::jinja {
namespace {

// The functions that walk a value recurse into its items; a value nested deeper than this (hostile
// JSON, or a template that wraps a list in a list in a loop) is an error, not a stack overflow.
constexpr int kMaxDepth = 1000;
thread_local int walk_depth = 0;
struct DepthGuard {
  DepthGuard() {
    if (++walk_depth > kMaxDepth) {
      --walk_depth;
      throw TemplateError("a value nested deeper than " + std::to_string(kMaxDepth) + " levels");
    }
  }
  ~DepthGuard() { --walk_depth; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;
};

template <class Json>
Value value_from(const Json& j) {
  DepthGuard guard;
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const uint64_t u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) throw TemplateError("integer " + std::to_string(u) + " is too large");
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return Value(j.template get<double>());
    case nlohmann::json::value_t::string: return Value(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      List items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(value_from(e));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      auto d = std::make_shared<Dict>();
      d->items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) d->items.emplace_back(Value(it.key()), value_from(it.value()));
      return Value::dict(std::move(d));
    }
    default: return Value::none();
  }
}

// Python's repr() of a str: single quotes unless the text holds ' and no ", escapes for what is not
// printable (str.isprintable: not a control, format, separator other than space, or unassigned).
std::string string_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  unicode::decode(s, cps, offsets);
  char buf[16];
  for (char32_t cp : cps) {
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7f) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
      out += buf;
    } else if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      // Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs other than U+0020 are escaped by Python's repr.
      const uint32_t bit = unicode::category_bit(cp);
      const uint32_t hidden = unicode::category_mask("C") | unicode::category_mask("Zl") |
                              unicode::category_mask("Zp") | unicode::category_mask("Zs");
      if (bit & hidden) {
        if (cp <= 0xff) std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
        else if (cp <= 0xffff) std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
        else std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(cp));
        out += buf;
      } else {
        unicode::append(out, cp);
      }
    }
  }
  out += quote;
  return out;
}

// json.dumps's string: ensure_ascii=False keeps every non-ASCII character as it is.
void json_string(std::string& out, const std::string& s) {
  out += '"';
  char buf[8];
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

struct JsonStyle {
  std::optional<std::string> indent;
  std::string item_sep, key_sep;
  bool sort_keys;
};

void dump(std::string& out, const Value& v, const JsonStyle& style, int depth) {
  DepthGuard guard;
  auto newline = [&](int d) {
    out += '\n';
    for (int i = 0; i < d; ++i) out += *style.indent;
  };
  switch (v.type()) {
    case Value::Type::kNone: out += "null"; return;
    case Value::Type::kBool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Type::kInt: out += std::to_string(v.as_int()); return;
    case Value::Type::kFloat: {
      const double d = v.as_double();
      out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : python_float_repr(d);
      return;
    }
    case Value::Type::kString: json_string(out, v.as_string()); return;
    case Value::Type::kList: {
      const List& items = v.as_list();
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += style.item_sep;
        if (style.indent) newline(depth + 1);
        dump(out, items[i], style, depth + 1);
      }
      if (style.indent) newline(depth);
      out += ']';
      return;
    }
    case Value::Type::kDict: {
      if (v.is_namespace()) throw TemplateError("Object of type Namespace is not JSON serializable");
      std::vector<const std::pair<Value, Value>*> items;
      for (const auto& kv : v.as_dict().items) items.push_back(&kv);
      if (items.empty()) {
        out += "{}";
        return;
      }
      auto key_text = [](const Value& k) {
        if (k.is_string()) return k.as_string();
        if (k.is_bool()) return std::string(k.as_bool() ? "true" : "false");
        if (k.is_none()) return std::string("null");
        if (k.is_int() || k.is_float()) return k.str();
        throw TemplateError("keys must be str, int, float, bool or None, not " + k.type_name());
      };
      if (style.sort_keys) {
        std::stable_sort(items.begin(), items.end(),
                         [&](auto* a, auto* b) { return key_text(a->first) < key_text(b->first); });
      }
      out += '{';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += style.item_sep;
        if (style.indent) newline(depth + 1);
        json_string(out, key_text(items[i]->first));
        out += style.key_sep;
        dump(out, items[i]->second, style, depth + 1);
      }
      if (style.indent) newline(depth);
      out += '}';
      return;
    }
    case Value::Type::kUndefined: throw TemplateError("Object of type Undefined is not JSON serializable");
    case Value::Type::kFunction: throw TemplateError("Object of type function is not JSON serializable");
  }
}

}  // namespace

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // Shortest round-trip digits in scientific form, then Python's layout: positional when the
  // decimal exponent is in [-4, 16), else scientific with at least two exponent digits.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, end);
  const bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  const size_t e_at = sci.find('e');
  std::string digits = sci.substr(0, e_at);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exponent = std::stoi(sci.substr(e_at + 1));
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exponent + 1) {
      out += digits + std::string(static_cast<size_t>(exponent + 1) - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(exponent + 1)) + "." + digits.substr(static_cast<size_t>(exponent + 1));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char exp[16];
  std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp;
}

bool python_isspace(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x1f);
  return cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

Value Value::undefined(std::string hint) {
  Value v;
  if (!hint.empty()) v.v_ = Undefined{std::make_shared<const std::string>(std::move(hint))};
  return v;
}
Value Value::none() {
  Value v;
  v.v_ = nullptr;
  return v;
}
namespace {
int checked_depth(int depth) {
  if (depth > Value::kMaxDepth) throw TemplateError("a value nested deeper than " + std::to_string(Value::kMaxDepth) + " levels");
  return depth;
}
}  // namespace

Value Value::list(List items, bool tuple) {
  int depth = 1;
  for (const auto& item : items) depth = std::max(depth, 1 + item.depth());
  Value v;
  v.v_ = std::make_shared<ListBox>(ListBox{std::move(items), tuple, checked_depth(depth)});
  return v;
}
Value Value::dict(std::shared_ptr<Dict> d) {
  int depth = 1;
  for (const auto& kv : d->items) depth = std::max(depth, 1 + kv.second.depth());
  d->depth = checked_depth(depth);
  Value v;
  v.v_ = std::move(d);
  return v;
}
int Value::depth() const {
  if (is_list()) return std::get<std::shared_ptr<ListBox>>(v_)->depth;
  if (is_dict()) return as_dict().depth;
  return 0;
}
Value Value::function(std::string name, std::function<Value(Args&)> call) {
  Value v;
  v.v_ = std::make_shared<Function>(Function{std::move(name), std::move(call)});
  return v;
}
Value Value::from_json(const nlohmann::json& j) { return value_from(j); }
Value Value::from_json(const nlohmann::ordered_json& j) { return value_from(j); }

Value::Type Value::type() const { return static_cast<Type>(v_.index()); }
bool Value::is_tuple() const { return is_list() && std::get<std::shared_ptr<ListBox>>(v_)->tuple; }
bool Value::is_namespace() const { return is_dict() && as_dict().is_namespace; }

int64_t Value::as_int() const { return is_bool() ? (as_bool() ? 1 : 0) : std::get<int64_t>(v_); }
double Value::as_double() const { return is_float() ? std::get<double>(v_) : static_cast<double>(as_int()); }

const std::string& Value::undefined_hint() const {
  static const std::string empty;
  const auto& u = std::get<Undefined>(v_);
  return u.hint ? *u.hint : empty;
}

bool Value::truthy() const {
  switch (type()) {
    case Type::kUndefined:
    case Type::kNone: return false;
    case Type::kBool: return as_bool();
    case Type::kInt: return as_int() != 0;
    case Type::kFloat: return as_double() != 0.0;
    case Type::kString: return !as_string().empty();
    case Type::kList: return !as_list().empty();
    case Type::kDict: return is_namespace() || !as_dict().items.empty();
    case Type::kFunction: return true;
  }
  return false;
}

std::string Value::type_name() const {
  switch (type()) {
    case Type::kUndefined: return "Undefined";
    case Type::kNone: return "NoneType";
    case Type::kBool: return "bool";
    case Type::kInt: return "int";
    case Type::kFloat: return "float";
    case Type::kString: return "str";
    case Type::kList: return is_tuple() ? "tuple" : "list";
    case Type::kDict: return is_namespace() ? "Namespace" : "dict";
    case Type::kFunction: return "function";
  }
  return "object";
}

std::string Value::str() const {
  switch (type()) {
    case Type::kUndefined: return "";
    case Type::kString: return as_string();
    default: return repr();
  }
}

std::string Value::repr() const {
  DepthGuard guard;
  switch (type()) {
    case Type::kUndefined: return "";
    case Type::kNone: return "None";
    case Type::kBool: return as_bool() ? "True" : "False";
    case Type::kInt: return std::to_string(as_int());
    case Type::kFloat: return python_float_repr(as_double());
    case Type::kString: return string_repr(as_string());
    case Type::kList: {
      const List& items = as_list();
      std::string out = is_tuple() ? "(" : "[";
      for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i].repr();
      if (is_tuple() && items.size() == 1) out += ",";
      return out + (is_tuple() ? ")" : "]");
    }
    case Type::kDict: {
      std::string out = is_namespace() ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [k, v] : as_dict().items) {
        out += (first ? "" : ", ") + k.repr() + ": " + v.repr();
        first = false;
      }
      return out + (is_namespace() ? "}>" : "}");
    }
    case Type::kFunction: return "<function " + as_function().name + ">";
  }
  return "";
}

std::string Value::to_json(std::optional<std::string> indent, std::optional<std::pair<std::string, std::string>> separators,
                           bool sort_keys) const {
  JsonStyle style{std::move(indent), ", ", ": ", sort_keys};
  if (style.indent) style.item_sep = ",";
  if (separators) std::tie(style.item_sep, style.key_sep) = *separators;
  std::string out;
  dump(out, *this, style, 0);
  return out;
}

nlohmann::ordered_json Value::to_ordered_json() const {
  DepthGuard guard;
  switch (type()) {
    case Type::kNone: return nullptr;
    case Type::kBool: return as_bool();
    case Type::kInt: return as_int();
    case Type::kFloat: return as_double();
    case Type::kString: return as_string();
    case Type::kList: {
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const auto& v : as_list()) out.push_back(v.to_ordered_json());
      return out;
    }
    case Type::kDict: {
      nlohmann::ordered_json out = nlohmann::ordered_json::object();
      for (const auto& [k, v] : as_dict().items) out[k.str()] = v.to_ordered_json();
      return out;
    }
    default: throw TemplateError("a " + type_name() + " has no JSON form");
  }
}

bool Value::equals(const Value& other) const {
  DepthGuard guard;
  if (is_number() && other.is_number()) {
    if (is_float() || other.is_float()) return as_double() == other.as_double();
    return as_int() == other.as_int();
  }
  if (type() != other.type()) return false;
  switch (type()) {
    case Type::kUndefined:
    case Type::kNone: return true;
    case Type::kString: return as_string() == other.as_string();
    case Type::kList: {
      const List &a = as_list(), &b = other.as_list();
      if (a.size() != b.size() || is_tuple() != other.is_tuple()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (!a[i].equals(b[i])) return false;
      }
      return true;
    }
    case Type::kDict: {
      if (dict_ptr() == other.dict_ptr()) return true;
      if (is_namespace() || other.is_namespace()) return false;
      const auto &a = as_dict().items, &b = other.as_dict().items;
      if (a.size() != b.size()) return false;
      for (const auto& [k, v] : a) {
        const Value* w = other.as_dict().find(k);
        if (!w || !v.equals(*w)) return false;
      }
      return true;
    }
    case Type::kFunction: return &as_function() == &other.as_function();
    default: return false;
  }
}

int Value::compare(const Value& other) const {
  DepthGuard guard;
  if (is_number() && other.is_number()) {
    if (is_float() || other.is_float()) {
      const double a = as_double(), b = other.as_double();
      return a < b ? -1 : a > b ? 1 : 0;
    }
    const int64_t a = as_int(), b = other.as_int();
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (is_string() && other.is_string()) {
    const int c = as_string().compare(other.as_string());  // UTF-8 byte order is code point order
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (is_list() && other.is_list()) {
    const List &a = as_list(), &b = other.as_list();
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (!a[i].equals(b[i])) return a[i].compare(b[i]);
    }
    return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
  }
  throw TemplateError("'<' not supported between instances of '" + type_name() + "' and '" + other.type_name() + "'");
}

size_t Value::length() const {
  switch (type()) {
    case Type::kUndefined: return 0;
    case Type::kString: {
      size_t n = 0;
      for (unsigned char c : as_string()) n += (c & 0xc0) != 0x80;
      return n;
    }
    case Type::kList: return as_list().size();
    case Type::kDict: return as_dict().items.size();
    default: throw TemplateError("object of type '" + type_name() + "' has no len()");
  }
}

List Value::iterate() const {
  switch (type()) {
    case Type::kUndefined: return {};
    case Type::kList: return as_list();
    case Type::kDict: {
      if (is_namespace()) break;
      List keys;
      for (const auto& kv : as_dict().items) keys.push_back(kv.first);
      return keys;
    }
    case Type::kString: {
      List chars;
      const std::string& s = as_string();
      for (size_t i = 0; i < s.size();) {
        size_t n = 1;
        while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xc0) == 0x80) ++n;
        chars.emplace_back(s.substr(i, n));
        i += n;
      }
      return chars;
    }
    default: break;
  }
  throw TemplateError("'" + type_name() + "' object is not iterable");
}

const Value* Dict::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.as_string()));
  for (const auto& kv : items) {
    if (kv.first.equals(key)) return &kv.second;
  }
  return nullptr;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& kv : items) {
    if (kv.first.is_string() && kv.first.as_string() == key) return &kv.second;
  }
  return nullptr;
}

void Dict::set(Value key, Value value) {
  depth = std::max(depth, checked_depth(1 + value.depth()));
  for (auto& kv : items) {
    if (kv.first.equals(key)) {
      kv.second = std::move(value);
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
}

}  // namespace r1::jinja
