// The Jinja lexer: template text to tokens, with Jinja's whitespace control as transformers sets it
// up (trim_blocks: the newline after a block or comment tag goes; lstrip_blocks: spaces and tabs
// before a block or comment tag on its own line go; `-` strips all whitespace on its side, `+` keeps
// it). Comments vanish; `{% raw %}` bodies come out as text.
#pragma once

#include <string>
#include <vector>

namespace r1::jinja {

struct Token {
  enum class Type { kData, kBlockBegin, kBlockEnd, kVarBegin, kVarEnd, kName, kString, kInt, kFloat, kOperator, kEnd };
  Type type;
  std::string text;  // data, a name, a decoded string, a number's digits, an operator
  int line;
};

std::vector<Token> lex(const std::string& source);

}  // namespace r1::jinja
