// HTTP/2 test clients for the end-to-end and hardening tests of the
// gateway's HTTP/2 listening side, on libnghttp2 and (for TLS) OpenSSL.
//
//   H2TestClient     a well-behaved client: one nghttp2 client session on one
//                    connection (h2c with prior knowledge, or TLS with ALPN
//                    "h2"), many streams, client SETTINGS chosen by the test,
//                    automatic or test-driven flow control, RST_STREAM, PING.
//                    Per stream it keeps the response status, headers, DATA
//                    bytes and the SSE events parsed from them (SseParser),
//                    whether it ended or was reset; per connection the GOAWAY
//                    and whether the peer closed.
//   H2RawConnection  a hostile client: writes whatever bytes the test gives
//                    it (built with the H2*Frame helpers and HpackEncoder)
//                    and decodes every frame the peer sends (type, flags,
//                    stream, error codes, header blocks), so a test can see
//                    GOAWAY(ENHANCE_YOUR_CALM), RST_STREAM(REFUSED_STREAM) or
//                    the socket closing.
//
// Both are driven by the test's thread: nothing happens on the socket except
// inside their methods. Action methods (StartStream, SendRaw, ...) queue bytes
// and write what the socket takes at once without blocking; Pump() waits for
// the socket (bounded) and then reads and writes; PumpUntil() pumps until a
// condition holds or a generous bound passes, so tests wait on conditions,
// never on fixed sleeps. Thread-compatible: use one object from one thread at
// a time.

#ifndef SSE_GATEWAY_TESTS_H2_TEST_CLIENT_H_
#define SSE_GATEWAY_TESTS_H2_TEST_CLIENT_H_

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/sse_parser.h"

namespace sse_gateway {

// Header fields in wire order; duplicates and empty values are kept.
using H2HeaderList = std::vector<std::pair<std::string, std::string>>;

// The client connection preface (RFC 9113 section 3.4), without SETTINGS.
inline constexpr absl::string_view kH2ClientPreface =
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// "PROTOCOL_ERROR", "ENHANCE_YOUR_CALM", ... ("unknown" for other codes).
std::string H2ErrorCodeName(uint32_t error_code);
// "DATA", "HEADERS", ... ("UNKNOWN(<n>)" for other types).
std::string H2FrameTypeName(uint8_t type);

// ---------------------------------------------------------------------------
// Frame builders for raw-mode tests. Nothing is validated: every field is
// written as given (stream ids keep their reserved bit, increments may be 0),
// so tests can build protocol violations on purpose.

// The 9-byte frame header with `length` as given (it may lie).
std::string H2FrameHeaderBytes(uint32_t length, uint8_t type, uint8_t flags,
                               uint32_t stream_id);
// A whole frame: header (length = payload size) + payload.
std::string H2FrameBytes(uint8_t type, uint8_t flags, uint32_t stream_id,
                         absl::string_view payload);
std::string H2DataFrame(uint32_t stream_id, absl::string_view data,
                        uint8_t flags = NGHTTP2_FLAG_NONE);
// HEADERS carrying `header_block` (see HpackEncoder) as its fragment. The
// default flags end the headers and the stream (a GET).
std::string H2HeadersFrame(uint32_t stream_id, absl::string_view header_block,
                           uint8_t flags = NGHTTP2_FLAG_END_HEADERS |
                                           NGHTTP2_FLAG_END_STREAM);
std::string H2ContinuationFrame(uint32_t stream_id,
                                absl::string_view header_block,
                                uint8_t flags = NGHTTP2_FLAG_NONE);
// SETTINGS with `entries` in order (any ids and values).
std::string H2SettingsFrame(const std::vector<nghttp2_settings_entry>& entries);
std::string H2SettingsAckFrame();
std::string H2PingFrame(uint64_t opaque_data, bool ack = false);
std::string H2RstStreamFrame(uint32_t stream_id, uint32_t error_code);
std::string H2WindowUpdateFrame(uint32_t stream_id, uint32_t increment);
std::string H2GoAwayFrame(uint32_t last_stream_id, uint32_t error_code,
                          absl::string_view debug_data = "");
// kH2ClientPreface followed by H2SettingsFrame(settings).
std::string H2ClientPrefaceBytes(
    const std::vector<nghttp2_settings_entry>& settings = {});

// An HPACK encoder (nghttp2_hd_deflate) for building header blocks. It keeps
// a dynamic table, so use one encoder per connection and send its blocks in
// the order they were encoded; with `dynamic_table_size` 0 every block stands
// alone. Header fields of any size are encoded (the block may then exceed
// what the peer accepts; split it with SplitHeaderBlock). Not thread-safe.
class HpackEncoder {
 public:
  explicit HpackEncoder(size_t dynamic_table_size = 4096);
  ~HpackEncoder();
  HpackEncoder(const HpackEncoder&) = delete;
  HpackEncoder& operator=(const HpackEncoder&) = delete;

  // Encodes `headers` as given (names are not lowercased, nothing is
  // checked). Fails only if nghttp2 does.
  absl::StatusOr<std::string> Encode(const H2HeaderList& headers);

  // :method, :scheme, :authority, :path, then `extra`, encoded.
  absl::StatusOr<std::string> EncodeRequest(
      absl::string_view method, absl::string_view path,
      const H2HeaderList& extra = {}, absl::string_view authority = "localhost",
      absl::string_view scheme = "http");

 private:
  nghttp2_hd_deflater* deflater_ = nullptr;
};

// `block` as one HEADERS frame followed by CONTINUATION frames, each carrying
// at most `max_fragment` bytes; END_HEADERS on the last one, END_STREAM (if
// `end_stream`) on the HEADERS frame.
std::string H2HeaderBlockFrames(uint32_t stream_id, absl::string_view block,
                                size_t max_fragment = 16384,
                                bool end_stream = true);

// ---------------------------------------------------------------------------

// How to reach the peer: TCP to 127.0.0.1:port, optionally under TLS.
struct H2TransportOptions {
  bool tls = false;
  // TLS: verify the peer against this CA file (PEM) and `server_name`; empty:
  // no verification.
  std::string ca_file;
  // TLS: SNI (when not an IP address) and the name or IP verified.
  std::string server_name = "localhost";
  // TLS: ALPN protocols offered, in order.
  std::vector<std::string> alpn = {"h2"};
  // Bound on TCP connect plus TLS handshake.
  absl::Duration connect_timeout = absl::Seconds(10);
  // Non-zero: SO_RCVBUF before connecting (a small one makes a slow reader).
  int receive_buffer_bytes = 0;
};

// A GOAWAY frame as received.
struct H2GoAway {
  int32_t last_stream_id = 0;
  uint32_t error_code = 0;
  std::string debug_data;
};

// One frame received from the peer. H2RawConnection fills every field;
// H2TestClient (which logs the frames nghttp2 accepted) leaves `payload` and
// `headers` empty.
struct H2ReceivedFrame {
  uint32_t length = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
  int32_t stream_id = 0;  // reserved bit cleared
  std::string payload;
  uint32_t error_code = 0;             // RST_STREAM, GOAWAY
  int32_t last_stream_id = 0;          // GOAWAY
  uint32_t window_size_increment = 0;  // WINDOW_UPDATE
  uint64_t ping_opaque_data = 0;       // PING
  // SETTINGS: the entries in order.
  std::vector<nghttp2_settings_entry> settings;
  // On the frame that completes a header block (HEADERS, PUSH_PROMISE or
  // CONTINUATION with END_HEADERS): the decoded fields.
  H2HeaderList headers;

  bool has_flag(uint8_t flag) const { return (flags & flag) != 0; }
  // "GOAWAY stream=0 flags=0x0 length=8 last_stream_id=1 error=..."
  std::string DebugString() const;
};

// One stream of an H2TestClient, as received so far.
struct H2Stream {
  int32_t id = 0;
  int status = 0;         // :status of the response; 0 until it arrives
  H2HeaderList headers;   // the response header block, pseudo-headers too
  H2HeaderList trailers;  // a later header block without :status
  std::string body;       // DATA bytes received so far
  std::vector<SseEvent> events;  // `body` parsed as text/event-stream
  std::optional<int64_t> reconnection_time_ms;  // last valid `retry`
  int64_t comment_count = 0;                    // e.g. heartbeats
  bool ended = false;  // END_STREAM received: the response is complete
  bool reset = false;  // the peer sent RST_STREAM
  uint32_t reset_error_code = 0;
  bool closed = false;  // nghttp2 closed the stream: both sides ended, or a
                        // reset either way, or refused by a GOAWAY
  uint32_t close_error_code = 0;
  bool held = false;            // manual flow control: not consumed for now
  size_t unconsumed_bytes = 0;  // manual flow control: held DATA bytes

  // The first value of header `name` (lowercase), "" if absent.
  std::string header(absl::string_view name) const;
  bool has_header(absl::string_view name) const;
};

struct H2ClientOptions {
  H2TransportOptions transport;
  // The client's first SETTINGS frame, entries in order (empty: nghttp2's
  // defaults). E.g. {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0}} stalls every
  // stream until the test grants a window; NGHTTP2_SETTINGS_MAX_FRAME_SIZE,
  // _MAX_HEADER_LIST_SIZE, _HEADER_TABLE_SIZE, _ENABLE_PUSH likewise. nghttp2
  // rejects values RFC 9113 forbids; send those with H2RawConnection.
  std::vector<nghttp2_settings_entry> settings;
  // Set: the connection's receive window after the preface (the default is
  // 65,535; RFC 9113 has no SETTINGS for it).
  std::optional<int32_t> connection_window_size;

  // Flow control. With `auto_window_update` nghttp2 consumes every DATA
  // byte as it arrives and sends WINDOW_UPDATE once half a window has been
  // consumed (so after a test grants a zero window some bytes, it stays open).
  // Without it the client consumes on nghttp2's behalf, as DATA arrives: the
  // connection window always (unless `hold_connection_window`), each stream's
  // window unless the stream is held (HoldStream, or every stream when
  // `hold_streams`); a held stream's bytes stay unconsumed (its window closes)
  // until Consume() or HoldStream(id, false). So one stream can stall while
  // the others flow.
  bool auto_window_update = true;
  bool hold_streams = false;
  bool hold_connection_window = false;

  // :authority and :scheme of StartStream; empty: "127.0.0.1:<port>" and
  // "http" or "https".
  std::string authority;
  std::string scheme;
  // Turns off nghttp2's HTTP messaging checks of responses (so a malformed
  // response reaches the test instead of becoming a stream error).
  bool no_http_messaging = false;
};

namespace h2_test_internal {
class Transport;  // The socket and TLS, in h2_test_client.cc.
}  // namespace h2_test_internal

// A well-behaved HTTP/2 client on one connection (see the file comment).
class H2TestClient {
 public:
  // Connects to 127.0.0.1:`port` (TLS: handshake, and ALPN must select "h2")
  // and sends the preface, SETTINGS and the connection window update.
  static absl::StatusOr<std::unique_ptr<H2TestClient>> Connect(
      int port, H2ClientOptions options = {});
  ~H2TestClient();
  H2TestClient(const H2TestClient&) = delete;
  H2TestClient& operator=(const H2TestClient&) = delete;

  // Opens a stream: :method, :scheme, :authority, :path, then `headers` in
  // order (empty values are sent as such; names starting with ':' are sent
  // too). With `end_stream` the request ends with its HEADERS; otherwise send
  // the body with SendData. Returns the stream id, or a negative nghttp2 error
  // code (e.g. NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE). Requests beyond the
  // peer's SETTINGS_MAX_CONCURRENT_STREAMS wait in nghttp2 until streams end.
  int32_t StartStream(absl::string_view method, absl::string_view path,
                      const H2HeaderList& headers = {}, bool end_stream = true);
  // Appends request body bytes to a stream opened with `end_stream` false;
  // `end_stream` ends the request after them.
  absl::Status SendData(int32_t stream_id, absl::string_view data,
                        bool end_stream);

  // Waits up to `timeout` for the socket, then reads and processes what
  // arrived and writes what is queued. An error once the connection is closed
  // (by the peer, Close() or an nghttp2 session error).
  absl::Status Pump(absl::Duration timeout = absl::Milliseconds(50));
  // Pumps until `condition` holds (true) or `patience` passes, or the
  // connection closes with `condition` still false (false).
  bool PumpUntil(const std::function<bool()>& condition,
                 absl::Duration patience = absl::Seconds(30));
  // Sends a PING and pumps until its ACK: everything the peer wrote before
  // acknowledging it has been processed. False if no ACK within `patience`.
  bool PingRoundTrip(absl::Duration patience = absl::Seconds(30));

  // WINDOW_UPDATE (nghttp2_submit_window_update) of `increment` on a stream,
  // or on the connection for stream id 0; nghttp2 widens its own receive
  // window to match. Mixing this with Consume on one stream may grant more.
  absl::Status SendWindowUpdate(int32_t stream_id, int32_t increment);
  // Manual flow control: holds a stream's window (its DATA stays unconsumed)
  // or releases it (consuming what it held).
  absl::Status HoldStream(int32_t stream_id, bool hold = true);
  // Manual flow control: tells nghttp2 that up to `bytes` of a held stream's
  // DATA were consumed (stream id 0: of the held connection window), so it
  // sends WINDOW_UPDATE once half a window is consumed. Stream id 0 aside,
  // this is stream-level only: the connection window has its own hold.
  absl::Status Consume(int32_t stream_id, size_t bytes);
  absl::Status ResetStream(int32_t stream_id,
                           uint32_t error_code = NGHTTP2_CANCEL);
  // Submits another SETTINGS frame (validated by nghttp2).
  absl::Status SendSettings(const std::vector<nghttp2_settings_entry>& entries);
  // GOAWAY from the client (nghttp2_session_terminate_session).
  absl::Status SendGoAway(uint32_t error_code = NGHTTP2_NO_ERROR);
  // Writes `bytes` after everything nghttp2 has queued so far. nghttp2 does
  // not know about them: use for frames it does not track (PING, extension
  // frames, a WINDOW_UPDATE of 0, RST_STREAM on an idle stream) or to break
  // the connection on purpose; anything else belongs on H2RawConnection.
  void SendRaw(absl::string_view bytes);
  // Closes the socket now, like a client that vanishes.
  void Close();

  // A stream's state; an empty H2Stream (id 0) for ids never started.
  const H2Stream& stream(int32_t stream_id) const;
  std::vector<SseEvent> Events(int32_t stream_id) const {
    return stream(stream_id).events;
  }
  // Ids of the streams started, in order.
  const std::vector<int32_t>& stream_ids() const { return stream_ids_; }

  // The last GOAWAY received, if any.
  const std::optional<H2GoAway>& goaway() const { return goaway_; }
  // The peer closed the connection (FIN, reset or TLS close), the socket
  // failed, or Close() was called.
  bool closed() const;
  // Pumps until closed() or `patience` passes; returns closed().
  bool WaitForClose(absl::Duration patience = absl::Seconds(30));
  // OK, or what made nghttp2's session fail (e.g. a protocol error by the
  // peer, after which nghttp2 sent GOAWAY).
  const absl::Status& session_error() const { return session_error_; }
  // The peer's SETTINGS value for `id` as nghttp2 applied it.
  uint32_t remote_setting(nghttp2_settings_id id) const;
  // Every frame nghttp2 accepted from the peer, in order (no payloads).
  const std::vector<H2ReceivedFrame>& frames() const { return frames_; }
  int64_t ping_acks() const { return ping_acks_; }
  int64_t settings_acks() const { return settings_acks_; }
  // The connection's DATA bytes held (manual flow control, held connection).
  size_t unconsumed_connection_bytes() const {
    return unconsumed_connection_bytes_;
  }
  // Bytes queued for the socket that it has not taken yet.
  size_t pending_output_bytes() const;
  // ALPN protocol selected under TLS ("" for h2c).
  const std::string& alpn() const;

 private:
  struct Outbound;   // A request body waiting to be sent.
  struct Callbacks;  // nghttp2 callbacks, friends of this class.

  H2TestClient(std::unique_ptr<h2_test_internal::Transport> transport,
               H2ClientOptions options, int port);
  absl::Status Start();
  // Moves nghttp2's output to the transport (bounded) and writes.
  void Flush();
  // Consumes what arrived for unheld streams (manual flow control).
  void ConsumeArrived();
  void Fail(absl::Status status);
  H2Stream* MutableStream(int32_t stream_id);

  std::unique_ptr<h2_test_internal::Transport> transport_;
  H2ClientOptions options_;
  int port_ = 0;
  nghttp2_session* session_ = nullptr;
  absl::Status session_error_;

  std::map<int32_t, H2Stream> streams_;
  std::map<int32_t, SseParser> parsers_;
  // Header block being received per stream, until its HEADERS frame is done.
  std::map<int32_t, H2HeaderList> header_blocks_;
  std::map<int32_t, std::unique_ptr<Outbound>> outbound_;
  std::vector<int32_t> stream_ids_;
  // Manual flow control: bytes that arrived since the last ConsumeArrived.
  std::map<int32_t, size_t> arrived_;
  size_t connection_arrived_ = 0;
  size_t unconsumed_connection_bytes_ = 0;

  std::optional<H2GoAway> goaway_;
  std::vector<H2ReceivedFrame> frames_;
  int64_t ping_acks_ = 0;
  int64_t settings_acks_ = 0;
};

struct H2RawOptions {
  H2TransportOptions transport;
  // Answer the peer's SETTINGS with SETTINGS ACK, and its PINGs with a PING
  // ACK, as a client must; turn off to test what the peer does without.
  bool auto_ack_settings = true;
  bool auto_ack_ping = true;
};

// A raw HTTP/2 connection: sends exactly the bytes given (nothing at all on
// its own, not even the preface, except the ACKs of H2RawOptions) and decodes
// what the peer sends into frames (header blocks with its own HPACK decoder).
class H2RawConnection {
 public:
  static absl::StatusOr<std::unique_ptr<H2RawConnection>> Connect(
      int port, H2RawOptions options = {});
  ~H2RawConnection();
  H2RawConnection(const H2RawConnection&) = delete;
  H2RawConnection& operator=(const H2RawConnection&) = delete;

  // Queues `bytes` and writes what the socket takes now (see Pump,
  // pending_output_bytes and Flush for the rest).
  void SendRaw(absl::string_view bytes);
  // H2ClientPrefaceBytes(settings).
  void SendPreface(const std::vector<nghttp2_settings_entry>& settings = {});
  // Encodes a request with this connection's encoder and sends it as HEADERS
  // (+ CONTINUATION when larger than `max_fragment`).
  absl::Status SendRequest(uint32_t stream_id, absl::string_view method,
                           absl::string_view path,
                           const H2HeaderList& extra = {},
                           bool end_stream = true, size_t max_fragment = 16384);
  // This connection's HPACK encoder (its dynamic table follows what was sent
  // with it, in order).
  HpackEncoder& encoder() { return encoder_; }
  // Pumps until every queued byte is written; false after `patience` or if
  // the socket failed.
  bool Flush(absl::Duration patience = absl::Seconds(30));

  // Waits up to `timeout` for the socket, then reads and decodes what arrived
  // and writes what is queued.
  void Pump(absl::Duration timeout = absl::Milliseconds(50));
  // As H2TestClient::PumpUntil.
  bool PumpUntil(const std::function<bool()>& condition,
                 absl::Duration patience = absl::Seconds(30));
  // Sends PING (a fresh opaque value) and pumps until its ACK.
  bool PingRoundTrip(absl::Duration patience = absl::Seconds(30));
  // Pumps until a frame of `type` (on `stream_id`, unless -1) has arrived;
  // returns it (valid until the next pump) or null.
  const H2ReceivedFrame* WaitForFrame(
      uint8_t type, int32_t stream_id = -1,
      absl::Duration patience = absl::Seconds(30));
  // Pumps until the peer closed the connection; returns peer_closed().
  bool WaitForPeerClose(absl::Duration patience = absl::Seconds(30));
  void Close();

  // Every frame received, in order.
  const std::vector<H2ReceivedFrame>& frames() const { return frames_; }
  // The first frame of `type` (on `stream_id`, unless -1), or null.
  const H2ReceivedFrame* FindFrame(uint8_t type, int32_t stream_id = -1) const;
  int CountFrames(uint8_t type, int32_t stream_id = -1) const;
  // The last GOAWAY received, if any.
  std::optional<H2GoAway> goaway() const;
  // The peer closed the connection (FIN, reset or TLS close) or the socket
  // failed.
  bool peer_closed() const;
  // Closed by a TCP reset rather than an orderly FIN.
  bool connection_reset() const;
  // A HPACK decoding failure of a header block from the peer, or OK.
  const absl::Status& decode_error() const { return decode_error_; }
  size_t pending_output_bytes() const;
  const std::string& alpn() const;
  // Every frame received, one DebugString per line (for failure messages).
  std::string DebugString() const;

 private:
  H2RawConnection(std::unique_ptr<h2_test_internal::Transport> transport,
                  H2RawOptions options);
  void Decode();
  void OnFrame(H2ReceivedFrame frame);

  std::unique_ptr<h2_test_internal::Transport> transport_;
  H2RawOptions options_;
  HpackEncoder encoder_;
  nghttp2_hd_inflater* inflater_ = nullptr;
  std::string input_;         // received, not yet decoded
  std::string header_block_;  // fragments of an unfinished header block
  bool in_header_block_ = false;
  absl::Status decode_error_;
  std::vector<H2ReceivedFrame> frames_;
  uint64_t next_ping_ = 1;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_H2_TEST_CLIENT_H_
