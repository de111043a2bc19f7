#include "inference/generate.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "inference/engine.h"

namespace r1::inference {

std::vector<std::vector<Completion>> generate(const model::Transformer& model, const std::vector<GroupRequest>& requests,
                                              const GenerateOptions& options) {
  std::vector<std::vector<Completion>> results(requests.size());
  if (requests.empty()) return results;
  // Everything runs at once: a KV budget and a batch that hold every sample.
  EngineOptions eo;
  eo.tokenizer = options.tokenizer;
  int64_t blocks = 0, samples = 0;
  for (const auto& q : requests) {
    const int64_t P = static_cast<int64_t>(q.prompt.size()), M = std::max<int64_t>(q.params.max_new_tokens, 1),
                  n = std::max<int64_t>(q.params.n, 1);
    blocks += P / eo.block_size + n * ((P + M + eo.block_size - 1) / eo.block_size);
    samples += n;
  }
  eo.kv_cache_tokens = std::max<int64_t>(blocks, 1) * eo.block_size;
  eo.max_running = std::max<int64_t>(samples, 1);
  Engine engine(std::shared_ptr<const model::Transformer>(&model, [](const model::Transformer*) {}), eo);
  bool abort_all = false;
  std::vector<Engine::GroupId> ids;
  at::NoGradGuard no_grad;
  for (size_t r = 0; r < requests.size(); ++r) {
    results[r].resize(static_cast<size_t>(std::max<int64_t>(requests[r].params.n, 0)));
    auto on_completion = [&results, r](Completion&& c) {
      results[r][static_cast<size_t>(c.index)] = std::move(c);
    };
    Engine::OnText on_text;
    if (options.on_text)
      on_text = [&options, &abort_all, r](int64_t sample, const std::string& piece) {
        if (!options.on_text(r, sample, piece)) abort_all = true;
        return !abort_all;
      };
    try {
      ids.push_back(engine.submit(requests[r], on_completion, on_text));
    } catch (const Error& e) {
      throw Error("request " + std::to_string(r) + ": " + e.what());
    }
  }
  while (engine.step())
    if (abort_all)
      for (auto id : ids) engine.cancel(id);
  return results;
}

}  // namespace r1::inference
