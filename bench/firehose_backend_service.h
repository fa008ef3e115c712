// FirehoseService: the benchmark backend's bench.v1.Firehose/Stream on
// gRPC's callback API. Each call is a self-owned ServerWriteReactor; no
// thread is dedicated to a stream.
//
// Per call (see proto/bench/v1/firehose.proto): events seq = after_seq + 1,
// after_seq + 2, ..., `count` of them (0: until the client cancels), each
// with payload_bytes of 'x' and sent_unix_nanos = CLOCK_REALTIME stamped
// right before StartWrite. rate = 0 writes the next event as soon as the
// previous write completes (flow control is the only brake); rate > 0 sends
// the first event at once and then one every 1/rate s, paced by a shared
// StreamPacer thread (due times advance by exactly 1/rate, so pacing does not
// drift; if a write completes late the next event goes out immediately).
//
// Thread safety: the service is thread-safe. It must outlive the grpc::Server
// it is registered with (destroy the server first: Shutdown + destructor).

#ifndef SSE_GATEWAY_BENCH_FIREHOSE_BACKEND_SERVICE_H_
#define SSE_GATEWAY_BENCH_FIREHOSE_BACKEND_SERVICE_H_

#include <atomic>
#include <cstdint>

#include "bench/firehose_backend_pacer.h"
#include "proto/bench/v1/firehose.grpc.pb.h"

namespace sse_gateway {

class FirehoseService final : public bench::v1::Firehose::CallbackService {
 public:
  // Payloads larger than this are refused with INVALID_ARGUMENT.
  static constexpr uint32_t kMaxPayloadBytes = 16 << 20;

  FirehoseService() = default;

  grpc::ServerWriteReactor<bench::v1::Event>* Stream(
      grpc::CallbackServerContext* context,
      const bench::v1::StreamRequest* request) override;

  // Calls whose reactor has not yet reached OnDone.
  int64_t active_streams() const { return active_streams_.load(); }
  // Events handed to gRPC so far, over all calls.
  int64_t events_sent() const { return events_sent_.load(); }

 private:
  friend class FirehoseStreamReactor;

  StreamPacer pacer_;
  std::atomic<int64_t> active_streams_{0};
  std::atomic<int64_t> events_sent_{0};
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_BENCH_FIREHOSE_BACKEND_SERVICE_H_
