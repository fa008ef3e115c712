#include "gateway/config/config.h"

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

TEST(ConfigTest, ParsesFanout) {
  const std::string yaml = absl::StrReplaceAll(
      kGoodConfig,
      {{"    timeout_ms: 120000\n",
        "    timeout_ms: 120000\n    fanout: {replay_events: 50, replay_ms: "
        "9000, linger_ms: 0, on_gap: signal, public: true}\n"},
       {"  - path: /v1/other\n    method: demo.v1.Ticker/Watch\n",
        "  - path: /v1/other\n    method: demo.v1.Ticker/Watch\n"
        "    fanout: {}\n"}});
  absl::StatusOr<GatewayConfig> config = Parse(yaml);
  ASSERT_TRUE(config.ok()) << config.status();
  const FanoutConfig& ticks = *config->routes[0].fanout;
  EXPECT_EQ(ticks.replay_events, 50);
  EXPECT_EQ(ticks.replay_age, absl::Seconds(9));
  EXPECT_EQ(ticks.linger, absl::ZeroDuration());
  EXPECT_EQ(ticks.on_gap, GapPolicy::kSignal);
  EXPECT_TRUE(ticks.is_public);
  // Defaults; no resume_field, so gaps are signalled.
  const FanoutConfig& other = *config->routes[1].fanout;
  EXPECT_EQ(other.replay_events, 1000);
  EXPECT_EQ(other.replay_age, std::nullopt);
  EXPECT_EQ(other.linger, absl::Seconds(5));
  EXPECT_EQ(other.on_gap, GapPolicy::kSignal);
  EXPECT_FALSE(other.is_public);
  // With a resume_field the default is a dedicated call.
  absl::StatusOr<GatewayConfig> resumable = Parse(absl::StrReplaceAll(
      kGoodConfig, {{"    timeout_ms: 120000\n",
                     "    timeout_ms: 120000\n    fanout: {}\n"}}));
  ASSERT_TRUE(resumable.ok()) << resumable.status();
  EXPECT_EQ(resumable->routes[0].fanout->on_gap, GapPolicy::kDedicated);
}

TEST(ConfigTest, FanoutErrors) {
  const auto with = [](const std::string& fanout) {
    return ErrorAfter("    timeout_ms: 120000\n",
                      "    timeout_ms: 120000\n    fanout: " + fanout + "\n");
  };
  EXPECT_THAT(with("{on_gap: sometimes}"),
              HasSubstr("routes[0].fanout.on_gap: must be \"dedicated\" or "
                        "\"signal\""));
  EXPECT_THAT(with("{replay_events: -1}"),
              HasSubstr("routes[0].fanout.replay_events: must not be "
                        "negative"));
  EXPECT_THAT(with("{replay_events: 1000001}"),
              HasSubstr("routes[0].fanout.replay_events: must be at most"));
  EXPECT_THAT(with("{replay_ms: 0}"),
              HasSubstr("routes[0].fanout.replay_ms: must be at least 1"));
  EXPECT_THAT(with("{public: yes please}"),
              HasSubstr("routes[0].fanout.public: must be true or false"));
  EXPECT_THAT(with("{replay: 5}"), HasSubstr("routes[0].fanout"));
  EXPECT_THAT(with("[1]"), HasSubstr("routes[0].fanout: must be a map"));
  EXPECT_THAT(ErrorAfter("event: tick", "event: gap"),
              HasSubstr("routes[0].event: \"gap\" is reserved"));
}

TEST(ConfigTest, ParsesMultiplex) {
  absl::StatusOr<GatewayConfig> none = Parse(kGoodConfig);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->multiplex.has_value());

  absl::StatusOr<GatewayConfig> defaults =
      Parse(std::string(kGoodConfig) + "multiplex: {path: /v1/multiplex}\n");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  ASSERT_TRUE(defaults->multiplex.has_value());
  EXPECT_EQ(defaults->multiplex->path, "/v1/multiplex");
  EXPECT_EQ(defaults->multiplex->max_subscriptions, 16);
  EXPECT_FALSE(defaults->multiplex->max_duration.has_value());

  absl::StatusOr<GatewayConfig> set = Parse(
      std::string(kGoodConfig) +
      "multiplex: {path: /m, max_subscriptions: 64, max_duration_ms: 900}\n");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->multiplex->max_subscriptions, 64);
  EXPECT_EQ(set->multiplex->max_duration, absl::Milliseconds(900));
}

TEST(ConfigTest, MultiplexErrors) {
  const auto with = [](const std::string& multiplex) {
    absl::StatusOr<GatewayConfig> config =
        Parse(std::string(kGoodConfig) + "multiplex: " + multiplex + "\n");
    EXPECT_FALSE(config.ok()) << multiplex;
    return config.ok() ? std::string() : std::string(config.status().message());
  };
  EXPECT_THAT(with("{max_subscriptions: 4}"),
              HasSubstr("multiplex.path: is required"));
  EXPECT_THAT(with("{path: v1/m}"),
              HasSubstr("multiplex.path: must start with '/'"));
  EXPECT_THAT(
      with("{path: /metrics}"),
      HasSubstr("multiplex.path: \"/metrics\" is served by the gateway"));
  EXPECT_THAT(
      with("{path: /v1/ticks}"),
      HasSubstr("multiplex.path: \"/v1/ticks\" is also a route's path"));
  EXPECT_THAT(with("{path: \"/m?x=1\"}"),
              HasSubstr("multiplex.path: must be a plain"));
  EXPECT_THAT(with("{path: /m, max_subscriptions: 0}"),
              HasSubstr("multiplex.max_subscriptions"));
  EXPECT_THAT(with("{path: /m, max_subscriptions: 65}"),
              HasSubstr("multiplex.max_subscriptions: must be at most 64"));
  EXPECT_THAT(with("{path: /m, max_duration_ms: 0}"),
              HasSubstr("multiplex.max_duration_ms"));
  EXPECT_THAT(with("{path: /m, subscriptions: 3}"), HasSubstr("multiplex"));
  EXPECT_THAT(with("[/m]"), HasSubstr("multiplex: must be a map"));
}

TEST(ConfigTest, ParsesHttp2) {
  absl::StatusOr<GatewayConfig> none = Parse(kGoodConfig);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->http2.enabled);

  absl::StatusOr<GatewayConfig> defaults =
      Parse(std::string(kGoodConfig) + "http2: {enabled: true}\n");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_TRUE(defaults->http2.enabled);
  EXPECT_EQ(defaults->http2.max_concurrent_streams, 256);
  EXPECT_EQ(defaults->http2.initial_window_size, 65535);
  EXPECT_EQ(defaults->http2.connection_window_size, 1 << 20);
  EXPECT_EQ(defaults->http2.max_header_list_bytes, 65536);
  EXPECT_EQ(defaults->http2.reset_burst, 1000);
  EXPECT_EQ(defaults->http2.resets_per_second, 33);

  absl::StatusOr<GatewayConfig> set =
      Parse(std::string(kGoodConfig) +
            "http2:\n  enabled: true\n  max_concurrent_streams: 100\n"
            "  initial_window_size: 1\n  connection_window_size: 65535\n"
            "  max_header_list_bytes: 1024\n  reset_burst: 10\n"
            "  resets_per_second: 2\n");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->http2.max_concurrent_streams, 100);
  EXPECT_EQ(set->http2.initial_window_size, 1);
  EXPECT_EQ(set->http2.connection_window_size, 65535);
  EXPECT_EQ(set->http2.max_header_list_bytes, 1024);
  EXPECT_EQ(set->http2.reset_burst, 10);
  EXPECT_EQ(set->http2.resets_per_second, 2);
}

TEST(ConfigTest, Http2Errors) {
  const auto with = [](const std::string& http2) {
    absl::StatusOr<GatewayConfig> config =
        Parse(std::string(kGoodConfig) + "http2: " + http2 + "\n");
    EXPECT_FALSE(config.ok()) << http2;
    return config.ok() ? std::string() : std::string(config.status().message());
  };
  EXPECT_THAT(with("[true]"), HasSubstr("http2: must be a map"));
  EXPECT_THAT(with("{enabled: maybe}"), HasSubstr("http2.enabled"));
  EXPECT_THAT(with("{max_streams: 3}"), HasSubstr("http2"));
  EXPECT_THAT(with("{max_concurrent_streams: 0}"),
              HasSubstr("http2.max_concurrent_streams"));
  EXPECT_THAT(with("{max_concurrent_streams: 10001}"),
              HasSubstr("http2.max_concurrent_streams: must be between 1 and "
                        "10000"));
  EXPECT_THAT(with("{initial_window_size: 2147483648}"),
              HasSubstr("http2.initial_window_size"));
  EXPECT_THAT(with("{connection_window_size: 65534}"),
              HasSubstr("http2.connection_window_size"));
  EXPECT_THAT(with("{max_header_list_bytes: 65537}"),
              HasSubstr("http2.max_header_list_bytes"));
  EXPECT_THAT(with("{max_header_list_bytes: 1023}"),
              HasSubstr("http2.max_header_list_bytes"));
  EXPECT_THAT(with("{reset_burst: 0}"), HasSubstr("http2.reset_burst"));
  EXPECT_THAT(with("{resets_per_second: -1}"),
              HasSubstr("http2.resets_per_second"));
}

TEST(ConfigTest, ParsesCompression) {
  absl::StatusOr<GatewayConfig> none = Parse(kGoodConfig);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->compression.has_value());
  EXPECT_FALSE(none->routes[0].compression.has_value());

  absl::StatusOr<GatewayConfig> global =
      Parse(std::string(kGoodConfig) + "compression: {}\n");
  ASSERT_TRUE(global.ok()) << global.status();
  ASSERT_TRUE(global->compression.has_value());
  EXPECT_TRUE(global->compression->enabled);
  EXPECT_TRUE(global->compression->gzip);
  EXPECT_TRUE(global->compression->br);
  EXPECT_EQ(global->compression->level, -1);
  EXPECT_EQ(global->compression->window_bits, -1);

  absl::StatusOr<GatewayConfig> set =
      Parse(std::string(kGoodConfig) +
            "compression: {gzip: false, level: 11, window_bits: 20}\n");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_FALSE(set->compression->gzip);
  EXPECT_EQ(set->compression->level, 11);
  EXPECT_EQ(set->compression->window_bits, 20);
}

TEST(ConfigTest, RouteCompression) {
  const std::string route_with = [] {
    std::string config = kGoodConfig;
    const std::string anchor = "    method: demo.v1.Ticker/Watch\n";
    const size_t at = config.find(anchor);
    EXPECT_NE(at, std::string::npos);
    config.insert(at + anchor.size(), "    compression: {enabled: false}\n");
    return config;
  }();
  absl::StatusOr<GatewayConfig> off =
      Parse(route_with + "compression: {level: 5}\n");
  ASSERT_TRUE(off.ok()) << off.status();
  ASSERT_TRUE(off->routes[0].compression.has_value());
  EXPECT_FALSE(off->routes[0].compression->enabled);
  EXPECT_EQ(off->compression->level, 5);
}

TEST(ConfigTest, CompressionErrors) {
  const auto with = [](const std::string& compression) {
    absl::StatusOr<GatewayConfig> config =
        Parse(std::string(kGoodConfig) + "compression: " + compression + "\n");
    EXPECT_FALSE(config.ok()) << compression;
    return config.ok() ? std::string() : std::string(config.status().message());
  };
  EXPECT_THAT(with("[gzip]"), HasSubstr("compression: must be a map"));
  EXPECT_THAT(with("{gzip: false, br: false}"),
              HasSubstr("enables neither gzip nor br"));
  EXPECT_THAT(with("{level: 10}"), HasSubstr("compression: gzip: "));
  EXPECT_THAT(with("{gzip: false, level: 12}"), HasSubstr("compression: br"));
  EXPECT_THAT(with("{window_bits: 8}"), HasSubstr("compression: gzip"));
  EXPECT_THAT(with("{window_bits: 16}"), HasSubstr("compression: gzip"));
  EXPECT_THAT(with("{br: false, window_bits: 9, level: 0}"),
              HasSubstr("compression: gzip"));
  EXPECT_THAT(with("{method: zstd}"), HasSubstr("compression"));
  EXPECT_THAT(with("{enabled: sometimes}"), HasSubstr("compression.enabled"));
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
              HasSubstr(absl::StrCat(path, ": cannot read the config file")));
}

constexpr char kBackendsConfig[] = R"(
listen: 127.0.0.1:8080
backends:
  - name: prices
    address: prices.internal:443
    tls:
      ca_file: certs/ca.pem
      cert_file: certs/gw.pem
      key_file: /abs/gw.key
      server_name: prices.example
    channels: 4
  - name: news
    address: 127.0.0.1:50052
descriptor_sets: [demo.pb]
routes:
  - path: /v1/ticks
    method: demo.v1.Ticker/Watch
    backend: prices
  - path: /v1/news
    method: demo.v1.Ticker/Watch
    backend: news
)";

// Replaces `from` in `base` by `to` and returns the error message.
std::string ErrorIn(const std::string& base, const std::string& from,
                    const std::string& to) {
  std::string yaml = absl::StrReplaceAll(base, {{from, to}});
  EXPECT_NE(yaml, base) << "test bug: " << from << " not found";
  absl::StatusOr<GatewayConfig> config = Parse(yaml);
  EXPECT_FALSE(config.ok()) << "accepted: " << yaml;
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

TEST(ConfigTest, ParsesBackendTls) {
  std::string yaml = absl::StrReplaceAll(
      kGoodConfig,
      {{"backend: 127.0.0.1:50051\n",
        "backend: 127.0.0.1:50051\nbackend_tls: {ca_file: ca.pem, "
        "cert_file: /abs/c.pem, key_file: c.key, server_name: x.internal}\n"}});
  absl::StatusOr<GatewayConfig> config = Parse(yaml);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->backend_tls.has_value());
  EXPECT_EQ(config->backend_tls->key, "backend_tls");
  EXPECT_EQ(config->backend_tls->ca_file, "/etc/gw/ca.pem");
  EXPECT_EQ(config->backend_tls->cert_file, "/abs/c.pem");
  EXPECT_EQ(config->backend_tls->key_file, "/etc/gw/c.key");
  EXPECT_EQ(config->backend_tls->server_name, "x.internal");
  EXPECT_TRUE(config->backends.empty());
  std::vector<BackendConfig> backends = EffectiveBackends(*config);
  ASSERT_EQ(backends.size(), 1u);
  EXPECT_EQ(backends[0].name, "default");
  EXPECT_EQ(backends[0].address, "127.0.0.1:50051");
  EXPECT_EQ(backends[0].channels, 1);
  ASSERT_TRUE(backends[0].tls.has_value());
  EXPECT_EQ(backends[0].tls->server_name, "x.internal");

  // Only a CA: TLS without client certificates.
  config = Parse(absl::StrReplaceAll(
      kGoodConfig, {{"backend: 127.0.0.1:50051\n",
                     "backend: 127.0.0.1:50051\nbackend_tls: {}\n"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->backend_tls.has_value());
  EXPECT_EQ(config->backend_tls->ca_file, "");
  // Without backend_tls: plaintext.
  config = Parse(kGoodConfig);
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(config->backend_tls.has_value());
  EXPECT_EQ(config->routes[0].backend, "");
}

TEST(ConfigTest, BackendTlsErrors) {
  const std::string base = absl::StrReplaceAll(
      kGoodConfig, {{"backend: 127.0.0.1:50051\n",
                     "backend: 127.0.0.1:50051\nbackend_tls: {TLS}\n"}});
  EXPECT_THAT(ErrorIn(base, "TLS", "cert_file: c.pem"),
              HasSubstr("gw.yaml: backend_tls.cert_file: needs key_file"));
  EXPECT_THAT(ErrorIn(base, "TLS", "key_file: c.key"),
              HasSubstr("gw.yaml: backend_tls.key_file: needs cert_file"));
  EXPECT_THAT(ErrorIn(base, "TLS", "ca: x"),
              HasSubstr("gw.yaml: backend_tls.ca: unknown key"));
  EXPECT_THAT(ErrorIn(base, "TLS", "ca_file: ''"),
              HasSubstr("gw.yaml: backend_tls.ca_file: must not be empty"));
  EXPECT_THAT(ErrorIn(base, "TLS", "server_name: [a]"),
              HasSubstr("gw.yaml: backend_tls.server_name: must be a string"));
  EXPECT_THAT(ErrorIn(base, "{TLS}", "[]"),
              HasSubstr("gw.yaml: backend_tls: must be a map"));
}

TEST(ConfigTest, ParsesBackends) {
  absl::StatusOr<GatewayConfig> config = Parse(kBackendsConfig);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->backend, "");
  ASSERT_EQ(config->backends.size(), 2u);
  const BackendConfig& prices = config->backends[0];
  EXPECT_EQ(prices.key, "backends[0]");
  EXPECT_EQ(prices.name, "prices");
  EXPECT_EQ(prices.address, "prices.internal:443");
  EXPECT_EQ(prices.channels, 4);
  ASSERT_TRUE(prices.tls.has_value());
  EXPECT_EQ(prices.tls->key, "backends[0].tls");
  EXPECT_EQ(prices.tls->ca_file, "/etc/gw/certs/ca.pem");
  EXPECT_EQ(prices.tls->cert_file, "/etc/gw/certs/gw.pem");
  EXPECT_EQ(prices.tls->key_file, "/abs/gw.key");
  EXPECT_EQ(prices.tls->server_name, "prices.example");
  const BackendConfig& news = config->backends[1];
  EXPECT_EQ(news.name, "news");
  EXPECT_EQ(news.channels, 1);
  EXPECT_FALSE(news.tls.has_value());
  EXPECT_EQ(config->routes[0].backend, "prices");
  EXPECT_EQ(config->routes[1].backend, "news");
  EXPECT_EQ(EffectiveBackends(*config).size(), 2u);

  // One backend in the list: routes need not name it.
  config = Parse(absl::StrReplaceAll(
      kGoodConfig,
      {{"backend: 127.0.0.1:50051\n",
        "backends: [{name: only, address: '127.0.0.1:1', channels: 64}]\n"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->backends[0].channels, 64);
  // The top-level backend is named "default".
  config = Parse(absl::StrReplaceAll(
      kGoodConfig, {{"    method: demo.v1.Ticker/Watch\n    event: tick",
                     "    method: demo.v1.Ticker/Watch\n    backend: default\n"
                     "    event: tick"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->routes[0].backend, "default");
}

TEST(ConfigTest, BackendsErrors) {
  const std::string base = kBackendsConfig;
  EXPECT_THAT(ErrorIn(base, "listen:", "backend: 127.0.0.1:1\nlisten:"),
              HasSubstr("gw.yaml: backends: give either backend or backends"));
  EXPECT_THAT(ErrorIn(base, "backends:", "other:"),
              HasSubstr("gw.yaml: other: unknown key"));
  EXPECT_THAT(ErrorIn(base, "listen:", "backend_tls: {}\nlisten:"),
              HasSubstr("gw.yaml: backend_tls: goes with backend"));
  EXPECT_THAT(ErrorIn(kGoodConfig, "backend: 127.0.0.1:50051\n", ""),
              HasSubstr("gw.yaml: backend: is required (or backends)"));
  EXPECT_THAT(ErrorIn(kGoodConfig, "backend: 127.0.0.1:50051", "backends: []"),
              HasSubstr("gw.yaml: backends: must be a non-empty list"));
  EXPECT_THAT(ErrorIn(base, "  - name: news\n", "  - nick: news\n"),
              HasSubstr("gw.yaml: backends[1].nick: unknown key"));
  EXPECT_THAT(ErrorIn(base, "  - name: news\n", "  - channels: 1\n"),
              HasSubstr("gw.yaml: backends[1].name: is required"));
  EXPECT_THAT(ErrorIn(base, "    address: 127.0.0.1:50052\n", ""),
              HasSubstr("gw.yaml: backends[1].address: is required"));
  EXPECT_THAT(ErrorIn(base, "127.0.0.1:50052", "127.0.0.1:x"),
              HasSubstr("gw.yaml: backends[1].address: \"127.0.0.1:x\" has "
                        "an invalid port"));
  EXPECT_THAT(ErrorIn(base, "name: news", "name: prices"),
              HasSubstr("gw.yaml: backends[1].name: duplicate name "
                        "\"prices\" (also backends[0])"));
  EXPECT_THAT(ErrorIn(base, "name: news", "name: ''"),
              HasSubstr("gw.yaml: backends[1].name: must not be empty"));
  EXPECT_THAT(ErrorIn(base, "channels: 4", "channels: 0"),
              HasSubstr("gw.yaml: backends[0].channels: must be 1 to 64"));
  EXPECT_THAT(ErrorIn(base, "channels: 4", "channels: 65"),
              HasSubstr("gw.yaml: backends[0].channels: must be 1 to 64"));
  EXPECT_THAT(ErrorIn(base, "channels: 4", "channels: many"),
              HasSubstr("gw.yaml: backends[0].channels: must be an integer"));
  EXPECT_THAT(ErrorIn(base, "      key_file: /abs/gw.key\n", ""),
              HasSubstr("gw.yaml: backends[0].tls.cert_file: needs key_file"));
  EXPECT_THAT(ErrorIn(base, "      ca_file:", "      cafile:"),
              HasSubstr("gw.yaml: backends[0].tls.cafile: unknown key"));
  EXPECT_THAT(ErrorIn(base, "  - name: news\n", "  - 7\n  - name: news\n"),
              HasSubstr("gw.yaml: backends[1]: must be a map"));
}

TEST(ConfigTest, RouteBackendErrors) {
  const std::string base = kBackendsConfig;
  EXPECT_THAT(ErrorIn(base, "    backend: news\n", ""),
              HasSubstr("gw.yaml: routes[1].backend: is required with several "
                        "backends (one of: prices, news)"));
  EXPECT_THAT(ErrorIn(base, "backend: news", "backend: weather"),
              HasSubstr("gw.yaml: routes[1].backend: unknown backend "
                        "\"weather\" (known: prices, news)"));
  EXPECT_THAT(ErrorIn(base, "backend: news", "backend: ''"),
              HasSubstr("gw.yaml: routes[1].backend: must not be empty"));
  EXPECT_THAT(ErrorIn(base, "backend: news", "backend: [news]"),
              HasSubstr("gw.yaml: routes[1].backend: must be a string"));
  EXPECT_THAT(
      ErrorIn(kGoodConfig, "    method: demo.v1.Ticker/Watch\n    event: tick",
              "    method: demo.v1.Ticker/Watch\n    backend: prices\n"
              "    event: tick"),
      HasSubstr("gw.yaml: routes[0].backend: unknown backend \"prices\" "
                "(known: default)"));
}

// --- Credentials and browsers: forward_headers, token_query_param,
// response_headers, cors ---

// The good config with `extra` top-level keys appended; returns the error.
std::string CredentialsError(const std::string& extra) {
  absl::StatusOr<GatewayConfig> config =
      Parse(absl::StrCat(kGoodConfig, extra));
  EXPECT_FALSE(config.ok()) << "accepted: " << extra;
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

TEST(ConfigTest, CredentialsDefaults) {
  absl::StatusOr<GatewayConfig> config = Parse(kGoodConfig);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->forward_headers, ::testing::ElementsAre("authorization"));
  EXPECT_EQ(config->token_query_param, std::nullopt);
  EXPECT_TRUE(config->response_headers.empty());
  EXPECT_FALSE(config->cors.has_value());
}

TEST(ConfigTest, ParsesCredentialsKeys) {
  absl::StatusOr<GatewayConfig> config = Parse(absl::StrCat(kGoodConfig, R"(
forward_headers: [Authorization, X-Tenant, cookie]
token_query_param: access_token
response_headers: [X-Request-Id, x-shard]
cors:
  allowed_origins: [https://app.example.com, "http://localhost:3000"]
  allow_credentials: true
  max_age_s: 120
)"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->forward_headers,
              ::testing::ElementsAre("authorization", "x-tenant", "cookie"));
  EXPECT_EQ(config->token_query_param, "access_token");
  EXPECT_THAT(config->response_headers,
              ::testing::ElementsAre("x-request-id", "x-shard"));
  ASSERT_TRUE(config->cors.has_value());
  EXPECT_THAT(config->cors->allowed_origins,
              ::testing::ElementsAre("https://app.example.com",
                                     "http://localhost:3000"));
  EXPECT_TRUE(config->cors->allow_credentials);
  EXPECT_EQ(config->cors->max_age, absl::Seconds(120));

  absl::StatusOr<GatewayConfig> minimal = Parse(absl::StrCat(
      kGoodConfig, "forward_headers: []\ncors: {allowed_origins: ['*']}\n"));
  ASSERT_TRUE(minimal.ok()) << minimal.status();
  EXPECT_TRUE(minimal->forward_headers.empty());
  EXPECT_FALSE(minimal->cors->allow_credentials);
  EXPECT_EQ(minimal->cors->max_age, absl::Seconds(600));
}

TEST(ConfigTest, ForwardHeadersErrors) {
  for (const char* hop :
       {"Connection", "keep-alive", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade", "host", "content-length"}) {
    EXPECT_THAT(
        CredentialsError(absl::StrCat("forward_headers: [x-a, ", hop, "]\n")),
        HasSubstr("gw.yaml: forward_headers[1]: \""))
        << hop;
    EXPECT_THAT(
        CredentialsError(absl::StrCat("forward_headers: [", hop, "]\n")),
        HasSubstr("is a hop-by-hop or connection-level header"))
        << hop;
  }
  EXPECT_THAT(CredentialsError("forward_headers: authorization\n"),
              HasSubstr("gw.yaml: forward_headers: must be a list"));
  EXPECT_THAT(CredentialsError("forward_headers: [[a]]\n"),
              HasSubstr("gw.yaml: forward_headers[0]: must be a string"));
  EXPECT_THAT(CredentialsError("forward_headers: ['x y']\n"),
              HasSubstr("gw.yaml: forward_headers[0]: \"x y\" cannot be a "
                        "gRPC metadata key"));
  EXPECT_THAT(CredentialsError("forward_headers: [grpc-metadata-x]\n"),
              HasSubstr("gw.yaml: forward_headers[0]:"));
}

TEST(ConfigTest, TokenQueryParamErrors) {
  EXPECT_THAT(CredentialsError("token_query_param: ''\n"),
              HasSubstr("gw.yaml: token_query_param: must not be empty"));
  EXPECT_THAT(CredentialsError("token_query_param: [a]\n"),
              HasSubstr("gw.yaml: token_query_param: must be a string"));
}

TEST(ConfigTest, ResponseHeadersErrors) {
  EXPECT_THAT(CredentialsError("response_headers: x-request-id\n"),
              HasSubstr("gw.yaml: response_headers: must be a list"));
  EXPECT_THAT(CredentialsError("response_headers: [x-ok, 'a b']\n"),
              HasSubstr("gw.yaml: response_headers[1]: metadata key"));
  EXPECT_THAT(CredentialsError("response_headers: [trace-bin]\n"),
              HasSubstr("gw.yaml: response_headers[0]: binary"));
  EXPECT_THAT(CredentialsError("response_headers: [Content-Type]\n"),
              HasSubstr("gw.yaml: response_headers[0]: \"content-type\" is "
                        "set by the gateway"));
  EXPECT_THAT(
      CredentialsError("response_headers: [access-control-allow-origin]\n"),
      HasSubstr("gw.yaml: response_headers[0]: CORS headers"));
  EXPECT_THAT(CredentialsError("response_headers: [grpc-status]\n"),
              HasSubstr("gw.yaml: response_headers[0]:"));
}

TEST(ConfigTest, CorsErrors) {
  EXPECT_THAT(CredentialsError("cors: [a]\n"),
              HasSubstr("gw.yaml: cors: must be a map"));
  EXPECT_THAT(CredentialsError("cors: {allow_credentials: true}\n"),
              HasSubstr("gw.yaml: cors.allowed_origins: is required"));
  EXPECT_THAT(CredentialsError("cors: {allowed_origins: []}\n"),
              HasSubstr("gw.yaml: cors.allowed_origins: must be a non-empty"));
  EXPECT_THAT(CredentialsError("cors: {allowed_origins: ['*'], origins: 1}\n"),
              HasSubstr("gw.yaml: cors.origins: unknown key"));
  EXPECT_THAT(
      CredentialsError("cors: {allowed_origins: [https://a.test, '*'], "
                       "allow_credentials: true}\n"),
      HasSubstr("gw.yaml: cors.allowed_origins[1]: \"*\" cannot be used with "
                "allow_credentials: true"));
  EXPECT_THAT(
      CredentialsError("cors: {allowed_origins: ['https://a.test/']}\n"),
      HasSubstr("gw.yaml: cors.allowed_origins[0]: \"https://a.test/\" is "
                "not an origin"));
  EXPECT_THAT(CredentialsError("cors: {allowed_origins: [[x]]}\n"),
              HasSubstr("gw.yaml: cors.allowed_origins[0]: must be a string"));
  EXPECT_THAT(
      CredentialsError(
          "cors: {allowed_origins: ['*'], allow_credentials: maybe}\n"),
      HasSubstr("gw.yaml: cors.allow_credentials: must be true or false"));
  EXPECT_THAT(
      CredentialsError("cors: {allowed_origins: ['*'], max_age_s: -1}\n"),
      HasSubstr("gw.yaml: cors.max_age_s: must not be negative"));
}

TEST(ConfigTest, WithoutDescriptorSetsTheSchemaComesFromReflection) {
  absl::StatusOr<GatewayConfig> config = Parse(
      "listen: 127.0.0.1:0\nbackend: b:1\n"
      "routes: [{path: /s, method: p.S/M}]\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->descriptor_sets.empty());
}

TEST(ConfigTest, RoutesFromAnnotations) {
  absl::StatusOr<GatewayConfig> config = Parse(
      "listen: 127.0.0.1:0\nbackend: b:1\nroutes_from_annotations: true\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->routes_from_annotations);
  EXPECT_TRUE(config->routes.empty());
  config = Parse(
      "listen: 127.0.0.1:0\nbackend: b:1\nroutes_from_annotations: true\n"
      "routes: []\n");
  EXPECT_TRUE(config.ok()) << config.status();

  config = Parse("listen: 127.0.0.1:0\nbackend: b:1\n");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(),
              HasSubstr("gw.yaml: routes: is required (unless "
                        "routes_from_annotations)"));
  config = Parse(
      "listen: 127.0.0.1:0\nbackend: b:1\nroutes_from_annotations: yes "
      "please\n");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(
      config.status().message(),
      HasSubstr("gw.yaml: routes_from_annotations: must be true or false"));
  config = Parse(
      "listen: 127.0.0.1:0\nroutes_from_annotations: true\n"
      "backends: [{name: a, address: 'a:1'}, {name: b, address: 'b:1'}]\n");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(),
              HasSubstr("gw.yaml: routes_from_annotations: needs exactly one "
                        "backend"));
}

TEST(ConfigTest, ParsesListenTls) {
  absl::StatusOr<GatewayConfig> config = Parse(absl::StrReplaceAll(
      kGoodConfig,
      {{"listen: 127.0.0.1:8080\n",
        "listen: 127.0.0.1:8080\n"
        "tls: {cert_file: certs/gw.pem, key_file: /abs/gw.key}\n"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->tls.has_value());
  EXPECT_EQ(config->tls->cert_file, "/etc/gw/certs/gw.pem");
  EXPECT_EQ(config->tls->key_file, "/abs/gw.key");
  // Without tls: plain HTTP.
  config = Parse(kGoodConfig);
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(config->tls.has_value());
}

TEST(ConfigTest, ListenTlsErrors) {
  const std::string base = absl::StrReplaceAll(
      kGoodConfig,
      {{"listen: 127.0.0.1:8080\n", "listen: 127.0.0.1:8080\ntls: {TLS}\n"}});
  EXPECT_THAT(ErrorIn(base, "TLS", "cert_file: c.pem"),
              HasSubstr("gw.yaml: tls.key_file: is required"));
  EXPECT_THAT(ErrorIn(base, "TLS", "key_file: c.key"),
              HasSubstr("gw.yaml: tls.cert_file: is required"));
  EXPECT_THAT(ErrorIn(base, "TLS", "cert_file: '', key_file: c.key"),
              HasSubstr("gw.yaml: tls.cert_file: must not be empty"));
  EXPECT_THAT(ErrorIn(base, "TLS", "cert_file: c.pem, key_file: ''"),
              HasSubstr("gw.yaml: tls.key_file: must not be empty"));
  EXPECT_THAT(ErrorIn(base, "TLS", "cert_file: [a], key_file: c.key"),
              HasSubstr("gw.yaml: tls.cert_file: must be a string"));
  EXPECT_THAT(ErrorIn(base, "TLS", "cert_file: c.pem, key_file: {a: b}"),
              HasSubstr("gw.yaml: tls.key_file: must be a string"));
  EXPECT_THAT(ErrorIn(base, "TLS", "cert_file: c.pem, key_file: c.key, ca: x"),
              HasSubstr("gw.yaml: tls.ca: unknown key"));
  EXPECT_THAT(ErrorIn(base, "{TLS}", "yes"),
              HasSubstr("gw.yaml: tls: must be a map"));
}

}  // namespace
}  // namespace sse_gateway
