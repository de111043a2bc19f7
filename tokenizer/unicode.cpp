#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "core/error.h"

namespace r1::unicode {

uint32_t category_bit(char32_t cp) { return 1u << utf8proc_category(static_cast<utf8proc_int32_t>(cp)); }

uint32_t category_mask(std::string_view name) {
  static const char* const kShort[] = {"Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd",
                                       "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm",
                                       "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"};
  for (uint32_t i = 0; i < 30; ++i) {
    if (name == kShort[i]) return 1u << i;
  }
  auto range = [](uint32_t lo, uint32_t hi) {
    uint32_t m = 0;
    for (uint32_t i = lo; i <= hi; ++i) m |= 1u << i;
    return m;
  };
  if (name == "L" || name == "Letter") return kLetterMask;
  if (name == "M" || name == "Mark" || name == "Combining_Mark") return kMarkMask;
  if (name == "N" || name == "Number") return kNumberMask;
  if (name == "P" || name == "Punctuation") return range(12, 18);
  if (name == "S" || name == "Symbol") return range(19, 22);
  if (name == "Z" || name == "Separator") return range(23, 25);
  if (name == "C" || name == "Other") return range(26, 29) | 1u;
  return 0;
}

bool is_white_space(char32_t cp) {
  if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

namespace {

// Decodes one UTF-8 sequence at text[i]; returns its length, or 0 when it is invalid.
inline size_t decode_one(const unsigned char* s, size_t n, size_t i, char32_t& cp) {
  unsigned char c = s[i];
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  if (c < 0xC2) return 0;
  if (c < 0xE0) {
    if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
    cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
    return 2;
  }
  if (c < 0xF0) {
    if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return 0;
    cp = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
    if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return 3;
  }
  if (c < 0xF5) {
    if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80) {
      return 0;
    }
    cp = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
    if (cp < 0x10000 || cp > 0x10FFFF) return 0;
    return 4;
  }
  return 0;
}

// Length of the maximal invalid subpart at s[i] (Unicode "substitution of maximal subparts"): the
// longest prefix of a well-formed sequence, at least one byte.
size_t invalid_length(const unsigned char* s, size_t n, size_t i) {
  unsigned char c = s[i];
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  size_t len = 1;
  for (size_t k = 0; k < need && i + len < n; ++k) {
    unsigned char b = s[i + len];
    if (b < lo || b > hi) break;
    lo = 0x80;
    hi = 0xBF;
    ++len;
  }
  return len;
}

}  // namespace

std::optional<size_t> decode(std::string_view text, std::vector<char32_t>& cps, std::vector<uint32_t>& offsets) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size();
  cps.clear();
  offsets.clear();
  cps.reserve(n);
  offsets.reserve(n + 1);
  for (size_t i = 0; i < n;) {
    char32_t cp;
    size_t len = decode_one(s, n, i, cp);
    if (len == 0) return i;
    cps.push_back(cp);
    offsets.push_back(static_cast<uint32_t>(i));
    i += len;
  }
  offsets.push_back(static_cast<uint32_t>(n));
  return std::nullopt;
}

std::optional<size_t> find_invalid(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size();
  for (size_t i = 0; i < n;) {
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    char32_t cp;
    size_t len = decode_one(s, n, i, cp);
    if (len == 0) return i;
    i += len;
  }
  return std::nullopt;
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

// Code points that can make NFC change a text: a non-zero combining class (reordering), a
// decomposition that does not recompose to itself, or being the second element of a canonical
// composition (including Hangul vowel and trailing jamo). A text with none of them is already NFC,
// which is the common case and skips utf8proc's decompose-recompose pass.
class NfcInert {
 public:
  NfcInert() : unsafe_(0x110000 / 64, 0) {
    for (char32_t cp = 0; cp < 0x30000; ++cp) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      auto c = static_cast<utf8proc_int32_t>(cp);
      if (utf8proc_get_property(c)->combining_class != 0) mark(cp);
      utf8proc_int32_t parts[8];
      utf8proc_ssize_t n = utf8proc_decompose_char(c, parts, 8, UTF8PROC_DECOMPOSE, nullptr);
      if (n <= 0 || (n == 1 && parts[0] == c)) continue;
      for (utf8proc_ssize_t k = 1; k < n && k < 8; ++k) mark(static_cast<char32_t>(parts[k]));
      std::string one;
      append(one, cp);
      utf8proc_uint8_t* out = nullptr;
      utf8proc_ssize_t len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(one.data()),
                                          static_cast<utf8proc_ssize_t>(one.size()), &out,
                                          static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
      if (len < 0 || std::string_view(reinterpret_cast<const char*>(out), static_cast<size_t>(len)) != one) mark(cp);
      std::free(out);
    }
    for (char32_t cp = 0x1161; cp <= 0x1175; ++cp) mark(cp);
    for (char32_t cp = 0x11A8; cp <= 0x11C2; ++cp) mark(cp);
  }
  bool inert(std::string_view text) const {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    size_t n = text.size();
    for (size_t i = 0; i < n;) {
      if (s[i] < 0x80) {  // ASCII: combining class 0, composes with nothing before it
        ++i;
        continue;
      }
      char32_t cp;
      size_t len = decode_one(s, n, i, cp);
      if (len == 0) return false;
      if ((unsafe_[cp >> 6] >> (cp & 63)) & 1) return false;
      i += len;
    }
    return true;
  }

 private:
  void mark(char32_t cp) { unsafe_[cp >> 6] |= uint64_t{1} << (cp & 63); }
  std::vector<uint64_t> unsafe_;
};

}  // namespace

std::string normalize(std::string_view text, Form form) {
  bool ascii = true;
  for (unsigned char c : text) {
    if (c >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return std::string(text);  // every normalization form leaves ASCII unchanged
  if (form == Form::NFC) {
    static const NfcInert nfc_inert;
    if (nfc_inert.inert(text)) return std::string(text);
  }
  int options = UTF8PROC_STABLE;
  switch (form) {
    case Form::NFC: options |= UTF8PROC_COMPOSE; break;
    case Form::NFD: options |= UTF8PROC_DECOMPOSE; break;
    case Form::NFKC: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case Form::NFKD: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
  }
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                      static_cast<utf8proc_ssize_t>(text.size()), &out,
                                      static_cast<utf8proc_option_t>(options));
  if (len < 0) throw Error(std::string("unicode normalization failed: ") + utf8proc_errmsg(len));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(out, &std::free);
  return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
}

std::string lowercase(std::string_view text) {
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  if (auto bad = decode(text, cps, offsets)) throw Error("invalid UTF-8 at byte " + std::to_string(*bad));
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : cps) append(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
  return out;
}

char32_t fold_case(char32_t cp) {
  auto upper = utf8proc_toupper(static_cast<utf8proc_int32_t>(cp));
  return static_cast<char32_t>(utf8proc_tolower(upper));
}

std::string repair(std::string_view bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size();
  std::string out;
  out.reserve(n);
  for (size_t i = 0; i < n;) {
    char32_t cp;
    size_t len = decode_one(s, n, i, cp);
    if (len > 0) {
      out.append(bytes.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      i += invalid_length(s, n, i);
    }
  }
  return out;
}

size_t complete_prefix(std::string_view bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size();
  // Only the last (up to) 3 bytes can be an unfinished character.
  size_t start = n > 3 ? n - 3 : 0;
  for (size_t i = start; i < n; ++i) {
    unsigned char c = s[i];
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    if (c < 0xC2 || c > 0xF4) continue;  // ASCII or never a lead byte
    size_t need = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (i + need > n && invalid_length(s, n, i) == n - i) return i;  // a valid start, cut short
  }
  return n;
}

}  // namespace r1::unicode
