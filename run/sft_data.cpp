// Supervised fine-tuning data: see sft_data.h.
#include "run/sft_data.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

#include "core/error.h"
#include "core/jsonl.h"
#include "core/log.h"

namespace r1::run {

int64_t SftExample::trained() const { return std::count(train.begin(), train.end(), uint8_t{1}); }
int64_t PackedRow::trained() const { return std::count(train.begin(), train.end(), uint8_t{1}); }

namespace {

// Closes the assistant turn that starts at ex.ids[begin]: trained up to its last special token
// ("<|im_end|>", "<|eot_id|>"), the text after it (chatml's "\n") context; a turn closed with text
// only (r1-zero) gets the end-of-text token appended and trained, so the model learns to stop.
void close_turn(SftExample& ex, size_t begin, const Tokenizer& tokenizer) {
  for (size_t k = ex.ids.size(); k-- > begin;)
    if (tokenizer.is_special(ex.ids[k])) {
      for (size_t j = k + 1; j < ex.ids.size(); ++j) ex.train[j] = 0;
      return;
    }
  if (const std::optional<int32_t> eos = tokenizer.eos_id()) {
    ex.ids.push_back(*eos);
    ex.train.push_back(1);
  }
}

}  // namespace

SftExample tokenize_conversation(const std::vector<ChatMessage>& messages, const ChatTemplate& chat,
                                 const Tokenizer& tokenizer, const std::string& where) {
  if (std::none_of(messages.begin(), messages.end(), [](const ChatMessage& m) { return m.role == "assistant"; }))
    throw ConfigError(where + ": no assistant turn to train on");
  SftExample ex;
  std::string done;  // text rendered and encoded so far
  auto add = [&](const std::string& upto, bool train, const std::string& what) {
    if (upto.compare(0, done.size(), done) != 0)
      throw ConfigError(where + ": the chat template '" + chat.name() + "' renders " + what +
                        " differently once more turns follow (not prefix-stable); SFT needs a template that is");
    const std::vector<int32_t> ids = tokenizer.encode(std::string_view(upto).substr(done.size()), false);
    ex.ids.insert(ex.ids.end(), ids.begin(), ids.end());
    ex.train.insert(ex.train.end(), ids.size(), train ? 1 : 0);
    done = upto;
  };
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::vector<ChatMessage> head(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(i));
    const std::vector<ChatMessage> with(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(i + 1));
    const std::string turn = "messages[" + std::to_string(i) + "]";
    if (messages[i].role != "assistant") continue;
    // Everything before this assistant turn, generation prompt included: context, not trained on.
    ChatOptions prompt;
    prompt.add_generation_prompt = true;
    add(chat.render(head, prompt), false, "the turns before " + turn);
    ChatOptions closed;
    closed.add_generation_prompt = false;
    const size_t before = ex.ids.size();
    add(chat.render(with, closed), true, turn);
    if (ex.ids.size() == before) throw ConfigError(where + ": " + turn + " (assistant) renders to no tokens");
    close_turn(ex, before, tokenizer);
  }
  return ex;
}

SftExample tokenize_trajectory(const std::vector<ChatMessage>& prompt, const std::vector<TrajectorySegment>& segments,
                               const ChatTemplate& chat, const Tokenizer& tokenizer, const std::string& where) {
  if (std::none_of(segments.begin(), segments.end(), [](const TrajectorySegment& s) { return s.train; }))
    throw ConfigError(where + ": segments: no segment has \"train\": true (nothing to train on)");
  SftExample ex;
  auto append = [&](const std::string& text, bool train) {
    const std::vector<int32_t> ids = tokenizer.encode(text, false);
    ex.ids.insert(ex.ids.end(), ids.begin(), ids.end());
    ex.train.insert(ex.train.end(), ids.size(), train ? 1 : 0);
  };
  ChatOptions options;
  options.add_generation_prompt = true;
  append(chat.render(prompt, options), false);
  size_t last = ex.ids.size();  // where the last segment starts
  for (size_t i = 0; i < segments.size(); ++i) {
    last = ex.ids.size();
    append(segments[i].text, segments[i].train);
    if (ex.ids.size() == last)
      throw ConfigError(where + ": segments[" + std::to_string(i) + "].text: encodes to no tokens");
  }
  if (segments.back().train) close_turn(ex, last, tokenizer);
  return ex;
}

namespace {

// A trajectory row's prompt: "prompt" (a non-empty string) as the user's turn, or "messages".
std::vector<ChatMessage> trajectory_prompt(const nlohmann::json& row, const std::string& where) {
  if (row.contains("completion")) throw ConfigError(where + ": has both \"segments\" and \"completion\"; keep one");
  const bool has_messages = row.contains("messages"), has_prompt = row.contains("prompt");
  if (has_messages == has_prompt)
    throw ConfigError(where + (has_messages ? ": has both \"messages\" and \"prompt\"; a trajectory row has one prompt"
                                            : ": \"segments\" need a \"prompt\" (a string) or \"messages\" (a chat) before them"));
  if (has_messages) return parse_messages(row["messages"], where + ": messages");
  if (!row["prompt"].is_string() || row["prompt"].get_ref<const std::string&>().empty())
    throw ConfigError(where + ": \"prompt\" must be a non-empty string");
  ChatMessage user;
  user.role = "user";
  user.content = row["prompt"].get<std::string>();
  return {user};
}

std::vector<ChatMessage> row_messages(const nlohmann::json& row, const std::string& where) {
  const bool has_messages = row.contains("messages"), has_pair = row.contains("prompt") || row.contains("completion");
  if (has_messages == has_pair)
    throw ConfigError(where + (has_messages ? ": has both \"messages\" and \"prompt\"/\"completion\"; keep one"
                                            : ": needs \"messages\" (a chat) or \"prompt\" and \"completion\" (strings)"));
  if (has_messages) return parse_messages(row["messages"], where + ": messages");
  for (const char* k : {"prompt", "completion"})
    if (!row.contains(k) || !row[k].is_string() || row[k].get<std::string>().empty())
      throw ConfigError(where + ": \"" + k + "\" must be a non-empty string");
  return {ChatMessage{"user", row["prompt"].get<std::string>(), std::nullopt},
          ChatMessage{"assistant", row["completion"].get<std::string>(), std::nullopt}};
}

}  // namespace

SftExample tokenize_row(const nlohmann::json& row, const ChatTemplate& chat, const Tokenizer& tokenizer,
                        const std::string& where) {
  if (!row.is_object())
    throw ConfigError(where + ": expected a JSON object with \"messages\", \"prompt\" and \"completion\", or \"segments\"");
  if (row.contains("segments")) {
    const std::vector<ChatMessage> prompt = trajectory_prompt(row, where);
    return tokenize_trajectory(prompt, segments_from_json(row["segments"], where + ": segments"), chat, tokenizer, where);
  }
  return tokenize_conversation(row_messages(row, where), chat, tokenizer, where);
}

SftDataset SftDataset::load(const std::string& path, const ChatTemplate& chat, const Tokenizer& tokenizer,
                            bool skip_bad_lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the dataset");
  SftDataset d;
  JsonLinesReader reader(in, path);
  while (true) {
    nlohmann::json row;
    try {
      if (!reader.next(row)) break;
      const std::string where = path + ":" + std::to_string(reader.line());
      d.examples.push_back(tokenize_row(row, chat, tokenizer, where));
    } catch (const ConfigError& e) {
      if (!skip_bad_lines) throw;
      if (d.skipped++ == 0) log::warn() << e.what() << " (skipped; further bad lines are counted)";
    }
  }
  if (d.skipped > 0) log::warn() << path << ": " << d.skipped << " malformed lines skipped";
  if (d.examples.empty()) throw Error(path + ": no usable examples");
  return d;
}

std::vector<PackedRow> pack_examples(const std::vector<SftExample>& examples, const std::vector<size_t>& order,
                                     int64_t seq_len, int32_t pad_id, PackStats* stats) {
  if (seq_len < 2) throw Error("pack_examples: seq_len must be at least 2");
  PackStats st;
  std::vector<PackedRow> rows;
  const size_t L = static_cast<size_t>(seq_len) + 1;  // inputs and the last target
  std::vector<int32_t> ids;
  std::vector<uint8_t> train;
  std::vector<int32_t> starts;  // offsets in `ids` where an example begins
  auto flush = [&] {
    if (ids.empty()) return;
    PackedRow r;
    st.padding += static_cast<int64_t>(L - ids.size());
    starts.push_back(static_cast<int32_t>(ids.size()));  // the padding is a sequence of its own
    ids.resize(L, pad_id);
    train.resize(L, 0);
    r.ids = ids;
    r.positions.resize(L - 1);
    size_t next_start = 1;
    int32_t p = 0;
    for (size_t t = 0; t + 1 < L; ++t) {
      if (next_start < starts.size() && static_cast<int32_t>(t) == starts[next_start]) {
        p = 0;
        ++next_start;
      }
      r.positions[t] = p++;
    }
    // Target t is ids[t + 1]: trained when that token is, and never across an example boundary.
    r.train.assign(L - 1, 0);
    for (size_t t = 0; t + 1 < L; ++t) r.train[t] = train[t + 1];
    for (size_t s = 1; s < starts.size(); ++s)
      if (starts[s] >= 1 && static_cast<size_t>(starts[s]) - 1 < r.train.size()) r.train[static_cast<size_t>(starts[s]) - 1] = 0;
    st.trained_tokens += r.trained();
    rows.push_back(std::move(r));
    ids.clear();
    train.clear();
    starts.clear();
  };
  for (size_t i : order) {
    const SftExample& ex = examples.at(i);
    size_t n = ex.ids.size();
    if (n == 0) continue;
    if (n > L) {
      n = L;
      ++st.cut;
    }
    if (ids.size() + n > L) flush();
    starts.push_back(static_cast<int32_t>(ids.size()));
    ids.insert(ids.end(), ex.ids.begin(), ex.ids.begin() + static_cast<std::ptrdiff_t>(n));
    train.insert(train.end(), ex.train.begin(), ex.train.begin() + static_cast<std::ptrdiff_t>(n));
    ++st.examples;
  }
  flush();
  st.rows = static_cast<int64_t>(rows.size());
  if (stats) *stats = st;
  return rows;
}

}  // namespace r1::run
