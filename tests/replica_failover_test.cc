// Two sse_gateway replica processes behind Debian's nginx, which runs the
// committed deploy/nginx/sse-gateway.conf, in front of the demo backend
// (demo.v1.Ticker, whose ticks resume after `after_seq`). Browser-like
// clients read tick streams through nginx; the replica serving them is
// SIGKILLed, or drained with SIGTERM, mid-stream. Every client must resume
// through nginx on the other replica and see seq 1..N exactly once: nothing
// lost, nothing duplicated, every tick's data the one the backend would have
// sent at that seq.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/child_process.h"
#include "tests/demo_processes.h"
#include "tests/prometheus_text.h"
#include "tests/sse_test_client.h"
#include "tests/test_environment.h"
#include "tests/ticker_event_source.h"

namespace sse_gateway {
namespace {

constexpr char kNginx[] = "/usr/sbin/nginx";
constexpr char kNginxSite[] = "deploy/nginx/sse-gateway.conf";
// The key-affine variant for fan-out routes.
constexpr char kNginxFanoutSite[] = "deploy/nginx/sse-gateway-fanout.conf";
constexpr char kActiveStreams[] =
    "sse_gateway_active_streams{route=\"/v1/ticks\"}";
constexpr char kStreamsStarted[] =
    "sse_gateway_streams_started_total{route=\"/v1/ticks\"}";
// The gateway's default heartbeat_ms (docs/configuration.md).
constexpr absl::Duration kDefaultHeartbeat = absl::Seconds(15);
constexpr int kRetryMs = 100;
constexpr absl::Duration kPatience = absl::Seconds(60);

// The main config around the site file: only what the site file leaves to
// the host's nginx.conf, with every path in the test's directory ($DIR).
constexpr char kNginxMainConfig[] = R"(events { worker_connections 1024; }
http {
  access_log $DIR/access.log;
  client_body_temp_path $DIR/client_body;
  proxy_temp_path $DIR/proxy;
  fastcgi_temp_path $DIR/fastcgi;
  uwsgi_temp_path $DIR/uwsgi;
  scgi_temp_path $DIR/scgi;
  include $DIR/sse-gateway.conf;
}
)";

// A TCP port on 127.0.0.1 that was free a moment ago (nginx cannot listen on
// port 0 and report the port, so the caller retries if it is taken by then).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

// The committed site config with only the `listen` address and the host:port
// of the upstream `server` lines replaced; every other line as committed.
absl::StatusOr<std::string> SiteForTest(absl::string_view committed,
                                        absl::string_view site_name,
                                        int listen_port,
                                        const std::vector<int>& replica_ports) {
  std::vector<std::string> lines;
  int listens = 0;
  size_t servers = 0;
  for (absl::string_view line : absl::StrSplit(committed, '\n')) {
    absl::string_view code = absl::StripLeadingAsciiWhitespace(line);
    const std::string indent(line.substr(0, line.size() - code.size()));
    std::vector<absl::string_view> words =
        absl::StrSplit(code, ' ', absl::SkipEmpty());
    if (words.size() >= 2 && words[0] == "listen") {
      ++listens;
      lines.push_back(
          absl::StrCat(indent, "listen 127.0.0.1:", listen_port, ";"));
    } else if (words.size() >= 2 && words[0] == "server" &&
               absl::StrContains(words[1], ':')) {
      if (servers == replica_ports.size()) {
        return absl::FailedPreconditionError(
            "more upstream servers than replicas");
      }
      lines.push_back(
          absl::StrCat(indent, "server 127.0.0.1:", replica_ports[servers++],
                       code.substr(words[1].end() - code.data())));
    } else {
      lines.emplace_back(line);
    }
  }
  if (listens != 1 || servers != replica_ports.size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        site_name, " has ", listens, " listen lines and ", servers,
        " upstream servers; the test expects 1 and ", replica_ports.size()));
  }
  return absl::StrJoin(lines, "\n");
}

// The directives streams depend on are in the committed site file `path`,
// and nginx's read timeout leaves room for the gateway's heartbeats.
void ExpectStreamingDirectives(const char* path) {
  const std::string site = ReadFileOrEmpty(path);
  ASSERT_FALSE(site.empty()) << path;
  for (const char* directive :
       {"proxy_http_version 1.1;", "proxy_set_header Connection \"\";",
        "proxy_buffering off;", "proxy_cache off;",
        "proxy_next_upstream error timeout", "proxy_pass_request_headers on;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "error_page 502 504 = @no_replica;"}) {
    EXPECT_TRUE(absl::StrContains(site, directive))
        << path << ": " << directive;
  }
  absl::string_view rest = site;
  ASSERT_TRUE(absl::StrContains(rest, "proxy_read_timeout "));
  rest.remove_prefix(rest.find("proxy_read_timeout ") + 19);
  absl::Duration read_timeout;
  ASSERT_TRUE(
      absl::ParseDuration(rest.substr(0, rest.find(';')), &read_timeout));
  EXPECT_GE(read_timeout, 4 * kDefaultHeartbeat);
}

TEST(NginxSiteConfigTest, StreamsAreUnbufferedAndOutliveHeartbeats) {
  ExpectStreamingDirectives(kNginxSite);
  EXPECT_TRUE(absl::StrContains(ReadFileOrEmpty(kNginxSite), "least_conn;"));
}

TEST(NginxSiteConfigTest, TheFanoutVariantHashesTheStreamKey) {
  ExpectStreamingDirectives(kNginxFanoutSite);
  EXPECT_TRUE(absl::StrContains(ReadFileOrEmpty(kNginxFanoutSite),
                                "hash $request_uri consistent;"));
}

ChildProcess::Options NginxOutput() {
  ChildProcess::Options options;
  options.log_prefix = "nginx";
  return options;
}

class ReplicaFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nginx_path_ = ToolPath("SSE_GATEWAY_NGINX", kNginx);
    if (access(nginx_path_.c_str(), X_OK) != 0) {
      const std::string missing =
          absl::StrCat(nginx_path_,
                       " is missing: install Debian's nginx "
                       "(scripts/install_deps.sh does) to run this test");
      if (MissingDependenciesMustFail()) {
        FAIL() << missing << " (CI=true: a skip would read as a pass)";
      }
      GTEST_SKIP() << missing;
    }
    absl::StatusOr<DemoBackendSetup> demo = StartDemoBackendAndConfig(kRetryMs);
    ASSERT_TRUE(demo.ok()) << demo.status();
    dir_ = demo->dir;
    backend_ = std::move(demo->backend.process);
    gateway_config_ = demo->gateway_config;
    ASSERT_NO_FATAL_FAILURE(EditGatewayConfig(gateway_config_));
    std::vector<int> replica_ports;
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<ListeningProcess> replica =
          StartListeningGateway(gateway_config_, absl::StrCat("replica", i));
      ASSERT_TRUE(replica.ok()) << replica.status();
      replicas_[i] = std::move(replica->process);
      replica_ports_[i] = replica->port;
      replica_ports.push_back(replica->port);
    }
    StartNginx(replica_ports);
  }

  // The committed site file nginx runs.
  virtual const char* Site() const { return kNginxSite; }
  // Changes the replicas' config file (at `path`) before they start.
  virtual void EditGatewayConfig(const std::string& /*path*/) {}

  // Starts nginx on a free port with a copy of the committed site config;
  // retries with another port if the chosen one was taken meanwhile.
  void StartNginx(const std::vector<int>& replica_ports) {
    const std::string committed = ReadFileOrEmpty(Site());
    ASSERT_FALSE(committed.empty()) << Site();
    for (int attempt = 0; attempt < 5; ++attempt) {
      nginx_port_ = FreePort();
      ASSERT_GT(nginx_port_, 0);
      absl::StatusOr<std::string> site =
          SiteForTest(committed, Site(), nginx_port_, replica_ports);
      ASSERT_TRUE(site.ok()) << site.status();
      const std::string site_path = dir_ + "/sse-gateway.conf";
      const std::string main_path = dir_ + "/nginx.conf";
      std::ofstream(site_path) << *site;
      // As root, nginx would hand its temp directories to "nobody", which a
      // sandbox's user namespace may not map.
      std::ofstream(main_path)
          << (geteuid() == 0 ? "user root root;\n" : "")
          << absl::StrReplaceAll(kNginxMainConfig, {{"$DIR", dir_}});
      // One process (no master/worker split), so that SIGKILL from the
      // ChildProcess destructor leaves no orphaned worker behind.
      absl::StatusOr<std::unique_ptr<ChildProcess>> nginx = ChildProcess::Start(
          {nginx_path_, "-p", dir_, "-c", main_path, "-e", "stderr", "-g",
           absl::StrCat("daemon off; master_process off; pid ", dir_,
                        "/nginx.pid; error_log stderr notice;")},
          NginxOutput());
      ASSERT_TRUE(nginx.ok()) << nginx.status();
      nginx_ = *std::move(nginx);
      if (WaitUntilNginxServes()) return;
      nginx_.reset();
    }
    FAIL() << "nginx did not start (see its output above)";
  }

  // Whether nginx answers /healthz from a replica. False if it exited or
  // could not bind its port.
  bool WaitUntilNginxServes() {
    const absl::Time deadline = absl::Now() + kPatience;
    while (absl::Now() < deadline) {
      if (absl::StrContains(nginx_->Output(), "bind() to")) return false;
      if (nginx_->Wait(absl::Milliseconds(20)).ok()) return false;
      SseTestClient client("127.0.0.1", nginx_port_, absl::Seconds(10));
      SseResponse health = client.Send("GET", "/healthz");
      if (health.status == 200 &&
          absl::StrContains(health.body, "\"alive\":true")) {
        return true;
      }
    }
    return false;
  }

  // A sample of replica `index`'s /metrics; -1 if it cannot be read.
  int64_t ReplicaMetric(int index, absl::string_view series) {
    SseTestClient client("127.0.0.1", replica_ports_[index], absl::Seconds(10));
    SseResponse metrics = client.Send("GET", "/metrics");
    int64_t value = -1;
    if (metrics.status != 200 ||
        !absl::SimpleAtoi(SampleValue(metrics.body, series), &value)) {
      return -1;
    }
    return value;
  }

  // Waits until the replicas together have `streams` open streams; returns
  // each replica's count (empty on timeout).
  std::vector<int64_t> OpenStreamsPerReplica(int64_t streams) {
    const absl::Time deadline = absl::Now() + kPatience;
    std::vector<int64_t> open;
    while (absl::Now() < deadline) {
      open = {ReplicaMetric(0, kActiveStreams),
              ReplicaMetric(1, kActiveStreams)};
      if (open[0] >= 0 && open[1] >= 0 && open[0] + open[1] == streams) {
        return open;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << "the replicas never had " << streams
                  << " open streams together; last: "
                  << absl::StrJoin(open, ", ");
    return {};
  }

  // Starts `clients`, waits until every one is paused after its pause seq,
  // and returns the index of the replica serving the most of them, with
  // `served` set to that number.
  int PauseAllAndFindBusiestReplica(
      std::vector<std::unique_ptr<TickerEventSource>>& clients,
      int64_t* served) {
    for (auto& client : clients) client->Start();
    for (auto& client : clients) {
      EXPECT_TRUE(client->WaitUntilPaused(kPatience)) << client->symbol();
    }
    std::vector<int64_t> open = OpenStreamsPerReplica(clients.size());
    if (open.empty()) return -1;
    std::printf("open streams per replica: %lld, %lld\n",
                static_cast<long long>(open[0]),
                static_cast<long long>(open[1]));
    const int busiest = open[1] > open[0] ? 1 : 0;
    *served = open[busiest];
    return busiest;
  }

  std::string nginx_path_;  // SSE_GATEWAY_NGINX, else kNginx
  std::string dir_;
  std::string gateway_config_;
  std::unique_ptr<ChildProcess> backend_;
  std::array<std::unique_ptr<ChildProcess>, 2> replicas_;
  std::array<int, 2> replica_ports_ = {0, 0};
  std::unique_ptr<ChildProcess> nginx_;
  int nginx_port_ = 0;
};

TEST_F(ReplicaFailoverTest, StreamResumesOnTheOtherReplicaAfterSigkill) {
  constexpr uint64_t kLastSeq = 120;
  std::vector<std::unique_ptr<TickerEventSource>> clients;
  clients.push_back(
      std::make_unique<TickerEventSource>(nginx_port_, "ACME", kLastSeq, 20));
  int64_t served = 0;
  const int victim = PauseAllAndFindBusiestReplica(clients, &served);
  ASSERT_GE(victim, 0);
  ASSERT_EQ(served, 1);
  const int survivor = 1 - victim;
  const int64_t survivor_started = ReplicaMetric(survivor, kStreamsStarted);

  absl::StatusOr<int> killed = replicas_[victim]->Kill();
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_TRUE(WIFSIGNALED(*killed) && WTERMSIG(*killed) == SIGKILL);
  clients[0]->Resume();
  clients[0]->Join();

  clients[0]->ExpectExactlyOnce("after SIGKILL of the serving replica");
  const std::vector<TickerEventSource::Attempt> attempts =
      clients[0]->attempts();
  ASSERT_GE(attempts.size(), 2u);
  // The first response was cut (no last chunk, no `end` event): what a
  // browser sees as a network error, after which it reconnects.
  EXPECT_EQ(attempts[0].status, 200);
  EXPECT_FALSE(attempts[0].completed);
  EXPECT_TRUE(attempts[0].end_events.empty());
  EXPECT_EQ(attempts.back().status, 200);
  // The resumed stream was served by the surviving replica.
  EXPECT_GT(ReplicaMetric(survivor, kStreamsStarted), survivor_started);
}

TEST_F(ReplicaFailoverTest, ConcurrentStreamsAllResumeAfterSigkill) {
  constexpr uint64_t kLastSeq = 100;
  std::vector<std::unique_ptr<TickerEventSource>> clients;
  for (const char* symbol : {"ACME", "BOLT", "CRUX", "DYNA", "EPIC"}) {
    clients.push_back(
        std::make_unique<TickerEventSource>(nginx_port_, symbol, kLastSeq, 15));
  }
  int64_t served = 0;
  const int victim = PauseAllAndFindBusiestReplica(clients, &served);
  ASSERT_GE(victim, 0);
  ASSERT_GE(served, 1);
  absl::StatusOr<int> killed = replicas_[victim]->Kill();
  ASSERT_TRUE(killed.ok()) << killed.status();
  for (auto& client : clients) client->Resume();
  for (auto& client : clients) client->Join();

  int64_t resumed = 0;
  for (const auto& client : clients) {
    client->ExpectExactlyOnce("after SIGKILL of a replica");
    if (client->attempts().size() > 1) ++resumed;
  }
  // Exactly the streams of the killed replica had to resume; the others went
  // on undisturbed.
  EXPECT_EQ(resumed, served);
}

TEST_F(ReplicaFailoverTest, SigtermDrainSendsRetryAndStreamsResumeElsewhere) {
  constexpr uint64_t kLastSeq = 100;
  std::vector<std::unique_ptr<TickerEventSource>> clients;
  for (const char* symbol : {"ACME", "BOLT", "CRUX"}) {
    clients.push_back(
        std::make_unique<TickerEventSource>(nginx_port_, symbol, kLastSeq, 15));
  }
  int64_t served = 0;
  const int victim = PauseAllAndFindBusiestReplica(clients, &served);
  ASSERT_GE(victim, 0);
  ASSERT_GE(served, 1);
  ASSERT_TRUE(replicas_[victim]->Signal(SIGTERM).ok());
  absl::StatusOr<int> exited = replicas_[victim]->Wait(kPatience);
  ASSERT_TRUE(exited.ok()) << exited.status();
  EXPECT_TRUE(WIFEXITED(*exited) && WEXITSTATUS(*exited) == 0) << *exited;
  for (auto& client : clients) client->Resume();
  for (auto& client : clients) client->Join();

  int64_t drained = 0;
  for (const auto& client : clients) {
    client->ExpectExactlyOnce("after a SIGTERM drain of a replica");
    if (client->attempts().size() < 2) continue;
    ++drained;
    // A drained stream ends cleanly (nginx passes the last chunk on) with a
    // retry hint and no `end` event, so the browser reconnects.
    const TickerEventSource::Attempt first = client->attempts()[0];
    EXPECT_TRUE(first.completed) << client->symbol();
    EXPECT_TRUE(first.end_events.empty()) << client->symbol();
    EXPECT_TRUE(absl::EndsWith(first.body_tail,
                               absl::StrCat("retry: ", kRetryMs, "\n\n")))
        << client->symbol() << ": " << first.body_tail;
  }
  EXPECT_EQ(drained, served);
}

// With no replica reachable, nginx answers an event-stream request with a
// retry hint (deploy/nginx: error_page ... @no_replica) instead of a 502 that
// would make EventSource give up; once a replica is back, the stream resumes.
TEST_F(ReplicaFailoverTest, AllReplicasDownGetRetryHintsUntilOneIsBack) {
  constexpr uint64_t kLastSeq = 80;
  std::vector<std::unique_ptr<TickerEventSource>> clients;
  clients.push_back(
      std::make_unique<TickerEventSource>(nginx_port_, "ACME", kLastSeq, 20));
  int64_t served = 0;
  ASSERT_GE(PauseAllAndFindBusiestReplica(clients, &served), 0);
  for (auto& replica : replicas_) {
    absl::StatusOr<int> killed = replica->Kill();
    ASSERT_TRUE(killed.ok()) << killed.status();
  }
  clients[0]->Resume();
  const auto is_nginx_hint = [](const TickerEventSource::Attempt& attempt) {
    return attempt.status == 200 && attempt.completed && attempt.ticks == 0 &&
           absl::StrContains(attempt.body_tail,
                             ": no sse_gateway replica reachable\n") &&
           absl::EndsWith(attempt.body_tail, "retry: 1000\n\n");
  };
  EXPECT_TRUE(clients[0]->WaitForAttempt(is_nginx_hint, kPatience))
      << clients[0]->failure();
  // Requests that are not event streams still get nginx's 502.
  {
    SseTestClient client("127.0.0.1", nginx_port_, absl::Seconds(10));
    EXPECT_EQ(client.Send("GET", "/healthz").status, 502);
  }

  absl::StatusOr<std::unique_ptr<ChildProcess>> restarted =
      StartGateway(gateway_config_, "replica0-restarted",
                   absl::StrCat("127.0.0.1:", replica_ports_[0]));
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  replicas_[0] = *std::move(restarted);
  clients[0]->Join();
  clients[0]->ExpectExactlyOnce("with all replicas down for a while");
}

// The same behind the key-affine config, with replicas whose /v1/ticks route
// shares one upstream call per stream key (fanout): the browsers watching one
// stream all land on one replica, which opens one call for them; after that
// replica is SIGKILLed they all resume on the other, nothing lost or
// duplicated.
class FanoutReplicaFailoverTest : public ReplicaFailoverTest {
 protected:
  const char* Site() const override { return kNginxFanoutSite; }
  void EditGatewayConfig(const std::string& path) override {
    // A long linger, so that the calls are still there to be counted after
    // the browsers have left.
    std::ofstream(path, std::ios::app) << "    fanout:\n"
                                       << "      replay_events: 1000\n"
                                       << "      linger_ms: 60000\n";
  }

  // Shared upstream calls open on replica `index`; -1 if unreadable.
  int64_t SharedCalls(int index) {
    return ReplicaMetric(index,
                         "sse_gateway_shared_calls_open{route=\"/v1/ticks\"}");
  }
};

TEST_F(FanoutReplicaFailoverTest, OneCallPerKeyAndEveryBrowserResumes) {
  constexpr uint64_t kLastSeq = 100;
  std::vector<std::unique_ptr<TickerEventSource>> clients;
  for (const char* symbol : {"ACME", "ACME", "ACME", "ACME", "BOLT", "BOLT"}) {
    clients.push_back(
        std::make_unique<TickerEventSource>(nginx_port_, symbol, kLastSeq, 15));
    // Each page starts from the beginning of its stream: the first opens
    // the call resuming after 0, the others share it from its first tick.
    clients.back()->SetInitialLastEventId("0");
  }
  int64_t served = 0;
  const int victim = PauseAllAndFindBusiestReplica(clients, &served);
  ASSERT_GE(victim, 0);
  // One upstream call per key, on the replica the key hashes to.
  EXPECT_EQ(SharedCalls(0) + SharedCalls(1), 2);
  const int64_t victim_calls = SharedCalls(victim);
  absl::StatusOr<int> killed = replicas_[victim]->Kill();
  ASSERT_TRUE(killed.ok()) << killed.status();
  for (auto& client : clients) client->Resume();
  for (auto& client : clients) client->Join();

  int64_t resumed = 0;
  for (const auto& client : clients) {
    client->ExpectExactlyOnce("after SIGKILL of a fan-out replica");
    if (client->attempts().size() > 1) ++resumed;
  }
  EXPECT_EQ(resumed, served);
  // The moved browsers share one call per key on the survivor too.
  const int survivor = 1 - victim;
  EXPECT_EQ(SharedCalls(survivor), 2);
  std::printf(
      "fan-out failover: %lld browsers on %lld shared calls moved; the "
      "survivor now holds %lld shared calls (gaps served by a dedicated "
      "call: %lld)\n",
      static_cast<long long>(served), static_cast<long long>(victim_calls),
      static_cast<long long>(SharedCalls(survivor)),
      static_cast<long long>(
          ReplicaMetric(survivor,
                        "sse_gateway_fanout_gaps_total{route=\"/v1/ticks\","
                        "kind=\"dedicated\"}")));
}

}  // namespace
}  // namespace sse_gateway
