// Tool use inside a rollout: the seam between the engine that samples a trajectory and the tools it
// calls. No LibTorch, no protobuf.
//
// A group that uses tools (GroupRequest::tools) samples multi-turn trajectories. The engine
// (inference/engine.h) samples a model turn until a stop token, a stop string, a call stop (below) or
// the token budget; at a stop or a call stop it hands the turn to the trajectory's ToolSession, which
// parses the turn's tool calls in the model's format, runs them, and answers with the tool messages
// rendered through the chat template (with the opening of the model's next turn) as token ids. The
// engine appends them to the sequence already in its KV cache (no prefill of the trajectory so far)
// and samples on. A turn without a call ends the trajectory.
//
//   prompt | turn 1 (sampled) | tool message (appended) | turn 2 (sampled) | ... | last turn (sampled)
//
// Completion::ids hold all of it after the prompt; Completion::sampled marks which tokens the model
// sampled (the trainer's loss covers only those) and their log-probabilities; appended tokens have
// log-probability 0. One trajectory runs on one policy version from its first token to its last.
//
// The engine knows nothing of formats, tools or templates: tools/tool_host.h implements ToolProvider
// (parsing, the python tool in the sandbox, custom tools, rendering), and the caller injects it
// (EngineOptions::tools), so the same engine runs tools in a rollout worker and in the trainer's
// colocated engine.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace r1::rollout {

// How a group's samples use tools. `config` is the stage's "tools" object as JSON text (the tool set,
// call format, chat template, limits: tools/tool_config.h reads it); empty: no tools.
struct ToolUse {
  std::string config;
  bool enabled() const { return !config.empty(); }
  bool operator==(const ToolUse&) const = default;
};

// What a trajectory did with its tools, carried by its Completion and summed into a step's metrics.
struct ToolStats {
  int64_t turns = 0;        // model turns sampled (1 for a trajectory without a call)
  int64_t calls = 0;        // tool calls the model made, well-formed or not
  int64_t errors = 0;       // calls answered with an error: malformed, unknown tool, bad arguments,
                            // the tool failed, timed out or was cut at its output cap
  int64_t tool_tokens = 0;  // appended tokens (tool messages and the template text around them)
  double tool_seconds = 0;  // wall time the trajectory spent waiting for its tools
  bool operator==(const ToolStats&) const = default;
};

// The answer to one model turn.
struct TurnOutcome {
  // true: the trajectory ends here; `limit` says it ended at a bound on calls, turns or time
  // (FinishReason::kToolLimit) rather than with a turn that made no call.
  bool finished = true;
  bool limit = false;
  std::vector<int64_t> append;  // else: the ids to append (tool messages, the next turn's opening)
  std::string append_text;      // their text, as the completion's text shows it
  int64_t calls = 0, errors = 0;
  double seconds = 0;           // spent in tools for this turn
};

// One trajectory's tools: its limits, and state kept from call to call (the python tool's notebook).
class ToolSession {
 public:
  virtual ~ToolSession() = default;
  // The end of a model turn. `turn_text` is the text the model wrote since the last tool message (a
  // call stop's text included), `call_stop` whether the turn ended at a call stop rather than a stop
  // token or string. `done` is called exactly once, on any thread, possibly before this returns.
  // Never throws: a malformed call, an unknown tool, a tool that fails or hangs becomes a tool message
  // to the model.
  virtual void end_turn(const std::string& turn_text, bool call_stop, std::function<void(TurnOutcome)> done) = 0;
};

class ToolProvider {
 public:
  virtual ~ToolProvider() = default;
  // Checks a request's tool config; throws r1::Error naming the key at fault (a worker answers
  // INVALID_ARGUMENT).
  virtual void check(const ToolUse& use) = 0;
  // The strings that end a model turn at a tool call, kept in the text (unlike stop strings):
  // "</tool_call>" when the config asks to stop after each call; empty: turns end at the usual stops.
  virtual std::vector<std::string> call_stops(const ToolUse& use) = 0;
  // A session for one trajectory of a checked config.
  virtual std::unique_ptr<ToolSession> open(const ToolUse& use) = 0;
};

}  // namespace r1::rollout
