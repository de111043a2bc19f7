// The tokenizer regex matcher (regex.h): a backtracking VM over the compiled program
// (regex_program.h, written by regex_compile.cpp) with an explicit stack of alternatives; lookaheads
// run as nested sub-matches.
#include "tokenizer/regex.h"

#include <memory>

#include "tokenizer/regex_program.h"

namespace r1 {
namespace {

using regex::CharClass;
using regex::Inst;
using regex::Op;

// Backtracking entry: resume at pc with pos, or give back one more repetition of a kRepeat.
struct Frame {
  int pc;
  uint32_t pos;
  uint32_t count;  // repeat frames: repetitions currently taken
  uint32_t start;  // repeat frames: where the repetition began; UINT32_MAX for plain frames
};

// One function on purpose: this loop is the tokenizer's hot path, one switch over the
// instructions with the backtracking step inline below it.
int64_t run(const Regex::Program& prog, int start_pc, const char32_t* cps, size_t n, size_t start_pos,
            std::vector<Frame>& stack) {
  const size_t base = stack.size();
  int pc = start_pc;
  uint32_t pos = static_cast<uint32_t>(start_pos);
  for (;;) {
    const Inst& in = prog.code[pc];
    bool ok = true;
    switch (in.op) {
      case Op::kClass:
        if (pos < n && prog.classes[in.cls].match(cps[pos])) {
          ++pos;
          ++pc;
        } else {
          ok = false;
        }
        break;
      case Op::kRepeat: {
        const CharClass& cls = prog.classes[in.cls];
        if (in.greedy) {
          uint32_t k = 0;
          while (k < in.max && pos + k < n && cls.match(cps[pos + k])) ++k;
          if (k < in.min) {
            ok = false;
            break;
          }
          if (k > in.min) stack.push_back({pc + 1, pos, k, pos});
          pos += k;
        } else {
          uint32_t k = 0;
          while (k < in.min && pos + k < n && cls.match(cps[pos + k])) ++k;
          if (k < in.min) {
            ok = false;
            break;
          }
          // Lazy: remember we may take more; encoded with count | high bit.
          if (in.min < in.max) stack.push_back({pc, pos + k, k | 0x80000000u, pos});
          pos += k;
        }
        ++pc;
        break;
      }
      case Op::kSplit:
        stack.push_back({in.y, pos, 0, UINT32_MAX});
        pc = in.x;
        break;
      case Op::kJmp: pc = in.x; break;
      case Op::kLookahead: {
        bool matched = run(prog, in.x, cps, n, pos, stack) >= 0;
        if (matched == in.negate) ok = false;
        else ++pc;
        break;
      }
      case Op::kBegin:
        if (pos == 0) ++pc;
        else ok = false;
        break;
      case Op::kEnd:
        if (pos == n) ++pc;
        else ok = false;
        break;
      case Op::kMatch:
        stack.resize(base);
        return pos;
    }
    if (ok) continue;
    // Backtrack.
    for (;;) {
      if (stack.size() == base) return -1;
      Frame f = stack.back();
      stack.pop_back();
      if (f.start == UINT32_MAX) {
        pc = f.pc;
        pos = f.pos;
        break;
      }
      if ((f.count & 0x80000000u) == 0) {
        // Greedy repeat: give back one repetition.
        const Inst& rep = prog.code[f.pc - 1];
        uint32_t k = f.count - 1;
        if (k > rep.min) stack.push_back({f.pc, f.start, k, f.start});
        pc = f.pc;
        pos = f.start + k;
        break;
      }
      // Lazy repeat: take one more repetition if the class allows.
      const Inst& rep = prog.code[f.pc];
      uint32_t k = f.count & 0x7FFFFFFFu;
      uint32_t at = f.start + k;
      if (at < n && prog.classes[rep.cls].match(cps[at])) {
        ++k;
        if (k < rep.max) stack.push_back({f.pc, at + 1, k | 0x80000000u, f.start});
        pc = f.pc + 1;
        pos = at + 1;
        break;
      }
    }
  }
}

}  // namespace

Regex::Regex(std::string_view pattern) : pattern_(pattern), program_(new Program) {
  std::unique_ptr<Program> owner(program_);
  regex::compile(pattern, *program_);
  owner.release();
}

Regex::~Regex() { delete program_; }
Regex::Regex(Regex&& other) noexcept : pattern_(std::move(other.pattern_)), program_(other.program_) {
  other.program_ = nullptr;
}
Regex& Regex::operator=(Regex&& other) noexcept {
  std::swap(pattern_, other.pattern_);
  std::swap(program_, other.program_);
  return *this;
}

void Regex::find_all(const char32_t* cps, size_t n, std::vector<std::pair<uint32_t, uint32_t>>& matches) const {
  thread_local std::vector<Frame> stack;
  matches.clear();
  size_t pos = 0;
  while (pos < n) {
    stack.clear();
    int64_t end = run(*program_, 0, cps, n, pos, stack);
    if (end > static_cast<int64_t>(pos)) {
      matches.emplace_back(static_cast<uint32_t>(pos), static_cast<uint32_t>(end));
      pos = static_cast<size_t>(end);
    } else {
      ++pos;  // no match here, or an empty match: HF drops empty matches
    }
  }
}

}  // namespace r1
