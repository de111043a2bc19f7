// Internal to the math verifier (math.h): where a completion states its final answer.
//
//   boxed answers    the last \boxed{...} / \fbox{...}; boxes just before it that only connectives
//                    separate ("\boxed{3} and \boxed{5}", "x = \boxed{2} or x = \boxed{3}") join it as a
//                    list, while a box that prose separates is a draft the last one corrects;
//   answer tag       the last <answer>...</answer> (a box inside it wins);
//   "answer is"      "the (final) answer is ..." up to the end of its sentence;
//   final statement  the last sentence that states a number or a formula: what follows its last verb
//                    ("the smallest $k$ is 12", "this gives 15"), "not 12 but 13" read as 13 and a bare
//                    "not 12" as no answer, else its last formula or number; values only connectives
//                    join are one list ("2 and 3"). Numbers are never read out of words: "G20",
//                    "mp3", "B52" hold none.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace r1::rewards::math {

// The last box, with the boxes that only connectives separate from it joined as "a, b".
std::optional<std::string> boxed_answer(std::string_view text);
// Every box of `text` joined as a list (a gold answer written as several boxes), or nullopt.
std::optional<std::string> all_boxes(std::string_view text);
// True when the text ends inside an unclosed box ("... \boxed{5"): cut off while stating its answer,
// so it states none (the 5 may have been 50).
bool ends_inside_box(std::string_view text);
std::optional<std::string> answer_tag(std::string_view text, const std::string& tag);
std::optional<std::string> answer_is(std::string_view text);
std::optional<std::string> final_statement(std::string_view text);

}  // namespace r1::rewards::math
