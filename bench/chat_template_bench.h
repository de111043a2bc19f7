// r1 bench chat-template: what rendering a model's Jinja chat template costs r1, against the same
// work in Python's jinja2 as transformers runs it, in one run: parse time per template, render time per
// conversation (r1's Jinja engine, the built-in template of the same family, Python), and Python's
// start-up (interpreter, import, compile), which every process that renders through Python pays.
#pragma once

#include <string>

namespace r1::bench {

struct ChatTemplateBenchOptions {
  int repeats = 200;                    // renders of the whole conversation set per engine
  std::string python = "/usr/bin/python3";  // "none" skips the Python side
};

void run_chat_template_bench(const ChatTemplateBenchOptions& options);

}  // namespace r1::bench
