#include "core/reflection_client.h"

#include <memory>
#include <string>

#include "core/schema.h"
#include "examples/ticker_service.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#ifdef SSE_GATEWAY_WITH_REFLECTION
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#endif
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

// The demo Ticker on a loopback port (with server reflection when built with
// SSE_GATEWAY_WITH_REFLECTION).
class TickerServer {
 public:
  TickerServer() {
#ifdef SSE_GATEWAY_WITH_REFLECTION
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
#endif
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~TickerServer() { server_->Shutdown(); }

  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                               grpc::InsecureChannelCredentials());
  }

 private:
  TickerService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// Linking gRPC's reflection library turns reflection on for every server of
// the process, so this file is built twice: with it (reflection_client_test)
// and without it (reflection_client_off_test).
#ifndef SSE_GATEWAY_WITH_REFLECTION
TEST(ReflectionClientTest, ClearErrorWhenReflectionIsOff) {
  TickerServer server;
  absl::StatusOr<google::protobuf::FileDescriptorSet> set =
      FetchSchemaByReflection(server.Channel(), absl::Seconds(30));
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(set.status().message(), HasSubstr("server reflection"));
  EXPECT_THAT(set.status().message(), HasSubstr("descriptor_sets"));
}

#else  // SSE_GATEWAY_WITH_REFLECTION

TEST(ReflectionClientTest, FetchesAUsableSchemaWithDependenciesFirst) {
  TickerServer server;
  absl::StatusOr<google::protobuf::FileDescriptorSet> set =
      FetchSchemaByReflection(server.Channel(), absl::Seconds(30));
  ASSERT_TRUE(set.ok()) << set.status();
  // timestamp.proto comes before the ticker file that imports it.
  int timestamp_at = -1;
  int ticker_at = -1;
  for (int i = 0; i < set->file_size(); ++i) {
    if (set->file(i).name() == "google/protobuf/timestamp.proto")
      timestamp_at = i;
    if (set->file(i).package() == "demo.v1") ticker_at = i;
    EXPECT_NE(set->file(i).package(), "grpc.reflection.v1alpha");
  }
  ASSERT_GE(timestamp_at, 0);
  ASSERT_GT(ticker_at, timestamp_at);

  absl::StatusOr<std::unique_ptr<Schema> > schema =
      Schema::FromDescriptorSet(*set);
  ASSERT_TRUE(schema.ok()) << schema.status();
  absl::StatusOr<const google::protobuf::MethodDescriptor*> method =
      (*schema)->FindServerStreamingMethod("demo.v1.Ticker/Watch");
  ASSERT_TRUE(method.ok()) << method.status();
  EXPECT_EQ((*method)->output_type()->full_name(), "demo.v1.Tick");
}

#endif  // SSE_GATEWAY_WITH_REFLECTION

TEST(ReflectionClientTest, UnreachableBackendFailsWithinTheTimeout) {
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
  absl::StatusOr<google::protobuf::FileDescriptorSet> set =
      FetchSchemaByReflection(channel, absl::Seconds(5));
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(), HasSubstr("server reflection"));
}

}  // namespace
}  // namespace sse_gateway
