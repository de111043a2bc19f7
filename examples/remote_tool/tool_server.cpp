// An example remote tool service (proto/tool.proto): serves a "word_count" tool over gRPC.
//
//   build/examples/r1_example_tool_server [--port P] [--token T]      (binds 127.0.0.1; prints "port N")
//
// and a stage uses it through the remote kind:
//   {"kind": "remote", "name": "word_count", "address": "127.0.0.1:P", "token": "T",
//    "description": "Count the words and characters of a text",
//    "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}
//
// A call's failure the model should see is a reply with error = true; a wrong token is UNAUTHENTICATED.
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <iostream>
#include <sstream>
#include <string>

#include "proto/tool.grpc.pb.h"

namespace {

class WordCount final : public r1::v1::ToolService::Service {
 public:
  explicit WordCount(std::string token) : token_(std::move(token)) {}

  grpc::Status Call(grpc::ServerContext* context, const r1::v1::ToolCallRequest* request, r1::v1::ToolCallReply* reply) override {
    if (!token_.empty()) {
      auto it = context->client_metadata().find("r1-token");
      if (it == context->client_metadata().end() || std::string(it->second.data(), it->second.size()) != token_)
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or wrong r1-token");
    }
    const auto arguments = nlohmann::json::parse(request->arguments_json(), nullptr, false);
    if (request->name() != "word_count" || !arguments.is_object() || !arguments.contains("text") || !arguments["text"].is_string()) {
      reply->set_content("Error: word_count takes {\"text\": \"...\"}");
      reply->set_error(true);
      return grpc::Status::OK;
    }
    const std::string text = arguments["text"].get<std::string>();
    std::istringstream in(text);
    size_t words = 0;
    for (std::string w; in >> w;) ++words;
    reply->set_content(std::to_string(words) + " words, " + std::to_string(text.size()) + " bytes");
    return grpc::Status::OK;
  }

 private:
  std::string token_;
};

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::string token;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--port")) port = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--token")) token = argv[i + 1];
  }
  WordCount service(token);
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || bound == 0) {
    std::cerr << "cannot listen on port " << port << "\n";
    return 1;
  }
  std::cout << "port " << bound << std::endl;
  server->Wait();
}
