// The remote tool kind: a gRPC ToolService (proto/tool.proto), as the remote reward (rewards/remote.cpp)
// calls a RewardService: one channel per tool (gRPC reconnects it as needed), one Call per call with the
// call's timeout as the deadline and the token as "r1-token" metadata. Every failure is an error message.
#include <grpcpp/grpcpp.h>

#include <chrono>

#include "tools/custom_tool.h"
#include "proto/tool.grpc.pb.h"

namespace r1::tools {
namespace {

constexpr const char* kTokenHeader = "r1-token";

// gRPC waits up to 2 minutes between attempts to reach a service that was down; a tool service that
// restarts is tried again within 2 s, so calls reach it soon after it is back.
std::shared_ptr<grpc::Channel> channel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

class RemoteTool : public Tool {
 public:
  explicit RemoteTool(const ToolSpec& spec)
      : name_(spec.name), options_(spec.custom),
        stub_(r1::v1::ToolService::NewStub(channel(options_.address))) {}

  ToolResult call(const nlohmann::json& arguments, ToolCallContext& context) override {
    r1::v1::ToolCallRequest request;
    request.set_name(name_);
    request.set_arguments_json(arguments.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    request.set_trajectory(context.trajectory);
    const double seconds = call_seconds(options_, context);
    grpc::ClientContext rpc;
    rpc.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(seconds)));
    if (!options_.token.empty()) rpc.AddMetadata(kTokenHeader, options_.token);
    r1::v1::ToolCallReply reply;
    const grpc::Status status = stub_->Call(&rpc, request, &reply);
    switch (status.error_code()) {
      case grpc::StatusCode::OK: return capped_result(reply.content(), reply.error(), options_.max_output_bytes);
      case grpc::StatusCode::DEADLINE_EXCEEDED: return {timeout_message(seconds), true};
      case grpc::StatusCode::UNAVAILABLE:
        return {"Error: the tool '" + name_ + "' is unavailable: " + options_.address + " (" + status.error_message() + ")", true};
      default:
        return {"Error: the tool '" + name_ + "' failed: " + status.error_message(), true};
    }
  }

 private:
  std::string name_;
  CustomToolOptions options_;
  std::unique_ptr<r1::v1::ToolService::Stub> stub_;
};

}  // namespace

std::unique_ptr<Tool> make_remote_tool(const ToolSpec& spec) { return std::make_unique<RemoteTool>(spec); }

}  // namespace r1::tools
