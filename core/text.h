// Small text helpers shared across r1 (no dependencies beyond the standard library).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

// The words of `text`: maximal runs of bytes other than ASCII white space (space, \t, \n, \v, \f,
// \r). The views point into `text`.
std::vector<std::string_view> split_words(std::string_view text);
// The share of the word n-grams of `text` that repeat an earlier one: with T n-grams of which U are
// distinct, (T - U) / T; 0 when there are fewer than n words (or n < 1). The repetition penalty
// (rewards/shaping.h) and the rejection-sampling filter (run/rejection_filters.h) both measure this.
double repeated_ngram_fraction(std::string_view text, int n);

// Whether `text` contains any of `phrases` as a substring, ignoring ASCII case ("Wait," matches
// "wait,"; other bytes compare as they are); empty phrases match nothing. The reflection rate of a
// GRPO step and of an evaluation ("wait", "let me check": the R1 paper's "aha moment") counts this.
bool contains_any_phrase(std::string_view text, const std::vector<std::string>& phrases);

// Levenshtein edit distance (insert, delete, substitute each cost 1), over bytes.
size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `word` by edit distance, or "" when none is plausibly a typo of it.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);
// Replaces every occurrence of `from` in `s` by `to`, left to right (a replacement is not searched again).
void replace_all(std::string& s, std::string_view from, std::string_view to);
// Reads a whole file into memory; throws r1::Error naming the file when it cannot.
std::string read_file(const std::string& path);
// Writes `content` to a temporary file beside `path` and renames it into place, so a reader never
// sees half a file and a failed write (disk full) leaves the previous file as it was; throws
// r1::Error naming `path` (the temporary file is removed).
void write_file_atomic(const std::string& path, std::string_view content);

}  // namespace r1
