// The `r1` executable end to end: help everywhere, JSON lines in and out, and one clear error line
// with a non-zero exit for bad input.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "core/text.h"
#include "fixtures.h"

namespace {

struct Run {
  int exit_code;
  std::string out, err;
};

Run run(const std::string& args, const std::string& stdin_text = "", const std::string& env = "") {
  std::string dir = "/tmp/r1_test_cli_" + std::to_string(::getpid());
  std::system(("mkdir -p " + dir).c_str());
  {
    std::ofstream in(dir + "/in");
    in << stdin_text;
  }
  std::string command = env + " " + std::string(R1_BINARY) + " " + args + " < " + dir + "/in > " + dir + "/out 2> " + dir + "/err";
  int status = std::system(command.c_str());
  Run r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, r1::read_file(dir + "/out"), r1::read_file(dir + "/err")};
  return r;
}

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("cli: --help on the program and every subcommand", "[cli]") {
  Run top = run("--help");
  CHECK(top.exit_code == 0);
  for (const char* sub : {"tokenize", "detokenize", "render-chat", "bench", "info", "reward", "verify-math"}) {
    CHECK(top.out.find(sub) != std::string::npos);
    Run help = run(std::string(sub) + " --help");
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("Usage") != std::string::npos);
  }
  CHECK(run("bench tokenizer --help").exit_code == 0);
  Run info = run("--threads 2 info");
  CHECK(info.exit_code == 0);
  CHECK(info.out.find("threads: 2") != std::string::npos);
  CHECK(info.out.find("at::get_num_threads() : 2") != std::string::npos);  // from the LibTorch module
  CHECK(info.out.find("devices: cpu") != std::string::npos);
  Run no_module = run("info", "", "R1_TORCH_MODULE=/nonexistent/libr1_torch.so");
  CHECK(no_module.exit_code != 0);
  CHECK(no_module.err.find("r1: error: this command needs LibTorch, but its module did not load") == 0);
  CHECK(run("").exit_code != 0);  // a subcommand is required
  CHECK(run("no-such-command").exit_code != 0);
}

TEST_CASE("cli: tokenize and detokenize round trip", "[cli]") {
  std::string tok = r1::test::qwen3_dir();
  Run enc = run("tokenize --tokenizer " + tok, "{\"text\": \"Hello world\"}\n\n{\"text\": \"你好<|im_end|>\"}\n");
  REQUIRE(enc.exit_code == 0);
  CHECK(enc.out == "{\"ids\":[9707,1879]}\n{\"ids\":[108386,151645]}\n");
  Run dec = run("detokenize --tokenizer " + tok, enc.out);
  REQUIRE(dec.exit_code == 0);
  CHECK(dec.out == "{\"text\":\"Hello world\"}\n{\"text\":\"你好<|im_end|>\"}\n");
  Run skip = run("detokenize --skip-special-tokens --tokenizer " + tok, "{\"ids\":[108386,151645]}\n");
  CHECK(skip.out == "{\"text\":\"你好\"}\n");
}

TEST_CASE("cli: a malformed line gives one error naming it, after the lines before it", "[cli]") {
  std::string tok = r1::test::qwen3_dir();
  Run bad = run("tokenize --tokenizer " + tok, "{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": oops}\n{\"text\": \"d\"}\n");
  CHECK(bad.exit_code != 0);
  CHECK(count_lines(bad.out) == 2);
  CHECK(count_lines(bad.err) == 1);
  CHECK(bad.err.rfind("r1: error: <stdin>:3: malformed JSON", 0) == 0);

  Run no_text = run("tokenize --tokenizer " + tok, "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n");
  CHECK(no_text.exit_code != 0);
  CHECK(no_text.err == "r1: error: <stdin>:2: expected an object with a string \"text\"\n");

  Run bad_id = run("detokenize --tokenizer " + tok, "{\"ids\": [1]}\n{\"ids\": [99999999]}\n");
  CHECK(bad_id.exit_code != 0);
  CHECK(bad_id.err.find("<stdin>:2: token id 99999999 is out of range") != std::string::npos);

  Run neg = run("detokenize --tokenizer " + tok, "{\"ids\": [-1]}\n");
  CHECK(neg.err.find("<stdin>:1: \"ids\" must hold non-negative integers") != std::string::npos);

  Run missing = run("tokenize --tokenizer /nonexistent/dir", "{\"text\": \"a\"}\n");
  CHECK(missing.exit_code != 0);
  CHECK(missing.err == "r1: error: /nonexistent/dir: no such file\n");

  // JSON escapes that decode to invalid UTF-16 (a lone surrogate) are refused, not crashed on.
  Run surrogate = run("tokenize --tokenizer " + tok, "{\"text\": \"\\ud800\"}\n");
  CHECK(surrogate.exit_code != 0);
  CHECK(surrogate.err.find("<stdin>:1:") != std::string::npos);
  CHECK(count_lines(surrogate.err) == 1);
}

TEST_CASE("cli: render-chat through the tokenizer's own template", "[cli]") {
  std::string tok = r1::test::qwen3_dir();
  Run chat = run("render-chat --tokenizer " + tok, R"({"messages": [{"role": "user", "content": "hi"}]})" "\n");
  REQUIRE(chat.exit_code == 0);
  auto row = nlohmann::json::parse(chat.out);
  CHECK(row["text"] == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  CHECK(row["ids"].size() == 9);
  Run bad = run("render-chat --template r1-zero", R"({"messages": [{"role": "bot", "content": "hi"}]})" "\n");
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("<stdin>:1: messages[0].role") != std::string::npos);
  Run bad_type = run("render-chat --template chatml",
                     R"({"messages": [], "answer": "kept"})" "\n" R"({"messages": [], "add_generation_prompt": "yes"})" "\n");
  CHECK(bad_type.exit_code != 0);
  CHECK(count_lines(bad_type.out) == 1);  // extra dataset fields are fine
  CHECK(bad_type.err == "r1: error: <stdin>:2: add_generation_prompt: expected true or false\n");

  // Tools and tool calls through the model's own template, byte for byte as transformers renders them
  // (the fixture was rendered by Python's jinja2); keys stay in the order written.
  const auto conversations = r1::test::read_rows(std::string(R1_SOURCE_DIR) + "/tests/data/chat_conversations.jsonl");
  const auto expected = r1::test::read_rows(r1::test::fixture("chat/qwen3.jsonl"));
  std::string line;
  size_t index = 0;
  {
    std::ifstream in(std::string(R1_SOURCE_DIR) + "/tests/data/chat_conversations.jsonl");
    for (size_t i = 0; std::getline(in, line); ++i) {
      if (conversations[i]["name"] == "tool_calls_several") {
        index = i;
        break;
      }
    }
  }
  Run tools = run("render-chat --tokenizer " + tok, line + "\n");
  REQUIRE(tools.exit_code == 0);
  auto tools_row = nlohmann::json::parse(tools.out);
  CHECK(tools_row["text"] == expected[index]["text"]);
  CHECK(tools_row["ids"] == expected[index]["ids"]);

  // A template's raise_exception is one error naming the line and the template's own message.
  const std::string jinja = "/tmp/r1_test_cli_template.jinja";
  {
    std::ofstream out(jinja);
    out << "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System messages are not supported') }}"
           "{% endif %}[{{ m.content }}]{% endfor %}";
  }
  Run refused = run("render-chat --template " + jinja,
                    R"({"messages": [{"role": "user", "content": "a"}], "extra": 1})" "\n"
                    R"({"messages": [{"role": "system", "content": "s"}]})" "\n");
  CHECK(refused.exit_code != 0);
  CHECK(refused.out == "{\"text\":\"[a]\"}\n");
  CHECK(refused.err == "r1: error: <stdin>:2: the chat template refuses this conversation: System messages are not supported\n");
}

TEST_CASE("cli: reward scores JSON lines in order, errors name the line", "[cli]") {
  std::string config = "/tmp/r1_test_cli_rewards.json";
  {
    std::ofstream out(config);
    out << R"([{"kind": "format"}, {"kind": "language", "weight": 0.5}])";
  }
  Run ok = run("reward --config " + config,
               R"({"completion": "<think>add them</think><answer>5</answer>", "answer": "5"})" "\n"
               R"({"completion": "5"})" "\n");
  REQUIRE(ok.exit_code == 0);
  std::istringstream lines(ok.out);
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  auto a = nlohmann::json::parse(first), b = nlohmann::json::parse(second);
  CHECK(a["reward"] == 1.5);
  CHECK(a["components"]["format"] == 1.0);
  CHECK(b["reward"] == 0.0);
  CHECK(b["reason"] == "format: missing <think>; language: no words in the chain of thought");

  Run bad = run("reward --config " + config, R"({"completion": "x"})" "\n" R"({"completion": 5})" "\n");
  CHECK(bad.exit_code != 0);
  CHECK(count_lines(bad.out) == 1);
  CHECK(bad.err == "r1: error: <stdin>:2: completion: expected string, got integer\n");

  {
    std::ofstream out(config);
    out << R"([{"kind": "lenght"}])";
  }
  Run bad_config = run("reward --config " + config, "");
  CHECK(bad_config.err == "r1: error: " + config + ": rewards[0].kind: unknown reward 'lenght'\n");

  // The old spelling still scores the same, with one deprecation warning on stderr.
  {
    std::ofstream out(config);
    out << R"({"rewards": [{"name": "format"}, {"name": "language", "id": "lang", "weight": 0.5}]})";
  }
  Run old = run("reward --config " + config, R"({"completion": "<think>add them</think><answer>5</answer>"})" "\n");
  REQUIRE(old.exit_code == 0);
  CHECK(nlohmann::json::parse(old.out)["reward"] == 1.5);
  CHECK(old.err.rfind("[r1 warn] " + config + ": the old reward spelling", 0) == 0);
  CHECK(std::count(old.err.begin(), old.err.end(), '\n') == 1);
}

TEST_CASE("cli: verify-math answers every line in order, exit 0 whatever the verdicts", "[cli]") {
  Run ok = run("verify-math", R"({"gold": "\\frac{1}{2}", "pred": "0.5"})" "\n" R"({"gold": "5", "pred": "The answer is 6."})" "\n");
  REQUIRE(ok.exit_code == 0);
  CHECK(ok.out == "{\"correct\":true,\"gold_parsed\":\"1/2\",\"pred_parsed\":\"1/2\",\"reason\":\"\"}\n"
                  "{\"correct\":false,\"gold_parsed\":\"5\",\"pred_parsed\":\"6\",\"reason\":\"not equal\"}\n");
  Run bad = run("verify-math", R"({"gold": "1", "pred": "1"})" "\n" R"({"gold": 1, "pred": "1"})" "\n");
  CHECK(bad.exit_code != 0);
  CHECK(count_lines(bad.out) == 1);
  CHECK(bad.err == "r1: error: <stdin>:2: expected an object with strings \"gold\" and \"pred\"\n");
}

TEST_CASE("cli: the remote-reward example, r1 reward-server and r1 reward over gRPC", "[cli]") {
  std::string dir = std::string(R1_SOURCE_DIR) + "/examples/remote_reward";
  std::string log = "/tmp/r1_test_reward_server_" + std::to_string(::getpid());
  // Port 0: the server prints the port it took on its first line.
  std::system((std::string(R1_BINARY) + " reward-server --config " + dir + "/server_rewards.json --port 0 --token change-me > " +
               log + " 2>&1 & echo $! > " + log + ".pid").c_str());
  std::string first;
  for (int i = 0; i < 100 && first.find("port ") != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(log);
    std::getline(in, first);
  }
  REQUIRE(first.rfind("port ", 0) == 0);
  std::string port = first.substr(5);
  std::string client = "/tmp/r1_test_remote_client.json";
  {
    std::ofstream out(client);
    out << R"([{"kind": "remote", "name": "judge", "address": "127.0.0.1:)" << port
        << R"(", "token": "change-me", "time_budget_ms": 2000}])";
  }
  Run ok = run("reward --config " + client,
               R"({"completion": "<think>2+3</think> <answer>5</answer>", "answer": "5"})" "\n"
               R"({"completion": "6", "answer": "5"})" "\n");
  std::system(("kill $(cat " + log + ".pid)").c_str());
  REQUIRE(ok.exit_code == 0);
  CHECK(ok.out == "{\"components\":{\"judge\":1.5},\"reward\":1.5}\n"
                  "{\"components\":{\"judge\":0.0},\"reason\":\"judge: math: not equal; format: missing <think>\",\"reward\":0.0}\n");
}

TEST_CASE("cli: model init writes a checkpoint that generate loads, bad input is one error line", "[cli][model]") {
  const std::string dir = "/tmp/r1_test_cli_model_" + std::to_string(::getpid());
  std::system(("rm -rf " + dir).c_str());
  CHECK(run("model --help").exit_code == 0);
  CHECK(run("model init --help").out.find("--preset") != std::string::npos);
  CHECK(run("generate --help").out.find("--top-p") != std::string::npos);
  Run init = run("model init --arch llama --preset tiny --seed 3 --dtype fp32 --out " + dir + " --tokenizer " +
                 r1::test::qwen3_dir());
  REQUIRE(init.exit_code == 0);
  CHECK(init.out.find("LlamaForCausalLM (tiny preset, fp32)") != std::string::npos);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"})
    CHECK(std::ifstream(dir + "/" + f).good());
  auto config = nlohmann::json::parse(r1::read_file(dir + "/config.json"));
  CHECK(config["architectures"][0] == "LlamaForCausalLM");
  CHECK(config["vocab_size"].get<int>() >= 151643);

  // Greedy generation is deterministic, and --n samples are printed one after another.
  Run a = run("generate --model " + dir + " --prompt 'Hello' --temperature 0 --max-new-tokens 5");
  Run b = run("generate --model " + dir + " --prompt 'Hello' --temperature 0 --max-new-tokens 5");
  REQUIRE(a.exit_code == 0);
  CHECK(a.out == b.out);
  CHECK(a.err.find("5 generated") != std::string::npos);
  Run many = run("generate --model " + dir + " --prompt 'Hello' --n 3 --seed 2 --max-new-tokens 4");
  REQUIRE(many.exit_code == 0);
  CHECK(many.out.find("--- sample 3 (length, 4 tokens) ---") != std::string::npos);

  Run missing = run("generate --model /nonexistent/model --prompt x");
  CHECK(missing.exit_code != 0);
  CHECK(count_lines(missing.err) == 1);
  CHECK(missing.err.find("/nonexistent/model") != std::string::npos);
  // Without --tokenizer: r1's own byte-level tokenizer, a complete folder from nothing.
  const std::string own = dir + "_bytes";
  Run bytes = run("model init --arch qwen3 --out " + own);
  REQUIRE(bytes.exit_code == 0);
  CHECK(bytes.out.find("vocabulary 259 (r1's byte-level tokenizer)") != std::string::npos);
  Run enc = run("tokenize --tokenizer " + own, "{\"text\": \"H\u00e9 <|im_end|>\"}\n");
  REQUIRE(enc.exit_code == 0);
  CHECK(enc.out == "{\"ids\":[72,195,169,32,258]}\n");
  CHECK(run("detokenize --tokenizer " + own, enc.out).out == "{\"text\":\"H\u00e9 <|im_end|>\"}\n");
  Run chat = run("generate --model " + own + " --prompt hi --chat --temperature 0 --max-new-tokens 3");
  CHECK(chat.exit_code == 0);
  CHECK(chat.err.find("[21 prompt tokens, 3 generated") != std::string::npos);  // ChatML: 3 specials + 18 bytes
  std::system(("rm -rf " + own).c_str());

  Run bad_preset = run("model init --preset huge --out " + dir);
  CHECK(bad_preset.exit_code != 0);
  // A checkpoint whose weights were cut short is refused naming the file.
  std::filesystem::resize_file(dir + "/model.safetensors", 1000);
  Run truncated = run("generate --model " + dir + " --prompt x");
  CHECK(truncated.exit_code != 0);
  CHECK(truncated.err.find("model.safetensors") != std::string::npos);
  CHECK(count_lines(truncated.err) == 1);
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("cli: r1 bench train measures an update and whole GRPO steps at both staleness settings", "[cli][bench]") {
  Run r = run("--threads 1 bench train --configs tiny --groups 2 --group-size 2 --prompt-tokens 16 --completion-tokens 8 "
              "--updates 1 --grpo-steps 2");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("peak 2048^3 matrix product: fp32") != std::string::npos);
  // "update   0.05 s   1234 tokens/s   MFU  3.2%", plain and with activation checkpointing.
  std::istringstream lines(r.out);
  std::string line;
  int updates = 0, steps = 0;
  std::set<int> staleness;
  while (std::getline(lines, line)) {
    double seconds = 0, rate = 0, mfu = 0;
    if (std::sscanf(line.c_str(), " update %lf s %lf tokens/s MFU %lf%%", &seconds, &rate, &mfu) == 3) {
      CHECK(seconds > 0);
      CHECK(rate > 0);
      CHECK(mfu > 0);
      CHECK(mfu < 100);
      ++updates;
    }
    int s = -1;
    double step = 0, gen = 0, rew = 0, wait = 0, upd = 0, sync = 0, share = -1;
    if (std::sscanf(line.c_str(), " %d %lf %lf %lf %lf %lf %lf %lf%%", &s, &step, &gen, &rew, &wait, &upd, &sync, &share) == 8) {
      CHECK(step > 0);
      CHECK(gen > 0);
      CHECK(upd > 0);
      CHECK(share >= 0);
      CHECK(share <= 100);
      staleness.insert(s);
      ++steps;
    }
  }
  CHECK(updates == 2);
  CHECK(steps == 2);
  CHECK(staleness == std::set<int>{0, 1});
  // A config it does not know is refused by name.
  Run bad = run("bench train --configs huge");
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("huge") != std::string::npos);
}

TEST_CASE("cli: a worker serving beyond loopback without a token warns at start-up", "[cli][rollout]") {
  // The model does not exist, so the worker stops right after its checks: the warning comes first.
  Run open = run("rollout serve --host 0.0.0.0 --model /nonexistent/model", "", "R1_ROLLOUT_TOKEN=");
  CHECK(open.exit_code != 0);
  CHECK(open.err.find("serving on 0.0.0.0 with no token") != std::string::npos);
  CHECK(open.err.find("--token") != std::string::npos);
  Run tokened = run("rollout serve --host 0.0.0.0 --token s3cret --model /nonexistent/model");
  CHECK(tokened.err.find("with no token") == std::string::npos);
  Run from_env = run("rollout serve --host 0.0.0.0 --model /nonexistent/model", "", "R1_ROLLOUT_TOKEN=s3cret");
  CHECK(from_env.err.find("with no token") == std::string::npos);
  Run loopback = run("rollout serve --model /nonexistent/model", "", "R1_ROLLOUT_TOKEN=");
  CHECK(loopback.err.find("with no token") == std::string::npos);
}

TEST_CASE("cli: every shipped recipe plans (r1 run --dry-run), the tool recipes' tools blocks included", "[cli]") {
  size_t recipes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(R1_SOURCE_DIR "/recipes")) {
    if (entry.path().extension() != ".json") continue;
    ++recipes;
    INFO(entry.path().string());
    const Run r = run("run " + entry.path().string() + " --dry-run --runs-dir /tmp/r1_test_cli_recipes_" + std::to_string(::getpid()));
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("error") == std::string::npos);
  }
  CHECK(recipes >= 7);
  // A tools block with a mistake is refused at planning, naming the key.
  const std::string bad = "/tmp/r1_test_cli_bad_tools_" + std::to_string(::getpid()) + ".json";
  {
    std::ifstream in(R1_SOURCE_DIR "/recipes/r1-zero-tool-tiny.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = text.find("\"stop_after_call\"");
    REQUIRE(at != std::string::npos);
    text.replace(at, std::string("\"stop_after_call\"").size(), "\"stop_after_cal\"");
    std::ofstream(bad) << text;
  }
  const Run r = run("run " + bad + " --dry-run");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("tools.stop_after_cal: unknown key (did you mean 'stop_after_call'?)") != std::string::npos);
  std::filesystem::remove(bad);
}
