#include "tests/h2_test_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace sse_gateway {
namespace h2_test_internal {

// A non-blocking TCP connection to 127.0.0.1, optionally under TLS. TLS runs
// over memory BIOs: the socket is only touched with recv/send (MSG_NOSIGNAL),
// so no SIGPIPE, and every byte OpenSSL has buffered is decrypted at once.
// Not thread-safe.
class Transport {
 public:
  static absl::StatusOr<std::unique_ptr<Transport>> Connect(
      int port, const H2TransportOptions& options);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Queues `bytes` (plaintext) for the peer; dropped once writing failed.
  void Write(absl::string_view bytes);
  // Writes what the socket takes now.
  void Flush();
  // Waits up to `timeout` for input (or room for pending output), then
  // appends what arrived (plaintext) to `*input` and writes what it can.
  void Poll(absl::Duration timeout, std::string* input);
  void Close();

  size_t pending() const { return out_.size() - out_offset_; }
  // Nothing more will arrive: the peer closed, the socket failed, or Close().
  bool read_closed() const { return fd_ < 0 || read_closed_; }
  bool closed() const { return read_closed() || write_failed_; }
  bool reset() const { return reset_; }
  const std::string& close_reason() const { return close_reason_; }
  const std::string& alpn() const { return alpn_; }

 private:
  Transport() = default;
  absl::Status Handshake(const H2TransportOptions& options,
                         absl::Time deadline);
  // Moves OpenSSL's output (wbio) to `out_`.
  void DrainTls();
  // Reads everything the socket has now (bounded).
  void ReadSocket(std::string* input);
  void NoteClosed(std::string reason);

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // Owned by ssl_.
  BIO* wbio_ = nullptr;  // Owned by ssl_.
  std::string out_;      // Wire bytes; out_[out_offset_..] not yet written.
  size_t out_offset_ = 0;
  bool read_closed_ = false;
  bool write_failed_ = false;
  bool reset_ = false;
  std::string close_reason_;
  std::string alpn_;
};

namespace {

std::string OpenSslErrors() {
  std::string text;
  while (unsigned long error = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(error, buffer, sizeof(buffer));
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text.empty() ? "no OpenSSL error queued" : text;
}

bool IsIpAddress(const std::string& name) {
  in6_addr address;
  return inet_pton(AF_INET, name.c_str(), &address) == 1 ||
         inet_pton(AF_INET6, name.c_str(), &address) == 1;
}

int PollMillis(absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(timeout, absl::Milliseconds(1))),
      60 * 1000));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> Transport::Connect(
    int port, const H2TransportOptions& options) {
  const absl::Time deadline = absl::Now() + options.connect_timeout;
  std::unique_ptr<Transport> transport(new Transport());
  transport->fd_ =
      ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (transport->fd_ < 0) {
    return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  }
  const int fd = transport->fd_;
  if (options.receive_buffer_bytes > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &options.receive_buffer_bytes,
               sizeof(options.receive_buffer_bytes));
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    if (errno != EINPROGRESS) {
      return absl::UnavailableError(
          absl::StrCat("connect to 127.0.0.1:", port, ": ", strerror(errno)));
    }
    pollfd waiting{fd, POLLOUT, 0};
    if (::poll(&waiting, 1, PollMillis(deadline - absl::Now())) != 1) {
      return absl::DeadlineExceededError(
          absl::StrCat("connect to 127.0.0.1:", port, " timed out"));
    }
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      return absl::UnavailableError(
          absl::StrCat("connect to 127.0.0.1:", port, ": ", strerror(error)));
    }
  }
  if (options.tls) {
    absl::Status status = transport->Handshake(options, deadline);
    if (!status.ok()) return status;
  }
  return transport;
}

absl::Status Transport::Handshake(const H2TransportOptions& options,
                                  absl::Time deadline) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) {
    return absl::InternalError(absl::StrCat("SSL_CTX_new: ", OpenSslErrors()));
  }
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  const bool verify = !options.ca_file.empty();
  if (verify) {
    if (SSL_CTX_load_verify_locations(ctx_, options.ca_file.c_str(), nullptr) !=
        1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot load CA file ", options.ca_file, ": ", OpenSslErrors()));
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  }
  ssl_ = SSL_new(ctx_);
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || rbio_ == nullptr || wbio_ == nullptr) {
    return absl::InternalError(absl::StrCat("SSL_new: ", OpenSslErrors()));
  }
  SSL_set_bio(ssl_, rbio_, wbio_);
  SSL_set_connect_state(ssl_);
  std::string alpn;
  for (const std::string& protocol : options.alpn) {
    alpn += static_cast<char>(protocol.size());
    alpn += protocol;
  }
  if (!alpn.empty() &&
      SSL_set_alpn_protos(ssl_, reinterpret_cast<const uint8_t*>(alpn.data()),
                          static_cast<unsigned>(alpn.size())) != 0) {
    return absl::InternalError("SSL_set_alpn_protos failed");
  }
  const bool ip = IsIpAddress(options.server_name);
  if (!options.server_name.empty() && !ip) {
    SSL_set_tlsext_host_name(ssl_, options.server_name.c_str());
  }
  if (verify) {
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_),
                                    options.server_name.c_str());
    } else {
      SSL_set1_host(ssl_, options.server_name.c_str());
    }
  }

  while (true) {
    ERR_clear_error();
    const int result = SSL_do_handshake(ssl_);
    const int error = SSL_get_error(ssl_, result);
    std::string errors = result == 1 ? "" : OpenSslErrors();
    DrainTls();
    while (pending() > 0 && !write_failed_) {
      Flush();
      if (pending() == 0) break;
      pollfd waiting{fd_, POLLOUT, 0};
      if (::poll(&waiting, 1, PollMillis(deadline - absl::Now())) != 1) {
        return absl::DeadlineExceededError("TLS handshake timed out (write)");
      }
    }
    if (write_failed_) {
      return absl::UnavailableError(
          absl::StrCat("TLS handshake: ", close_reason_));
    }
    if (result == 1) break;
    if (error != SSL_ERROR_WANT_READ) {
      std::string verify_result;
      long verified = SSL_get_verify_result(ssl_);
      if (verified != X509_V_OK) {
        verify_result = absl::StrCat(
            " (certificate: ", X509_verify_cert_error_string(verified), ")");
      }
      return absl::UnavailableError(
          absl::StrCat("TLS handshake failed: ", errors, verify_result));
    }
    pollfd waiting{fd_, POLLIN, 0};
    if (::poll(&waiting, 1, PollMillis(deadline - absl::Now())) != 1) {
      return absl::DeadlineExceededError("TLS handshake timed out (read)");
    }
    char buffer[16384];
    ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n == 0) {
      return absl::UnavailableError("peer closed during the TLS handshake");
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("TLS handshake: recv: ", strerror(errno)));
    }
    BIO_write(rbio_, buffer, static_cast<int>(n));
  }
  const unsigned char* selected = nullptr;
  unsigned selected_length = 0;
  SSL_get0_alpn_selected(ssl_, &selected, &selected_length);
  alpn_.assign(reinterpret_cast<const char*>(selected), selected_length);
  return absl::OkStatus();
}

Transport::~Transport() {
  Close();
  if (ssl_ != nullptr) SSL_free(ssl_);  // Frees the BIOs too.
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

void Transport::Close() {
  if (fd_ >= 0) ::close(fd_);
  if (fd_ >= 0 && close_reason_.empty()) close_reason_ = "closed by the test";
  fd_ = -1;
}

void Transport::NoteClosed(std::string reason) {
  if (close_reason_.empty()) close_reason_ = std::move(reason);
}

void Transport::DrainTls() {
  if (wbio_ == nullptr) return;
  char buffer[16384];
  int n;
  while ((n = BIO_read(wbio_, buffer, sizeof(buffer))) > 0) {
    if (!write_failed_) out_.append(buffer, static_cast<size_t>(n));
  }
}

void Transport::Write(absl::string_view bytes) {
  if (fd_ < 0 || write_failed_ || bytes.empty()) return;
  if (ssl_ == nullptr) {
    out_.append(bytes.data(), bytes.size());
    return;
  }
  while (!bytes.empty()) {
    const int chunk = static_cast<int>(std::min<size_t>(bytes.size(), 1 << 20));
    ERR_clear_error();
    const int n = SSL_write(ssl_, bytes.data(), chunk);
    if (n <= 0) {
      write_failed_ = true;
      NoteClosed(absl::StrCat("SSL_write: ", OpenSslErrors()));
      break;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    DrainTls();
  }
}

void Transport::Flush() {
  while (fd_ >= 0 && !write_failed_ && pending() > 0) {
    ssize_t n = ::send(fd_, out_.data() + out_offset_, pending(),
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_offset_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    write_failed_ = true;
    if (errno == ECONNRESET) reset_ = true;
    NoteClosed(absl::StrCat("send: ", strerror(errno)));
  }
  if (write_failed_ || out_offset_ == out_.size()) {
    out_.clear();
    out_offset_ = 0;
  } else if (out_offset_ > (1 << 20)) {
    out_.erase(0, out_offset_);
    out_offset_ = 0;
  }
}

void Transport::ReadSocket(std::string* input) {
  // Bounded, so a peer that writes without pause cannot keep us here.
  constexpr size_t kMaxReadPerCall = 4 << 20;
  char buffer[65536];
  size_t total = 0;
  bool eof = false;
  while (total < kMaxReadPerCall) {
    ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n > 0) {
      total += static_cast<size_t>(n);
      if (ssl_ != nullptr) {
        BIO_write(rbio_, buffer, static_cast<int>(n));
      } else {
        input->append(buffer, static_cast<size_t>(n));
      }
      continue;
    }
    if (n == 0) {
      eof = true;
      NoteClosed("the peer closed the connection");
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    eof = true;
    if (errno == ECONNRESET) reset_ = true;
    NoteClosed(absl::StrCat("recv: ", strerror(errno)));
    break;
  }
  if (ssl_ != nullptr) {
    while (true) {
      ERR_clear_error();
      const int n = SSL_read(ssl_, buffer, sizeof(buffer));
      if (n > 0) {
        input->append(buffer, static_cast<size_t>(n));
        continue;
      }
      const int error = SSL_get_error(ssl_, n);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) break;
      eof = true;
      NoteClosed(error == SSL_ERROR_ZERO_RETURN
                     ? std::string("TLS close_notify from the peer")
                     : absl::StrCat("SSL_read: ", OpenSslErrors()));
      break;
    }
    DrainTls();
  }
  if (eof) read_closed_ = true;
}

void Transport::Poll(absl::Duration timeout, std::string* input) {
  Flush();
  if (fd_ < 0) return;
  pollfd waiting{fd_, 0, 0};
  if (!read_closed_) waiting.events |= POLLIN;
  if (!write_failed_ && pending() > 0) waiting.events |= POLLOUT;
  if (waiting.events == 0) return;
  if (::poll(&waiting, 1, PollMillis(timeout)) <= 0) return;
  if (!read_closed_ && (waiting.revents & (POLLIN | POLLHUP | POLLERR))) {
    ReadSocket(input);
  }
  Flush();
}

}  // namespace h2_test_internal

using h2_test_internal::Transport;

namespace {

// Output nghttp2 may queue in the transport before the socket takes it.
constexpr size_t kMaxPendingOutput = 1 << 20;

void PutUint32(std::string* out, uint32_t value) {
  out->push_back(static_cast<char>(value >> 24));
  out->push_back(static_cast<char>(value >> 16));
  out->push_back(static_cast<char>(value >> 8));
  out->push_back(static_cast<char>(value));
}

uint32_t GetUint32(absl::string_view bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

uint64_t GetUint64(absl::string_view bytes) {
  return (uint64_t{GetUint32(bytes)} << 32) | GetUint32(bytes.substr(4));
}

nghttp2_nv MakeNv(absl::string_view name, absl::string_view value) {
  nghttp2_nv nv;
  nv.name = const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data()));
  nv.namelen = name.size();
  nv.value =
      const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data()));
  nv.valuelen = value.size();
  nv.flags = NGHTTP2_NV_FLAG_NONE;
  return nv;
}

absl::Status Nghttp2Error(absl::string_view what, int code) {
  return absl::InternalError(
      absl::StrCat(what, ": ", nghttp2_strerror(code), " (", code, ")"));
}

// The pumping loop shared by both clients.
bool PumpLoop(const std::function<bool()>& condition, absl::Duration patience,
              const std::function<void(absl::Duration)>& pump,
              const std::function<bool()>& finished) {
  const absl::Time give_up = absl::Now() + patience;
  while (true) {
    if (condition()) return true;
    if (finished()) return condition();
    const absl::Duration left = give_up - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pump(std::min(left, absl::Milliseconds(100)));
  }
}

}  // namespace

std::string H2ErrorCodeName(uint32_t error_code) {
  return nghttp2_http2_strerror(error_code);
}

std::string H2FrameTypeName(uint8_t type) {
  switch (type) {
    case NGHTTP2_DATA:
      return "DATA";
    case NGHTTP2_HEADERS:
      return "HEADERS";
    case NGHTTP2_PRIORITY:
      return "PRIORITY";
    case NGHTTP2_RST_STREAM:
      return "RST_STREAM";
    case NGHTTP2_SETTINGS:
      return "SETTINGS";
    case NGHTTP2_PUSH_PROMISE:
      return "PUSH_PROMISE";
    case NGHTTP2_PING:
      return "PING";
    case NGHTTP2_GOAWAY:
      return "GOAWAY";
    case NGHTTP2_WINDOW_UPDATE:
      return "WINDOW_UPDATE";
    case NGHTTP2_CONTINUATION:
      return "CONTINUATION";
    default:
      return absl::StrCat("UNKNOWN(", type, ")");
  }
}

// ---------------------------------------------------------------------------
// Frame builders.

std::string H2FrameHeaderBytes(uint32_t length, uint8_t type, uint8_t flags,
                               uint32_t stream_id) {
  std::string out;
  out.push_back(static_cast<char>(length >> 16));
  out.push_back(static_cast<char>(length >> 8));
  out.push_back(static_cast<char>(length));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  PutUint32(&out, stream_id);
  return out;
}

std::string H2FrameBytes(uint8_t type, uint8_t flags, uint32_t stream_id,
                         absl::string_view payload) {
  std::string out = H2FrameHeaderBytes(static_cast<uint32_t>(payload.size()),
                                       type, flags, stream_id);
  out.append(payload.data(), payload.size());
  return out;
}

std::string H2DataFrame(uint32_t stream_id, absl::string_view data,
                        uint8_t flags) {
  return H2FrameBytes(NGHTTP2_DATA, flags, stream_id, data);
}

std::string H2HeadersFrame(uint32_t stream_id, absl::string_view header_block,
                           uint8_t flags) {
  return H2FrameBytes(NGHTTP2_HEADERS, flags, stream_id, header_block);
}

std::string H2ContinuationFrame(uint32_t stream_id,
                                absl::string_view header_block, uint8_t flags) {
  return H2FrameBytes(NGHTTP2_CONTINUATION, flags, stream_id, header_block);
}

std::string H2SettingsFrame(
    const std::vector<nghttp2_settings_entry>& entries) {
  std::string payload;
  for (const nghttp2_settings_entry& entry : entries) {
    payload.push_back(static_cast<char>(entry.settings_id >> 8));
    payload.push_back(static_cast<char>(entry.settings_id));
    PutUint32(&payload, entry.value);
  }
  return H2FrameBytes(NGHTTP2_SETTINGS, NGHTTP2_FLAG_NONE, 0, payload);
}

std::string H2SettingsAckFrame() {
  return H2FrameBytes(NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, "");
}

std::string H2PingFrame(uint64_t opaque_data, bool ack) {
  std::string payload;
  PutUint32(&payload, static_cast<uint32_t>(opaque_data >> 32));
  PutUint32(&payload, static_cast<uint32_t>(opaque_data));
  return H2FrameBytes(NGHTTP2_PING, ack ? NGHTTP2_FLAG_ACK : NGHTTP2_FLAG_NONE,
                      0, payload);
}

std::string H2RstStreamFrame(uint32_t stream_id, uint32_t error_code) {
  std::string payload;
  PutUint32(&payload, error_code);
  return H2FrameBytes(NGHTTP2_RST_STREAM, NGHTTP2_FLAG_NONE, stream_id,
                      payload);
}

std::string H2WindowUpdateFrame(uint32_t stream_id, uint32_t increment) {
  std::string payload;
  PutUint32(&payload, increment);
  return H2FrameBytes(NGHTTP2_WINDOW_UPDATE, NGHTTP2_FLAG_NONE, stream_id,
                      payload);
}

std::string H2GoAwayFrame(uint32_t last_stream_id, uint32_t error_code,
                          absl::string_view debug_data) {
  std::string payload;
  PutUint32(&payload, last_stream_id);
  PutUint32(&payload, error_code);
  payload.append(debug_data.data(), debug_data.size());
  return H2FrameBytes(NGHTTP2_GOAWAY, NGHTTP2_FLAG_NONE, 0, payload);
}

std::string H2ClientPrefaceBytes(
    const std::vector<nghttp2_settings_entry>& settings) {
  return absl::StrCat(kH2ClientPreface, H2SettingsFrame(settings));
}

std::string H2HeaderBlockFrames(uint32_t stream_id, absl::string_view block,
                                size_t max_fragment, bool end_stream) {
  max_fragment = std::max<size_t>(max_fragment, 1);
  absl::string_view first = block.substr(0, max_fragment);
  block.remove_prefix(first.size());
  uint8_t flags = end_stream ? NGHTTP2_FLAG_END_STREAM : NGHTTP2_FLAG_NONE;
  if (block.empty()) flags |= NGHTTP2_FLAG_END_HEADERS;
  std::string out = H2HeadersFrame(stream_id, first, flags);
  while (!block.empty()) {
    absl::string_view fragment = block.substr(0, max_fragment);
    block.remove_prefix(fragment.size());
    out += H2ContinuationFrame(
        stream_id, fragment,
        block.empty() ? NGHTTP2_FLAG_END_HEADERS : NGHTTP2_FLAG_NONE);
  }
  return out;
}

// ---------------------------------------------------------------------------
// HpackEncoder.

HpackEncoder::HpackEncoder(size_t dynamic_table_size) {
  if (nghttp2_hd_deflate_new(&deflater_, dynamic_table_size) != 0) {
    deflater_ = nullptr;
  }
}

HpackEncoder::~HpackEncoder() {
  if (deflater_ != nullptr) nghttp2_hd_deflate_del(deflater_);
}

absl::StatusOr<std::string> HpackEncoder::Encode(const H2HeaderList& headers) {
  if (deflater_ == nullptr) {
    return absl::InternalError("nghttp2_hd_deflate_new failed");
  }
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size());
  for (const auto& [name, value] : headers) nva.push_back(MakeNv(name, value));
  std::string block(nghttp2_hd_deflate_bound(deflater_, nva.data(), nva.size()),
                    '\0');
  ssize_t n =
      nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<uint8_t*>(block.data()),
                            block.size(), nva.data(), nva.size());
  if (n < 0) {
    return Nghttp2Error("nghttp2_hd_deflate_hd", static_cast<int>(n));
  }
  block.resize(static_cast<size_t>(n));
  return block;
}

absl::StatusOr<std::string> HpackEncoder::EncodeRequest(
    absl::string_view method, absl::string_view path, const H2HeaderList& extra,
    absl::string_view authority, absl::string_view scheme) {
  H2HeaderList headers = {{":method", std::string(method)},
                          {":scheme", std::string(scheme)},
                          {":authority", std::string(authority)},
                          {":path", std::string(path)}};
  headers.insert(headers.end(), extra.begin(), extra.end());
  return Encode(headers);
}

// ---------------------------------------------------------------------------
// H2ReceivedFrame and H2Stream.

std::string H2ReceivedFrame::DebugString() const {
  std::string text =
      absl::StrFormat("%s stream=%d flags=0x%x length=%u",
                      H2FrameTypeName(type), stream_id, flags, length);
  switch (type) {
    case NGHTTP2_RST_STREAM:
      absl::StrAppend(&text, " error=", H2ErrorCodeName(error_code));
      break;
    case NGHTTP2_GOAWAY:
      absl::StrAppend(&text, " last_stream_id=", last_stream_id,
                      " error=", H2ErrorCodeName(error_code));
      break;
    case NGHTTP2_WINDOW_UPDATE:
      absl::StrAppend(&text, " increment=", window_size_increment);
      break;
    case NGHTTP2_PING:
      absl::StrAppend(&text, " opaque=", ping_opaque_data);
      break;
    case NGHTTP2_SETTINGS:
      for (const nghttp2_settings_entry& entry : settings) {
        absl::StrAppend(&text, " ", entry.settings_id, "=", entry.value);
      }
      break;
    default:
      break;
  }
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&text, " [", name, ": ", value, "]");
  }
  return text;
}

std::string H2Stream::header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

bool H2Stream::has_header(absl::string_view name) const {
  for (const auto& header : headers) {
    if (header.first == name) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// H2TestClient.

struct H2TestClient::Outbound {
  std::string data;
  size_t offset = 0;
  bool end = false;
  bool deferred = false;
};

struct H2TestClient::Callbacks {
  static H2TestClient* Self(void* user_data) {
    return static_cast<H2TestClient*>(user_data);
  }

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame,
                            void* user_data) {
    if (frame->hd.type == NGHTTP2_HEADERS) {
      Self(user_data)->header_blocks_[frame->hd.stream_id].clear();
    }
    return 0;
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                      const uint8_t* name, size_t name_length,
                      const uint8_t* value, size_t value_length, uint8_t,
                      void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Self(user_data)->header_blocks_[frame->hd.stream_id].emplace_back(
        std::string(reinterpret_cast<const char*>(name), name_length),
        std::string(reinterpret_cast<const char*>(value), value_length));
    return 0;
  }

  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame,
                         void* user_data) {
    H2TestClient* self = Self(user_data);
    H2ReceivedFrame received;
    received.length = static_cast<uint32_t>(frame->hd.length);
    received.type = frame->hd.type;
    received.flags = frame->hd.flags;
    received.stream_id = frame->hd.stream_id;
    H2Stream* stream = self->MutableStream(frame->hd.stream_id);
    switch (frame->hd.type) {
      case NGHTTP2_DATA:
        if (stream != nullptr &&
            (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
          stream->ended = true;
        }
        break;
      case NGHTTP2_HEADERS: {
        H2HeaderList block =
            std::move(self->header_blocks_[frame->hd.stream_id]);
        self->header_blocks_.erase(frame->hd.stream_id);
        if (stream == nullptr) break;
        bool has_status = false;
        for (const auto& [name, value] : block) {
          if (name == ":status") {
            has_status = true;
            stream->status = std::atoi(value.c_str());
          }
        }
        if (has_status) {
          stream->headers = std::move(block);
        } else {
          stream->trailers = std::move(block);
        }
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
          stream->ended = true;
        }
        break;
      }
      case NGHTTP2_RST_STREAM:
        received.error_code = frame->rst_stream.error_code;
        if (stream != nullptr) {
          stream->reset = true;
          stream->reset_error_code = frame->rst_stream.error_code;
        }
        break;
      case NGHTTP2_GOAWAY: {
        received.error_code = frame->goaway.error_code;
        received.last_stream_id = frame->goaway.last_stream_id;
        H2GoAway goaway;
        goaway.last_stream_id = frame->goaway.last_stream_id;
        goaway.error_code = frame->goaway.error_code;
        goaway.debug_data.assign(
            reinterpret_cast<const char*>(frame->goaway.opaque_data),
            frame->goaway.opaque_data_len);
        self->goaway_ = std::move(goaway);
        break;
      }
      case NGHTTP2_PING:
        received.ping_opaque_data = GetUint64(absl::string_view(
            reinterpret_cast<const char*>(frame->ping.opaque_data), 8));
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) ++self->ping_acks_;
        break;
      case NGHTTP2_SETTINGS:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) ++self->settings_acks_;
        received.settings.assign(frame->settings.iv,
                                 frame->settings.iv + frame->settings.niv);
        break;
      case NGHTTP2_WINDOW_UPDATE:
        received.window_size_increment =
            static_cast<uint32_t>(frame->window_update.window_size_increment);
        break;
      default:
        break;
    }
    self->frames_.push_back(std::move(received));
    return 0;
  }

  static int OnDataChunkRecv(nghttp2_session*, uint8_t, int32_t stream_id,
                             const uint8_t* data, size_t length,
                             void* user_data) {
    H2TestClient* self = Self(user_data);
    self->connection_arrived_ += length;
    H2Stream* stream = self->MutableStream(stream_id);
    if (stream == nullptr) return 0;
    self->arrived_[stream_id] += length;
    absl::string_view bytes(reinterpret_cast<const char*>(data), length);
    stream->body.append(bytes.data(), bytes.size());
    SseParser& parser = self->parsers_[stream_id];
    parser.Feed(bytes, &stream->events);
    stream->reconnection_time_ms = parser.reconnection_time_ms();
    stream->comment_count = parser.comment_count();
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t stream_id,
                           uint32_t error_code, void* user_data) {
    H2TestClient* self = Self(user_data);
    H2Stream* stream = self->MutableStream(stream_id);
    if (stream != nullptr) {
      stream->closed = true;
      stream->close_error_code = error_code;
    }
    self->outbound_.erase(stream_id);
    return 0;
  }

  static ssize_t ReadBody(nghttp2_session*, int32_t stream_id, uint8_t* buffer,
                          size_t length, uint32_t* data_flags,
                          nghttp2_data_source*, void* user_data) {
    H2TestClient* self = Self(user_data);
    auto it = self->outbound_.find(stream_id);
    if (it == self->outbound_.end()) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    }
    Outbound& out = *it->second;
    const size_t n = std::min(length, out.data.size() - out.offset);
    std::memcpy(buffer, out.data.data() + out.offset, n);
    out.offset += n;
    if (out.offset == out.data.size()) {
      out.data.clear();
      out.offset = 0;
      if (out.end) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      } else if (n == 0) {
        out.deferred = true;
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    return static_cast<ssize_t>(n);
  }
};

H2TestClient::H2TestClient(std::unique_ptr<Transport> transport,
                           H2ClientOptions options, int port)
    : transport_(std::move(transport)),
      options_(std::move(options)),
      port_(port) {}

H2TestClient::~H2TestClient() {
  if (session_ != nullptr) nghttp2_session_del(session_);
}

absl::StatusOr<std::unique_ptr<H2TestClient>> H2TestClient::Connect(
    int port, H2ClientOptions options) {
  absl::StatusOr<std::unique_ptr<Transport>> transport =
      Transport::Connect(port, options.transport);
  if (!transport.ok()) return transport.status();
  if (options.transport.tls && (*transport)->alpn() != "h2") {
    return absl::FailedPreconditionError(absl::StrCat(
        "ALPN did not select h2 (selected \"", (*transport)->alpn(), "\")"));
  }
  std::unique_ptr<H2TestClient> client(
      new H2TestClient(*std::move(transport), std::move(options), port));
  absl::Status status = client->Start();
  if (!status.ok()) return status;
  return client;
}

absl::Status H2TestClient::Start() {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(
      callbacks, &Callbacks::OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks,
                                                   &Callbacks::OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks,
                                                       &Callbacks::OnFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
      callbacks, &Callbacks::OnDataChunkRecv);
  nghttp2_session_callbacks_set_on_stream_close_callback(
      callbacks, &Callbacks::OnStreamClose);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  if (!options_.auto_window_update) {
    nghttp2_option_set_no_auto_window_update(option, 1);
  }
  if (options_.no_http_messaging) {
    nghttp2_option_set_no_http_messaging(option, 1);
  }
  int result = nghttp2_session_client_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (result != 0) return Nghttp2Error("nghttp2_session_client_new2", result);
  result = nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE,
                                   options_.settings.data(),
                                   options_.settings.size());
  if (result != 0) return Nghttp2Error("nghttp2_submit_settings", result);
  if (options_.connection_window_size.has_value()) {
    result = nghttp2_session_set_local_window_size(
        session_, NGHTTP2_FLAG_NONE, 0, *options_.connection_window_size);
    if (result != 0) {
      return Nghttp2Error("nghttp2_session_set_local_window_size", result);
    }
  }
  Flush();
  if (!session_error_.ok()) return session_error_;
  return absl::OkStatus();
}

void H2TestClient::Fail(absl::Status status) {
  if (session_error_.ok()) session_error_ = std::move(status);
}

H2Stream* H2TestClient::MutableStream(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : &it->second;
}

const H2Stream& H2TestClient::stream(int32_t stream_id) const {
  static const H2Stream* const kUnknown = new H2Stream();
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? *kUnknown : it->second;
}

void H2TestClient::Flush() {
  while (session_error_.ok() && !transport_->closed() &&
         transport_->pending() < kMaxPendingOutput) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      Fail(Nghttp2Error("nghttp2_session_mem_send", static_cast<int>(n)));
      break;
    }
    if (n == 0) break;
    transport_->Write(absl::string_view(reinterpret_cast<const char*>(data),
                                        static_cast<size_t>(n)));
    transport_->Flush();
  }
  transport_->Flush();
}

void H2TestClient::ConsumeArrived() {
  if (options_.auto_window_update) {
    arrived_.clear();
    connection_arrived_ = 0;
    return;
  }
  for (const auto& [stream_id, bytes] : arrived_) {
    H2Stream* stream = MutableStream(stream_id);
    if (stream != nullptr && stream->held) {
      stream->unconsumed_bytes += bytes;
    } else {
      nghttp2_session_consume_stream(session_, stream_id, bytes);
    }
  }
  arrived_.clear();
  if (options_.hold_connection_window) {
    unconsumed_connection_bytes_ += connection_arrived_;
  } else if (connection_arrived_ > 0) {
    nghttp2_session_consume_connection(session_, connection_arrived_);
  }
  connection_arrived_ = 0;
}

int32_t H2TestClient::StartStream(absl::string_view method,
                                  absl::string_view path,
                                  const H2HeaderList& headers,
                                  bool end_stream) {
  const std::string authority = options_.authority.empty()
                                    ? absl::StrCat("127.0.0.1:", port_)
                                    : options_.authority;
  const std::string scheme = !options_.scheme.empty()
                                 ? options_.scheme
                                 : (options_.transport.tls ? "https" : "http");
  std::vector<nghttp2_nv> nva = {
      MakeNv(":method", method), MakeNv(":scheme", scheme),
      MakeNv(":authority", authority), MakeNv(":path", path)};
  for (const auto& [name, value] : headers) nva.push_back(MakeNv(name, value));
  nghttp2_data_provider provider;
  provider.source.ptr = nullptr;
  provider.read_callback = &Callbacks::ReadBody;
  const int32_t stream_id =
      nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                             end_stream ? nullptr : &provider, nullptr);
  if (stream_id < 0) return stream_id;
  H2Stream& stream = streams_[stream_id];
  stream.id = stream_id;
  stream.held = !options_.auto_window_update && options_.hold_streams;
  parsers_[stream_id];
  stream_ids_.push_back(stream_id);
  if (!end_stream) outbound_[stream_id] = std::make_unique<Outbound>();
  Flush();
  return stream_id;
}

absl::Status H2TestClient::SendData(int32_t stream_id, absl::string_view data,
                                    bool end_stream) {
  auto it = outbound_.find(stream_id);
  if (it == outbound_.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "stream ", stream_id, " has no open request body (started with ",
        "end_stream, ended, or closed)"));
  }
  Outbound& out = *it->second;
  if (out.end) {
    return absl::FailedPreconditionError(
        absl::StrCat("stream ", stream_id, "'s request body already ended"));
  }
  out.data.append(data.data(), data.size());
  out.end = end_stream;
  if (out.deferred) {
    out.deferred = false;
    int result = nghttp2_session_resume_data(session_, stream_id);
    if (result != 0) return Nghttp2Error("nghttp2_session_resume_data", result);
  }
  Flush();
  return absl::OkStatus();
}

absl::Status H2TestClient::Pump(absl::Duration timeout) {
  std::string input;
  transport_->Poll(timeout, &input);
  if (!input.empty() && session_error_.ok()) {
    ssize_t n = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const uint8_t*>(input.data()), input.size());
    if (n < 0) {
      Fail(Nghttp2Error("nghttp2_session_mem_recv", static_cast<int>(n)));
    }
    ConsumeArrived();
  }
  Flush();
  if (!session_error_.ok()) return session_error_;
  if (transport_->closed()) {
    return absl::UnavailableError(
        absl::StrCat("connection closed: ", transport_->close_reason()));
  }
  return absl::OkStatus();
}

bool H2TestClient::PumpUntil(const std::function<bool()>& condition,
                             absl::Duration patience) {
  // A failed pump shows in the connection's state, which the loop checks.
  return PumpLoop(
      condition, patience,
      [this](absl::Duration timeout) { Pump(timeout).IgnoreError(); },
      [this] { return transport_->read_closed(); });
}

bool H2TestClient::PingRoundTrip(absl::Duration patience) {
  const int64_t target = ping_acks_ + 1;
  if (nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr) != 0) {
    return false;
  }
  Flush();
  return PumpUntil([&] { return ping_acks_ >= target; }, patience);
}

absl::Status H2TestClient::SendWindowUpdate(int32_t stream_id,
                                            int32_t increment) {
  int result = nghttp2_submit_window_update(session_, NGHTTP2_FLAG_NONE,
                                            stream_id, increment);
  if (result != 0) return Nghttp2Error("nghttp2_submit_window_update", result);
  Flush();
  return absl::OkStatus();
}

absl::Status H2TestClient::HoldStream(int32_t stream_id, bool hold) {
  if (options_.auto_window_update) {
    return absl::FailedPreconditionError(
        "HoldStream needs H2ClientOptions::auto_window_update false");
  }
  H2Stream* stream = MutableStream(stream_id);
  if (stream == nullptr) {
    return absl::NotFoundError(absl::StrCat("no stream ", stream_id));
  }
  stream->held = hold;
  if (!hold && stream->unconsumed_bytes > 0) {
    const size_t bytes = stream->unconsumed_bytes;
    stream->unconsumed_bytes = 0;
    int result = nghttp2_session_consume_stream(session_, stream_id, bytes);
    if (result != 0) {
      return Nghttp2Error("nghttp2_session_consume_stream", result);
    }
  }
  Flush();
  return absl::OkStatus();
}

absl::Status H2TestClient::Consume(int32_t stream_id, size_t bytes) {
  if (options_.auto_window_update) {
    return absl::FailedPreconditionError(
        "Consume needs H2ClientOptions::auto_window_update false");
  }
  int result = 0;
  if (stream_id == 0) {
    bytes = std::min(bytes, unconsumed_connection_bytes_);
    unconsumed_connection_bytes_ -= bytes;
    if (bytes > 0) result = nghttp2_session_consume_connection(session_, bytes);
  } else {
    H2Stream* stream = MutableStream(stream_id);
    if (stream == nullptr) {
      return absl::NotFoundError(absl::StrCat("no stream ", stream_id));
    }
    bytes = std::min(bytes, stream->unconsumed_bytes);
    stream->unconsumed_bytes -= bytes;
    if (bytes > 0) {
      result = nghttp2_session_consume_stream(session_, stream_id, bytes);
    }
  }
  if (result != 0) return Nghttp2Error("nghttp2_session_consume", result);
  Flush();
  return absl::OkStatus();
}

absl::Status H2TestClient::ResetStream(int32_t stream_id, uint32_t error_code) {
  int result = nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id,
                                         error_code);
  if (result != 0) return Nghttp2Error("nghttp2_submit_rst_stream", result);
  Flush();
  return absl::OkStatus();
}

absl::Status H2TestClient::SendSettings(
    const std::vector<nghttp2_settings_entry>& entries) {
  int result = nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE,
                                       entries.data(), entries.size());
  if (result != 0) return Nghttp2Error("nghttp2_submit_settings", result);
  Flush();
  return absl::OkStatus();
}

absl::Status H2TestClient::SendGoAway(uint32_t error_code) {
  int result = nghttp2_session_terminate_session(session_, error_code);
  if (result != 0) {
    return Nghttp2Error("nghttp2_session_terminate_session", result);
  }
  Flush();
  return absl::OkStatus();
}

void H2TestClient::SendRaw(absl::string_view bytes) {
  Flush();
  transport_->Write(bytes);
  transport_->Flush();
}

void H2TestClient::Close() { transport_->Close(); }

bool H2TestClient::closed() const { return transport_->closed(); }

bool H2TestClient::WaitForClose(absl::Duration patience) {
  PumpUntil([this] { return transport_->closed(); }, patience);
  return closed();
}

uint32_t H2TestClient::remote_setting(nghttp2_settings_id id) const {
  return nghttp2_session_get_remote_settings(session_, id);
}

size_t H2TestClient::pending_output_bytes() const {
  return transport_->pending();
}

const std::string& H2TestClient::alpn() const { return transport_->alpn(); }

// ---------------------------------------------------------------------------
// H2RawConnection.

H2RawConnection::H2RawConnection(std::unique_ptr<Transport> transport,
                                 H2RawOptions options)
    : transport_(std::move(transport)), options_(std::move(options)) {
  if (nghttp2_hd_inflate_new(&inflater_) != 0) inflater_ = nullptr;
}

H2RawConnection::~H2RawConnection() {
  if (inflater_ != nullptr) nghttp2_hd_inflate_del(inflater_);
}

absl::StatusOr<std::unique_ptr<H2RawConnection>> H2RawConnection::Connect(
    int port, H2RawOptions options) {
  absl::StatusOr<std::unique_ptr<Transport>> transport =
      Transport::Connect(port, options.transport);
  if (!transport.ok()) return transport.status();
  return std::unique_ptr<H2RawConnection>(
      new H2RawConnection(*std::move(transport), std::move(options)));
}

void H2RawConnection::SendRaw(absl::string_view bytes) {
  transport_->Write(bytes);
  transport_->Flush();
}

void H2RawConnection::SendPreface(
    const std::vector<nghttp2_settings_entry>& settings) {
  for (const nghttp2_settings_entry& entry : settings) {
    // What the peer's encoder may use once it applies our SETTINGS.
    if (entry.settings_id == NGHTTP2_SETTINGS_HEADER_TABLE_SIZE &&
        inflater_ != nullptr) {
      nghttp2_hd_inflate_change_table_size(inflater_, entry.value);
    }
  }
  SendRaw(H2ClientPrefaceBytes(settings));
}

absl::Status H2RawConnection::SendRequest(
    uint32_t stream_id, absl::string_view method, absl::string_view path,
    const H2HeaderList& extra, bool end_stream, size_t max_fragment) {
  absl::StatusOr<std::string> block =
      encoder_.EncodeRequest(method, path, extra, "localhost",
                             options_.transport.tls ? "https" : "http");
  if (!block.ok()) return block.status();
  SendRaw(H2HeaderBlockFrames(stream_id, *block, max_fragment, end_stream));
  return absl::OkStatus();
}

bool H2RawConnection::Flush(absl::Duration patience) {
  PumpUntil(
      [this] { return transport_->pending() == 0 || transport_->closed(); },
      patience);
  return transport_->pending() == 0 && !transport_->closed();
}

void H2RawConnection::Pump(absl::Duration timeout) {
  std::string input;
  transport_->Poll(timeout, &input);
  if (!input.empty()) {
    input_ += input;
    Decode();
  }
  transport_->Flush();
}

bool H2RawConnection::PumpUntil(const std::function<bool()>& condition,
                                absl::Duration patience) {
  return PumpLoop(
      condition, patience, [this](absl::Duration timeout) { Pump(timeout); },
      [this] { return transport_->read_closed(); });
}

bool H2RawConnection::PingRoundTrip(absl::Duration patience) {
  const uint64_t opaque = 0x7465737400000000ULL | next_ping_++;
  const size_t first = frames_.size();
  SendRaw(H2PingFrame(opaque));
  return PumpUntil(
      [&] {
        for (size_t i = first; i < frames_.size(); ++i) {
          const H2ReceivedFrame& frame = frames_[i];
          if (frame.type == NGHTTP2_PING && frame.has_flag(NGHTTP2_FLAG_ACK) &&
              frame.ping_opaque_data == opaque) {
            return true;
          }
        }
        return false;
      },
      patience);
}

const H2ReceivedFrame* H2RawConnection::WaitForFrame(uint8_t type,
                                                     int32_t stream_id,
                                                     absl::Duration patience) {
  PumpUntil([&] { return FindFrame(type, stream_id) != nullptr; }, patience);
  return FindFrame(type, stream_id);
}

bool H2RawConnection::WaitForPeerClose(absl::Duration patience) {
  PumpUntil([this] { return transport_->read_closed(); }, patience);
  return peer_closed();
}

void H2RawConnection::Close() { transport_->Close(); }

const H2ReceivedFrame* H2RawConnection::FindFrame(uint8_t type,
                                                  int32_t stream_id) const {
  for (const H2ReceivedFrame& frame : frames_) {
    if (frame.type == type && (stream_id < 0 || frame.stream_id == stream_id)) {
      return &frame;
    }
  }
  return nullptr;
}

int H2RawConnection::CountFrames(uint8_t type, int32_t stream_id) const {
  int count = 0;
  for (const H2ReceivedFrame& frame : frames_) {
    if (frame.type == type && (stream_id < 0 || frame.stream_id == stream_id)) {
      ++count;
    }
  }
  return count;
}

std::optional<H2GoAway> H2RawConnection::goaway() const {
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
    if (it->type != NGHTTP2_GOAWAY) continue;
    H2GoAway goaway;
    goaway.last_stream_id = it->last_stream_id;
    goaway.error_code = it->error_code;
    if (it->payload.size() > 8) goaway.debug_data = it->payload.substr(8);
    return goaway;
  }
  return std::nullopt;
}

bool H2RawConnection::peer_closed() const { return transport_->read_closed(); }

bool H2RawConnection::connection_reset() const { return transport_->reset(); }

size_t H2RawConnection::pending_output_bytes() const {
  return transport_->pending();
}

const std::string& H2RawConnection::alpn() const { return transport_->alpn(); }

std::string H2RawConnection::DebugString() const {
  std::string text;
  for (const H2ReceivedFrame& frame : frames_) {
    absl::StrAppend(&text, frame.DebugString(), "\n");
  }
  if (peer_closed()) {
    absl::StrAppend(&text, "(closed: ", transport_->close_reason(), ")\n");
  }
  return text;
}

void H2RawConnection::Decode() {
  size_t offset = 0;
  while (input_.size() - offset >= 9) {
    const auto* p = reinterpret_cast<const uint8_t*>(input_.data() + offset);
    const uint32_t length =
        (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | uint32_t{p[2]};
    if (input_.size() - offset < 9 + size_t{length}) break;
    H2ReceivedFrame frame;
    frame.length = length;
    frame.type = p[3];
    frame.flags = p[4];
    frame.stream_id = static_cast<int32_t>(
        GetUint32(absl::string_view(input_).substr(offset + 5, 4)) &
        0x7fffffffu);
    frame.payload = input_.substr(offset + 9, length);
    offset += 9 + size_t{length};
    OnFrame(std::move(frame));
  }
  input_.erase(0, offset);
}

void H2RawConnection::OnFrame(H2ReceivedFrame frame) {
  absl::string_view payload = frame.payload;
  bool header_fragment = false;
  switch (frame.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_PUSH_PROMISE: {
      if (frame.has_flag(NGHTTP2_FLAG_PADDED) && !payload.empty()) {
        const size_t padding = static_cast<uint8_t>(payload[0]);
        payload.remove_prefix(1);
        payload.remove_suffix(std::min(padding, payload.size()));
      }
      if (frame.type == NGHTTP2_HEADERS &&
          frame.has_flag(NGHTTP2_FLAG_PRIORITY)) {
        payload.remove_prefix(std::min<size_t>(5, payload.size()));
      }
      if (frame.type == NGHTTP2_PUSH_PROMISE) {
        payload.remove_prefix(std::min<size_t>(4, payload.size()));
      }
      header_block_.assign(payload.data(), payload.size());
      in_header_block_ = true;
      header_fragment = true;
      break;
    }
    case NGHTTP2_CONTINUATION:
      if (in_header_block_) {
        header_block_.append(payload.data(), payload.size());
        header_fragment = true;
      }
      break;
    case NGHTTP2_RST_STREAM:
      if (payload.size() >= 4) frame.error_code = GetUint32(payload);
      break;
    case NGHTTP2_SETTINGS:
      for (size_t at = 0; at + 6 <= payload.size(); at += 6) {
        const auto* p = reinterpret_cast<const uint8_t*>(payload.data() + at);
        nghttp2_settings_entry entry;
        entry.settings_id = (int32_t{p[0]} << 8) | int32_t{p[1]};
        entry.value = GetUint32(payload.substr(at + 2, 4));
        frame.settings.push_back(entry);
      }
      if (!frame.has_flag(NGHTTP2_FLAG_ACK) && options_.auto_ack_settings) {
        SendRaw(H2SettingsAckFrame());
      }
      break;
    case NGHTTP2_PING:
      if (payload.size() >= 8) frame.ping_opaque_data = GetUint64(payload);
      if (!frame.has_flag(NGHTTP2_FLAG_ACK) && options_.auto_ack_ping) {
        SendRaw(H2PingFrame(frame.ping_opaque_data, /*ack=*/true));
      }
      break;
    case NGHTTP2_GOAWAY:
      if (payload.size() >= 8) {
        frame.last_stream_id =
            static_cast<int32_t>(GetUint32(payload) & 0x7fffffffu);
        frame.error_code = GetUint32(payload.substr(4));
      }
      break;
    case NGHTTP2_WINDOW_UPDATE:
      if (payload.size() >= 4) {
        frame.window_size_increment = GetUint32(payload) & 0x7fffffffu;
      }
      break;
    default:
      break;
  }
  if (header_fragment && frame.has_flag(NGHTTP2_FLAG_END_HEADERS)) {
    in_header_block_ = false;
    if (inflater_ == nullptr) {
      decode_error_ = absl::InternalError("nghttp2_hd_inflate_new failed");
    } else if (decode_error_.ok()) {
      const auto* in = reinterpret_cast<const uint8_t*>(header_block_.data());
      size_t left = header_block_.size();
      while (true) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t n = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, left, 1);
        if (n < 0) {
          decode_error_ =
              Nghttp2Error(absl::StrCat("HPACK decoding of the header block "
                                        "ending on stream ",
                                        frame.stream_id),
                           static_cast<int>(n));
          break;
        }
        in += n;
        left -= static_cast<size_t>(n);
        if ((flags & NGHTTP2_HD_INFLATE_EMIT) != 0) {
          frame.headers.emplace_back(
              std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
              std::string(reinterpret_cast<const char*>(nv.value),
                          nv.valuelen));
        }
        if ((flags & NGHTTP2_HD_INFLATE_FINAL) != 0) {
          nghttp2_hd_inflate_end_headers(inflater_);
          break;
        }
        if ((flags & NGHTTP2_HD_INFLATE_EMIT) == 0 && left == 0) break;
      }
    }
    header_block_.clear();
  }
  frames_.push_back(std::move(frame));
}

}  // namespace sse_gateway
