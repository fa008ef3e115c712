// TestBackend: a real, scriptable testing.v1.TestService gRPC server for tests.
//
// It listens on 127.0.0.1 with a free port picked by the system. For each
// Stream call it sends `count` StreamResponses (seq = after_seq + 1,
// after_seq + 2, ...; key = key_prefix + seq; big = echo.a_int64; color =
// echo.color; the received "last-event-id" metadata and the request echoed
// back), waiting `interval_ms` between two messages, with `initial_metadata`
// and `initial_metadata_entries` ("key=value") as its initial metadata; then it
// finishes with Status(fail_code, fail_message), or, when `hold_open` is set,
// waits until the call is cancelled. Unary answers like the first message of a
// stream.
//
// Nothing blocks a thread per call (gRPC callback API; pacing with
// grpc::Alarm), so it handles many hundreds of concurrent streams and notices
// a cancellation as soon as gRPC reports it.
//
// Everything observed is recorded per call, in the order the calls arrived,
// so tests can assert on it. Thread-safe.

#ifndef SSE_GATEWAY_TESTS_TEST_BACKEND_H_
#define SSE_GATEWAY_TESTS_TEST_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "proto/testing/v1/testing.pb.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace sse_gateway {

class TestBackend {
 public:
  struct ObservedCall {
    testing::v1::StreamRequest request;
    // Client metadata as received.
    std::multimap<std::string, std::string> metadata;
    // Responses whose write gRPC reported as done (flow control holds writes
    // back when the client does not read).
    int64_t messages_written = 0;
    bool cancelled = false;  // The backend saw the call cancelled.
    bool finished = false;   // The call is over on the backend (OnDone ran).
    // When each of the first Options::send_times_per_call responses was
    // handed to gRPC (StartWrite); empty unless that option is set.
    std::vector<absl::Time> send_times;
  };

  // Starts the server; aborts the test program if it cannot.
  static std::unique_ptr<TestBackend> Start();

  struct Options {
    // PEM server certificate chain and key: serve TLS instead of plaintext.
    std::string tls_cert_chain;
    std::string tls_private_key;
    // With TLS: PEM roots that client certificates must chain to; when set,
    // a client certificate is required and verified (mTLS).
    std::string tls_client_ca;
    // GRPC_ARG_MAX_CONCURRENT_STREAMS per HTTP/2 connection; 0: gRPC's
    // default (no limit).
    int max_concurrent_streams = 0;
    // Record ObservedCall::send_times for at most this many responses of
    // each call (0: none).
    size_t send_times_per_call = 0;
  };
  static std::unique_ptr<TestBackend> Start(const Options& options);

  TestBackend(const TestBackend&) = delete;
  TestBackend& operator=(const TestBackend&) = delete;
  ~TestBackend();  // Shutdown().

  // "127.0.0.1:PORT".
  std::string address() const;

  // A snapshot of every Stream call received so far, in arrival order.
  std::vector<ObservedCall> calls() const;

  // Wait up to `timeout` until at least `n` Stream calls have started / been
  // seen cancelled / finished. Return whether that happened.
  bool WaitForCalls(size_t n, absl::Duration timeout) const;
  bool WaitForCancelled(size_t n, absl::Duration timeout) const;
  bool WaitForFinished(size_t n, absl::Duration timeout) const;

  // Stream calls started and not yet finished.
  size_t active_calls() const;

  // Cancels the calls in progress and stops the server; waits until every
  // call has finished. Idempotent.
  void Shutdown();

  struct State;  // Shared with the per-call reactors (test_backend.cc).
  class Service;

 private:
  TestBackend();

  int port_ = 0;
  std::unique_ptr<State> state_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_TEST_BACKEND_H_
