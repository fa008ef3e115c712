#include "gateway/backend_pool.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "proto/testing/v1/testing.grpc.pb.h"
#include "tests/test_backend.h"
#include "tests/test_certificates.h"
#include "tests/test_environment.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

class BackendPoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = TestCertificates::Shared();
    ASSERT_NE(certs_, nullptr);
  }

  static BackendTlsConfig Tls() {
    BackendTlsConfig tls;
    tls.key = "backends[0].tls";
    tls.ca_file = certs_->ca_cert;
    return tls;
  }

  static const TestCertificates* certs_;
};

const TestCertificates* BackendPoolTest::certs_ = nullptr;

// Whether an argument `name` with integer `value` (or any string value when
// `value` is null) is among `args`.
bool HasArg(const grpc::ChannelArguments& args, const std::string& name,
            const int* value) {
  grpc_channel_args c_args = args.c_channel_args();
  for (size_t i = 0; i < c_args.num_args; ++i) {
    const grpc_arg& arg = c_args.args[i];
    if (name != arg.key) continue;
    if (value == nullptr) return arg.type == GRPC_ARG_STRING;
    return arg.type == GRPC_ARG_INTEGER && arg.value.integer == *value;
  }
  return false;
}

TEST_F(BackendPoolTest, ChannelArgumentsKeepFlowControlAndDiffer) {
  const int zero = 0, one = 1, two = 2, window = 64 * 1024;
  grpc::ChannelArguments args = BuildChannelArguments(std::nullopt, 2);
  EXPECT_TRUE(HasArg(args, GRPC_ARG_HTTP2_BDP_PROBE, &zero));
  EXPECT_TRUE(HasArg(args, GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, &window));
  EXPECT_TRUE(HasArg(args, GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, &one));
  EXPECT_TRUE(HasArg(args, kPoolChannelIndexArg, &two));
  EXPECT_FALSE(HasArg(args, GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, nullptr));

  BackendTlsConfig tls = Tls();
  tls.server_name = "backend.internal";
  EXPECT_TRUE(HasArg(BuildChannelArguments(tls, 0),
                     GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, nullptr));
}

TEST_F(BackendPoolTest, CredentialErrorsNameTheKey) {
  EXPECT_TRUE(BuildChannelCredentials(std::nullopt).ok());
  EXPECT_TRUE(BuildChannelCredentials(Tls()).ok());

  BackendTlsConfig missing = Tls();
  missing.ca_file = certs_->dir + "/nope.pem";
  auto status = BuildChannelCredentials(missing).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("backends[0].tls.ca_file: cannot "
                                          "read"));
  EXPECT_THAT(status.message(), HasSubstr("nope.pem"));

  BackendTlsConfig not_pem = Tls();
  not_pem.cert_file = certs_->dir + "/server.ext";  // Exists, not PEM.
  not_pem.key_file = certs_->client_key;
  EXPECT_THAT(BuildChannelCredentials(not_pem).status().message(),
              HasSubstr("backends[0].tls.cert_file: "));

  BackendTlsConfig cert_only = Tls();
  cert_only.cert_file = certs_->client_cert;
  EXPECT_THAT(BuildChannelCredentials(cert_only).status().message(),
              HasSubstr("backends[0].tls.cert_file: "));
  BackendTlsConfig key_only = Tls();
  key_only.key_file = certs_->client_key;
  EXPECT_THAT(BuildChannelCredentials(key_only).status().message(),
              HasSubstr("backends[0].tls.key_file: "));
}

TEST_F(BackendPoolTest, RejectsBadChannelCounts) {
  BackendConfig config;
  config.key = "backends[2]";
  config.address = "127.0.0.1:1";
  for (int channels : {0, kMaxBackendChannels + 1}) {
    config.channels = channels;
    auto pool = BackendPool::Create(config);
    ASSERT_FALSE(pool.ok());
    EXPECT_THAT(pool.status().message(), HasSubstr("backends[2].channels"));
  }
}

TEST_F(BackendPoolTest, EachChannelHasItsOwnConnection) {
  // One stream per connection: a second stream on a shared connection would
  // wait for the first to end.
  TestBackend::Options options;
  options.max_concurrent_streams = 1;
  std::unique_ptr<TestBackend> backend = TestBackend::Start(options);
  BackendConfig config;
  config.name = "b";
  config.address = backend->address();
  config.channels = 3;
  auto pool = BackendPool::Create(config);
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_EQ((*pool)->channels().size(), 3u);

  testing::v1::StreamRequest request;
  request.set_count(1);
  request.set_hold_open(true);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<testing::v1::StreamResponse>>>
      readers;
  for (const auto& channel : (*pool)->channels()) {
    auto stub = testing::v1::TestService::NewStub(channel);
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(std::chrono::system_clock::now() +
                                  std::chrono::seconds(20));
    readers.push_back(stub->Stream(contexts.back().get(), request));
    testing::v1::StreamResponse response;
    EXPECT_TRUE(readers.back()->Read(&response))
        << "stream " << readers.size() << " got no message";
  }
  EXPECT_EQ(backend->active_calls(), 3u);
  for (auto& context : contexts) context->TryCancel();
  for (auto& reader : readers) reader->Finish();
}

TEST_F(BackendPoolTest, ConnectivityOfEveryChannel) {
  TestBackend::Options options;
  options.tls_cert_chain = ReadFileOrEmpty(certs_->server_cert);
  options.tls_private_key = ReadFileOrEmpty(certs_->server_key);
  std::unique_ptr<TestBackend> backend = TestBackend::Start(options);

  BackendConfig tls_backend;
  tls_backend.name = "tls";
  tls_backend.address = backend->address();
  tls_backend.tls = Tls();
  tls_backend.channels = 2;
  auto pool = BackendPool::Create(tls_backend);
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_THAT((*pool)->CheckConnectivity(absl::Now() + absl::Seconds(20)),
              ::testing::Each(GRPC_CHANNEL_READY));

  // The same backend without TLS does not connect.
  BackendConfig plaintext = tls_backend;
  plaintext.name = "plain";
  plaintext.tls.reset();
  auto plain_pool = BackendPool::Create(plaintext);
  ASSERT_TRUE(plain_pool.ok());

  std::vector<std::unique_ptr<BackendPool>> pools;
  pools.push_back(*std::move(pool));
  pools.push_back(*std::move(plain_pool));
  BackendReadiness readiness =
      CheckBackendReadiness(pools, absl::Now() + absl::Seconds(2));
  EXPECT_FALSE(readiness.all_ready);
  EXPECT_NE(readiness.first_not_ready_state, "ready");
  EXPECT_THAT(
      readiness.json,
      HasSubstr("{\"name\":\"tls\",\"address\":\"" + backend->address() +
                "\",\"channels\":[\"ready\",\"ready\"]}"));
  EXPECT_THAT(readiness.json, HasSubstr("{\"name\":\"plain\""));

  EXPECT_EQ(*FindBackend(pools, "plain"), pools[1].get());
  EXPECT_EQ(FindBackend(pools, "nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(FindBackend(pools, "").ok());  // Several: a name is needed.
  pools.pop_back();
  EXPECT_EQ(*FindBackend(pools, ""), pools[0].get());
}

TEST_F(BackendPoolTest, CreateBackendPoolsPrefixesTheConfigFile) {
  GatewayConfig config;
  config.file = "gw.yaml";
  config.backend = "127.0.0.1:1";
  config.backend_tls = Tls();
  config.backend_tls->key = "backend_tls";
  config.backend_tls->ca_file = "/nonexistent/ca.pem";
  auto pools = CreateBackendPools(config);
  ASSERT_FALSE(pools.ok());
  EXPECT_THAT(pools.status().message(),
              HasSubstr("gw.yaml: backend_tls.ca_file: cannot read"));

  config.backend_tls.reset();
  pools = CreateBackendPools(config);
  ASSERT_TRUE(pools.ok()) << pools.status();
  ASSERT_EQ(pools->size(), 1u);
  EXPECT_EQ((*pools)[0]->config().name, "default");
  EXPECT_EQ((*pools)[0]->channels().size(), 1u);
}

}  // namespace
}  // namespace sse_gateway
