// The values a Jinja template computes with, with Python's semantics where templates can see them:
// truthiness, equality and ordering across int/float/bool, str() and repr() of every type (a template
// that prints a dict prints Python's `{'a': 1}`), and json.dumps as transformers' `tojson` calls it.
//
// Lists and dicts are shared (Python's reference semantics: a `namespace` changed inside a loop is
// the one outside it); strings are UTF-8 and index by code point, as Python's do. Dicts keep their
// insertion order (tool schemas are printed in the order the user wrote them).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/error.h"

namespace r1::jinja {

// A template's error: a syntax error names its line; a render error carries the template's own
// message (raise_exception) or what went wrong (an undefined attribute, a type mismatch).
class TemplateError : public Error {
 public:
  // `line` 0: not known yet (the renderer adds the line of the statement that failed); `raised`:
  // the template's own raise_exception, whose message is the whole text a user should see.
  explicit TemplateError(const std::string& message, int line = 0, bool raised = false)
      : Error(line ? "line " + std::to_string(line) + ": " + message : message),
        message_(message), line_(line), raised_(raised) {}
  const std::string& message() const { return message_; }
  int line() const { return line_; }
  bool raised() const { return raised_; }

 private:
  std::string message_;
  int line_;
  bool raised_;
};

class Value;
struct Dict;
struct Function;
using List = std::vector<Value>;

// Arguments of a call: positional, then keyword (in the order written).
struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

class Value {
 public:
  enum class Type { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

  Value() = default;  // undefined
  static Value undefined(std::string hint = {});
  static Value none();
  Value(bool b) : v_(b) {}
  Value(int64_t i) : v_(i) {}
  Value(int i) : v_(static_cast<int64_t>(i)) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  static Value list(List items, bool tuple = false);
  static Value dict(std::shared_ptr<Dict> d);
  static Value function(std::string name, std::function<Value(Args&)> call);
  static Value from_json(const nlohmann::json& j);
  static Value from_json(const nlohmann::ordered_json& j);

  Type type() const;
  bool is_undefined() const { return type() == Type::kUndefined; }
  bool is_none() const { return type() == Type::kNone; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_int() const { return type() == Type::kInt; }
  bool is_float() const { return type() == Type::kFloat; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python: bool is an int
  bool is_string() const { return type() == Type::kString; }
  bool is_list() const { return type() == Type::kList; }
  bool is_tuple() const;
  bool is_dict() const { return type() == Type::kDict; }
  bool is_namespace() const;
  bool is_function() const { return type() == Type::kFunction; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const;  // bool or int
  double as_double() const;  // bool, int or float
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const List& as_list() const { return std::get<std::shared_ptr<ListBox>>(v_)->items; }
  Dict& as_dict() const { return *std::get<std::shared_ptr<Dict>>(v_); }
  const std::shared_ptr<Dict>& dict_ptr() const { return std::get<std::shared_ptr<Dict>>(v_); }
  const Function& as_function() const { return *std::get<std::shared_ptr<Function>>(v_); }
  const std::string& undefined_hint() const;

  bool truthy() const;
  // Python's type name, as error messages print it ("str", "dict", "NoneType").
  std::string type_name() const;

  // What {{ value }} prints: str() in Python (undefined prints nothing).
  std::string str() const;
  // Python's repr().
  std::string repr() const;
  // json.dumps(value, ensure_ascii=False, indent, separators, sort_keys), as transformers' tojson.
  std::string to_json(std::optional<std::string> indent = std::nullopt,
                      std::optional<std::pair<std::string, std::string>> separators = std::nullopt,
                      bool sort_keys = false) const;
  nlohmann::ordered_json to_ordered_json() const;

  // Python's ==; ordering for < <= > >= (numbers, strings, lists); throws TemplateError for others.
  bool equals(const Value& other) const;
  int compare(const Value& other) const;

  // How deeply lists and dicts nest in it (0 for a scalar). Building a value deeper than
  // kMaxDepth throws, so no value is too deep to print, compare or free without exhausting the stack.
  int depth() const;
  static constexpr int kMaxDepth = 1000;

  // Number of items: code points of a string, items of a list or dict.
  size_t length() const;
  // The items iteration yields: a list's items, a dict's keys, a string's characters; undefined
  // yields nothing. Throws for types that do not iterate.
  List iterate() const;

 private:
  struct ListBox {
    List items;
    bool tuple = false;
    int depth = 1;
  };
  struct Undefined {
    std::shared_ptr<const std::string> hint;
  };
  std::variant<Undefined, std::nullptr_t, bool, int64_t, double, std::string, std::shared_ptr<ListBox>,
               std::shared_ptr<Dict>, std::shared_ptr<Function>>
      v_;
};

// A dict in insertion order; a `namespace()` is a dict whose attributes can be set.
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  bool is_namespace = false;
  int depth = 1;  // kept by set() and Value::dict(); see Value::depth

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  const Value* find(const std::string& key) const { return find(std::string_view(key)); }
  const Value* find(const char* key) const { return find(std::string_view(key)); }
  void set(Value key, Value value);
};

struct Function {
  std::string name;
  std::function<Value(Args&)> call;
};

// Python's float repr (shortest round-trip digits; "1e-05", "1e+16", "2.0", "inf", "nan").
std::string python_float_repr(double d);
// Python's str.isspace() for one code point.
bool python_isspace(char32_t cp);

}  // namespace r1::jinja
