// The parsed form of a Jinja template: expressions and statements as jinja_parse.cpp builds them and
// jinja_render.cpp runs them. One node type each, with a kind; children by position.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace r1::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,    // value
    kName,       // name
    kList,       // children
    kTuple,      // children
    kDict,       // children: key, value, key, value, ...
    kGetAttr,    // children[0] . name
    kGetItem,    // children[0] [ children[1] ]
    kSlice,      // children[0] [ children[1] : children[2] : children[3] ] (null when left out)
    kCall,       // children[0] ( children[1..] , kwargs )
    kFilter,     // children[0] | name ( children[1..], kwargs )
    kTest,       // children[0] is [not] name ( children[1..], kwargs ); negated
    kNeg,        // - children[0]
    kPos,        // + children[0]
    kNot,        // not children[0]
    kBinary,     // children[0] op children[1]: + - * / // % ** ~
    kCompare,    // children[0] op children[1]: == != < <= > >= in notin
    kAnd,        // children[0] and children[1]
    kOr,         // children[0] or children[1]
    kCondition,  // children[1] if children[0] else children[2] (children[2] null: undefined)
  };
  Kind kind;
  int line = 0;
  Value value;       // kLiteral
  std::string name;  // kName, kGetAttr, kFilter, kTest; the operator of kBinary / kCompare
  bool negated = false;
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

// Where a `set` or a `for` assigns: names (a tuple unpacks), or one namespace attribute.
struct Target {
  std::vector<std::string> names;
  std::string attribute;  // set ns.attribute = ...: names[0] is the namespace
};

struct Node {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // branches: (condition, body)..., else_body
    kFor,       // target in expr [if condition] body [else else_body]
    kSet,       // target = expr
    kSetBlock,  // {% set target %}body{% endset %}, through filters
    kMacro,     // name(params) body
    kFilterBlock,  // {% filter f %}body{% endfilter %}: filters
    kWith,      // {% with a = 1, b = 2 %}: assignments, body
    kGeneration,  // {% generation %}body{% endgeneration %}: transformers' assistant-mask marker
    kBreak,
    kContinue,
  };
  Kind kind;
  int line = 0;
  std::string text;  // kText; kMacro's name
  ExprPtr expr;      // kOutput, kSet, kFor (the iterable)
  ExprPtr condition; // kFor's filter
  Target target;
  Body body, else_body;
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf
  std::vector<std::pair<std::string, ExprPtr>> params;  // kMacro (default may be null); kWith
  std::vector<ExprPtr> filters;  // kSetBlock, kFilterBlock: kFilter nodes applied to the body's text
};

// Parses a template (newlines normalised, one trailing newline dropped, trim_blocks and
// lstrip_blocks on, as transformers sets Jinja up). Throws TemplateError naming the line.
Body parse_template(const std::string& source);

}  // namespace r1::jinja
