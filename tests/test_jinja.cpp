// tokenizer/jinja.h: every case of tests/data/jinja_cases.jsonl renders exactly what Python's jinja2
// renders in transformers' set-up (scripts/fixtures/render_chat_templates.py --cases makes the
// reference), and fails where it fails (with the template's own message for raise_exception);
// and the parts a case file cannot show: spans of {% generation %}, errors naming their line.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include "fixtures.h"
#include "tokenizer/jinja.h"

using r1::jinja::Template;
using r1::jinja::TemplateError;
using r1::jinja::Value;

namespace {


std::string render(const std::string& source, const nlohmann::ordered_json& context = nlohmann::ordered_json::object()) {
  return Template(source).render(Value::from_json(context));
}

}  // namespace

TEST_CASE("jinja: every case renders what Python's jinja2 renders", "[jinja]") {
  const auto cases = r1::test::read_ordered_rows(std::string(R1_SOURCE_DIR) + "/tests/data/jinja_cases.jsonl");
  const auto expected = r1::test::read_ordered_rows(r1::test::fixture("jinja/cases.jsonl"));
  REQUIRE(cases.size() >= 80);
  REQUIRE(expected.size() == cases.size());
  size_t errors = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string name = cases[i]["name"];
    INFO("case " << name << ": " << cases[i]["template"].get<std::string>());
    REQUIRE(expected[i]["name"] == name);
    std::optional<std::string> text, error;
    bool raised = false;
    try {
      text = render(cases[i]["template"], cases[i]["context"]);
    } catch (const TemplateError& e) {
      error = e.message();
      raised = e.raised();
    }
    if (expected[i].contains("text")) {
      CHECK(error.value_or("") == "");
      CHECK(text.value_or("<error>") == expected[i]["text"].get<std::string>());
    } else {
      ++errors;
      CHECK(!text.has_value());
      CHECK(raised == expected[i]["raised"].get<bool>());
      if (expected[i]["raised"].get<bool>()) CHECK(error.value_or("") == expected[i]["error"].get<std::string>());
    }
  }
  CHECK(errors >= 10);
}

TEST_CASE("jinja: generation blocks report the spans they render", "[jinja]") {
  Template t("{% for m in msgs %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}"
             "{% else %}<{{ m.content }}>{% endif %}{% endfor %}");
  nlohmann::ordered_json ctx = {{"msgs", {{{"role", "user"}, {"content", "q1"}}, {{"role", "assistant"}, {"content", "a1"}},
                                          {{"role", "user"}, {"content", "q2"}}, {{"role", "assistant"}, {"content", "a22"}}}}};
  std::vector<std::pair<size_t, size_t>> spans;
  const std::string text = t.render(Value::from_json(ctx), &spans);
  CHECK(text == "<q1>a1<q2>a22");
  REQUIRE(spans.size() == 2);
  CHECK(text.substr(spans[0].first, spans[0].second - spans[0].first) == "a1");
  CHECK(text.substr(spans[1].first, spans[1].second - spans[1].first) == "a22");
}

TEST_CASE("jinja: errors name the template line", "[jinja]") {
  try {
    Template("line one\n{% if x %}\n{{ 1 + 'a' }}\n{% endif %}").render(Value::from_json(nlohmann::ordered_json{{"x", true}}));
    FAIL("no error");
  } catch (const TemplateError& e) {
    CHECK(e.line() == 3);
    CHECK(std::string(e.what()).find("line 3: unsupported operand type(s) for +: 'int' and 'str'") != std::string::npos);
  }
  try {
    Template("a\nb\n{% for x in %}");
    FAIL("no error");
  } catch (const TemplateError& e) {
    CHECK(e.line() == 3);
  }
  CHECK_THROWS_WITH(Template("{% include 'x.jinja' %}"), Catch::Contains("'include' tag is not supported"));
  CHECK_THROWS_WITH(Template("{{ 'unterminated }}"), Catch::Contains("unterminated string"));
  CHECK_THROWS_WITH(Template("{# open comment"), Catch::Contains("missing end of comment tag"));
}

TEST_CASE("jinja: a template is parsed once and renders many contexts", "[jinja]") {
  Template t("{{ a }}-{{ b|default('none') }}");
  CHECK(t.render(Value::from_json(nlohmann::ordered_json{{"a", 1}})) == "1-none");
  CHECK(t.render(Value::from_json(nlohmann::ordered_json{{"a", "x"}, {"b", 2.5}})) == "x-2.5");
}

TEST_CASE("jinja: python float repr", "[jinja]") {
  using r1::jinja::python_float_repr;
  CHECK(python_float_repr(0.1) == "0.1");
  CHECK(python_float_repr(1e-4) == "0.0001");
  CHECK(python_float_repr(1e-5) == "1e-05");
  CHECK(python_float_repr(1e16) == "1e+16");
  CHECK(python_float_repr(1234567890123456.0) == "1234567890123456.0");
  CHECK(python_float_repr(-2.5e-300) == "-2.5e-300");
  CHECK(python_float_repr(100.0) == "100.0");
  CHECK(python_float_repr(1.0 / 3) == "0.3333333333333333");
}

TEST_CASE("jinja: hostile templates are errors, never crashes", "[jinja]") {
  // A macro that never stops calling itself, nesting deep enough to exhaust a stack, a huge range.
  CHECK_THROWS_WITH(render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"), Catch::Contains("maximum recursion depth"));
  CHECK_THROWS_WITH(Template("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}"), Catch::Contains("nesting deeper than"));
  CHECK_THROWS_WITH(Template("{{ " + std::string(100000, '[') + " }}"), Catch::Contains("nesting deeper than"));
  CHECK_THROWS_WITH(Template("{{ " + std::string(100000, '-') + "1 }}"), Catch::Contains("nesting deeper than"));
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  CHECK_THROWS_WITH(Template(ifs), Catch::Contains("nesting deeper than"));
  CHECK_THROWS_WITH(render("{{ range(1000000)|length }}"), Catch::Contains("MAX_RANGE"));
  CHECK_THROWS_WITH(render("{{ 'x' * 100000000 }}"), Catch::Contains("too large"));
  CHECK_THROWS_WITH(render("{{ 9223372036854775807 + 1 }}"), Catch::Contains("integer overflow"));
  // Values nested without end, from the data or built by the template, are errors too.
  std::string deep = "[";
  for (int i = 0; i < 5000; ++i) deep += "[";
  deep += std::string(5001, ']');
  CHECK_THROWS_WITH(Value::from_json(nlohmann::ordered_json::parse(deep)), Catch::Contains("nested deeper than"));
  CHECK_THROWS_WITH(render("{% set ns = namespace(x=[]) %}{% for i in range(5000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}"),
                    Catch::Contains("nested deeper than"));
  // Truncated input at every position of a real template parses or fails cleanly.
  const std::string source = "{%- for m in messages -%}{{ m.role|upper ~ ': ' ~ m['content']|trim }}{% if not loop.last %}\n{% endif %}{%- endfor %}";
  for (size_t cut = 0; cut <= source.size(); ++cut) {
    try {
      Template t(source.substr(0, cut));
      t.render(Value::from_json(nlohmann::ordered_json{{"messages", {{{"role", "user"}, {"content", " x "}}}}}));
    } catch (const TemplateError&) {
    }
  }
}
