// What a template can call without defining it, with the semantics of Jinja2's sandbox as
// transformers sets it up: filters and tests (jinja_filters.cpp), attribute and item access with
// the str / dict / list methods the Hub's templates call, and the globals (jinja_methods.cpp).
#pragma once

#include <string>

#include "tokenizer/jinja_value.h"

namespace r1::jinja {

// Filters: `value | name(args)`. Throws TemplateError for a bad argument.
Value call_filter(const std::string& name, const Value& subject, Args& args);
bool has_filter(const std::string& name);

// Tests: `value is name(args)`.
bool call_test(const std::string& name, const Value& subject, Args& args);
bool has_test(const std::string& name);

// `obj.name`: a method or an attribute first, then an item (Jinja's getattr); undefined if neither.
Value get_attr(const Value& obj, const std::string& name);
// `obj[key]`: an item first, then an attribute for a string key (Jinja's getitem).
Value get_item(const Value& obj, const Value& key);
// `obj[start:stop:step]` for strings, lists and tuples (a null part is a Value::none()).
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

// The globals every template sees: range, dict, namespace, raise_exception, strftime_now.
Value global(const std::string& name);

// Raises the error an undefined value carries when it is used as more than a blank.
[[noreturn]] void fail_undefined(const Value& v);

// Argument binding for builtins: the positional or keyword argument `name` at `position`.
const Value* arg(const Args& args, size_t position, const char* name);
// Python's str.strip / lstrip / rstrip (`chars` none: whitespace).
std::string strip(const std::string& s, const Value& chars, bool left, bool right);

}  // namespace r1::jinja
