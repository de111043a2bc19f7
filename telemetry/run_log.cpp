// Metrics, rollouts and progress of a run: see run_log.h.
#include "telemetry/run_log.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "telemetry/tensorboard.h"

namespace fs = std::filesystem;

namespace r1::telemetry {

namespace {

void flatten(const nlohmann::json& j, const std::string& prefix, TensorBoardWriter& tb, int64_t step) {
  for (const auto& [key, value] : j.items()) {
    const std::string tag = prefix.empty() ? key : prefix + "/" + key;
    if (value.is_object())
      flatten(value, tag, tb, step);
    else if (value.is_number())
      tb.scalar(tag, value.get<double>(), step);
  }
}

}  // namespace

// A crash here loses nothing: the rows go to a temporary file renamed over the log.
void cut_back_log(const std::string& path, int64_t last_step) {
  if (!fs::exists(path)) return;
  const std::string tmp = path + ".cut";
  {
    std::ifstream in(path);
    std::ofstream out(tmp, std::ios::trunc);
    for (std::string line; std::getline(in, line);) {
      auto row = nlohmann::json::parse(line, nullptr, false);
      if (!row.is_discarded() && row.is_object() && row.value("step", int64_t{0}) <= last_step) out << line << "\n";
    }
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw Error(path + ": cannot cut the log back to step " + std::to_string(last_step) + " (disk full?)");
    }
  }
  fs::rename(tmp, path);
}

RunLog::RunLog(const std::string& run_dir, int64_t resume_step, bool tensorboard) : dir_(run_dir) {
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) throw Error(run_dir + ": cannot create the run folder: " + ec.message());
  const std::string metrics_path = (fs::path(run_dir) / "metrics.jsonl").string();
  const std::string rollouts_path = (fs::path(run_dir) / "rollouts.jsonl").string();
  if (resume_step >= 0) {
    // Keep the rows of steps the checkpoint covers; the resumed run writes the later ones again.
    cut_back_log(metrics_path, resume_step);
    cut_back_log(rollouts_path, resume_step);
  }
  const auto mode = resume_step >= 0 ? std::ios::app : std::ios::trunc;
  metrics_.open(metrics_path, std::ios::out | mode);
  rollouts_.open(rollouts_path, std::ios::out | mode);
  if (!metrics_ || !rollouts_) throw Error(run_dir + ": cannot write metrics.jsonl / rollouts.jsonl");
  if (tensorboard) {
    tb_ = std::make_unique<TensorBoardWriter>((fs::path(run_dir) / "tensorboard").string());
    // TensorBoard drops the earlier files' points after this step when it reads a restart marker
    // (its purge of orphaned data): the redone steps are not drawn twice.
    if (resume_step >= 0) tb_->session_start(resume_step);
  }
}

RunLog::~RunLog() = default;

void RunLog::metrics(int64_t step, const nlohmann::json& values) {
  nlohmann::json row = {{"step", step}};
  for (const auto& [k, v] : values.items()) row[k] = v;
  std::lock_guard<std::mutex> lock(mutex_);
  metrics_ << to_json_line(row) << "\n";
  metrics_.flush();
  if (!metrics_) log::warn() << dir_ << "/metrics.jsonl: write failed (disk full?)";
  write_tensorboard(step, values);
}

void RunLog::scalars(int64_t step, const nlohmann::json& values) {
  std::lock_guard<std::mutex> lock(mutex_);
  write_tensorboard(step, values);
}

void RunLog::write_tensorboard(int64_t step, const nlohmann::json& values) {
  if (!tb_) return;
  try {
    flatten(values, "", *tb_, step);
    tb_->flush();
  } catch (const Error& e) {
    log::warn() << e.what();
  }
}

void RunLog::rollout(const nlohmann::json& row) {
  std::lock_guard<std::mutex> lock(mutex_);
  rollouts_ << to_json_line(row) << "\n";
  rollouts_.flush();
}

std::string format_duration(double s) {
  char buf[32];
  if (!(s >= 0) || s > 1e7) return "?";
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

StepProgress::StepProgress(std::string label, int64_t total, int64_t first, int64_t log_every)
    : label_(std::move(label)),
      total_(total),
      first_(first),
      log_every_(std::max<int64_t>(1, log_every)),
      tty_(isatty(STDERR_FILENO) && log::enabled(log::Level::info)),
      start_(std::chrono::steady_clock::now()) {}

StepProgress::~StepProgress() { finish(); }

std::string StepProgress::render(const std::string& label, int64_t done, int64_t total, const std::string& fields,
                                 double sps) {
  const int width = 20;
  const int filled = total > 0 ? static_cast<int>(width * std::min<int64_t>(done, total) / total) : 0;
  std::ostringstream o;
  o << label << " [" << std::string(static_cast<size_t>(filled), '#') << std::string(static_cast<size_t>(width - filled), '-')
    << "] " << done << "/" << total;
  if (!fields.empty()) o << "  " << fields;
  if (sps > 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s/step", sps);
    o << "  " << buf << "  ETA " << format_duration(sps * static_cast<double>(total - done));
  }
  return o.str();
}

void StepProgress::update(int64_t done, const std::string& fields) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double sps = done > first_ ? elapsed / static_cast<double>(done - first_) : 0;
  const std::string line = render(label_, done, total_, fields, sps);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
    drawn_ = true;
  } else if (done % log_every_ == 0 || done == total_) {
    log::info() << line;
  }
}

void StepProgress::finish() {
  if (drawn_) {
    std::fprintf(stderr, "\n");
    drawn_ = false;
  }
}

}  // namespace r1::telemetry
