// demo_backend: serves demo.v1.Ticker (examples/ticker_service.h) over
// plaintext gRPC for the demo (scripts/run_demo.sh, examples/demo.yaml).
//
//   bazel-bin/examples/demo_backend --listen=127.0.0.1:50051
//
// Prints "demo_backend listening on HOST:PORT" once it accepts calls. On
// SIGINT or SIGTERM it shuts down gracefully: new calls are refused, open
// streams get a short grace period and are then cancelled; exits 0.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "examples/ticker_service.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "HOST:PORT to serve gRPC on (plaintext); port 0 picks a free port.");

namespace sse_gateway {
namespace {

constexpr std::chrono::milliseconds kShutdownGrace(500);

// Replaces the port of `host_port` with `port` ("[::1]:0" -> "[::1]:4321").
std::string WithPort(absl::string_view host_port, int port) {
  const size_t colon = host_port.rfind(':');
  const absl::string_view host =
      colon == absl::string_view::npos ? host_port : host_port.substr(0, colon);
  return absl::StrCat(host, ":", port);
}

int Run(const std::string& listen) {
  // Blocked before gRPC starts its threads, so that they inherit the mask and
  // the signals are only ever taken by sigwait() below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  TickerService service;
  grpc::ServerBuilder builder;
  // Without this, a second server on a busy port would silently share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "demo_backend: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::printf("demo_backend listening on %s\n", WithPort(listen, port).c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(
      stderr, "demo_backend: got %s, shutting down (%d open streams)\n",
      signal_number == SIGINT ? "SIGINT" : "SIGTERM", service.ActiveWatches());
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  server->Wait();
  return 0;
}

}  // namespace
}  // namespace sse_gateway

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves the demo.v1.Ticker gRPC service.\n"
      "Usage: demo_backend [--listen=127.0.0.1:50051]");
  absl::ParseCommandLine(argc, argv);
  return sse_gateway::Run(absl::GetFlag(FLAGS_listen));
}
