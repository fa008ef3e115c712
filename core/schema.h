// Schema: the message and service types the gateway knows, loaded from
// FileDescriptorSets (`protoc --include_imports --descriptor_set_out=...`), so
// that no generated code is needed for the backend's services.
//
// Contract: every file of every set is built into one private DescriptorPool.
// A file may appear in several sets (e.g. google/protobuf/timestamp.proto) as
// long as every copy is identical (source code info is ignored); a different
// definition under the same file name, a symbol defined twice, an unreadable
// or unparsable set or an import that no set provides is an error whose
// message names the set's file path.
//
// Messages are created with GetPrototype(type)->New(); they share data with
// the Schema, which must therefore outlive every message created from it.
//
// Thread safety: immutable after creation; all methods are thread-safe.

#ifndef SSE_GATEWAY_CORE_SCHEMA_H_
#define SSE_GATEWAY_CORE_SCHEMA_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"

namespace sse_gateway {

class Schema {
 public:
  // Loads binary FileDescriptorSet files (the paths are read, not kept).
  static absl::StatusOr<std::unique_ptr<Schema>> LoadDescriptorSetFiles(
      const std::vector<std::string>& paths);

  // Builds a schema from one in-memory set; errors name "<descriptor set>".
  static absl::StatusOr<std::unique_ptr<Schema>> FromDescriptorSet(
      const google::protobuf::FileDescriptorSet& set);

  Schema(const Schema&) = delete;
  Schema& operator=(const Schema&) = delete;
  ~Schema();

  // Finds a server-streaming method by its gRPC name "package.Service/Method"
  // (a leading '/' is accepted, as in an HTTP/2 :path). The descriptor is
  // owned by this schema. Errors: InvalidArgument for a malformed name or a
  // method that is unary, client-streaming or bidirectional; NotFound for an
  // unknown service or method, listing close names when there are any.
  absl::StatusOr<const google::protobuf::MethodDescriptor*>
  FindServerStreamingMethod(absl::string_view name) const;

  // The prototype (default instance, owned by this schema) of `type`, which
  // must belong to pool(); returns nullptr for a type of another pool.
  const google::protobuf::Message* GetPrototype(
      const google::protobuf::Descriptor* type) const;

  // The pool holding every loaded file; owned by this schema.
  const google::protobuf::DescriptorPool* pool() const { return pool_.get(); }

  // Every loaded file, in dependency order (dependencies first).
  const std::vector<const google::protobuf::FileDescriptor*>& files() const {
    return files_;
  }

 private:
  Schema();

  // Where each FileDescriptorProto came from, for error messages.
  struct SourcedFile {
    std::string source;  // The descriptor set's path.
    google::protobuf::FileDescriptorProto proto;
  };
  static absl::StatusOr<std::unique_ptr<Schema>> Build(
      std::vector<SourcedFile> files);

  // Declared in this order so that the factory (and its prototypes) is
  // destroyed before the pool whose descriptors it uses.
  std::unique_ptr<google::protobuf::DescriptorPool> pool_;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory_;
  std::vector<const google::protobuf::FileDescriptor*> files_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_SCHEMA_H_
