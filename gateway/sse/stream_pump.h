// StreamPump: writes the bodies of open SSE responses from a few event-loop
// threads, so that an open stream costs no thread of its own.
//
// A connection thread parses the request, opens the upstream stream, writes
// the response head and then hands the connection and its SseResponseWriter
// to the pump (Adopt) and ends. From then on one pump thread (epoll) owns the
// response:
//   - the stream's ready callback queues it; the thread pulls what is ready
//     (never waiting), frames it as one HTTP chunk and writes it
//     non-blocking. Messages that are ready together go out as one chunk.
//   - While a chunk is only partly written, nothing more is pulled: the
//     stream's small buffer fills, its upstream reads stop, and HTTP/2 flow
//     control pushes back on the backend. A client that accepts no bytes for
//     the connection's write timeout is dropped as too slow.
//   - A client that closes the connection (or resets it) is noticed at once
//     (EPOLLRDHUP) and its stream is cancelled.
//   - Every kScanInterval each thread checks heartbeats, max_duration and
//     draining.
//   - When the response is over (end event, retry hint, or the client gone)
//     the terminating chunk is written and the connection closed. The
//     writer, and with it the upstream stream, is destroyed on a separate
//     reaper thread, because destroying a gRPC stream waits for gRPC.
//
// Thread-safe: Adopt() from any thread. Stop() (or the destructor) abandons
// every response left, closes the connections and joins the threads.

#ifndef SSE_GATEWAY_GATEWAY_SSE_STREAM_PUMP_H_
#define SSE_GATEWAY_GATEWAY_SSE_STREAM_PUMP_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gateway/http/detached_connection.h"
#include "gateway/sse/sse_response_writer.h"
#include "gateway/sse/writer_reaper.h"

namespace sse_gateway {

class StreamPump {
 public:
  // How often idle streams are checked for heartbeats, max_duration, slow
  // clients and draining.
  static constexpr absl::Duration kScanInterval = absl::Milliseconds(100);

  // Starts `threads` event-loop threads (at least 1) and the reaper thread.
  explicit StreamPump(size_t threads);
  ~StreamPump();

  StreamPump(const StreamPump&) = delete;
  StreamPump& operator=(const StreamPump&) = delete;

  // How the response head delimits the body.
  enum class BodyFraming {
    kChunked,  // HTTP/1.1: chunked transfer coding, ended by the last chunk
    kClose,    // HTTP/1.0: raw bytes, ended by closing the connection
  };

  // Takes over `connection`, whose response head (200) has been written, and
  // writes the body `writer` produces until it ends, framed as the head
  // said. After Stop(), the response is abandoned at once.
  void Adopt(std::unique_ptr<DetachedConnection> connection,
             std::unique_ptr<SseResponseWriter> writer,
             BodyFraming framing = BodyFraming::kChunked);

  // Responses adopted and not yet destroyed.
  int64_t open_responses() const { return open_.load(); }

  // Abandons every open response (CloseReason::kShutdown), closes the
  // connections, destroys the writers and joins the threads. Idempotent.
  void Stop();

 private:
  class Loop;

  std::unique_ptr<WriterReaper> reaper_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<size_t> next_loop_{0};
  std::atomic<int64_t> open_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_SSE_STREAM_PUMP_H_
