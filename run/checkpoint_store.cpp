// Atomic checkpoints: see checkpoint.h.
#include "run/checkpoint_store.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"

namespace fs = std::filesystem;

namespace r1::run {

namespace {

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%06lld", static_cast<long long>(step));
  return buf;
}

}  // namespace

CheckpointStore::CheckpointStore(std::string dir, int keep_last) : dir_(std::move(dir)), keep_last_(keep_last) {}

std::string CheckpointStore::save(int64_t step, const nlohmann::json& state,
                                  const std::function<void(const std::string&)>& write) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error(dir_ + ": cannot create the checkpoint folder: " + ec.message());
  const fs::path final_dir = fs::path(dir_) / step_name(step);
  const fs::path tmp = fs::path(dir_) / (step_name(step) + ".partial");
  fs::remove_all(tmp, ec);
  try {
    fs::create_directories(tmp);
    write(tmp.string());
    const fs::path state_path = tmp / "trainer_state.json";
    {
      std::ofstream out(state_path, std::ios::binary | std::ios::trunc);
      out << state.dump(2) << "\n";
      out.flush();
      if (!out) throw Error(state_path.string() + ": write failed (disk full?)");
    }
    // A checkpoint of the same step (a rerun) is replaced only now that the new one is whole.
    if (fs::exists(final_dir)) fs::remove_all(final_dir);
    fs::rename(tmp, final_dir);
  } catch (const std::exception& e) {
    fs::remove_all(tmp, ec);
    if (dynamic_cast<const Error*>(&e)) throw;
    throw Error(tmp.string() + ": checkpoint not written: " + e.what());
  }
  // Only complete checkpoints count towards keep_last; the newest is never removed.
  if (keep_last_ > 0) {
    auto all = list();
    for (size_t i = 0; i + static_cast<size_t>(keep_last_) < all.size(); ++i) fs::remove_all(all[i].second, ec);
  }
  return final_dir.string();
}

std::vector<std::pair<int64_t, std::string>> CheckpointStore::list() const {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 11 || name.rfind("step-", 0) != 0 || !entry.is_directory()) continue;
    if (!std::all_of(name.begin() + 5, name.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    if (!fs::exists(entry.path() / "trainer_state.json")) continue;
    out.emplace_back(std::stoll(name.substr(5)), entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::string> CheckpointStore::latest() const {
  auto all = list();
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

nlohmann::json CheckpointStore::read_state(const std::string& checkpoint_dir) {
  const std::string path = (fs::path(checkpoint_dir) / "trainer_state.json").string();
  if (!fs::exists(path)) throw Error(checkpoint_dir + ": not a checkpoint (no trainer_state.json)");
  return read_json_file(path);
}

StartPoint start_point(const CheckpointStore& store, bool resume, const std::string& base_model) {
  StartPoint p;
  p.model_dir = base_model;
  if (!resume) return p;
  if (auto latest = store.latest()) {
    p.state = CheckpointStore::read_state(*latest);
    p.step = p.state.at("step").get<int64_t>();
    p.model_dir = *latest;
    log::info() << "resuming from " << *latest << " (step " << p.step << ")";
  } else {
    log::warn() << store.dir() << ": no checkpoint to resume from; starting at step 0";
  }
  return p;
}

}  // namespace r1::run
