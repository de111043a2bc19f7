// tools/custom_tool.h: the custom tool kinds, through the routes of custom rewards. An external program
// (tests/plugins/behaving_tool.py) answering, misbehaving (a line that is not JSON, no content, a hang, a
// crash, a huge reply) and working again on the next call; the calculator plugin (examples/) in process and
// in r1-plugin-host, a plugin that crashes or hangs there; a remote ToolService served in the test, a
// wrong token, a slow one, one that is down; and custom tools through the host, arguments checked
// against their schema before the call; the example server (examples/remote_tool/) called as a remote tool.
#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/process.h"
#include "fixtures.h"
#include "proto/tool.grpc.pb.h"
#include "tokenizer/tokenizer.h"
#include "tools/custom_tool.h"
#include "tools/tool_config.h"
#include "tools/tool_host.h"
#include "tools/tool_kinds.h"

using nlohmann::json;
using r1::tools::Tool;
using r1::tools::ToolCallContext;
using r1::tools::ToolResult;

namespace {

const std::string kScript = std::string(R1_SOURCE_DIR) + "/tests/plugins/behaving_tool.py";
const json kModeSchema = {{"type", "object"},
                          {"properties", {{"mode", {{"type", "string"}}}, {"text", {{"type", "string"}}}}}};

r1::tools::ToolSpec spec_of(const json& entry) {
  return r1::tools::read_tool_config(json{{"tools", json::array({entry})}}).tools.at(0);
}

std::unique_ptr<Tool> make(const json& entry) {
  const r1::tools::ToolSpec spec = spec_of(entry);
  return r1::tools::find_kind(spec.kind)->make(spec, {});
}

ToolResult call(Tool& tool, const json& arguments, const std::string& trajectory = "traj-1") {
  ToolCallContext context;
  context.trajectory = trajectory;
  return tool.call(arguments, context);
}

json external(json extra = json::object()) {
  json e = {{"kind", "external"}, {"name", "behave"}, {"command", {"/usr/bin/python3", kScript}},
            {"description", "A tool that misbehaves on demand"}, {"parameters", kModeSchema}};
  e.update(extra);
  return e;
}

json plugin(const std::string& path, json extra = json::object()) {
  json e = {{"kind", "plugin"}, {"name", "crashy"}, {"path", path}, {"description", "A plugin that misbehaves on demand"},
            {"parameters", kModeSchema}};
  e.update(extra);
  return e;
}

json calculator(bool in_process) {
  return {{"kind", "plugin"}, {"name", "calculator"}, {"path", R1_EXAMPLE_CALCULATOR_TOOL}, {"in_process", in_process},
          {"description", "Evaluate an arithmetic expression"},
          {"parameters", {{"type", "object"}, {"properties", {{"expression", {{"type", "string"}}}}}, {"required", {"expression"}}}},
          {"config", {{"precision", 10}}}};
}

// The pid a call reports ("<pid> ..."), to tell a restarted process from the one before.
std::string pid_of(const ToolResult& r) { return r.content.substr(0, r.content.find(' ')); }

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("custom tools: the config of each kind, its schema, errors naming the key", "[tools][custom]") {
  const r1::tools::ToolSpec e = spec_of(external({{"timeout_s", 3}, {"max_output_bytes", 100}, {"processes", 2}}));
  CHECK(e.custom.command == std::vector<std::string>{"/usr/bin/python3", kScript});
  CHECK(e.custom.timeout_s == 3);
  CHECK(e.custom.max_output_bytes == 100);
  CHECK(e.custom.processes == 2);
  CHECK(e.schema == json{{"type", "function"},
                         {"function", {{"name", "behave"}, {"description", "A tool that misbehaves on demand"}, {"parameters", kModeSchema}}}});
  const r1::tools::ToolSpec p = spec_of(calculator(true));
  CHECK(p.custom.in_process);
  CHECK(p.custom.config == json{{"precision", 10}});
  CHECK(p.custom.timeout_s == 10);
  CHECK(p.custom.max_output_bytes == 4096);
  const r1::tools::ToolSpec r = spec_of({{"kind", "remote"}, {"name", "wc"}, {"address", "127.0.0.1:5"}, {"token", "s"}, {"description", "d"}});
  CHECK(r.custom.address == "127.0.0.1:5");
  CHECK(r.custom.token == "s");
  CHECK(r.schema["function"]["parameters"] == json{{"type", "object"}, {"properties", json::object()}});  // no arguments

  auto error = [](json entry) {
    try {
      spec_of(entry);
    } catch (const r1::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  json no_description = external();
  no_description.erase("description");
  CHECK(error(no_description) == "tools.tools[0].description: missing (what the prompt's tool list tells the model the tool does)");
  CHECK(error(external({{"command", json::array()}})) == "tools.tools[0].command: must name a program ([\"python3\", \"my_tool.py\"])");
  CHECK(error(external({{"parameters", "x"}})).starts_with("tools.tools[0].parameters: expected a JSON schema object"));
  CHECK(error(external({{"parameters", {{"type", "array"}}}})) == "tools.tools[0].parameters.type: the arguments are an object: must be \"object\"");
  CHECK(error(external({{"parameters", {{"required", "mode"}}}})) == "tools.tools[0].parameters.required: expected a list of property names");
  CHECK(error(external({{"timeout_s", 0}})) == "tools.tools[0].timeout_s: must be in (0, 600]");
  CHECK(error(external({{"processes", 0}})) == "tools.tools[0].processes: must be in [1, 64]");
  CHECK(error(external({{"adress", "x"}})).starts_with("tools.tools[0].adress: unknown key"));
  CHECK(error({{"kind", "plugin"}, {"description", "d"}}) == "tools.tools[0].path: required key is missing");
  CHECK(error({{"kind", "remote"}, {"description", "d"}}) == "tools.tools[0].address: required key is missing");
  CHECK(error({{"kind", "extrnal"}}) == "tools.tools[0].kind: unknown tool kind 'extrnal' (did you mean 'external'?); kinds: python, external, plugin, remote");
  // A program that is not there is refused when the tool is made (the host's check), not on every call.
  CHECK_THROWS_WITH(make(external({{"command", {"/no/such/tool"}}})), Catch::Contains("'/no/such/tool' not found"));
}

TEST_CASE("external tool: one long-lived process answers each call's line", "[tools][custom][external]") {
  auto tool = make(external());
  ToolResult a = call(*tool, {{"mode", "echo"}, {"text", "hello"}});
  CHECK(a.content == "hello");
  CHECK_FALSE(a.error);
  ToolResult who = call(*tool, {{"mode", "whoami"}}, "abc-7");
  CHECK(who.content.ends_with(" abc-7"));  // the trajectory's id travels with the call
  CHECK(pid_of(call(*tool, {{"mode", "whoami"}})) == pid_of(who));  // the same process, kept running
  ToolResult failed = call(*tool, {{"mode", "fail"}});
  CHECK(failed.content == "bad input");
  CHECK(failed.error);
  CHECK(call(*tool, {{"mode", "noid"}}).content == "no id here");  // a reply need not echo the id
  CHECK(pid_of(call(*tool, {{"mode", "whoami"}})) == pid_of(who));
}

TEST_CASE("external tool: bad replies are error messages, and the next call works", "[tools][custom][external]") {
  auto tool = make(external({{"timeout_s", 2}, {"max_output_bytes", 4096}}));
  std::string pid = pid_of(call(*tool, {{"mode", "whoami"}}));

  ToolResult garbage = call(*tool, {{"mode", "garbage"}});
  CHECK(garbage.error);
  CHECK(garbage.content == "Error: malformed reply from tool 'behave': this is not json");
  std::string next = pid_of(call(*tool, {{"mode", "whoami"}}));  // restarted: its stream could be out of step
  CHECK(next != pid);
  pid = next;

  ToolResult missing = call(*tool, {{"mode", "nocontent"}});
  CHECK(missing.error);
  CHECK(missing.content.starts_with("Error: the reply of tool 'behave' has no string \"content\": {"));
  CHECK(pid_of(call(*tool, {{"mode", "whoami"}})) == pid);  // a well-formed line: no restart

  const auto start = std::chrono::steady_clock::now();
  ToolResult hang = call(*tool, {{"mode", "hang"}});
  CHECK(seconds_since(start) < 5);
  CHECK(hang.error);
  CHECK(hang.content == "Error: timed out after 2 s");
  ToolResult after = call(*tool, {{"mode", "whoami"}});  // killed and started again: its late reply is never read
  CHECK_FALSE(after.error);
  CHECK(pid_of(after) != pid);
  pid = pid_of(after);

  ToolResult crash = call(*tool, {{"mode", "crash"}});
  CHECK(crash.error);
  CHECK(crash.content == "Error: tool 'behave' exited (exit status 3)");
  ToolResult again = call(*tool, {{"mode", "echo"}, {"text", "back"}});
  CHECK(again.content == "back");
  CHECK_FALSE(again.error);

  ToolResult huge = call(*tool, {{"mode", "huge"}, {"size", 200000}});
  CHECK(huge.error);
  CHECK(huge.content.size() < 4200);
  CHECK(huge.content.starts_with("HEADaaa"));
  CHECK(huge.content.find("bytes cut ...]") != std::string::npos);
  CHECK(huge.content.ends_with("aaaTAIL\n[output cut to 4096 bytes]"));
  // A reply line past the line limit (1 MiB here) is cut off unread: an error, and a fresh process.
  ToolResult enormous = call(*tool, {{"mode", "huge"}, {"size", 3 << 20}});
  CHECK(enormous.error);
  CHECK(enormous.content.starts_with("Error: the tool's reply was too long"));
  CHECK(call(*tool, {{"mode", "echo"}, {"text", "fine"}}).content == "fine");
}

TEST_CASE("external tool: calls at once share a pool of processes, one call per process", "[tools][custom][external]") {
  auto tool = make(external({{"processes", 2}}));
  std::vector<std::future<ToolResult>> calls;
  for (int i = 0; i < 6; ++i)
    calls.push_back(std::async(std::launch::async, [&tool, i] { return call(*tool, {{"mode", "whoami"}}, "t" + std::to_string(i)); }));
  std::set<std::string> pids;
  for (int i = 0; i < 6; ++i) {
    ToolResult r = calls[i].get();
    CHECK_FALSE(r.error);
    CHECK(r.content.ends_with(" t" + std::to_string(i)));  // each call got its own reply
    pids.insert(pid_of(r));
  }
  CHECK(pids.size() >= 1);
  CHECK(pids.size() <= 2);
}

TEST_CASE("external tool: the example program", "[tools][custom][external]") {
  auto tool = make({{"kind", "external"}, {"name", "constant"}, {"command", {"/usr/bin/python3", std::string(R1_SOURCE_DIR) + "/examples/external_tool.py"}},
                    {"description", "Look up a constant"},
                    {"parameters", {{"type", "object"}, {"properties", {{"name", {{"type", "string"}}}}}, {"required", {"name"}}}}});
  CHECK(call(*tool, {{"name", "Speed of light"}}).content == "299792458 m/s");
  ToolResult unknown = call(*tool, {{"name", "tau"}});
  CHECK(unknown.error);
  CHECK(unknown.content.starts_with("unknown constant 'tau'"));
}

TEST_CASE("plugin tool: the calculator example, in process and in r1-plugin-host", "[tools][custom][plugin]") {
  for (bool in_process : {true, false}) {
    INFO("in_process " << in_process);
    auto tool = make(calculator(in_process));
    ToolResult r = call(*tool, {{"expression", "(385 + 15) * 47 / 2"}});
    CHECK(r.content == "9400");
    CHECK_FALSE(r.error);
    CHECK(call(*tool, {{"expression", "2 ^ 10 - 1"}}).content == "1023");
    ToolResult bad = call(*tool, {{"expression", "1 / (3 - 3)"}});
    CHECK(bad.content == "Error: division by zero");
    CHECK(bad.error);
    CHECK(call(*tool, {{"expression", "(1 + 2"}}).content == "Error: missing ')' at 7");
  }
}

TEST_CASE("plugin tool: a crash or a hang in r1-plugin-host is an error message, the next call works", "[tools][custom][plugin]") {
  auto tool = make(plugin(R1_CRASH_TOOL_PLUGIN, {{"timeout_s", 2}}));
  ToolResult first = call(*tool, {{"mode", "pid"}}, "tr-1");
  CHECK(first.content.ends_with(" crashy tr-1"));  // the tool's name and the trajectory reach the plugin
  const std::string pid = pid_of(first);

  ToolResult crash = call(*tool, {{"mode", "crash"}});
  CHECK(crash.error);
  CHECK(crash.content == "Error: tool plugin 'crashy' exited (killed by signal 11 (Segmentation fault))");
  ToolResult after = call(*tool, {{"mode", "pid"}});
  CHECK_FALSE(after.error);
  CHECK(pid_of(after) != pid);

  ToolResult exited = call(*tool, {{"mode", "exit"}});
  CHECK(exited.content == "Error: tool plugin 'crashy' exited (exit status 4)");
  const auto start = std::chrono::steady_clock::now();
  ToolResult hang = call(*tool, {{"mode", "hang"}});
  CHECK(seconds_since(start) < 5);
  CHECK(hang.content == "Error: timed out after 2 s");
  CHECK(call(*tool, {{"mode", "echo"}, {"text", "still here"}}).content == "still here");
  ToolResult failed = call(*tool, {{"mode", "fail"}});
  CHECK(failed.content == "Error: it failed");
  CHECK(failed.error);
}

TEST_CASE("plugin tool: output over the cap is cut at a character, in process and out", "[tools][custom][plugin]") {
  for (bool in_process : {true, false}) {
    INFO("in_process " << in_process);
    auto tool = make(plugin(R1_CRASH_TOOL_PLUGIN, {{"in_process", in_process}, {"max_output_bytes", 100}}));
    ToolResult r = call(*tool, {{"mode", "big"}, {"size", 5000}});
    CHECK(r.error);
    CHECK(r.content == std::string(100, 'x') + "\n[output cut to 100 bytes]");
    ToolResult u = call(*tool, {{"mode", "big"}, {"size", 5000}, {"utf8", true}});  // "é" is 2 bytes: 50 of them fit
    std::string e50;
    for (int i = 0; i < 50; ++i) e50 += "é";
    CHECK(u.content == e50 + "\n[output cut to 100 bytes]");
    ToolResult fits = call(*tool, {{"mode", "big"}, {"size", 100}});
    CHECK(fits.content == std::string(100, 'x'));
    CHECK_FALSE(fits.error);
  }
}

TEST_CASE("plugin tool: one that does not load is refused when the tool is made", "[tools][custom][plugin]") {
  for (bool in_process : {true, false}) {
    INFO("in_process " << in_process);
    CHECK_THROWS_WITH(make(plugin("/no/such/libtool.so", {{"in_process", in_process}})),
                      Catch::StartsWith("tool plugin /no/such/libtool.so: cannot load"));
    CHECK_THROWS_WITH(make(plugin(R1_CRASH_TOOL_PLUGIN, {{"in_process", in_process}, {"config", {{"refuse", true}}}})),
                      Catch::EndsWith("create failed: refused: the config says so"));
    CHECK_THROWS_WITH(make(plugin(R1_EXAMPLE_KEYWORD_REWARD, {{"in_process", in_process}})),  // a reward plugin
                      Catch::Contains("missing symbol r1_tool_v1_abi_version (see tools/tool_plugin_abi.h)"));
  }
}

namespace {

// A ToolService in the test: {"mode": "echo" | "whoami" | "sleep" | "big"}, a token when given.
class TestToolService final : public r1::v1::ToolService::Service {
 public:
  explicit TestToolService(std::string token) : token_(std::move(token)) {}
  grpc::Status Call(grpc::ServerContext* context, const r1::v1::ToolCallRequest* request, r1::v1::ToolCallReply* reply) override {
    if (!token_.empty()) {
      auto it = context->client_metadata().find("r1-token");
      if (it == context->client_metadata().end() || std::string(it->second.data(), it->second.size()) != token_)
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or wrong r1-token");
    }
    const json args = json::parse(request->arguments_json());
    const std::string mode = args.value("mode", "echo");
    if (mode == "whoami") reply->set_content(request->name() + " " + request->trajectory());
    else if (mode == "sleep") std::this_thread::sleep_for(std::chrono::seconds(3));
    else if (mode == "big") reply->set_content(std::string(10000, 'z'));
    else if (mode == "fail") {
      reply->set_content("no such page");
      reply->set_error(true);
    } else reply->set_content(args.value("text", ""));
    return grpc::Status::OK;
  }

 private:
  std::string token_;
};

struct TestServer {
  TestToolService service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  explicit TestServer(const std::string& token = "", int at = 0) : service(token) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(at), grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    REQUIRE(server);
    REQUIRE(port > 0);
  }
  ~TestServer() { server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100)); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

json remote(const std::string& address, json extra = json::object()) {
  json e = {{"kind", "remote"}, {"name", "lookup"}, {"address", address}, {"description", "A remote tool"}, {"parameters", kModeSchema}};
  e.update(extra);
  return e;
}

}  // namespace

TEST_CASE("remote tool: calls a ToolService, its token, its deadline, its cap", "[tools][custom][remote]") {
  TestServer server("s3cret");
  auto tool = make(remote(server.address(), {{"token", "s3cret"}, {"timeout_s", 0.5}, {"max_output_bytes", 1000}}));
  ToolResult r = call(*tool, {{"mode", "echo"}, {"text", "over the wire"}});
  CHECK(r.content == "over the wire");
  CHECK_FALSE(r.error);
  CHECK(call(*tool, {{"mode", "whoami"}}, "tj-9").content == "lookup tj-9");
  ToolResult failed = call(*tool, {{"mode", "fail"}});
  CHECK(failed.content == "no such page");
  CHECK(failed.error);
  ToolResult big = call(*tool, {{"mode", "big"}});
  CHECK(big.error);
  CHECK(big.content.ends_with("zzz\n[output cut to 1000 bytes]"));
  const auto start = std::chrono::steady_clock::now();
  ToolResult slow = call(*tool, {{"mode", "sleep"}});
  CHECK(seconds_since(start) < 2.5);
  CHECK(slow.content == "Error: timed out after 0.5 s");
  CHECK(slow.error);

  auto wrong = make(remote(server.address(), {{"token", "guess"}}));
  ToolResult denied = call(*wrong, {{"mode", "echo"}});
  CHECK(denied.error);
  CHECK(denied.content == "Error: the tool 'lookup' failed: missing or wrong r1-token");
}

TEST_CASE("remote tool: a service that is down is an error message, and one that comes up is called", "[tools][custom][remote]") {
  std::string address;
  {
    TestServer gone;
    address = gone.address();
  }
  auto tool = make(remote(address, {{"timeout_s", 2}}));
  ToolResult down = call(*tool, {{"mode", "echo"}, {"text", "anyone?"}});
  CHECK(down.error);
  CHECK(down.content.starts_with("Error: the tool 'lookup' is unavailable: " + address + " ("));
  CHECK(call(*tool, {{"mode", "echo"}}).error);  // still down: still a message

  // The service comes back on its port: the same tool reaches it within the channel's reconnect backoff (2 s).
  TestServer back("", std::stoi(address.substr(address.rfind(':') + 1)));
  const auto start = std::chrono::steady_clock::now();
  ToolResult r;
  do {
    r = call(*tool, {{"mode", "echo"}, {"text", "back again"}});
    if (r.error) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (r.error && seconds_since(start) < 10);
  CHECK(r.content == "back again");
  CHECK_FALSE(r.error);
  CHECK(seconds_since(start) < 5);
}

TEST_CASE("remote tool: the example server's word_count", "[tools][custom][remote]") {
  r1::ProcessSpec spec;
  spec.exe = R1_EXAMPLE_TOOL_SERVER;
  spec.args = {"--token", "change-me"};
  r1::Process server(spec);
  std::string line;
  REQUIRE(server.read_line(line, r1::Process::Clock::now() + std::chrono::seconds(30)) == r1::Process::Io::ok);
  REQUIRE(line.starts_with("port "));
  const std::string address = "127.0.0.1:" + line.substr(5);
  auto tool = make({{"kind", "remote"}, {"name", "word_count"}, {"address", address}, {"token", "change-me"},
                    {"description", "Count the words of a text"},
                    {"parameters", {{"type", "object"}, {"properties", {{"text", {{"type", "string"}}}}}, {"required", {"text"}}}}});
  ToolResult r = call(*tool, {{"text", "the quick brown fox"}});
  CHECK(r.content == "4 words, 19 bytes");
  CHECK_FALSE(r.error);
}

namespace {

const r1::Tokenizer& qwen() {
  static r1::Tokenizer t = r1::Tokenizer::load(r1::test::qwen3_dir());
  return t;
}

r1::rollout::TurnOutcome end_turn(r1::rollout::ToolSession& s, const std::string& text) {
  std::promise<r1::rollout::TurnOutcome> p;
  s.end_turn(text, true, [&](r1::rollout::TurnOutcome o) { p.set_value(std::move(o)); });
  return p.get_future().get();
}

std::string hermes(const std::string& name, const json& arguments) {
  return " <tool_call> " + json{{"name", name}, {"arguments", arguments}}.dump() + " </tool_call>";
}

}  // namespace

TEST_CASE("custom tools through the host: schemas in the prompt, arguments checked before the call", "[tools][custom][host]") {
  r1::tools::ToolHost host(qwen(), [] { return std::shared_ptr<r1::sandbox::Runner>(); });
  const json config = {{"template", "r1-zero"}, {"stop_after_call", true},
                       {"tools", {calculator(true), external(), {{"kind", "python"}}}}};
  const r1::rollout::ToolUse use{config.dump()};
  host.check(use);
  const json schemas = host.config(use).schemas();
  REQUIRE(schemas.size() == 3);
  CHECK(schemas[0]["function"]["name"] == "calculator");
  CHECK(schemas[0]["function"]["parameters"]["required"] == json::array({"expression"}));
  CHECK(schemas[1]["function"]["description"] == "A tool that misbehaves on demand");

  auto session = host.open(use);
  auto ok = end_turn(*session, hermes("calculator", {{"expression", "6 * 7"}}));
  CHECK_FALSE(ok.finished);
  CHECK(ok.errors == 0);
  CHECK(ok.append_text == " <tool_response> 42 </tool_response>");
  auto wrong = end_turn(*session, hermes("calculator", {{"expression", 42}}));  // never reaches the plugin
  CHECK(wrong.errors == 1);
  CHECK(wrong.append_text == " <tool_response> Error: arguments.expression: expected a string, got integer </tool_response>");
  // The external tool sees the session's trajectory id: the same for every call of one trajectory.
  auto trajectory_of = [](const r1::rollout::TurnOutcome& o) {  // " <tool_response> PID ID </tool_response>"
    const std::string& t = o.append_text;
    REQUIRE(t.starts_with(" <tool_response> "));
    REQUIRE(t.ends_with(" </tool_response>"));
    const std::string body = t.substr(17, t.size() - 17 - 17);
    return body.substr(body.find(' ') + 1);
  };
  const std::string id = trajectory_of(end_turn(*session, hermes("behave", {{"mode", "whoami"}})));
  CHECK(id.size() > 10);
  CHECK(trajectory_of(end_turn(*session, hermes("behave", {{"mode", "whoami"}}))) == id);
  auto other = host.open(use);
  CHECK(trajectory_of(end_turn(*other, hermes("behave", {{"mode", "whoami"}}))) != id);  // another trajectory, another id
  auto crash = end_turn(*session, hermes("behave", {{"mode", "crash"}}));
  CHECK_FALSE(crash.finished);  // a crash is a message, never the end of the rollout
  CHECK(crash.errors == 1);
  CHECK(crash.append_text == " <tool_response> Error: tool 'behave' exited (exit status 3) </tool_response>");
}
