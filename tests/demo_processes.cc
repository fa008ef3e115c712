#include "tests/demo_processes.h"

#include <unistd.h>

#include <fstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "tests/test_environment.h"

namespace sse_gateway {
namespace {

constexpr char kBackendBinary[] = "examples/demo_backend";
constexpr char kGatewayBinary[] = "gateway/sse_gateway";
constexpr char kTickerDescriptorSet[] =
    "proto/demo/v1/ticker.descriptor_set.pb";
constexpr char kListeningOn[] = " listening on ";

// `path` (relative to the runfiles root, the test's working directory) made
// absolute, for configs read from another directory.
absl::StatusOr<std::string> Runfile(absl::string_view path) {
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) {
    return absl::InternalError("getcwd failed");
  }
  std::string absolute = absl::StrCat(cwd, "/", path);
  if (access(absolute.c_str(), R_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat(absolute, " is missing: add it to the test's data"));
  }
  return absolute;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> StartAndWait(
    const std::vector<std::string>& argv, const std::string& name) {
  ChildProcess::Options options;
  options.log_prefix = name;
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      ChildProcess::Start(argv, options);
  if (!process.ok()) return process.status();
  absl::StatusOr<std::string> line =
      (*process)->WaitForLine(kListeningOn, kProcessStartTimeout);
  if (!line.ok()) return line.status();
  return process;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> StartDemoBackend(
    const std::string& listen, const std::string& name) {
  absl::StatusOr<std::string> binary = Runfile(kBackendBinary);
  if (!binary.ok()) return binary.status();
  return StartAndWait({*binary, absl::StrCat("--listen=", listen)}, name);
}

absl::StatusOr<std::string> WriteGatewayConfig(const std::string& dir,
                                               int backend_port, int retry_ms) {
  absl::StatusOr<std::string> descriptors = Runfile(kTickerDescriptorSet);
  if (!descriptors.ok()) return descriptors.status();
  const std::string path = absl::StrCat(dir, "/gateway.yaml");
  std::ofstream config(path);
  config << "listen: 127.0.0.1:0\n"
         << "backend: 127.0.0.1:" << backend_port << "\n"
         << "descriptor_sets: [" << *descriptors << "]\n"
         << "drain_timeout_ms: 10000\n"
         << "routes:\n"
         << "  - path: /v1/ticks\n"
         << "    method: demo.v1.Ticker/Watch\n"
         << "    event: tick\n"
         << "    id_field: seq\n"
         << "    resume_field: after_seq\n"
         << "    retry_ms: " << retry_ms << "\n";
  config.close();
  if (!config) return absl::InternalError(absl::StrCat("cannot write ", path));
  return path;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> StartGateway(
    const std::string& config_path, const std::string& name,
    const std::string& listen) {
  absl::StatusOr<std::string> binary = Runfile(kGatewayBinary);
  if (!binary.ok()) return binary.status();
  std::vector<std::string> argv = {*binary,
                                   absl::StrCat("--config=", config_path)};
  if (!listen.empty()) argv.push_back(absl::StrCat("--listen=", listen));
  return StartAndWait(argv, name);
}

absl::StatusOr<int> ListeningPort(ChildProcess& process) {
  absl::StatusOr<std::string> line =
      process.WaitForLine(kListeningOn, kProcessStartTimeout);
  if (!line.ok()) return line.status();
  // "... listening on 127.0.0.1:PORT" or "... on http://127.0.0.1:PORT/ ...".
  absl::string_view rest = *line;
  rest.remove_prefix(rest.find(kListeningOn) + sizeof(kListeningOn) - 1);
  absl::ConsumePrefix(&rest, "http://");
  rest = rest.substr(0, rest.find_first_of("/ "));
  const size_t colon = rest.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port <= 0) {
    return absl::InternalError(absl::StrCat("no port in \"", *line, "\""));
  }
  return port;
}

absl::StatusOr<ListeningProcess> StartListeningGateway(
    const std::string& config_path, const std::string& name) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> gateway =
      StartGateway(config_path, name);
  if (!gateway.ok()) return gateway.status();
  absl::StatusOr<int> port = ListeningPort(**gateway);
  if (!port.ok()) return port.status();
  return ListeningProcess{*std::move(gateway), *port};
}

absl::StatusOr<DemoBackendSetup> StartDemoBackendAndConfig(int retry_ms) {
  absl::StatusOr<std::string> dir = MakeTestDirectory();
  if (!dir.ok()) return dir.status();
  absl::StatusOr<std::unique_ptr<ChildProcess>> backend =
      StartDemoBackend("127.0.0.1:0", "backend");
  if (!backend.ok()) return backend.status();
  absl::StatusOr<int> port = ListeningPort(**backend);
  if (!port.ok()) return port.status();
  absl::StatusOr<std::string> config =
      WriteGatewayConfig(*dir, *port, retry_ms);
  if (!config.ok()) return config.status();
  return DemoBackendSetup{*std::move(dir),
                          ListeningProcess{*std::move(backend), *port},
                          *std::move(config)};
}

}  // namespace sse_gateway
