// Reading a job's launch from its environment: see launch.h.
#include "run/launch.h"

#include <cstdlib>
#include <string_view>

#include "core/error.h"

namespace r1::run {

namespace {

std::optional<std::string> lookup(const Environment& env, const char* name) {
  const char* v = env ? env(name) : std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

int parse_int(const std::string& text, const char* name, int lo, int hi) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < lo || v > hi)
    throw ConfigError(std::string(name) + "=" + text + ": expected an integer in [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]");
  return static_cast<int>(v);
}

int get_int(const Environment& env, const char* name, int fallback, int lo, int hi) {
  auto v = lookup(env, name);
  return v ? parse_int(*v, name, lo, hi) : fallback;
}

void check(const Launch& l, const char* rank_var, const char* world_var) {
  if (l.rank >= l.world_size)
    throw ConfigError(std::string(rank_var) + "=" + std::to_string(l.rank) + " is not below " + world_var + "=" +
                      std::to_string(l.world_size));
  if (l.local_rank >= l.local_world_size)
    throw ConfigError("local rank " + std::to_string(l.local_rank) + " is not below the ranks on this node (" +
                      std::to_string(l.local_world_size) + ")");
  if (l.master_addr.empty()) throw ConfigError("MASTER_ADDR: empty");
}

Launch from_torchrun(const Environment& env) {
  Launch l;
  l.launcher = "torchrun";
  l.world_size = get_int(env, "WORLD_SIZE", 1, 1, 1 << 20);
  l.rank = get_int(env, "RANK", 0, 0, 1 << 20);
  l.local_world_size = get_int(env, "LOCAL_WORLD_SIZE", l.world_size, 1, 1 << 20);
  l.local_rank = get_int(env, "LOCAL_RANK", l.rank % l.local_world_size, 0, 1 << 20);
  l.node_rank = get_int(env, "GROUP_RANK", l.rank / l.local_world_size, 0, 1 << 20);
  l.master_addr = lookup(env, "MASTER_ADDR").value_or("127.0.0.1");
  l.master_port = get_int(env, "MASTER_PORT", 29500, 1, 65535);
  check(l, "RANK", "WORLD_SIZE");
  return l;
}

Launch from_slurm(const Environment& env) {
  Launch l;
  l.launcher = "slurm";
  l.world_size = get_int(env, "SLURM_STEP_NUM_TASKS", 1, 1, 1 << 20);
  l.rank = get_int(env, "SLURM_PROCID", 0, 0, 1 << 20);
  l.local_rank = get_int(env, "SLURM_LOCALID", 0, 0, 1 << 20);
  l.node_rank = get_int(env, "SLURM_NODEID", 0, 0, 1 << 20);
  if (auto per_node = lookup(env, "SLURM_STEP_TASKS_PER_NODE")) l.local_world_size = slurm_tasks_on_node(*per_node, l.node_rank);
  else l.local_world_size = l.world_size;
  std::optional<std::string> nodes = lookup(env, "SLURM_STEP_NODELIST");
  if (!nodes) nodes = lookup(env, "SLURM_JOB_NODELIST");
  if (auto addr = lookup(env, "MASTER_ADDR")) l.master_addr = *addr;
  else if (nodes) l.master_addr = first_slurm_host(*nodes);
  l.master_port = get_int(env, "MASTER_PORT", 29500, 1, 65535);
  check(l, "SLURM_PROCID", "SLURM_STEP_NUM_TASKS");
  return l;
}

}  // namespace

std::string Launch::describe() const {
  return "rank " + std::to_string(rank) + " of " + std::to_string(world_size) + " (node " + std::to_string(node_rank) +
         ", local rank " + std::to_string(local_rank) + "; " + launcher + ", master " + master_addr + ":" +
         std::to_string(master_port) + ")";
}

Launch read_launch(const Environment& env) {
  if (lookup(env, "RANK") || lookup(env, "WORLD_SIZE")) return from_torchrun(env);
  if (lookup(env, "SLURM_PROCID") && lookup(env, "SLURM_STEP_NUM_TASKS")) return from_slurm(env);
  return Launch{};
}

std::string first_slurm_host(const std::string& nodelist) {
  // The first entry: up to a comma that is not inside brackets.
  size_t end = 0;
  int depth = 0;
  for (; end < nodelist.size(); ++end) {
    if (nodelist[end] == '[') ++depth;
    else if (nodelist[end] == ']') --depth;
    else if (nodelist[end] == ',' && depth == 0) break;
  }
  const std::string first = nodelist.substr(0, end);
  const size_t open = first.find('[');
  if (open == std::string::npos) {
    if (first.empty()) throw ConfigError("SLURM_JOB_NODELIST=" + nodelist + ": no host in it");
    return first;
  }
  // prefix[01-04,07]suffix: the first number of the first range, its zero padding kept.
  const size_t close = first.find(']', open);
  if (close == std::string::npos) throw ConfigError("SLURM_JOB_NODELIST=" + nodelist + ": unbalanced '['");
  const std::string inside = first.substr(open + 1, close - open - 1);
  const size_t stop = inside.find_first_of("-,");
  const std::string number = inside.substr(0, stop);
  if (number.empty()) throw ConfigError("SLURM_JOB_NODELIST=" + nodelist + ": empty range");
  return first.substr(0, open) + number + first.substr(close + 1);
}

int slurm_tasks_on_node(const std::string& tasks_per_node, int node) {
  // Entries "N" or "N(xK)": K nodes with N tasks each.
  int seen = 0;
  size_t i = 0;
  while (i < tasks_per_node.size()) {
    size_t end = tasks_per_node.find(',', i);
    if (end == std::string::npos) end = tasks_per_node.size();
    const std::string entry = tasks_per_node.substr(i, end - i);
    const size_t x = entry.find("(x");
    const int tasks = parse_int(entry.substr(0, x), "SLURM_STEP_TASKS_PER_NODE", 1, 1 << 20);
    int repeat = 1;
    if (x != std::string::npos) {
      if (entry.back() != ')') throw ConfigError("SLURM_STEP_TASKS_PER_NODE=" + tasks_per_node + ": expected N(xK)");
      repeat = parse_int(entry.substr(x + 2, entry.size() - x - 3), "SLURM_STEP_TASKS_PER_NODE", 1, 1 << 20);
    }
    if (node < seen + repeat) return tasks;
    seen += repeat;
    i = end + 1;
  }
  throw ConfigError("SLURM_STEP_TASKS_PER_NODE=" + tasks_per_node + ": no entry for node " + std::to_string(node));
}

}  // namespace r1::run
