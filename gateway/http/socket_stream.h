// SocketStream: an httplib::Stream over a connected TCP socket, owned by the
// gateway rather than by httplib.
//
// It behaves like httplib's own socket stream (reads and writes wait for the
// socket at most the given timeouts; writes never raise SIGPIPE), with two
// differences that the gateway needs:
//   - It can record the bytes handed out by read() since the last
//     StartRecording(), so the server can see the raw request head that
//     httplib parsed (httplib drops empty header values and percent-decodes
//     the others).
//   - A write first tries a non-blocking send and only waits for the socket
//     when it is full, saving a poll() per write on the hot path.
//
// Transport: plain TCP, or TLS after AcceptTls() (the gateway's `tls` key).
// Over TLS, reads and writes go through SSL_read/SSL_write on the
// non-blocking socket, waiting (poll) with the same timeouts whenever OpenSSL
// wants to read or write; recording, timeouts and last_write_timed_out() work
// the same, on the decrypted bytes. PeerClosed() stays the socket-level check
// (the TCP connection's reset), which is what a gone browser produces once
// the gateway writes to it.
//
// Not thread-safe: one connection thread uses it. Does not own the socket;
// owns the SSL object given to AcceptTls() until Detach(). The steps of
// every read and write are transport.h's; this class adds the waiting.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_SOCKET_STREAM_H_
#define SSE_GATEWAY_GATEWAY_HTTP_SOCKET_STREAM_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/http/detached_connection.h"
#include "gateway/http/transport.h"
#include "httplib.h"

namespace sse_gateway {

class SocketStream : public httplib::Stream {
 public:
  SocketStream(int socket, absl::Duration read_timeout,
               absl::Duration write_timeout);
  ~SocketStream() override;

  SocketStream(const SocketStream&) = delete;
  SocketStream& operator=(const SocketStream&) = delete;

  // Switches the stream to TLS: takes `ssl` (a server SSL object bound to
  // this socket), makes the socket non-blocking and runs the handshake,
  // bounded by the read timeout. False when the handshake fails (the caller
  // just closes the connection).
  bool AcceptTls(UniqueSsl ssl);

  // Over TLS, sends close_notify (without waiting for the peer's); a no-op on
  // plain TCP. Call before closing the socket.
  void ShutdownTls();

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  int socket() const override { return socket_; }

  // Waits up to `timeout` for the peer to send something (or close); true
  // when there is something to read. Used between keep-alive requests.
  bool WaitReadable(absl::Duration timeout) const;

  // True when the connection is gone both ways (reset, or closed by both
  // sides). A peer that only shut down its sending side (a half-close) is
  // not closed: it may still read the response. Does not wait.
  bool PeerClosed() const;

  // True when the last failed write failed because the socket accepted no
  // bytes for the whole write timeout (a slow client, not a gone one).
  bool last_write_timed_out() const { return last_write_timed_out_; }

  // The stream of the connection served by the calling thread, or nullptr.
  // Set by HttpServer for the duration of a connection (see Scope).
  static SocketStream* ForCurrentThread();

  // Makes `stream` the calling thread's current stream while alive.
  class Scope {
   public:
    explicit Scope(SocketStream* stream);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    SocketStream* const previous_;
  };

  // Starts (again) recording what read() hands out, up to `max_bytes`.
  void StartRecording(size_t max_bytes);
  // Hands the connection (socket and TLS state) over to the caller, who now
  // owns it; the stream does no more I/O, and HttpServer neither shuts the
  // connection down nor closes it. Used once the response head is written,
  // to finish a long response off the connection thread.
  std::unique_ptr<DetachedConnection> Detach();
  bool detached() const { return detached_; }

  // What was recorded; `overflowed` tells whether bytes were dropped.
  absl::string_view recorded() const { return recorded_; }
  bool recording_overflowed() const { return overflowed_; }

 private:
  // Waits for `events` on the socket for at most `timeout`.
  bool Poll(short events, absl::Duration timeout) const;

  // True when bytes already received wait in a buffer (ours or OpenSSL's).
  bool HasBufferedBytes() const;

  // One transport read into `buffer`: >0 bytes, 0 when the peer closed, -1
  // on error or after the read timeout. Waits for the socket as needed.
  ssize_t ReceiveSome(char* buffer, size_t size);
  // One transport write: bytes written, or -1 (last_write_timed_out_ set when
  // the socket accepted nothing for the whole write timeout).
  ssize_t SendSome(const char* ptr, size_t size);

  const int socket_;  // Not owned.
  const absl::Duration read_timeout_;
  const absl::Duration write_timeout_;
  UniqueSsl ssl_;  // Set by AcceptTls().
  std::string read_buffer_;
  size_t read_offset_ = 0;
  std::string recorded_;
  size_t record_limit_ = 0;
  bool overflowed_ = false;
  bool last_write_timed_out_ = false;
  bool detached_ = false;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_SOCKET_STREAM_H_
