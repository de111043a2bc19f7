// Unicode helpers for the tokenizer, over utf8proc (Debian's libutf8proc, Unicode 15):
// UTF-8 decoding with validation, general categories as bit masks, the White_Space property,
// normalization forms, and lossy/streaming UTF-8 repair for decoding model output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace r1::unicode {

// Bit (1 << category) for each utf8proc general category; masks for the one-letter groups.
uint32_t category_bit(char32_t cp);
uint32_t category_mask(std::string_view name);  // "L", "Lu", "Letter", "N", "P", ...; 0 if unknown
inline constexpr uint32_t kLetterMask = (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5);
inline constexpr uint32_t kMarkMask = (1u << 6) | (1u << 7) | (1u << 8);
inline constexpr uint32_t kNumberMask = (1u << 9) | (1u << 10) | (1u << 11);
inline constexpr uint32_t kDecimalMask = (1u << 9);

// Unicode White_Space (what Oniguruma's \s and Rust's char::is_whitespace mean).
bool is_white_space(char32_t cp);

// Decodes UTF-8 into code points and the byte offset of each (plus a final offset = size).
// Returns the byte offset of the first invalid sequence, or nullopt when the text is valid.
std::optional<size_t> decode(std::string_view text, std::vector<char32_t>& cps, std::vector<uint32_t>& offsets);
// Byte offset of the first invalid UTF-8 sequence (overlongs, surrogates, > U+10FFFF), or nullopt.
std::optional<size_t> find_invalid(std::string_view text);
void append(std::string& out, char32_t cp);

enum class Form { NFC, NFD, NFKC, NFKD };
std::string normalize(std::string_view text, Form form);
// Simple lower case per code point (what a Lowercase normalizer does).
std::string lowercase(std::string_view text);
// Simple case folding for case-insensitive matching ("ſ" and "S" both fold to "s").
char32_t fold_case(char32_t cp);

// Replaces every maximal invalid subsequence with U+FFFD, as Rust's String::from_utf8_lossy does.
std::string repair(std::string_view bytes);
// Length of the longest prefix that is valid UTF-8 or invalid beyond repair; the rest (at most 3
// bytes) is the start of a character that more bytes may complete.
size_t complete_prefix(std::string_view bytes);

}  // namespace r1::unicode
