// Schemas the gateway learns without a route list or without descriptor
// sets: google.api.http annotations (routes_from_annotations, path templates)
// and gRPC server reflection, through a real backend and the real stream.

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gateway/config/config.h"
#include "gateway/gateway.h"
#include "gmock/gmock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "proto/testing/v1/annotated.grpc.pb.h"
#include "tests/sse_test_client.h"
#include "tests/test_gateway.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

constexpr char kAnnotatedSet[] = "proto/testing/v1/annotated.descriptor_set.pb";

// testing.annotated.v1.Rooms: Events sends `count` events naming the room.
class RoomsService final : public testing::annotated::v1::Rooms::Service {
 public:
  grpc::Status Events(
      grpc::ServerContext*,
      const testing::annotated::v1::EventsRequest* request,
      grpc::ServerWriter<testing::annotated::v1::Event>* writer) override {
    for (int n = 1; n <= request->count(); ++n) {
      testing::annotated::v1::Event event;
      event.set_room(request->name());
      event.set_n(n);
      if (!writer->Write(event)) break;
    }
    return grpc::Status::OK;
  }
};

// The Rooms backend, with gRPC server reflection on.
class RoomsBackend {
 public:
  RoomsBackend() {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~RoomsBackend() { server_->Shutdown(); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  RoomsService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// A gateway in front of `backend` with routes from its annotations only.
std::unique_ptr<Gateway> StartAnnotatedGateway(const RoomsBackend& backend) {
  GatewayConfig config = TestGatewayConfig(backend.address());
  config.descriptor_sets = {kAnnotatedSet};
  config.routes_from_annotations = true;
  return StartTestGateway(config);
}

TEST(SchemasTest, RoutesFromAnnotationsWithPathTemplates) {
  RoomsBackend backend;
  std::unique_ptr<Gateway> gateway = StartAnnotatedGateway(backend);
  ASSERT_NE(gateway, nullptr);
  SseTestClient client("127.0.0.1", gateway->port());

  SseResponse room = client.Get("/v1/rooms/42/events?count=2");
  ASSERT_EQ(room.status, 200) << room.body;
  ASSERT_EQ(room.events.size(), 3u);
  EXPECT_EQ(room.events[0].data, R"({"room":"rooms/42","n":1})");
  EXPECT_EQ(room.events[1].last_event_id, "2");
  EXPECT_EQ(room.events[2].type, "end");

  SseResponse lobby = client.Get("/v1/lobby:events?count=1");
  ASSERT_EQ(lobby.status, 200);
  EXPECT_EQ(lobby.events[0].data, R"({"n":1})");

  // The path binds `name`; the query may not bind it again.
  SseResponse twice = client.Get("/v1/rooms/42/events?name=rooms/7");
  EXPECT_EQ(twice.status, 400);
  EXPECT_THAT(twice.body, HasSubstr("name"));

  EXPECT_EQ(client.Get("/v1/halls/1/events").status, 404);
  EXPECT_EQ(client.Get("/v1/rooms/42").status, 404);  // Unary: not routed.
  EXPECT_EQ(client.Send("POST", "/v1/rooms/42/events").status, 405);
}

// Template variables are bound from the path as sent, decoded once. Before
// the fix, httplib's decoded path was matched and decoded again: "%2541"
// bound "A" instead of "%41", "%2F" split a segment (404), and an escaped
// literal ("event%73") still matched.
TEST(SchemasTest, TemplateVariablesAreDecodedExactlyOnce) {
  RoomsBackend backend;
  std::unique_ptr<Gateway> gateway = StartAnnotatedGateway(backend);
  ASSERT_NE(gateway, nullptr);
  SseTestClient client("127.0.0.1", gateway->port());

  SseResponse once = client.Get("/v1/rooms/%2541CME/events?count=1");
  ASSERT_EQ(once.status, 200) << once.body;
  EXPECT_EQ(once.events[0].data, R"({"room":"rooms/%41CME","n":1})");

  SseResponse utf8 = client.Get("/v1/rooms/caf%C3%A9/events?count=1");
  ASSERT_EQ(utf8.status, 200) << utf8.body;
  EXPECT_EQ(utf8.events[0].data, "{\"room\":\"rooms/caf\xC3\xA9\",\"n\":1}");

  // {name=rooms/*} spans two segments: an escaped '/' stays escaped in it,
  // and it does not split the segment.
  SseResponse slash = client.Get("/v1/rooms/AC%2FME/events?count=1");
  ASSERT_EQ(slash.status, 200) << slash.body;
  EXPECT_EQ(slash.events[0].data, R"({"room":"rooms/AC%2FME","n":1})");

  EXPECT_EQ(client.Get("/v1/rooms/42/event%73?count=1").status, 404);
  EXPECT_EQ(client.Get("/v1/room%73/42/events?count=1").status, 404);
  EXPECT_EQ(client.Get("/v1/lobby%3Aevents?count=1").status, 404);
  SseResponse malformed = client.Get("/v1/rooms/%zz/events?count=1");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_THAT(malformed.body, HasSubstr("malformed percent-escape"));
  EXPECT_EQ(client.Get("/v1/rooms/%u0041/events?count=1").status, 400);
}

TEST(SchemasTest, ExplicitRoutesOverrideAnnotations) {
  RoomsBackend backend;
  GatewayConfig config = TestGatewayConfig(backend.address());
  config.descriptor_sets = {kAnnotatedSet};
  config.routes_from_annotations = true;
  RouteConfig explicit_route;
  explicit_route.path = "/rooms";
  explicit_route.upstream.method = "testing.annotated.v1.Rooms/Events";
  explicit_route.upstream.event = "room";
  config.routes.push_back(explicit_route);
  std::unique_ptr<Gateway> gateway = StartTestGateway(config);
  ASSERT_NE(gateway, nullptr);
  SseTestClient client("127.0.0.1", gateway->port());
  SseResponse response = client.Get("/rooms?name=rooms/1&count=1");
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(response.events[0].type, "room");
  // The method has an explicit route, so its annotation is not used.
  EXPECT_EQ(client.Get("/v1/rooms/1/events?count=1").status, 404);
}

TEST(SchemasTest, ReflectionOnlyBackend) {
  RoomsBackend backend;
  GatewayConfig config = TestGatewayConfig(backend.address());
  config.descriptor_sets.clear();  // Ask the backend itself.
  config.routes_from_annotations = true;
  std::unique_ptr<Gateway> gateway = StartTestGateway(config);
  ASSERT_NE(gateway, nullptr);
  SseTestClient client("127.0.0.1", gateway->port());
  SseResponse room = client.Get("/v1/rooms/9/events?count=1");
  ASSERT_EQ(room.status, 200) << room.body;
  EXPECT_EQ(room.events[0].data, R"({"room":"rooms/9","n":1})");
}

TEST(SchemasTest, ReflectionErrorsNameTheConfigKey) {
  GatewayConfig config = TestGatewayConfig("127.0.0.1:1");  // No one there.
  config.descriptor_sets.clear();
  config.routes_from_annotations = true;
  absl::StatusOr<std::unique_ptr<Gateway>> gateway = Gateway::Create(config);
  ASSERT_FALSE(gateway.ok());
  EXPECT_THAT(gateway.status().message(),
              HasSubstr("test.yaml: descriptor_sets: "));
  EXPECT_THAT(gateway.status().message(), HasSubstr("server reflection"));
}

}  // namespace
}  // namespace sse_gateway
