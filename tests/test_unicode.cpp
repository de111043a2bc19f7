// model/unicode: UTF-8 validation and repair (Rust from_utf8_lossy semantics), categories,
// normalization, case folding.
#include <catch2/catch.hpp>

#include "tokenizer/unicode.h"

namespace u = r1::unicode;

TEST_CASE("unicode: invalid UTF-8 is found at the right byte", "[unicode]") {
  CHECK_FALSE(u::find_invalid("plain ascii").has_value());
  CHECK_FALSE(u::find_invalid("héllo 你好 👍🏽").has_value());
  CHECK(u::find_invalid("ab\xC0\xAF").value() == 2);          // overlong
  CHECK(u::find_invalid("x\xED\xA0\x80").value() == 1);       // surrogate
  CHECK(u::find_invalid("\xF4\x90\x80\x80").value() == 0);    // above U+10FFFF
  CHECK(u::find_invalid("abc\xE4\xBD").value() == 3);         // truncated
  CHECK(u::find_invalid("\x80").value() == 0);                // stray continuation
  CHECK(u::find_invalid(std::string("a\0b", 3)) == std::nullopt);  // NUL is valid UTF-8
}

TEST_CASE("unicode: repair replaces each maximal invalid subpart with one U+FFFD", "[unicode]") {
  const std::string R = "\xEF\xBF\xBD";
  CHECK(u::repair("ok") == "ok");
  CHECK(u::repair("\xF0\x9F\x98" "a") == R + "a");        // truncated 4-byte sequence: one replacement
  CHECK(u::repair("\xC0\xAF") == R + R);                  // C0 is never valid: two replacements
  CHECK(u::repair("\xED\xA0\x80") == R + R + R);          // surrogate: ED then two stray bytes
  CHECK(u::repair("a\xE4\xBD") == "a" + R);
}

TEST_CASE("unicode: complete_prefix holds back only a character that may still complete", "[unicode]") {
  CHECK(u::complete_prefix("abc") == 3);
  CHECK(u::complete_prefix("ab\xE4\xBD") == 2);       // 你 cut after 2 of 3 bytes
  CHECK(u::complete_prefix("ab\xF0\x9F\x98") == 2);   // 😀 cut after 3 of 4 bytes
  CHECK(u::complete_prefix("ab\xFF") == 3);           // never valid: nothing to wait for
  CHECK(u::complete_prefix("ab\xE4\x41") == 4);       // broken already
}

TEST_CASE("unicode: categories, white space, normalization, case folding", "[unicode]") {
  CHECK((u::category_bit(U'a') & u::kLetterMask) != 0);
  CHECK((u::category_bit(U'你') & u::kLetterMask) != 0);
  CHECK((u::category_bit(U'٣') & u::kNumberMask) != 0);   // Arabic-Indic digit
  CHECK((u::category_bit(U'½') & u::kNumberMask) != 0);   // No
  CHECK((u::category_bit(0x0301) & u::kMarkMask) != 0);   // combining acute
  CHECK(u::category_mask("P") != 0);
  CHECK(u::category_mask("Xx") == 0);
  CHECK(u::is_white_space(0x3000));
  CHECK(u::is_white_space(0x85));
  CHECK_FALSE(u::is_white_space(0xFEFF));
  CHECK_FALSE(u::is_white_space(0x200B));
  CHECK(u::normalize("e\xCC\x81", u::Form::NFC) == "\xC3\xA9");      // e + acute -> é
  CHECK(u::normalize("\xC3\xA9", u::Form::NFD) == "e\xCC\x81");
  CHECK(u::normalize("\xEF\xAC\x81", u::Form::NFKC) == "fi");       // ﬁ ligature
  CHECK(u::fold_case(U'ſ') == U's');
  CHECK(u::fold_case(U'S') == U's');
  CHECK(u::fold_case(0x212A) == U'k');  // Kelvin sign
}
