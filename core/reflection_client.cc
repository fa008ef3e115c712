#include "core/reflection_client.h"

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/grpc_stream_call.h"
#include "core/status_macros.h"
#include "grpcpp/generic/generic_stub.h"
#include "proto/reflection/server_reflection.pb.h"

namespace sse_gateway {
namespace {

constexpr char kReflectionMethod[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

using reflection::ServerReflectionRequest;
using reflection::ServerReflectionResponse;

// Makes one reflection call with one request and returns its one answer.
absl::StatusOr<ServerReflectionResponse> Ask(
    grpc::GenericStub* stub, const ServerReflectionRequest& request,
    absl::Time deadline) {
  GrpcStreamCall::Options options;
  options.timeout = deadline - absl::Now();
  if (*options.timeout <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError("server reflection timed out");
  }
  std::unique_ptr<GrpcStreamCall> call = GrpcStreamCall::Start(
      stub, kReflectionMethod, request.SerializeAsString(), options);
  std::string bytes;
  std::optional<ServerReflectionResponse> answer;
  for (;;) {
    GrpcStreamCall::NextResult result =
        call->Next(deadline - absl::Now(), &bytes);
    if (result == GrpcStreamCall::NextResult::kEnd) break;
    if (result == GrpcStreamCall::NextResult::kTimeout) {
      return absl::DeadlineExceededError("server reflection timed out");
    }
    ServerReflectionResponse response;
    if (!answer.has_value()) {
      if (!response.ParseFromString(bytes)) {
        return absl::InvalidArgumentError(
            "server reflection sent an answer that does not parse");
      }
      answer = std::move(response);
    }
  }
  absl::Status status = call->FinalStatus();
  if (status.code() == absl::StatusCode::kUnimplemented) {
    return absl::FailedPreconditionError(
        "the backend does not serve gRPC server reflection "
        "(grpc.reflection.v1alpha.ServerReflection is UNIMPLEMENTED); give "
        "its schema with descriptor_sets instead");
  }
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("server reflection: ", status.message()));
  }
  if (!answer.has_value()) {
    return absl::InvalidArgumentError("server reflection sent no answer");
  }
  if (answer->has_error_response()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "server reflection: ", answer->error_response().error_message(),
        " (code ", answer->error_response().error_code(), ")"));
  }
  return *std::move(answer);
}

// Adds the files of a FileDescriptorResponse to `files` (by name).
absl::Status AddFiles(
    const ServerReflectionResponse& response,
    std::map<std::string, google::protobuf::FileDescriptorProto>* files) {
  if (!response.has_file_descriptor_response()) {
    return absl::InvalidArgumentError(
        "server reflection answered a file question with something else");
  }
  for (const std::string& bytes :
       response.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    if (!file.ParseFromString(bytes) || file.name().empty()) {
      return absl::InvalidArgumentError(
          "server reflection sent a file descriptor that does not parse");
    }
    files->emplace(file.name(), std::move(file));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<google::protobuf::FileDescriptorSet> FetchSchemaByReflection(
    std::shared_ptr<grpc::Channel> channel, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  grpc::GenericStub stub(channel);

  ServerReflectionRequest list;
  list.set_list_services("*");
  ASSIGN_OR_RETURN(ServerReflectionResponse services,
                   Ask(&stub, list, deadline));
  if (!services.has_list_services_response()) {
    return absl::InvalidArgumentError(
        "server reflection answered list_services with something else");
  }

  std::map<std::string, google::protobuf::FileDescriptorProto> files;
  for (const auto& service : services.list_services_response().service()) {
    if (absl::StartsWith(service.name(), "grpc.reflection.")) continue;
    ServerReflectionRequest question;
    question.set_file_containing_symbol(service.name());
    ASSIGN_OR_RETURN(ServerReflectionResponse answer,
                     Ask(&stub, question, deadline));
    RETURN_IF_ERROR(AddFiles(answer, &files));
  }

  // Ask for dependencies the answers did not include, until none is missing.
  for (bool asked = true; asked;) {
    asked = false;
    std::set<std::string> missing;
    for (const auto& [name, file] : files) {
      for (const std::string& dependency : file.dependency()) {
        if (files.count(dependency) == 0) missing.insert(dependency);
      }
    }
    for (const std::string& name : missing) {
      ServerReflectionRequest question;
      question.set_file_by_filename(name);
      ASSIGN_OR_RETURN(ServerReflectionResponse answer,
                       Ask(&stub, question, deadline));
      RETURN_IF_ERROR(AddFiles(answer, &files));
      if (files.count(name) == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "server reflection did not send \"", name, "\" when asked"));
      }
      asked = true;
    }
  }

  // Dependencies first.
  google::protobuf::FileDescriptorSet set;
  std::set<std::string> done;
  std::function<void(const std::string&)> emit = [&](const std::string& name) {
    if (!done.insert(name).second) return;
    const google::protobuf::FileDescriptorProto& file = files.at(name);
    for (const std::string& dependency : file.dependency()) emit(dependency);
    *set.add_file() = file;
  };
  for (const auto& [name, file] : files) emit(name);
  return set;
}

}  // namespace sse_gateway
