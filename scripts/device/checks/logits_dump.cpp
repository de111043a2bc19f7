// r1's side of the exactness check against transformers (scripts/device/exactness.py): loads a model
// folder on a device in a dtype, and for each row of token ids in IDS (one row per line, ids split
// by spaces) writes the fp32 logits of every position to OUT.logits (raw little-endian [rows, T, V];
// rows of one length) and the greedy continuation of NEW tokens to OUT.greedy (one row of ids per line).
//
//   r1_logits_dump MODEL_DIR IDS OUT DEVICE DTYPE NEW      e.g. ... cuda bf16 64
#include <ATen/ATen.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/choices.h"
#include "inference/generate.h"
#include "model/device.h"
#include "model/transformer.h"

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: r1_logits_dump MODEL_DIR IDS OUT DEVICE fp32|bf16 NEW_TOKENS\n");
    return 2;
  }
  try {
    const std::string dir = argv[1], ids_path = argv[2], out = argv[3];
    const at::Device device = r1::model::resolve_device(r1::parse_device(argv[4], "device"), "device");
    const at::ScalarType dtype = std::string(argv[5]) == "bf16" ? at::kBFloat16 : at::kFloat;
    const int64_t new_tokens = std::stoll(argv[6]);
    r1::model::Transformer m = r1::model::Transformer::load(dir, dtype, device);
    std::vector<std::vector<int64_t>> rows;
    std::ifstream in(ids_path);
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      rows.emplace_back();
      for (int64_t id; words >> id;) rows.back().push_back(id);
    }
    at::NoGradGuard no_grad;
    std::ofstream logits(out + ".logits", std::ios::binary);
    for (const auto& row : rows) {
      at::Tensor ids = at::tensor(row, at::kLong).view({1, -1});
      at::Tensor l = m.logits(m.forward(ids)).to(at::kCPU, at::kFloat).contiguous();
      logits.write(reinterpret_cast<const char*>(l.data_ptr<float>()), static_cast<std::streamsize>(l.numel() * 4));
    }
    std::vector<r1::rollout::GroupRequest> qs;
    for (const auto& row : rows) {
      r1::rollout::GroupRequest q;
      q.prompt = row;
      q.params.temperature = 0;
      q.params.max_new_tokens = new_tokens;
      qs.push_back(q);
    }
    std::ofstream greedy(out + ".greedy");
    for (const auto& completions : r1::inference::generate(m, qs)) {
      for (int64_t id : completions[0].ids) greedy << id << ' ';
      greedy << '\n';
    }
    std::printf("r1_logits_dump: %zu rows on %s\n", rows.size(), r1::model::describe_device(device).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "r1_logits_dump: %s\n", e.what());
    return 1;
  }
}
