// FetchSchemaByReflection: reads a backend's schema with gRPC server
// reflection, for backends that come with no descriptor set.
//
// Asks the backend (grpc.reflection.v1alpha.ServerReflection) for its
// services, then for the file defining each one, then for any dependency not
// yet received, and returns every file as one FileDescriptorSet with
// dependencies before the files that import them (what
// Schema::FromDescriptorSet and protoc --include_imports produce). Each
// question is one short reflection call made with GrpcStreamCall.
//
// Errors: UNIMPLEMENTED / FAILED_PRECONDITION saying reflection is off when
// the backend does not serve it; UNAVAILABLE etc. when the backend cannot be
// reached within `timeout`; INVALID_ARGUMENT for an unusable answer.
// Thread-safe (no shared state).

#ifndef SSE_GATEWAY_CORE_REFLECTION_CLIENT_H_
#define SSE_GATEWAY_CORE_REFLECTION_CLIENT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpcpp/channel.h"

namespace sse_gateway {

absl::StatusOr<google::protobuf::FileDescriptorSet> FetchSchemaByReflection(
    std::shared_ptr<grpc::Channel> channel, absl::Duration timeout);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_REFLECTION_CLIENT_H_
