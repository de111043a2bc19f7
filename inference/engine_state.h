// The engine's private state of a group and of a sequence (engine.h), shared by engine.cpp and the tool
// loop in engine_tools.cpp. Not for other users.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "inference/engine.h"
#include "tokenizer/tokenizer.h"

namespace r1::inference {

struct Engine::Group {
  GroupId id = 0;
  GroupRequest request;
  OnCompletion on_completion;
  OnText on_text;
  bool cancelled = false;  // under mutex_
  int64_t blocks = 0;      // what admission reserves
  int64_t unfinished = 0;  // samples not yet handed to on_completion
  std::vector<std::string> call_stops;  // with tools: texts that end a turn at a call (kept in the text)
};

struct Engine::Sequence {
  std::shared_ptr<Group> group;
  int64_t sample = 0;
  uint64_t noise = 0;  // the sample's random stream (inference/sampling.h), from the seed and its index
  Completion out;
  std::unique_ptr<DecodeStream> stream;
  std::vector<int64_t> table;  // cache blocks holding tokens 0, block_size, 2 * block_size, ... (the
                               // prompt's full blocks shared with the group's other samples)
  int64_t length = 0;          // tokens in the cache
  int64_t pending = 0;         // the token sampled last, to be fed next
  bool done = false;
  // Tools: the trajectory's session; where the current turn's text starts; a turn that just ended
  // (and whether at a call stop); waiting for the session's outcome.
  uint64_t id = 0;
  std::unique_ptr<rollout::ToolSession> session;
  size_t turn_from = 0;
  bool turn_ended = false, call_stop = false, waiting = false;
};

}  // namespace r1::inference
