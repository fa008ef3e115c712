// sse_gateway: serves gRPC server-streaming methods as Server-Sent Events.
//
//   sse_gateway --config=gateway.yaml [--listen=127.0.0.1:8080]
//
// Exits non-zero with a message naming the file and key when the config is
// bad. On SIGINT or SIGTERM it drains (every open stream gets a retry hint
// and is closed, upstream calls are cancelled) and exits 0 within the
// config's drain_timeout_ms.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/config/config.h"
#include "gateway/gateway.h"

ABSL_FLAG(std::string, config, "", "Path of the YAML config file (required).");
ABSL_FLAG(std::string, listen, "",
          "host:port to listen on; overrides the config's `listen`.");

int main(int argc, char** argv) {
  // Block the stop signals before any thread exists so that every thread
  // inherits the mask and sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Debian's Abseil is built with Mutex deadlock detection on, which records
  // every lock in a global graph: a measurable cost on the per-event path.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  absl::SetProgramUsageMessage(
      "Serves gRPC server-streaming methods as Server-Sent Events.\n"
      "Usage: sse_gateway --config=FILE [--listen=HOST:PORT]");
  absl::ParseCommandLine(argc, argv);

  const std::string config_path = absl::GetFlag(FLAGS_config);
  if (config_path.empty()) {
    std::fprintf(stderr, "sse_gateway: --config=FILE is required\n");
    return 2;
  }
  absl::StatusOr<sse_gateway::GatewayConfig> config =
      sse_gateway::LoadConfigFile(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "sse_gateway: %s\n",
                 std::string(config.status().message()).c_str());
    return 1;
  }
  const std::string listen = absl::GetFlag(FLAGS_listen);
  if (!listen.empty()) {
    absl::StatusOr<sse_gateway::ListenAddress> address =
        sse_gateway::ParseListenAddress(listen);
    if (!address.ok()) {
      std::fprintf(stderr, "sse_gateway: --listen: %s\n",
                   std::string(address.status().message()).c_str());
      return 2;
    }
    config->listen = *address;
  }

  absl::StatusOr<std::unique_ptr<sse_gateway::Gateway>> gateway =
      sse_gateway::Gateway::Create(*config);
  if (!gateway.ok()) {
    std::fprintf(stderr, "sse_gateway: %s\n",
                 std::string(gateway.status().message()).c_str());
    return 1;
  }
  absl::Status started = (*gateway)->Start();
  if (!started.ok()) {
    std::fprintf(stderr, "sse_gateway: %s\n",
                 std::string(started.message()).c_str());
    return 1;
  }
  const std::string& host = config->listen.host;
  bool v6 = host.find(':') != std::string::npos;
  std::vector<std::string> backends;
  for (const sse_gateway::BackendConfig& backend :
       sse_gateway::EffectiveBackends(*config)) {
    backends.push_back(absl::StrCat(backend.name, "=", backend.address));
  }
  std::printf(
      "sse_gateway listening on %s://%s%s%s:%d/ (%zu routes, backends %s)\n",
      config->tls.has_value() ? "https" : "http", v6 ? "[" : "", host.c_str(),
      v6 ? "]" : "", (*gateway)->port(), (*gateway)->route_count(),
      absl::StrJoin(backends, ", ").c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::printf("sse_gateway: received %s, draining %lld streams\n",
              signal_number == SIGTERM ? "SIGTERM" : "SIGINT",
              static_cast<long long>((*gateway)->active_streams()));
  std::fflush(stdout);
  // Every open stream gets a retry hint and is closed; its upstream call is
  // cancelled. Within drain_timeout_ms the process exits 0 either way.
  if (!(*gateway)->Drain(config->drain_timeout)) {
    std::printf(
        "sse_gateway: %lld streams still open after drain_timeout_ms; "
        "exiting\n",
        static_cast<long long>((*gateway)->active_streams()));
    std::fflush(stdout);
    std::_Exit(0);
  }
  (*gateway)->Stop();
  std::printf("sse_gateway: stopped\n");
  std::fflush(stdout);
  return 0;
}
