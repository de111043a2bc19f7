#include "rewards/format.h"

#include <array>
#include <optional>

namespace r1::rewards {
namespace {

bool only_space(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

struct TagCount {
  size_t count = 0;
  size_t first = std::string_view::npos;
};

TagCount find_all(std::string_view text, const std::string& tag) {
  TagCount t;
  for (size_t at = text.find(tag); at != std::string_view::npos; at = text.find(tag, at + tag.size())) {
    if (t.count++ == 0) t.first = at;
  }
  return t;
}

}  // namespace

std::optional<std::string_view> tag_content(std::string_view text, const std::string& tag) {
  std::string open = "<" + tag + ">", close = "</" + tag + ">";
  size_t b = text.find(open);
  if (b == std::string_view::npos) return std::nullopt;
  b += open.size();
  size_t e = text.find(close, b);
  if (e == std::string_view::npos) return std::nullopt;
  return text.substr(b, e - b);
}

Score FormatReward::score(const Sample& sample, const Components&, const Deadline&) const {
  std::string_view text = sample.completion;
  const std::array<std::string, 4> tags = {"<" + options_.think_tag + ">", "</" + options_.think_tag + ">",
                                           "<" + options_.answer_tag + ">", "</" + options_.answer_tag + ">"};
  std::array<TagCount, 4> found;
  size_t once = 0;
  std::string reason;
  for (size_t i = 0; i < 4; ++i) {
    found[i] = find_all(text, tags[i]);
    if (found[i].count == 1) ++once;
    else if (reason.empty()) reason = (found[i].count == 0 ? "missing " : "duplicated ") + tags[i];
  }
  Score s;
  auto fail = [&](std::string why) {
    s.value = options_.partial_credit ? 0.25 * static_cast<double>(once) : 0.0;
    s.reason = std::move(why);
    return s;
  };
  if (once < 4) return fail(reason);
  size_t t0 = found[0].first, t1 = found[1].first, a0 = found[2].first, a1 = found[3].first;
  if (!(t0 < t1 && t1 < a0 && a0 < a1)) {
    if (t0 < a0 && a0 < t1) return fail("nested: " + tags[2] + " inside the " + options_.think_tag + " block");
    if (a0 < t0 && t0 < a1) return fail("nested: " + tags[0] + " inside the " + options_.answer_tag + " block");
    return fail("tags out of order");
  }
  std::string_view think = text.substr(t0 + tags[0].size(), t1 - t0 - tags[0].size());
  std::string_view answer = text.substr(a0 + tags[2].size(), a1 - a0 - tags[2].size());
  if (only_space(think)) return fail("empty " + options_.think_tag + " block");
  if (only_space(answer)) return fail("empty " + options_.answer_tag + " block");
  if (options_.strict) {
    if (!only_space(text.substr(0, t0))) return fail("text before " + tags[0]);
    if (!only_space(text.substr(t1 + tags[1].size(), a0 - t1 - tags[1].size()))) {
      return fail("text between " + tags[1] + " and " + tags[2]);
    }
    if (!only_space(text.substr(a1 + tags[3].size()))) return fail("text after " + tags[3]);
  }
  s.value = 1.0;
  return s;
}

}  // namespace r1::rewards
