// test_backend_server: runs TestBackend (tests/test_backend.h), the scriptable
// testing.v1.TestService gRPC server, as a process, for tests that drive the
// gateway binary from outside (the browser tests in tests/browser/).
//
//   bazel-bin/tests/test_backend_server
//
// Listens on 127.0.0.1 with a free port picked by the system and prints
// "test_backend_server listening on 127.0.0.1:PORT" once it accepts calls.
// On SIGINT or SIGTERM it cancels the calls in progress, stops and exits 0.

#include <signal.h>

#include <cstdio>
#include <memory>

#include "tests/test_backend.h"

int main() {
  // Blocked before gRPC starts its threads, so that they inherit the mask and
  // the signals are only ever taken by sigwait() below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Start() aborts the process when the server cannot start.
  std::unique_ptr<sse_gateway::TestBackend> backend =
      sse_gateway::TestBackend::Start();
  std::printf("test_backend_server listening on %s\n",
              backend->address().c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "test_backend_server: got %s, stopping\n",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  backend->Shutdown();
  return 0;
}
