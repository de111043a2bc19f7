// An example r1 tool plugin (C ABI v1, tools/tool_plugin_abi.h): a calculator. Arguments
// {"expression": "(385 + 15) * 47 / 2"}: + - * / ^ % and parentheses over decimal numbers; the content is
// the value ("9400"), or an error ("Error: division by zero", "Error: unexpected ')' at 7").
// Config: {"precision": 12} (significant digits shown).
//
// Build: part of r1's build (target r1_example_calculator_tool), or on its own:
//   g++ -shared -fPIC -O2 -I<r1 checkout> calculator_tool.cpp -o libcalculator_tool.so
// Use:   {"kind": "plugin", "name": "calculator", "path": "/path/libcalculator_tool.so",
//         "description": "Evaluate an arithmetic expression",
//         "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
//         "config": {"precision": 12}}
#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "tools/tool_plugin_abi.h"

namespace {

struct State {
  int precision = 12;
};

// expression := term (('+' | '-') term)*;  term := power (('*' | '/' | '%') power)*;
// power := unary ('^' power)?;  unary := '-' unary | primary;  primary := number | '(' expression ')'
class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}
  double parse() {
    double v = expression();
    skip();
    if (i_ < s_.size()) fail(std::string("unexpected '") + s_[i_] + "'");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + " at " + std::to_string(i_ + 1)); }
  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    skip();
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }
  double expression() {
    double v = term();
    for (;;) {
      if (eat('+')) v += term();
      else if (eat('-')) v -= term();
      else return v;
    }
  }
  double term() {
    double v = power();
    for (;;) {
      if (eat('*')) v *= power();
      else if (eat('/')) {
        double d = power();
        if (d == 0) throw std::runtime_error("division by zero");
        v /= d;
      } else if (eat('%')) {
        double d = power();
        if (d == 0) throw std::runtime_error("division by zero");
        v = std::fmod(v, d);
      } else return v;
    }
  }
  double power() {
    double base = unary();
    if (eat('^')) return std::pow(base, power());
    return base;
  }
  double unary() {
    if (eat('-')) return -unary();
    if (eat('+')) return unary();
    return primary();
  }
  double primary() {
    if (eat('(')) {
      double v = expression();
      if (!eat(')')) fail("missing ')'");
      return v;
    }
    skip();
    const char* start = s_.c_str() + i_;
    char* end = nullptr;
    double v = std::strtod(start, &end);
    if (end == start || !(std::isdigit(static_cast<unsigned char>(*start)) || *start == '.')) {
      if (i_ >= s_.size()) fail("unexpected end");
      fail(std::string("unexpected '") + s_[i_] + "'");
    }
    i_ += static_cast<size_t>(end - start);
    return v;
  }

  const std::string& s_;
  size_t i_ = 0;
};

long long write(const std::string& text, char* out, size_t out_size) {
  if (out_size > 0) std::snprintf(out, out_size, "%s", text.c_str());
  return static_cast<long long>(text.size());
}

}  // namespace

extern "C" {

int r1_tool_v1_abi_version(void) { return R1_TOOL_ABI_VERSION; }

void* r1_tool_v1_create(const char* config_json, char* error, size_t error_size) {
  try {
    auto config = nlohmann::json::parse(config_json);
    auto* state = new State;
    state->precision = config.value("precision", state->precision);
    if (state->precision < 1 || state->precision > 17) {
      delete state;
      std::snprintf(error, error_size, "precision: must be in [1, 17]");
      return nullptr;
    }
    return state;
  } catch (const std::exception& e) {
    std::snprintf(error, error_size, "bad config: %s", e.what());
    return nullptr;
  }
}

long long r1_tool_v1_call(void* state, const char* name, const char* arguments_json, const char* trajectory, char* out,
                          size_t out_size, int* is_error) {
  const auto* s = static_cast<const State*>(state);
  try {
    const auto arguments = nlohmann::json::parse(arguments_json);
    const double v = Parser(arguments.at("expression").get<std::string>()).parse();
    if (!std::isfinite(v)) throw std::runtime_error("the result is not a finite number");
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", s->precision, v);
    *is_error = 0;
    return write(buf, out, out_size);
  } catch (const std::exception& e) {
    *is_error = 1;
    return write(std::string("Error: ") + e.what(), out, out_size);
  }
}

void r1_tool_v1_destroy(void* state) { delete static_cast<State*>(state); }

}  // extern "C"
