// firehose_backend: the benchmark's gRPC backend, serving
// bench.v1.Firehose/Stream (see bench/firehose_backend_service.h).
//
//   firehose_backend [--listen=127.0.0.1:50061]
//
// Prints "firehose_backend listening on HOST:PORT" to stderr once it accepts
// calls. On SIGINT or SIGTERM it shuts down (open streams are cancelled after
// a short grace period) and exits 0.

#include <pthread.h>

#include <climits>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/firehose_backend_service.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50061",
          "host:port to listen on (port 0 picks a free port).");
ABSL_FLAG(int, shutdown_grace_ms, 1000,
          "On SIGINT/SIGTERM, how long open calls may run before they are "
          "cancelled.");

int main(int argc, char** argv) {
  // Block the stop signals before gRPC starts threads so that all of them
  // inherit the mask and sigwait() below receives the signal.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::SetProgramUsageMessage(
      "gRPC backend of the benchmarks: bench.v1.Firehose/Stream.\n"
      "Usage: firehose_backend [--listen=HOST:PORT]");
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil is built with deadlock detection on, and gRPC locks
  // absl::Mutex everywhere: the detector's graph bookkeeping costs ~12% of
  // the CPU of a busy server. Benchmarks measure the program, not it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::string listen = absl::GetFlag(FLAGS_listen);

  sse_gateway::FirehoseService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  // A benchmark client may multiplex 20,000 streams on one connection: make
  // sure no per-connection stream cap applies, whatever gRPC's default.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, INT_MAX);
  // Requests are tiny; events carry up to FirehoseService::kMaxPayloadBytes.
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "firehose_backend: cannot listen on %s\n",
                 listen.c_str());
    return 1;
  }
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::fprintf(stderr, "firehose_backend listening on %s:%d\n", host.c_str(),
               port);
  std::fflush(stderr);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr,
               "firehose_backend: signal %d, shutting down (%lld open "
               "streams, %lld events sent)\n",
               signal_number, static_cast<long long>(service.active_streams()),
               static_cast<long long>(service.events_sent()));
  server->Shutdown(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  server->Wait();
  server.reset();  // every reactor is done before the service goes away
  std::fprintf(stderr, "firehose_backend: stopped\n");
  return 0;
}
