#include "tokenizer/bpe.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <queue>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace r1 {

ByteLevelAlphabet::ByteLevelAlphabet() {
  // Printable bytes map to themselves; the other 68 bytes map to U+0100.. in byte order.
  for (auto& v : char_to_byte) v = -1;
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
    byte_to_char[b] = cp;
    char_to_byte[cp] = static_cast<int16_t>(b);
  }
}

const ByteLevelAlphabet& byte_level_alphabet() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

// Open-addressing hash table from a pair of symbol ids to (rank, merged id). Merge lookups are the
// innermost operation of BPE; this is several times faster than std::unordered_map for it.
class Bpe::MergeTable {
 public:
  explicit MergeTable(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    keys_.assign(cap, kEmpty);
    values_.resize(cap);
    mask_ = cap - 1;
  }
  // Returns false when the pair is already present (the first, lowest rank wins).
  bool insert(int32_t a, int32_t b, MergeValue v) {
    uint64_t key = pack(a, b);
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      if (keys_[i] == kEmpty) {
        keys_[i] = key;
        values_[i] = v;
        return true;
      }
      if (keys_[i] == key) return false;
    }
  }
  const MergeValue* find(int32_t a, int32_t b) const {
    uint64_t key = pack(a, b);
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t pack(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static size_t hash(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return static_cast<size_t>(key);
  }
  std::vector<uint64_t> keys_;
  std::vector<MergeValue> values_;
  size_t mask_;
};

namespace {

std::atomic<uint64_t> g_next_cache_tag{1};

// Per-thread cache of recent words: text -> ids, direct-mapped (a word's hash picks its one slot; a
// new word evicts the old). One probe and no allocation once the slots are warm: a node-based map
// spent a quarter of the encode time chasing pointers. It starts small (a thread that encodes one
// prompt keeps ~70 KB) and grows 4x whenever it has taken 4x its size in new words, up to 64k slots.
// Emptied when another model uses it.
struct WordCache {
  static constexpr size_t kMinSlots = 1 << 10, kMaxSlots = 1 << 16;
  struct Slot {
    size_t hash = 0;
    bool used = false;
    std::string word;
    std::vector<int32_t> ids;
  };
  uint64_t tag = 0;
  size_t inserts = 0;  // since the last resize
  std::vector<Slot> slots;
  Slot& slot(size_t hash) { return slots[hash & (slots.size() - 1)]; }
  void reset(uint64_t new_tag) {
    slots.assign(kMinSlots, Slot());
    inserts = 0;
    tag = new_tag;
  }
  void note_insert() {
    if (++inserts < 4 * slots.size() || slots.size() >= kMaxSlots) return;
    slots.assign(slots.size() * 4, Slot());
    inserts = 0;
  }
};
constexpr std::string_view kSpaceMark = "\u2581";  // SentencePiece's "▁"
constexpr char32_t kSpaceMarkCp = 0x2581;
constexpr size_t kMaxCachedWord = 256;

std::string to_byte_level(std::string_view bytes) {
  const auto& alphabet = byte_level_alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) unicode::append(out, alphabet.byte_to_char[b]);
  return out;
}

}  // namespace

BpeSpec BpeSpec::from_json(const nlohmann::json& model) {
  BpeSpec spec;
  spec.options = &model;
  const auto& vocab = model.at("vocab");
  if (!vocab.is_object()) throw Error("tokenizer.json: model.vocab: expected object");
  spec.vocab.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) {
      throw Error("tokenizer.json: model.vocab[\"" + it.key() + "\"]: expected an integer id");
    }
    spec.vocab.emplace_back(it.key(), it.value().get<int64_t>());
  }
  const auto& merges = model.at("merges");
  if (!merges.is_array()) throw Error("tokenizer.json: model.merges: expected array");
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& m = merges[rank];
    if (m.is_string()) {
      std::string_view s = m.get_ref<const std::string&>();
      auto space = s.find(' ');
      if (space == std::string_view::npos) {
        throw Error("tokenizer.json: model.merges[" + std::to_string(rank) + "]: expected \"a b\"");
      }
      spec.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      spec.merges.emplace_back(m[0].get_ref<const std::string&>(), m[1].get_ref<const std::string&>());
    } else {
      throw Error("tokenizer.json: model.merges[" + std::to_string(rank) + "]: expected \"a b\" or [a, b]");
    }
  }
  return spec;
}

Bpe::Bpe(const BpeSpec& spec, bool byte_level) : byte_level_(byte_level), cache_tag_(g_next_cache_tag++) {
  static const nlohmann::json kNoOptions = nlohmann::json::object();
  const nlohmann::json& model = spec.options ? *spec.options : kNoOptions;
  auto string_field = [&](const char* key) -> std::string {
    auto it = model.find(key);
    if (it == model.end() || it->is_null()) return "";
    if (!it->is_string()) throw Error(std::string("tokenizer.json: model.") + key + ": expected string");
    return it->get<std::string>();
  };
  auto bool_field = [&](const char* key) {
    auto it = model.find(key);
    return it != model.end() && it->is_boolean() && it->get<bool>();
  };
  if (auto it = model.find("dropout"); it != model.end() && it->is_number() && it->get<double>() > 0.0) {
    throw Error("tokenizer.json: BPE dropout is not supported (training-time augmentation; set it to null)");
  }
  continuing_subword_prefix_ = string_field("continuing_subword_prefix");
  end_of_word_suffix_ = string_field("end_of_word_suffix");
  fuse_unk_ = bool_field("fuse_unk");
  byte_fallback_ = bool_field("byte_fallback");
  ignore_merges_ = bool_field("ignore_merges");

  token_to_id_.reserve(spec.vocab.size());
  int64_t max_id = -1;
  for (const auto& [token, id] : spec.vocab) {
    if (id < 0 || id > INT32_MAX) {
      throw Error("tokenizer.json: model.vocab[\"" + std::string(token) + "\"]: expected a non-negative integer id");
    }
    token_to_id_.emplace(token, static_cast<int32_t>(id));
    max_id = std::max(max_id, id);
  }
  // Ids index dense tables: a file claiming id 2,000,000,000 for a 100-token vocabulary is broken
  // (or hostile), not a reason to allocate gigabytes.
  const int64_t id_limit = static_cast<int64_t>(spec.vocab.size()) * 2 + 65536;
  if (max_id >= id_limit) {
    throw Error("tokenizer.json: model.vocab: id " + std::to_string(max_id) + " is far beyond the vocabulary's " +
                std::to_string(spec.vocab.size()) + " entries");
  }
  id_to_token_.assign(static_cast<size_t>(max_id + 1), std::string());
  for (const auto& [token, id] : token_to_id_) id_to_token_[id] = token;

  std::string unk = string_field("unk_token");
  if (!unk.empty()) unk_id_ = lookup(unk);

  merges_ = std::make_unique<MergeTable>(spec.merges.size());
  size_t prefix_len = continuing_subword_prefix_.size();
  std::string merged;
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    auto [a, b] = spec.merges[rank];
    merged.assign(a);
    if (prefix_len && b.substr(0, prefix_len) == continuing_subword_prefix_) merged.append(b.substr(prefix_len));
    else merged.append(b);
    int32_t ia = lookup(a), ib = lookup(b), im = lookup(merged);
    if (ia < 0 || ib < 0 || im < 0) {
      throw Error("tokenizer.json: model.merges[" + std::to_string(rank) + "]: merge \"" + std::string(a) + " " +
                  std::string(b) + "\" uses a token that is not in the vocabulary");
    }
    merges_->insert(ia, ib, {static_cast<int32_t>(rank), im});
  }

  if (!byte_level_ && continuing_subword_prefix_.empty() && end_of_word_suffix_.empty() && !ignore_merges_ &&
      lookup(kSpaceMark) >= 0) {
    split_at_space_ = true;
    std::vector<char32_t> cps;
    std::vector<uint32_t> offsets;
    for (const auto& [a, b] : spec.merges) {
      if (b.substr(0, kSpaceMark.size()) != kSpaceMark || a.empty()) continue;
      unicode::decode(a, cps, offsets);
      char32_t last = cps.back();
      if (last == kSpaceMarkCp) continue;
      if (std::find(glue_before_space_.begin(), glue_before_space_.end(), last) == glue_before_space_.end()) {
        glue_before_space_.push_back(last);
      }
    }
    // Many such merges: not a SentencePiece vocabulary; cutting would rarely pay.
    if (glue_before_space_.size() > 64) split_at_space_ = false;
    for (char32_t c = 0; c < 128; ++c) {
      bool glue = std::find(glue_before_space_.begin(), glue_before_space_.end(), c) != glue_before_space_.end();
      split_after_ascii_[c] = !glue && lookup(std::string(1, static_cast<char>(c))) >= 0;
    }
  }

  for (int c = 0; c < 128; ++c) ascii_ids_[c] = lookup(std::string(1, static_cast<char>(c)));

  const auto& alphabet = byte_level_alphabet();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    unicode::append(s, alphabet.byte_to_char[b]);
    byte_ids_[b] = byte_level_ ? lookup(s) : -1;
  }
}

Bpe::~Bpe() = default;

int32_t Bpe::lookup(std::string_view token) const {
  auto it = token_to_id_.find(token);
  return it == token_to_id_.end() ? -1 : it->second;
}

void Bpe::initial_symbols(std::string_view word, std::vector<int32_t>& ids) const {
  ids.clear();
  if (byte_level_) {
    for (unsigned char b : word) {
      int32_t id = byte_ids_[b];
      if (id < 0) {
        if (unk_id_ < 0) throw Error("tokenizer: byte " + std::to_string(b) + " has no token and there is no unk_token");
        if (fuse_unk_ && !ids.empty() && ids.back() == unk_id_) continue;
        id = unk_id_;
      }
      ids.push_back(id);
    }
    return;
  }
  thread_local std::vector<char32_t> cps;
  thread_local std::vector<uint32_t> offsets;
  if (auto bad = unicode::decode(word, cps, offsets)) throw Error("tokenizer: invalid UTF-8 at byte " + std::to_string(*bad));
  const bool affixes = !continuing_subword_prefix_.empty() || !end_of_word_suffix_.empty();
  std::string piece;
  for (size_t i = 0; i < cps.size(); ++i) {
    std::string_view ch = word.substr(offsets[i], offsets[i + 1] - offsets[i]);
    if (affixes) {
      piece.assign(ch);
      if (i > 0) piece = continuing_subword_prefix_ + piece;
      if (i + 1 == cps.size()) piece += end_of_word_suffix_;
      ch = piece;
    }
    int32_t id = !affixes && ch.size() == 1 ? ascii_ids_[static_cast<unsigned char>(ch[0])] : lookup(ch);
    if (id >= 0) {
      ids.push_back(id);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      std::vector<int32_t> bytes;
      for (size_t k = offsets[i]; k < offsets[i + 1]; ++k) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", static_cast<unsigned char>(word[k]));
        int32_t bid = lookup(name);
        if (bid < 0) all = false;
        bytes.push_back(bid);
      }
      if (all) {
        ids.insert(ids.end(), bytes.begin(), bytes.end());
        continue;
      }
    }
    if (unk_id_ < 0) throw Error("tokenizer: '" + std::string(ch) + "' is not in the vocabulary and there is no unk_token");
    if (fuse_unk_ && !ids.empty() && ids.back() == unk_id_) continue;
    ids.push_back(unk_id_);
  }
}

void Bpe::merge(std::vector<int32_t>& ids) const {
  size_t n = ids.size();
  if (n < 2) return;
  if (n <= 24) {
    // Short words: scanning for the lowest-ranked pair beats heap bookkeeping. The rank of each
    // adjacent pair is kept, so a merge looks up only the two pairs it changed.
    MergeValue pair[24];
    auto look = [&](size_t i) {
      const MergeValue* m = merges_->find(ids[i], ids[i + 1]);
      pair[i] = m ? *m : MergeValue{INT32_MAX, -1};
    };
    for (size_t i = 0; i + 1 < n; ++i) look(i);
    while (n > 1) {
      size_t best = 0;
      for (size_t i = 1; i + 1 < n; ++i) {
        if (pair[i].rank < pair[best].rank) best = i;
      }
      if (pair[best].new_id < 0) break;
      ids[best] = pair[best].new_id;
      for (size_t i = best + 1; i + 1 < n; ++i) {
        ids[i] = ids[i + 1];
        pair[i] = pair[i + 1];
      }
      --n;
      if (best > 0) look(best - 1);
      if (best + 1 < n) look(best);
    }
    ids.resize(n);
    return;
  }
  // Long words: linked symbols and a heap of candidate merges ordered by (rank, position).
  struct Candidate {
    int32_t rank;
    uint32_t pos;
    int32_t new_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<int32_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  for (size_t i = 0; i + 1 < n; ++i) {
    if (const MergeValue* m = merges_->find(ids[i], ids[i + 1])) heap.push({m->rank, static_cast<uint32_t>(i), m->new_id});
  }
  while (!heap.empty()) {
    Candidate top = heap.top();
    heap.pop();
    uint32_t pos = top.pos;
    if (!alive[pos] || next[pos] < 0) continue;
    int32_t right = next[pos];
    const MergeValue* m = merges_->find(ids[pos], ids[right]);
    if (!m || m->new_id != top.new_id) continue;  // stale: a neighbour changed since it was queued
    ids[pos] = top.new_id;
    alive[right] = false;
    next[pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = static_cast<int32_t>(pos);
    if (prev[pos] >= 0) {
      if (const MergeValue* l = merges_->find(ids[prev[pos]], ids[pos])) {
        heap.push({l->rank, static_cast<uint32_t>(prev[pos]), l->new_id});
      }
    }
    if (next[pos] >= 0) {
      if (const MergeValue* r = merges_->find(ids[pos], ids[next[pos]])) heap.push({r->rank, pos, r->new_id});
    }
  }
  size_t w = 0;
  for (int32_t i = 0; i >= 0; i = next[i]) ids[w++] = ids[i];
  ids.resize(w);
}

bool Bpe::can_split_before(std::string_view word, size_t pos) const {
  // The character before `pos`: back over UTF-8 continuation bytes.
  size_t start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(word[start]) & 0xC0) == 0x80) --start;
  std::string_view prev = word.substr(start, pos - start);
  if (prev.size() == 1) return split_after_ascii_[static_cast<unsigned char>(prev[0]) & 0x7F];
  if (prev == kSpaceMark) return false;
  // Only a character that is a token of its own: otherwise its symbol is <0xNN> or <unk>, whose
  // last character is not the character itself.
  if (lookup(prev) < 0) return false;
  char32_t cp = static_cast<unsigned char>(prev[0]);
  if (prev.size() > 1) {
    cp &= 0x3F >> (prev.size() - 1);  // the lead byte's payload bits
    for (size_t k = 1; k < prev.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(prev[k]) & 0x3F);
  }
  return std::find(glue_before_space_.begin(), glue_before_space_.end(), cp) == glue_before_space_.end();
}

void Bpe::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (split_at_space_) {
    size_t begin = 0;
    for (size_t p = word.find(kSpaceMark, 1); p != std::string_view::npos; p = word.find(kSpaceMark, p + kSpaceMark.size())) {
      if (!can_split_before(word, p)) continue;
      encode_piece(word.substr(begin, p - begin), out);
      begin = p;
    }
    encode_piece(word.substr(begin), out);
    return;
  }
  encode_piece(word, out);
}

void Bpe::encode_piece(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  thread_local WordCache cache;
  if (cache.tag != cache_tag_) cache.reset(cache_tag_);
  const bool cacheable = word.size() < kMaxCachedWord;
  const size_t hash = cacheable ? std::hash<std::string_view>{}(word) : 0;
  if (cacheable) {
    const WordCache::Slot& hit = cache.slot(hash);
    if (hit.used && hit.hash == hash && hit.word == word) {
      out.insert(out.end(), hit.ids.begin(), hit.ids.end());
      return;
    }
  }
  thread_local std::vector<int32_t> ids;
  bool whole_word = false;
  if (ignore_merges_) {
    // Llama-3 style: a word that is itself a token is taken whole, merges are not consulted.
    int32_t whole = lookup(byte_level_ ? to_byte_level(word) : std::string(word));
    if (whole >= 0) {
      ids.assign(1, whole);
      whole_word = true;
    }
  }
  if (!whole_word) {
    initial_symbols(word, ids);
    merge(ids);
  }
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    cache.note_insert();
    WordCache::Slot& slot = cache.slot(hash);
    slot.used = true;
    slot.hash = hash;
    slot.word.assign(word);
    slot.ids.assign(ids.begin(), ids.end());
  }
}

}  // namespace r1
