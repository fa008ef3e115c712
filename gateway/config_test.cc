#include "gateway/config.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

constexpr char kGoodConfig[] = R"(
listen: 127.0.0.1:8080
backend: 127.0.0.1:50051
descriptor_sets: [demo.pb, /abs/other.pb]
index_page: index.html
open_wait_ms: 250
heartbeat_ms: 5000
write_timeout_ms: 7000
max_streams: 900
drain_timeout_ms: 3000
access_log: logs/access.log
routes:
  - path: /v1/ticks
    method: demo.v1.Ticker/Watch
    event: tick
    id_field: seq
    resume_field: after_seq
    retry_ms: 2000
    json: {emit_defaults: true, use_proto_names: true, enums_as_ints: true}
    heartbeat_ms: 0
    max_streams: 20
    max_duration_ms: 60000
    timeout_ms: 120000
  - path: /v1/other
    method: demo.v1.Ticker/Watch
)";

absl::StatusOr<GatewayConfig> Parse(const std::string& yaml) {
  return ParseConfig(yaml, "gw.yaml", "/etc/gw");
}

// Replaces `from` in the good config by `to` and returns the error message.
std::string ErrorAfter(const std::string& from, const std::string& to) {
  std::string yaml = absl::StrReplaceAll(kGoodConfig, {{from, to}});
  EXPECT_NE(yaml, kGoodConfig) << "test bug: " << from << " not found";
  absl::StatusOr<GatewayConfig> config = Parse(yaml);
  EXPECT_FALSE(config.ok()) << "accepted: " << yaml;
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

TEST(ConfigTest, ParsesEveryKey) {
  absl::StatusOr<GatewayConfig> config = Parse(kGoodConfig);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->file, "gw.yaml");
  EXPECT_EQ(config->listen.host, "127.0.0.1");
  EXPECT_EQ(config->listen.port, 8080);
  EXPECT_EQ(config->backend, "127.0.0.1:50051");
  EXPECT_THAT(config->descriptor_sets,
              ::testing::ElementsAre("/etc/gw/demo.pb", "/abs/other.pb"));
  EXPECT_EQ(config->index_page, "/etc/gw/index.html");
  EXPECT_EQ(config->open_wait, absl::Milliseconds(250));
  ASSERT_EQ(config->routes.size(), 2u);
  const RouteConfig& ticks = config->routes[0];
  EXPECT_EQ(ticks.path, "/v1/ticks");
  EXPECT_EQ(ticks.upstream.method, "demo.v1.Ticker/Watch");
  EXPECT_EQ(ticks.upstream.event, "tick");
  EXPECT_EQ(ticks.upstream.id_field, "seq");
  EXPECT_EQ(ticks.upstream.resume_field, "after_seq");
  EXPECT_EQ(ticks.upstream.retry_ms, 2000);
  EXPECT_TRUE(ticks.upstream.json.emit_defaults);
  EXPECT_TRUE(ticks.upstream.json.use_proto_names);
  EXPECT_TRUE(ticks.upstream.json.enums_as_ints);
  EXPECT_EQ(ticks.heartbeat, absl::InfiniteDuration());
  EXPECT_EQ(ticks.max_streams, 20);
  EXPECT_EQ(ticks.max_duration, absl::Seconds(60));
  EXPECT_EQ(ticks.upstream.timeout, absl::Seconds(120));
  EXPECT_EQ(config->heartbeat, absl::Seconds(5));
  EXPECT_EQ(config->write_timeout, absl::Seconds(7));
  EXPECT_EQ(config->max_streams, 900);
  EXPECT_EQ(config->drain_timeout, absl::Seconds(3));
  EXPECT_EQ(config->access_log, "/etc/gw/logs/access.log");
  const RouteConfig& other = config->routes[1];
  EXPECT_EQ(other.upstream.event, std::nullopt);
  EXPECT_EQ(other.upstream.id_field, "");
  EXPECT_EQ(other.upstream.retry_ms, std::nullopt);
  EXPECT_FALSE(other.upstream.json.emit_defaults);
  EXPECT_EQ(other.heartbeat, std::nullopt);
  EXPECT_EQ(other.max_streams, 0);
  EXPECT_EQ(other.max_duration, std::nullopt);
  EXPECT_EQ(other.upstream.timeout, std::nullopt);
}

TEST(ConfigTest, JsonIsValidYaml) {
  absl::StatusOr<GatewayConfig> config = Parse(R"({
    "listen": "[::1]:0", "backend": "dns:///backend.internal:443",
    "descriptor_sets": ["a.pb"],
    "routes": [{"path": "/s", "method": "p.S/M"}]})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen.host, "::1");
  EXPECT_EQ(config->listen.port, 0);
  EXPECT_EQ(config->index_page, std::nullopt);
  EXPECT_EQ(config->open_wait, absl::Seconds(1));
  EXPECT_EQ(config->heartbeat, absl::Seconds(15));
  EXPECT_EQ(config->write_timeout, absl::Seconds(30));
  EXPECT_EQ(config->max_streams, 0);
  EXPECT_EQ(config->drain_timeout, absl::Seconds(10));
  EXPECT_EQ(config->access_log, "stderr");
}

TEST(ConfigTest, ErrorsNameFileAndKey) {
  EXPECT_THAT(ErrorAfter("open_wait_ms: 250", "open_wait: 250"),
              HasSubstr("gw.yaml: open_wait: unknown key"));
  EXPECT_THAT(ErrorAfter("    retry_ms: 2000", "    retry: 2000"),
              HasSubstr("gw.yaml: routes[0].retry: unknown key"));
  EXPECT_THAT(ErrorAfter("emit_defaults: true", "emit_default: true"),
              HasSubstr("gw.yaml: routes[0].json.emit_default: unknown key"));
}

TEST(ConfigTest, RequiredKeys) {
  EXPECT_THAT(ErrorAfter("listen: 127.0.0.1:8080\n", ""),
              HasSubstr("gw.yaml: listen: is required"));
  EXPECT_THAT(ErrorAfter("backend: 127.0.0.1:50051\n", ""),
              HasSubstr("gw.yaml: backend: is required"));
  EXPECT_THAT(ErrorAfter("descriptor_sets: [demo.pb, /abs/other.pb]\n", ""),
              HasSubstr("gw.yaml: descriptor_sets: is required"));
  EXPECT_THAT(ErrorAfter("  - path: /v1/other\n", "  - event: x\n"),
              HasSubstr("gw.yaml: routes[1].path: is required"));
  EXPECT_THAT(ErrorAfter("/v1/other\n    method: demo.v1.Ticker/Watch\n",
                         "/v1/other\n"),
              HasSubstr("routes[1].method: is required"));
}

TEST(ConfigTest, BadAddresses) {
  EXPECT_THAT(
      ErrorAfter("listen: 127.0.0.1:8080", "listen: 127.0.0.1"),
      HasSubstr("gw.yaml: listen: \"127.0.0.1\" is not of the form host:port"));
  EXPECT_THAT(
      ErrorAfter("listen: 127.0.0.1:8080", "listen: 127.0.0.1:99999"),
      HasSubstr("gw.yaml: listen: \"127.0.0.1:99999\" has an invalid port"));
  EXPECT_THAT(ErrorAfter("listen: 127.0.0.1:8080", "listen: ':80'"),
              HasSubstr("gw.yaml: listen: \":80\" has an empty host"));
  EXPECT_THAT(
      ErrorAfter("backend: 127.0.0.1:50051", "backend: 127.0.0.1:x"),
      HasSubstr("gw.yaml: backend: \"127.0.0.1:x\" has an invalid port"));
  EXPECT_THAT(ErrorAfter("backend: 127.0.0.1:50051", "backend: 127.0.0.1:0"),
              HasSubstr("gw.yaml: backend: \"127.0.0.1:0\" has port 0"));
  EXPECT_THAT(ErrorAfter("backend: 127.0.0.1:50051", "backend: ''"),
              HasSubstr("gw.yaml: backend: must not be empty"));
  EXPECT_THAT(ErrorAfter("backend: 127.0.0.1:50051", "backend: 'dns:'"),
              HasSubstr("gw.yaml: backend: \"dns:\" names no address"));
  EXPECT_THAT(ErrorAfter("backend: 127.0.0.1:50051", "backend: [a, b]"),
              HasSubstr("gw.yaml: backend: must be a string"));
}

TEST(ConfigTest, DuplicatePath) {
  EXPECT_THAT(ErrorAfter("path: /v1/other", "path: /v1/ticks"),
              HasSubstr("gw.yaml: routes[1].path: duplicate path \"/v1/ticks\" "
                        "(also routes[0])"));
}

TEST(ConfigTest, BadPaths) {
  EXPECT_THAT(ErrorAfter("path: /v1/other", "path: v1/other"),
              HasSubstr("routes[1].path: must start with '/'"));
  EXPECT_THAT(ErrorAfter("path: /v1/other", "path: /v1/other?x=1"),
              HasSubstr("routes[1].path: must be a plain path"));
  EXPECT_THAT(
      ErrorAfter("path: /v1/other", "path: /metrics"),
      HasSubstr("routes[1].path: \"/metrics\" is served by the gateway"));
  EXPECT_THAT(
      ErrorAfter("path: /v1/other", "path: /healthz"),
      HasSubstr("routes[1].path: \"/healthz\" is served by the gateway"));
  EXPECT_THAT(ErrorAfter("path: /v1/other", "path: /"),
              HasSubstr("routes[1].path: \"/\" is taken by index_page"));
}

TEST(ConfigTest, ReservedAndInvalidEventNames) {
  EXPECT_THAT(ErrorAfter("event: tick", "event: end"),
              HasSubstr("routes[0].event: \"end\" is reserved"));
  EXPECT_THAT(
      ErrorAfter("event: tick", "event: error"),
      HasSubstr("routes[0].event: \"error\" collides with EventSource"));
  EXPECT_THAT(ErrorAfter("event: tick", "event: \"a\\nb\""),
              HasSubstr("routes[0].event: must not contain CR, LF or NUL"));
  EXPECT_THAT(ErrorAfter("event: tick", "event: ''"),
              HasSubstr("routes[0].event: must not be empty"));
}

TEST(ConfigTest, BadValues) {
  EXPECT_THAT(ErrorAfter("retry_ms: 2000", "retry_ms: -1"),
              HasSubstr("routes[0].retry_ms: must not be negative"));
  EXPECT_THAT(ErrorAfter("retry_ms: 2000", "retry_ms: soon"),
              HasSubstr("routes[0].retry_ms: must be an integer"));
  EXPECT_THAT(ErrorAfter("open_wait_ms: 250", "open_wait_ms: 1.5"),
              HasSubstr("open_wait_ms: must be an integer"));
  EXPECT_THAT(ErrorAfter("emit_defaults: true", "emit_defaults: maybe"),
              HasSubstr("routes[0].json.emit_defaults: must be true or false"));
  EXPECT_THAT(ErrorAfter("descriptor_sets: [demo.pb, /abs/other.pb]",
                         "descriptor_sets: []"),
              HasSubstr("descriptor_sets: must be a non-empty list"));
  EXPECT_THAT(ErrorAfter("descriptor_sets: [demo.pb, /abs/other.pb]",
                         "descriptor_sets: [demo.pb, {a: 1}]"),
              HasSubstr("descriptor_sets[1]: must be a string"));
  EXPECT_THAT(ErrorAfter("method: demo.v1.Ticker/Watch\n    event",
                         "method: ''\n    event"),
              HasSubstr("routes[0].method: must not be empty"));
}

TEST(ConfigTest, BadStreamLifeValues) {
  EXPECT_THAT(ErrorAfter("write_timeout_ms: 7000", "write_timeout_ms: 0"),
              HasSubstr("gw.yaml: write_timeout_ms: must be at least 1"));
  EXPECT_THAT(ErrorAfter("max_streams: 900", "max_streams: -3"),
              HasSubstr("gw.yaml: max_streams: must not be negative"));
  EXPECT_THAT(ErrorAfter("max_duration_ms: 60000", "max_duration_ms: 0"),
              HasSubstr("routes[0].max_duration_ms: must be at least 1"));
  EXPECT_THAT(ErrorAfter("timeout_ms: 120000", "timeout_ms: soon"),
              HasSubstr("routes[0].timeout_ms: must be an integer"));
  EXPECT_THAT(ErrorAfter("heartbeat_ms: 5000", "heartbeat_ms: -1"),
              HasSubstr("gw.yaml: heartbeat_ms: must not be negative"));
}

TEST(ConfigTest, NotAMapOrNotYaml) {
  absl::StatusOr<GatewayConfig> config = Parse("- a\n- b\n");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(),
              HasSubstr("gw.yaml: the config must be"));
  config = Parse("listen: [unclosed\n");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("gw.yaml: invalid YAML"));
  config =
      Parse("routes: 5\nlisten: a:1\nbackend: b:2\ndescriptor_sets: [x]\n");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(),
              HasSubstr("gw.yaml: routes: must be a non-empty list"));
}

TEST(ConfigTest, LoadConfigFileResolvesAgainstItsDirectory) {
  std::string dir = ::testing::TempDir();
  std::string path = absl::StrCat(dir, "/loaded.yaml");
  {
    std::ofstream out(path);
    out << kGoodConfig;
  }
  absl::StatusOr<GatewayConfig> config = LoadConfigFile(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->file, path);
  std::string base = path.substr(0, path.rfind('/'));
  EXPECT_EQ(config->descriptor_sets[0], absl::StrCat(base, "/demo.pb"));
  std::remove(path.c_str());

  absl::StatusOr<GatewayConfig> missing = LoadConfigFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(),
              HasSubstr(absl::StrCat(path, ": cannot open config file")));
}

}  // namespace
}  // namespace sse_gateway
