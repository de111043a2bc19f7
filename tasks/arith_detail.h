// What arith.cpp (problems, worked solutions) and arith_corpus.cpp (documents and rows) share inside
// the arithmetic task; not part of its interface (arith.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

#include "tasks/arith.h"

namespace r1::tasks::detail {

// Uniform integers and reals from the engine with r1's own mapping: the same numbers on every
// standard library.
uint64_t below(std::mt19937_64& rng, uint64_t n);                 // 0..n-1
int64_t between(std::mt19937_64& rng, int64_t lo, int64_t hi);    // lo..hi
double unit(std::mt19937_64& rng);                                 // [0, 1)

const char* symbol(const std::string& op);  // "+", "-", "*"
// "47 + 385"; a chain "7 + 5 - 3 + 8" (`spaced` false: "7+5-3+8", its key's form).
std::string expression(const Problem& p, bool spaced = true);
int64_t evaluate(const std::string& op, int64_t a, int64_t b);

// A plausible wrong answer to p (arith.h's slips); never the truth, never negative.
std::string slip(const Problem& p, std::mt19937_64& rng);

// A column (or chain) step first written with a wrong result (the true one + delta), then redone
// (self_correct).
struct Correction {
  size_t step = 0;  // 1-based step
  int delta = 0;    // 0: none
};
// The worked solution in one language, or with each part switched to Chinese at `chinese`, with the
// correction `fix` in it.
std::string worked_in(const Problem& p, StepLanguage language, Correction fix);
std::string code_switched(const Problem& p, std::mt19937_64& rng, double chinese, Correction fix);

}  // namespace r1::tasks::detail
