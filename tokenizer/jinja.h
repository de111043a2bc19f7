// A Jinja engine for chat templates: the subset of Jinja2 the Hub's templates use, with the semantics
// transformers' apply_chat_template gives them (an ImmutableSandboxedEnvironment with trim_blocks,
// lstrip_blocks and loop controls; raise_exception, strftime_now and transformers' tojson; the
// {% generation %} marker). Parsed once, rendered many times; no Python in the process.
//
// Supported: {{ }}, {% %}, {# #} with - and + whitespace control; if/elif/else, for (tuple targets,
// `if` filters, else, loop.index/index0/revindex/revindex0/first/last/length/previtem/nextitem/
// cycle), set (names, tuples, namespace attributes, blocks), macro (defaults, keyword arguments),
// filter blocks, with, break/continue, raw; Python's operators and precedence, slicing, string /
// dict / list methods, and the filters and tests in jinja_builtins.h. `call`, `include`, `import`,
// `extends` and `do` are refused at parse time with the tag named, as is an unknown filter or test.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace r1::jinja {

struct Parsed;

class Template {
 public:
  // Parses `source`; throws TemplateError naming the line of a syntax error, an unknown filter or test.
  explicit Template(const std::string& source);
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;
  ~Template();

  // Renders with `context` (a dict of the template's variables). Throws TemplateError: the
  // template's own raise_exception message, or what went wrong and on which line.
  std::string render(const Value& context) const;

  // The same, also reporting the byte ranges of the output that {% generation %} blocks produced
  // (transformers' assistant masks).
  std::string render(const Value& context, std::vector<std::pair<size_t, size_t>>* generation_spans) const;

 private:
  std::shared_ptr<const Parsed> parsed_;
};

}  // namespace r1::jinja
