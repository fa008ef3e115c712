// The demo stack as real processes for fault tests: the demo backend
// (//examples:demo_backend, demo.v1.Ticker) and sse_gateway replicas
// (//gateway:sse_gateway) serving it at /v1/ticks, each a ChildProcess that
// a test can SIGKILL, SIGTERM and restart.
//
// The binaries and the ticker descriptor set are read from the test's
// runfiles (add //examples:demo_backend, //gateway:sse_gateway and
// //proto:ticker_cc_proto_descriptor_set to the test's data). Functions are
// thread-compatible; the returned processes are thread-safe.

#ifndef SSE_GATEWAY_TESTS_DEMO_PROCESSES_H_
#define SSE_GATEWAY_TESTS_DEMO_PROCESSES_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/child_process.h"

namespace sse_gateway {

// How long a process gets to print that it is listening.
inline constexpr absl::Duration kProcessStartTimeout = absl::Seconds(60);

// Starts the demo backend on `listen` ("127.0.0.1:0" for a free port) and
// waits until it prints that it is listening. `name` prefixes its output.
absl::StatusOr<std::unique_ptr<ChildProcess>> StartDemoBackend(
    const std::string& listen, const std::string& name);

// Writes `dir`/gateway.yaml: an sse_gateway config listening on 127.0.0.1:0
// in front of the demo backend at 127.0.0.1:`backend_port`, with the route
// /v1/ticks as in examples/demo.yaml (event tick, id_field seq, resume_field
// after_seq) and retry_ms `retry_ms`. Returns the file's path.
absl::StatusOr<std::string> WriteGatewayConfig(const std::string& dir,
                                               int backend_port, int retry_ms);

// Starts sse_gateway with `config_path` (and `--listen=listen` unless
// empty) and waits until it prints that it is listening. `name` prefixes its
// output.
absl::StatusOr<std::unique_ptr<ChildProcess>> StartGateway(
    const std::string& config_path, const std::string& name,
    const std::string& listen = "");

// The port from the "listening on" line that `process` (a demo backend or a
// gateway started above) printed.
absl::StatusOr<int> ListeningPort(ChildProcess& process);

// A process started above and the port it listens on.
struct ListeningProcess {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
};

// StartGateway, then ListeningPort.
absl::StatusOr<ListeningProcess> StartListeningGateway(
    const std::string& config_path, const std::string& name);

// What most fault tests start from: a directory of the test's own
// (MakeTestDirectory), the demo backend on a free port (named "backend") and
// a gateway config in front of it in that directory (WriteGatewayConfig).
struct DemoBackendSetup {
  std::string dir;
  ListeningProcess backend;
  std::string gateway_config;  // the config file's path
};
absl::StatusOr<DemoBackendSetup> StartDemoBackendAndConfig(int retry_ms);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_DEMO_PROCESSES_H_
