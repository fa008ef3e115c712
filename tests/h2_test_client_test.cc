// Tests of H2TestClient and H2RawConnection against TinyH2Server, a small
// nghttp2 server on one thread (loopback, ephemeral port, plain TCP or TLS
// with ALPN "h2"): many streams on one connection, client SETTINGS, request
// bodies, zero and held flow-control windows, resets both ways, GOAWAY, the
// peer closing, raw-mode frame decoding, and TLS.

#include "tests/h2_test_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_certificates.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;

// A request as the server received it.
struct ServedRequest {
  int32_t stream_id = 0;
  H2HeaderList headers;
  std::string body;
};

// TinyH2Server: an HTTP/2 server (nghttp2) for these tests, serving
//   /sse?n=K       K events "id: i" / "data: tick i", then the end
//   /big?bytes=N   N bytes of 'x'
//   /echo          the request's header fields ("name=value" lines), then
//                  "body=" and the request body
//   /hang          a 200 head, then nothing, never ending
//   /refuse        RST_STREAM(REFUSED_STREAM)
//   /calm          GOAWAY(ENHANCE_YOUR_CALM), last stream id = this stream
//   /close         closes the connection at once
// and recording what it saw. Its thread owns the connections; the recorded
// observations are thread-safe.
class TinyH2Server {
 public:
  struct Options {
    bool tls = false;
    std::string cert_file;
    std::string key_file;
    uint32_t max_concurrent_streams = 100;
  };

  explicit TinyH2Server(Options options) : options_(std::move(options)) {
    signal(SIGPIPE, SIG_IGN);  // SSL_write writes with write().
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address),
                     sizeof(address)),
              0);
    EXPECT_EQ(::listen(listen_fd_, 64), 0);
    socklen_t length = sizeof(address);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    EXPECT_EQ(::pipe(wake_), 0);
    if (options_.tls) {
      ctx_ = SSL_CTX_new(TLS_server_method());
      EXPECT_EQ(
          SSL_CTX_use_certificate_chain_file(ctx_, options_.cert_file.c_str()),
          1);
      EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx_, options_.key_file.c_str(),
                                            SSL_FILETYPE_PEM),
                1);
      SSL_CTX_set_alpn_select_cb(ctx_, &SelectAlpn, nullptr);
    }
    thread_ = std::thread([this] { Run(); });
  }

  ~TinyH2Server() {
    char byte = 0;
    EXPECT_EQ(::write(wake_[1], &byte, 1), 1);
    thread_.join();
    for (auto& connection : connections_) CloseConnection(connection.get());
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  }

  int port() const { return port_; }

  std::vector<std::pair<int32_t, uint32_t>> resets_received() const {
    absl::MutexLock lock(&mu_);
    return resets_received_;
  }
  // The entries of the last SETTINGS (not ACK) a client sent.
  std::map<int32_t, uint32_t> client_settings() const {
    absl::MutexLock lock(&mu_);
    return client_settings_;
  }
  int settings_acks_received() const {
    absl::MutexLock lock(&mu_);
    return settings_acks_received_;
  }
  int connections_accepted() const {
    absl::MutexLock lock(&mu_);
    return connections_accepted_;
  }
  std::vector<ServedRequest> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  struct Stream {
    H2HeaderList headers;
    std::string request_body;
    std::string body;
    size_t offset = 0;
    bool hang = false;
  };
  struct Connection {
    TinyH2Server* server = nullptr;
    int fd = -1;
    SSL* ssl = nullptr;
    nghttp2_session* session = nullptr;
    std::map<int32_t, Stream> streams;
    std::string out;
    bool close_now = false;
    bool done = false;
  };

  static int SelectAlpn(SSL*, const unsigned char** out,
                        unsigned char* out_length, const unsigned char* in,
                        unsigned in_length, void*) {
    static const unsigned char kH2[] = {2, 'h', '2'};
    if (SSL_select_next_proto(const_cast<unsigned char**>(out), out_length, kH2,
                              sizeof(kH2), in,
                              in_length) == OPENSSL_NPN_NEGOTIATED) {
      return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
  }

  static Connection* Of(void* user_data) {
    return static_cast<Connection*>(user_data);
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                      const uint8_t* name, size_t name_length,
                      const uint8_t* value, size_t value_length, uint8_t,
                      void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Of(user_data)->streams[frame->hd.stream_id].headers.emplace_back(
        std::string(reinterpret_cast<const char*>(name), name_length),
        std::string(reinterpret_cast<const char*>(value), value_length));
    return 0;
  }

  static int OnDataChunk(nghttp2_session*, uint8_t, int32_t stream_id,
                         const uint8_t* data, size_t length, void* user_data) {
    Of(user_data)->streams[stream_id].request_body.append(
        reinterpret_cast<const char*>(data), length);
    return 0;
  }

  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame,
                         void* user_data) {
    Connection* connection = Of(user_data);
    TinyH2Server* server = connection->server;
    switch (frame->hd.type) {
      case NGHTTP2_RST_STREAM: {
        absl::MutexLock lock(&server->mu_);
        server->resets_received_.emplace_back(frame->hd.stream_id,
                                              frame->rst_stream.error_code);
        break;
      }
      case NGHTTP2_SETTINGS: {
        absl::MutexLock lock(&server->mu_);
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) {
          ++server->settings_acks_received_;
        } else {
          server->client_settings_.clear();
          for (size_t i = 0; i < frame->settings.niv; ++i) {
            server->client_settings_[frame->settings.iv[i].settings_id] =
                frame->settings.iv[i].value;
          }
        }
        break;
      }
      case NGHTTP2_HEADERS:
      case NGHTTP2_DATA:
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
          server->Respond(connection, frame->hd.stream_id);
        }
        break;
      default:
        break;
    }
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t,
                           void* user_data) {
    Of(user_data)->streams.erase(stream_id);
    return 0;
  }

  static ssize_t ReadBody(nghttp2_session*, int32_t stream_id, uint8_t* buffer,
                          size_t length, uint32_t* data_flags,
                          nghttp2_data_source*, void* user_data) {
    Stream& stream = Of(user_data)->streams[stream_id];
    if (stream.hang) return NGHTTP2_ERR_DEFERRED;
    const size_t n = std::min(length, stream.body.size() - stream.offset);
    std::memcpy(buffer, stream.body.data() + stream.offset, n);
    stream.offset += n;
    if (stream.offset == stream.body.size()) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return static_cast<ssize_t>(n);
  }

  static nghttp2_nv Nv(absl::string_view name, absl::string_view value) {
    return {
        const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
        const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())),
        name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
  }

  void Respond(Connection* connection, int32_t stream_id) {
    Stream& stream = connection->streams[stream_id];
    std::string path;
    for (const auto& [name, value] : stream.headers) {
      if (name == ":path") path = value;
    }
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back({stream_id, stream.headers, stream.request_body});
    }
    nghttp2_session* session = connection->session;
    absl::string_view route = path;
    absl::string_view query;
    if (size_t at = route.find('?'); at != absl::string_view::npos) {
      query = route.substr(at + 1);
      route = route.substr(0, at);
    }
    const size_t equals = query.find('=');
    int64_t number = 0;
    if (equals != absl::string_view::npos) {
      (void)absl::SimpleAtoi(query.substr(equals + 1), &number);
    }
    std::string content_type = "text/plain";
    std::string status = "200";
    if (route == "/refuse") {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id,
                                NGHTTP2_REFUSED_STREAM);
      return;
    } else if (route == "/calm") {
      nghttp2_session_terminate_session2(session, stream_id,
                                         NGHTTP2_ENHANCE_YOUR_CALM);
      return;
    } else if (route == "/close") {
      connection->close_now = true;
      return;
    } else if (route == "/sse") {
      content_type = "text/event-stream";
      for (int64_t i = 0; i < number; ++i) {
        absl::StrAppend(&stream.body, "id: ", i, "\ndata: tick ", i, "\n\n");
      }
    } else if (route == "/big") {
      stream.body.assign(static_cast<size_t>(number), 'x');
    } else if (route == "/echo") {
      for (const auto& [name, value] : stream.headers) {
        absl::StrAppend(&stream.body, name, "=", value, "\n");
      }
      absl::StrAppend(&stream.body, "body=", stream.request_body);
    } else if (route == "/hang") {
      stream.hang = true;
    } else {
      status = "404";
    }
    const nghttp2_nv headers[] = {Nv(":status", status),
                                  Nv("content-type", content_type)};
    nghttp2_data_provider provider;
    provider.source.ptr = nullptr;
    provider.read_callback = &ReadBody;
    nghttp2_submit_response(session, stream_id, headers, 2, &provider);
  }

  void Accept() {
    while (true) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      {
        absl::MutexLock lock(&mu_);
        ++connections_accepted_;
      }
      auto connection = std::make_unique<Connection>();
      connection->server = this;
      connection->fd = fd;
      if (ctx_ != nullptr) {
        // A blocking handshake, bounded: these tests connect one at a time.
        timeval timeout{10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
        connection->ssl = SSL_new(ctx_);
        SSL_set_fd(connection->ssl, fd);
        SSL_set_mode(connection->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        if (SSL_accept(connection->ssl) != 1) {
          ERR_clear_error();
          CloseConnection(connection.get());
          continue;
        }
      }
      MakeNonBlocking(fd);
      nghttp2_session_callbacks* callbacks;
      nghttp2_session_callbacks_new(&callbacks);
      nghttp2_session_callbacks_set_on_header_callback(callbacks, &OnHeader);
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
                                                                &OnDataChunk);
      nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks,
                                                           &OnFrameRecv);
      nghttp2_session_callbacks_set_on_stream_close_callback(callbacks,
                                                             &OnStreamClose);
      nghttp2_session_server_new(&connection->session, callbacks,
                                 connection.get());
      nghttp2_session_callbacks_del(callbacks);
      const nghttp2_settings_entry settings[] = {
          {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
           options_.max_concurrent_streams}};
      nghttp2_submit_settings(connection->session, NGHTTP2_FLAG_NONE, settings,
                              1);
      connections_.push_back(std::move(connection));
    }
  }

  // After the blocking TLS handshake: no timeouts, non-blocking.
  static void MakeNonBlocking(int fd) {
    timeval none{0, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }

  void Read(Connection* connection) {
    char buffer[65536];
    std::string input;
    while (true) {
      ssize_t n;
      if (connection->ssl != nullptr) {
        ERR_clear_error();
        n = SSL_read(connection->ssl, buffer, sizeof(buffer));
        if (n <= 0) {
          int error = SSL_get_error(connection->ssl, static_cast<int>(n));
          if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
            connection->done = true;
          }
          break;
        }
      } else {
        n = ::recv(connection->fd, buffer, sizeof(buffer), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          connection->done = true;
        }
        if (n <= 0) break;
      }
      input.append(buffer, static_cast<size_t>(n));
    }
    if (!input.empty() &&
        nghttp2_session_mem_recv(connection->session,
                                 reinterpret_cast<const uint8_t*>(input.data()),
                                 input.size()) < 0) {
      connection->done = true;
    }
  }

  void Write(Connection* connection) {
    while (connection->out.size() < (1 << 20)) {
      const uint8_t* data;
      ssize_t n = nghttp2_session_mem_send(connection->session, &data);
      if (n < 0) connection->done = true;
      if (n <= 0) break;
      connection->out.append(reinterpret_cast<const char*>(data),
                             static_cast<size_t>(n));
    }
    while (!connection->out.empty()) {
      ssize_t n;
      if (connection->ssl != nullptr) {
        ERR_clear_error();
        n = SSL_write(connection->ssl, connection->out.data(),
                      static_cast<int>(connection->out.size()));
        if (n <= 0) {
          int error = SSL_get_error(connection->ssl, static_cast<int>(n));
          if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
            connection->done = true;
          }
          break;
        }
      } else {
        n = ::send(connection->fd, connection->out.data(),
                   connection->out.size(), MSG_NOSIGNAL);
        if (n < 0) {
          if (errno != EAGAIN && errno != EINTR) connection->done = true;
          break;
        }
      }
      connection->out.erase(0, static_cast<size_t>(n));
    }
    if (connection->out.empty() &&
        !nghttp2_session_want_read(connection->session) &&
        !nghttp2_session_want_write(connection->session)) {
      connection->done = true;
    }
  }

  void CloseConnection(Connection* connection) {
    if (connection->session != nullptr) {
      nghttp2_session_del(connection->session);
    }
    if (connection->ssl != nullptr) SSL_free(connection->ssl);
    if (connection->fd >= 0) ::close(connection->fd);
    connection->session = nullptr;
    connection->ssl = nullptr;
    connection->fd = -1;
  }

  void Run() {
    while (true) {
      std::vector<pollfd> fds = {{wake_[0], POLLIN, 0},
                                 {listen_fd_, POLLIN, 0}};
      for (const auto& connection : connections_) {
        short events = POLLIN;
        if (!connection->out.empty()) events |= POLLOUT;
        fds.push_back({connection->fd, events, 0});
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents != 0) return;
      const size_t existing = connections_.size();
      for (size_t i = 0; i < existing; ++i) {
        Connection* connection = connections_[i].get();
        if (fds[i + 2].revents & (POLLIN | POLLHUP | POLLERR)) {
          Read(connection);
        }
        if (!connection->close_now) Write(connection);
      }
      if (fds[1].revents & POLLIN) {
        Accept();
        for (size_t i = existing; i < connections_.size(); ++i) {
          Write(connections_[i].get());
        }
      }
      for (auto it = connections_.begin(); it != connections_.end();) {
        if ((*it)->done || (*it)->close_now) {
          CloseConnection(it->get());
          it = connections_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  const Options options_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  SSL_CTX* ctx_ = nullptr;
  std::thread thread_;
  std::vector<std::unique_ptr<Connection>> connections_;  // Server thread.

  mutable absl::Mutex mu_;
  std::vector<std::pair<int32_t, uint32_t>> resets_received_
      ABSL_GUARDED_BY(mu_);
  std::map<int32_t, uint32_t> client_settings_ ABSL_GUARDED_BY(mu_);
  int settings_acks_received_ ABSL_GUARDED_BY(mu_) = 0;
  int connections_accepted_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<ServedRequest> requests_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<TinyH2Server> StartServer(TinyH2Server::Options options = {}) {
  return std::make_unique<TinyH2Server>(std::move(options));
}

std::unique_ptr<H2TestClient> ConnectClient(int port,
                                            H2ClientOptions options = {}) {
  absl::StatusOr<std::unique_ptr<H2TestClient>> client =
      H2TestClient::Connect(port, std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

std::unique_ptr<H2RawConnection> ConnectRaw(int port,
                                            H2RawOptions options = {}) {
  absl::StatusOr<std::unique_ptr<H2RawConnection>> raw =
      H2RawConnection::Connect(port, std::move(options));
  EXPECT_TRUE(raw.ok()) << raw.status();
  return raw.ok() ? *std::move(raw) : nullptr;
}

TEST(H2TestClientTest, ManyConcurrentStreamsOnOneConnection) {
  auto server = StartServer();
  auto client = ConnectClient(server->port());
  ASSERT_NE(client, nullptr);
  std::vector<int32_t> ids;
  for (int i = 0; i < 8; ++i) {
    ids.push_back(client->StartStream("GET", absl::StrCat("/sse?n=", i + 1)));
    ASSERT_GT(ids.back(), 0);
  }
  EXPECT_EQ(client->stream_ids(), ids);
  ASSERT_TRUE(client->PumpUntil([&] {
    return std::all_of(ids.begin(), ids.end(),
                       [&](int32_t id) { return client->stream(id).ended; });
  }));
  for (int i = 0; i < 8; ++i) {
    const H2Stream& stream = client->stream(ids[i]);
    EXPECT_EQ(stream.id, 2 * i + 1);
    EXPECT_EQ(stream.status, 200);
    EXPECT_EQ(stream.header("content-type"), "text/event-stream");
    EXPECT_EQ(stream.header(":status"), "200");
    EXPECT_FALSE(stream.reset);
    ASSERT_EQ(stream.events.size(), static_cast<size_t>(i + 1));
    for (int j = 0; j <= i; ++j) {
      EXPECT_EQ(stream.events[j].type, "message");
      EXPECT_EQ(stream.events[j].data, absl::StrCat("tick ", j));
      EXPECT_EQ(stream.events[j].last_event_id, absl::StrCat(j));
    }
    EXPECT_EQ(client->Events(ids[i]), stream.events);
  }
  EXPECT_TRUE(
      client->PumpUntil([&] { return client->stream(ids.back()).closed; }));
  EXPECT_EQ(server->connections_accepted(), 1);
  EXPECT_FALSE(client->closed());
  EXPECT_FALSE(client->goaway().has_value());
  EXPECT_TRUE(client->session_error().ok());
  EXPECT_EQ(client->stream(999).id, 0);  // never started
}

TEST(H2TestClientTest, ExtraHeadersAreSentInOrderWithEmptyValues) {
  auto server = StartServer();
  auto client = ConnectClient(server->port());
  ASSERT_NE(client, nullptr);
  const int32_t id = client->StartStream(
      "GET", "/echo", {{"last-event-id", ""}, {"x-a", "1"}, {"x-a", "2"}});
  ASSERT_TRUE(client->PumpUntil([&] { return client->stream(id).ended; }));
  EXPECT_EQ(client->stream(id).body,
            absl::StrCat(":method=GET\n:scheme=http\n:authority=127.0.0.1:",
                         server->port(),
                         "\n:path=/echo\nlast-event-id=\nx-a=1\nx-a=2\n"
                         "body="));
}

TEST(H2TestClientTest, RequestBodyIsSentWithSendData) {
  auto server = StartServer();
  auto client = ConnectClient(server->port());
  ASSERT_NE(client, nullptr);
  const int32_t id = client->StartStream("POST", "/echo", {}, false);
  ASSERT_GT(id, 0);
  ASSERT_TRUE(client->PingRoundTrip());
  EXPECT_TRUE(client->SendData(id, "hello ", false).ok());
  ASSERT_TRUE(client->PingRoundTrip());
  EXPECT_TRUE(client->SendData(id, "world", true).ok());
  ASSERT_TRUE(client->PumpUntil([&] { return client->stream(id).ended; }));
  EXPECT_THAT(client->stream(id).body, HasSubstr("body=hello world"));
  EXPECT_FALSE(client->SendData(id, "late", true).ok());
  EXPECT_FALSE(
      client->SendData(client->StartStream("GET", "/echo"), "x", true).ok());
}

TEST(H2TestClientTest, ClientSettingsReachThePeer) {
  TinyH2Server::Options server_options;
  server_options.max_concurrent_streams = 7;
  auto server = StartServer(server_options);
  H2ClientOptions options;
  options.settings = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 12345},
                      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 32768},
                      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  auto client = ConnectClient(server->port(), options);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->PingRoundTrip());
  ASSERT_TRUE(client->PumpUntil([&] { return client->settings_acks() >= 1; }));
  EXPECT_THAT(server->client_settings(),
              ::testing::UnorderedElementsAre(
                  Pair(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 12345),
                  Pair(NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 32768),
                  Pair(NGHTTP2_SETTINGS_ENABLE_PUSH, 0)));
  EXPECT_EQ(client->remote_setting(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
            7u);
  ASSERT_FALSE(client->frames().empty());
  EXPECT_EQ(client->frames().front().type, NGHTTP2_SETTINGS);
  EXPECT_EQ(client->ping_acks(), 1);

  // Mid-connection SETTINGS, and a raw PING nghttp2 does not know about.
  ASSERT_TRUE(
      client->SendSettings({{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 999}}).ok());
  client->SendRaw(H2PingFrame(42));
  ASSERT_TRUE(client->PumpUntil([&] { return client->ping_acks() == 2; }));
  ASSERT_TRUE(client->PumpUntil([&] {
    return server->client_settings() ==
           std::map<int32_t, uint32_t>{
               {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 999}};
  }));
  EXPECT_EQ(client->frames().back().ping_opaque_data, 42u);
}

TEST(H2TestClientTest, ZeroInitialWindowStallsEveryStreamUntilGranted) {
  auto server = StartServer();
  H2ClientOptions options;
  options.settings = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0}};
  options.auto_window_update = false;
  options.hold_streams = true;
  auto client = ConnectClient(server->port(), options);
  ASSERT_NE(client, nullptr);
  const int32_t a = client->StartStream("GET", "/big?bytes=1000");
  const int32_t b = client->StartStream("GET", "/big?bytes=1000");
  ASSERT_TRUE(client->PumpUntil([&] {
    return client->stream(a).status == 200 && client->stream(b).status == 200;
  }));
  ASSERT_TRUE(client->PingRoundTrip());
  EXPECT_EQ(client->stream(a).body, "");
  EXPECT_EQ(client->stream(b).body, "");

  // Exactly the bytes granted arrive, on that stream only.
  ASSERT_TRUE(client->SendWindowUpdate(a, 100).ok());
  ASSERT_TRUE(
      client->PumpUntil([&] { return client->stream(a).body.size() >= 100; }));
  ASSERT_TRUE(client->PingRoundTrip());
  EXPECT_EQ(client->stream(a).body.size(), 100u);
  EXPECT_EQ(client->stream(a).unconsumed_bytes, 100u);
  EXPECT_FALSE(client->stream(a).ended);
  EXPECT_EQ(client->stream(b).body, "");

  // Releasing `a` consumes its bytes: nghttp2 reopens its (100-byte) window
  // each time, so it completes; `b` completes on one large grant.
  ASSERT_TRUE(client->HoldStream(a, false).ok());
  ASSERT_TRUE(client->SendWindowUpdate(b, 1000).ok());
  ASSERT_TRUE(client->PumpUntil(
      [&] { return client->stream(a).ended && client->stream(b).ended; }));
  EXPECT_EQ(client->stream(a).body, std::string(1000, 'x'));
  EXPECT_EQ(client->stream(b).body, std::string(1000, 'x'));
  EXPECT_EQ(client->stream(a).unconsumed_bytes, 0u);
}

TEST(H2TestClientTest, AutoWindowUpdateKeepsAGrantedWindowOpen) {
  auto server = StartServer();
  H2ClientOptions options;
  options.settings = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0}};
  auto client = ConnectClient(server->port(), options);
  ASSERT_NE(client, nullptr);
  const int32_t id = client->StartStream("GET", "/big?bytes=50000");
  ASSERT_TRUE(client->PumpUntil([&] { return client->stream(id).status; }));
  ASSERT_TRUE(client->PingRoundTrip());
  EXPECT_EQ(client->stream(id).body, "");
  ASSERT_TRUE(client->SendWindowUpdate(id, 1000).ok());
  ASSERT_TRUE(client->PumpUntil([&] { return client->stream(id).ended; }));
  EXPECT_EQ(client->stream(id).body.size(), 50000u);
  // Manual flow-control calls need auto_window_update false.
  EXPECT_EQ(client->HoldStream(id).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->Consume(id, 1).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(H2TestClientTest, HeldStreamStallsWhileOthersFlow) {
  auto server = StartServer();
  H2ClientOptions options;
  options.auto_window_update = false;
  auto client = ConnectClient(server->port(), options);
  ASSERT_NE(client, nullptr);
  const int32_t held = client->StartStream("GET", "/big?bytes=200000");
  const int32_t flowing = client->StartStream("GET", "/big?bytes=200000");
  ASSERT_TRUE(client->HoldStream(held).ok());
  ASSERT_TRUE(client->PumpUntil([&] {
    return client->stream(flowing).ended &&
           client->stream(held).body.size() == 65535;
  }));
  EXPECT_EQ(client->stream(flowing).body.size(), 200000u);
  ASSERT_TRUE(client->PingRoundTrip());
  EXPECT_EQ(client->stream(held).body.size(), 65535u);
  EXPECT_EQ(client->stream(held).unconsumed_bytes, 65535u);
  EXPECT_FALSE(client->stream(held).ended);

  // Consuming what it held reopens its window once; releasing it lets it end.
  ASSERT_TRUE(client->Consume(held, 65535).ok());
  ASSERT_TRUE(client->PumpUntil(
      [&] { return client->stream(held).body.size() == 2 * 65535; }));
  ASSERT_TRUE(client->HoldStream(held, false).ok());
  ASSERT_TRUE(client->PumpUntil([&] { return client->stream(held).ended; }));
  EXPECT_EQ(client->stream(held).body.size(), 200000u);
}

TEST(H2TestClientTest, HeldConnectionWindowStallsEveryStream) {
  auto server = StartServer();
  H2ClientOptions options;
  options.auto_window_update = false;
  options.hold_connection_window = true;
  options.settings = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
  auto client = ConnectClient(server->port(), options);
  ASSERT_NE(client, nullptr);
  const int32_t a = client->StartStream("GET", "/big?bytes=100000");
  const int32_t b = client->StartStream("GET", "/big?bytes=100000");
  auto received = [&] {
    return client->stream(a).body.size() + client->stream(b).body.size();
  };
  ASSERT_TRUE(client->PumpUntil([&] { return received() == 65535; }));
  ASSERT_TRUE(client->PingRoundTrip());
  EXPECT_EQ(received(), 65535u);
  EXPECT_EQ(client->unconsumed_connection_bytes(), 65535u);
  ASSERT_TRUE(client->PumpUntil([&] {
    EXPECT_TRUE(client->Consume(0, client->unconsumed_connection_bytes()).ok());
    return client->stream(a).ended && client->stream(b).ended;
  }));
  EXPECT_EQ(received(), 200000u);
}

TEST(H2TestClientTest, LargerConnectionWindowIsAdvertised) {
  auto server = StartServer();
  H2ClientOptions options;
  options.auto_window_update = false;
  options.hold_connection_window = true;
  options.connection_window_size = 1 << 20;
  options.settings = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
  auto client = ConnectClient(server->port(), options);
  ASSERT_NE(client, nullptr);
  const int32_t id = client->StartStream("GET", "/big?bytes=500000");
  ASSERT_TRUE(client->PumpUntil([&] { return client->stream(id).ended; }));
  EXPECT_EQ(client->unconsumed_connection_bytes(), 500000u);
}

TEST(H2TestClientTest, ResetStreamReachesThePeer) {
  auto server = StartServer();
  auto client = ConnectClient(server->port());
  ASSERT_NE(client, nullptr);
  const int32_t hanging = client->StartStream("GET", "/hang");
  const int32_t other = client->StartStream("GET", "/hang");
  ASSERT_TRUE(
      client->PumpUntil([&] { return client->stream(hanging).status == 200; }));
  ASSERT_TRUE(client->ResetStream(hanging, NGHTTP2_CANCEL).ok());
  ASSERT_TRUE(client->PumpUntil([&] {
    return server->resets_received() ==
           std::vector<std::pair<int32_t, uint32_t>>{{hanging, NGHTTP2_CANCEL}};
  }));
  EXPECT_TRUE(client->stream(hanging).closed);
  EXPECT_EQ(client->stream(hanging).close_error_code, NGHTTP2_CANCEL);
  EXPECT_FALSE(client->stream(hanging).reset);  // the peer did not reset it
  EXPECT_FALSE(client->stream(other).closed);
}

TEST(H2TestClientTest, PeerResetGoAwayAndCloseAreReported) {
  auto server = StartServer();
  auto client = ConnectClient(server->port());
  ASSERT_NE(client, nullptr);
  const int32_t refused = client->StartStream("GET", "/refuse");
  ASSERT_TRUE(client->PumpUntil([&] { return client->stream(refused).reset; }));
  EXPECT_EQ(client->stream(refused).reset_error_code, NGHTTP2_REFUSED_STREAM);
  EXPECT_TRUE(client->stream(refused).closed);
  EXPECT_EQ(client->stream(refused).status, 0);

  const int32_t calm = client->StartStream("GET", "/calm");
  ASSERT_TRUE(client->PumpUntil([&] { return client->goaway().has_value(); }));
  EXPECT_EQ(client->goaway()->error_code, NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_EQ(client->goaway()->last_stream_id, calm);
  EXPECT_TRUE(client->WaitForClose());
  EXPECT_FALSE(client->Pump().ok());
  EXPECT_EQ(client->frames().back().type, NGHTTP2_GOAWAY);
}

TEST(H2TestClientTest, PeerClosingTheSocketIsReported) {
  auto server = StartServer();
  auto client = ConnectClient(server->port());
  ASSERT_NE(client, nullptr);
  const int32_t id = client->StartStream("GET", "/close");
  EXPECT_TRUE(client->WaitForClose());
  EXPECT_FALSE(client->stream(id).ended);
  EXPECT_FALSE(client->goaway().has_value());
  EXPECT_FALSE(client->PumpUntil([] { return false; }, absl::Seconds(30)));
}

TEST(H2RawConnectionTest, DecodesFramesAndHeaderBlocks) {
  auto server = StartServer();
  auto raw = ConnectRaw(server->port());
  ASSERT_NE(raw, nullptr);
  raw->SendPreface({{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}});
  ASSERT_TRUE(raw->SendRequest(1, "GET", "/sse?n=2").ok());
  const H2ReceivedFrame* settings = raw->WaitForFrame(NGHTTP2_SETTINGS);
  ASSERT_NE(settings, nullptr) << raw->DebugString();
  EXPECT_FALSE(settings->has_flag(NGHTTP2_FLAG_ACK));
  ASSERT_EQ(settings->settings.size(), 1u);
  EXPECT_EQ(settings->settings[0].settings_id,
            NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  EXPECT_EQ(settings->settings[0].value, 100u);

  std::string body;
  ASSERT_TRUE(raw->PumpUntil([&] {
    for (const H2ReceivedFrame& frame : raw->frames()) {
      if (frame.type == NGHTTP2_DATA &&
          frame.has_flag(NGHTTP2_FLAG_END_STREAM)) {
        return true;
      }
    }
    return false;
  })) << raw->DebugString();
  for (const H2ReceivedFrame& frame : raw->frames()) {
    if (frame.type == NGHTTP2_DATA) body += frame.payload;
  }
  EXPECT_EQ(body, "id: 0\ndata: tick 0\n\nid: 1\ndata: tick 1\n\n");
  const H2ReceivedFrame* headers = raw->FindFrame(NGHTTP2_HEADERS, 1);
  ASSERT_NE(headers, nullptr);
  EXPECT_TRUE(headers->has_flag(NGHTTP2_FLAG_END_HEADERS));
  EXPECT_THAT(headers->headers, ::testing::ElementsAre(
                                    Pair(":status", "200"),
                                    Pair("content-type", "text/event-stream")));
  EXPECT_TRUE(raw->decode_error().ok());

  // The server's SETTINGS was acknowledged for us, and ours by the server.
  ASSERT_TRUE(raw->PumpUntil([&] {
    for (const H2ReceivedFrame& frame : raw->frames()) {
      if (frame.type == NGHTTP2_SETTINGS && frame.has_flag(NGHTTP2_FLAG_ACK)) {
        return server->settings_acks_received() == 1;
      }
    }
    return false;
  }));
  EXPECT_TRUE(raw->PingRoundTrip());

  // A block split over HEADERS + CONTINUATION, with the dynamic table in use
  // (the encoder and the server's decoder stay in step).
  ASSERT_TRUE(raw->SendRequest(3, "GET", "/echo",
                               {{"x-big", std::string(20000, 'a')}},
                               /*end_stream=*/true, /*max_fragment=*/6000)
                  .ok());
  auto echo_ended = [&] {
    const H2ReceivedFrame* last = nullptr;
    for (const H2ReceivedFrame& frame : raw->frames()) {
      if (frame.type == NGHTTP2_DATA && frame.stream_id == 3) last = &frame;
    }
    return last != nullptr && last->has_flag(NGHTTP2_FLAG_END_STREAM);
  };
  ASSERT_TRUE(raw->PumpUntil(echo_ended)) << raw->DebugString();
  std::string echoed;
  for (const H2ReceivedFrame& frame : raw->frames()) {
    if (frame.type == NGHTTP2_DATA && frame.stream_id == 3) {
      echoed += frame.payload;
    }
  }
  EXPECT_TRUE(absl::StrContains(
      echoed, absl::StrCat("\nx-big=", std::string(20000, 'a'), "\n")));
  EXPECT_GT(raw->CountFrames(NGHTTP2_DATA, 3), 1);  // beyond one frame
  EXPECT_FALSE(raw->peer_closed());
  EXPECT_EQ(raw->pending_output_bytes(), 0u);
}

TEST(H2RawConnectionTest, SeesStreamAndConnectionErrors) {
  auto server = StartServer();
  auto raw = ConnectRaw(server->port());
  ASSERT_NE(raw, nullptr);
  raw->SendPreface();
  ASSERT_TRUE(raw->SendRequest(1, "GET", "/refuse").ok());
  const H2ReceivedFrame* reset = raw->WaitForFrame(NGHTTP2_RST_STREAM, 1);
  ASSERT_NE(reset, nullptr) << raw->DebugString();
  EXPECT_EQ(reset->error_code, NGHTTP2_REFUSED_STREAM);
  EXPECT_THAT(reset->DebugString(), HasSubstr("REFUSED_STREAM"));

  // A WINDOW_UPDATE of 0 on the connection is a connection error.
  raw->SendRaw(H2WindowUpdateFrame(0, 0));
  const H2ReceivedFrame* goaway = raw->WaitForFrame(NGHTTP2_GOAWAY);
  ASSERT_NE(goaway, nullptr) << raw->DebugString();
  EXPECT_EQ(goaway->error_code, NGHTTP2_PROTOCOL_ERROR);
  EXPECT_EQ(goaway->last_stream_id, 1);
  ASSERT_TRUE(raw->goaway().has_value());
  EXPECT_EQ(raw->goaway()->error_code, NGHTTP2_PROTOCOL_ERROR);
  EXPECT_FALSE(raw->goaway()->debug_data.empty());
  EXPECT_TRUE(raw->WaitForPeerClose()) << raw->DebugString();
}

TEST(H2RawConnectionTest, SeesGoAwayEnhanceYourCalmAndClose) {
  auto server = StartServer();
  auto raw = ConnectRaw(server->port());
  ASSERT_NE(raw, nullptr);
  raw->SendPreface();
  HpackEncoder& encoder = raw->encoder();
  absl::StatusOr<std::string> block = encoder.EncodeRequest("GET", "/calm");
  ASSERT_TRUE(block.ok());
  raw->SendRaw(H2HeadersFrame(5, *block));
  const H2ReceivedFrame* goaway = raw->WaitForFrame(NGHTTP2_GOAWAY);
  ASSERT_NE(goaway, nullptr) << raw->DebugString();
  EXPECT_EQ(goaway->error_code, NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_EQ(goaway->last_stream_id, 5);
  EXPECT_TRUE(raw->WaitForPeerClose());
  EXPECT_EQ(raw->CountFrames(NGHTTP2_GOAWAY), 1);
}

TEST(H2RawConnectionTest, SeesThePeerClosingWithoutGoAway) {
  auto server = StartServer();
  auto raw = ConnectRaw(server->port());
  ASSERT_NE(raw, nullptr);
  raw->SendPreface();
  ASSERT_TRUE(raw->SendRequest(1, "GET", "/close").ok());
  EXPECT_TRUE(raw->WaitForPeerClose());
  EXPECT_FALSE(raw->goaway().has_value());
}

TEST(H2FrameBuildersTest, BuildFramesAsGiven) {
  EXPECT_EQ(H2FrameHeaderBytes(0x123456, 0xab, 0xcd, 0x80000001u),
            std::string("\x12\x34\x56\xab\xcd\x80\x00\x00\x01", 9));
  EXPECT_EQ(H2WindowUpdateFrame(3, 0),
            std::string("\x00\x00\x04\x08\x00\x00\x00\x00\x03"
                        "\x00\x00\x00\x00",
                        13));
  EXPECT_EQ(H2RstStreamFrame(1, NGHTTP2_CANCEL),
            std::string("\x00\x00\x04\x03\x00\x00\x00\x00\x01"
                        "\x00\x00\x00\x08",
                        13));
  EXPECT_EQ(H2PingFrame(0x0102030405060708ULL, /*ack=*/true),
            std::string("\x00\x00\x08\x06\x01\x00\x00\x00\x00"
                        "\x01\x02\x03\x04\x05\x06\x07\x08",
                        17));
  EXPECT_EQ(H2SettingsFrame({{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0}}),
            std::string("\x00\x00\x06\x04\x00\x00\x00\x00\x00"
                        "\x00\x04\x00\x00\x00\x00",
                        15));
  EXPECT_EQ(H2SettingsAckFrame(),
            std::string("\x00\x00\x00\x04\x01\x00\x00\x00\x00", 9));
  EXPECT_EQ(H2GoAwayFrame(7, NGHTTP2_ENHANCE_YOUR_CALM, "x"),
            std::string("\x00\x00\x09\x07\x00\x00\x00\x00\x00"
                        "\x00\x00\x00\x07\x00\x00\x00\x0b"
                        "x",
                        18));
  EXPECT_EQ(H2ClientPrefaceBytes(),
            absl::StrCat(kH2ClientPreface, H2SettingsFrame({})));
  EXPECT_EQ(H2ErrorCodeName(NGHTTP2_ENHANCE_YOUR_CALM), "ENHANCE_YOUR_CALM");
  EXPECT_EQ(H2FrameTypeName(NGHTTP2_CONTINUATION), "CONTINUATION");
}

TEST(H2FrameBuildersTest, OversizedHeaderBlockSplitsIntoContinuations) {
  HpackEncoder encoder(/*dynamic_table_size=*/0);
  absl::StatusOr<std::string> block =
      encoder.Encode({{"x-huge", std::string(60000, 'z')}});
  ASSERT_TRUE(block.ok()) << block.status();
  ASSERT_GT(block->size(), 3 * 16384u);
  const std::string frames = H2HeaderBlockFrames(1, *block, 16384, true);
  // Walk the frames: HEADERS(END_STREAM), then CONTINUATIONs, END_HEADERS on
  // the last one only; the fragments concatenate back to the block.
  std::string rebuilt;
  size_t at = 0;
  int count = 0;
  while (at < frames.size()) {
    const auto* p = reinterpret_cast<const uint8_t*>(frames.data() + at);
    const size_t length = (size_t{p[0]} << 16) | (size_t{p[1]} << 8) | p[2];
    const bool last = at + 9 + length == frames.size();
    EXPECT_EQ(p[3], count == 0 ? NGHTTP2_HEADERS : NGHTTP2_CONTINUATION);
    EXPECT_EQ((p[4] & NGHTTP2_FLAG_END_HEADERS) != 0, last);
    EXPECT_EQ((p[4] & NGHTTP2_FLAG_END_STREAM) != 0, count == 0);
    EXPECT_LE(length, 16384u);
    rebuilt += frames.substr(at + 9, length);
    at += 9 + length;
    ++count;
  }
  EXPECT_EQ(rebuilt, *block);
  EXPECT_EQ(count, static_cast<int>((block->size() + 16383) / 16384));

  // nghttp2's decoder reads the block back (it takes fields up to 64 KiB).
  nghttp2_hd_inflater* inflater;
  ASSERT_EQ(nghttp2_hd_inflate_new(&inflater), 0);
  nghttp2_nv nv;
  int flags = 0;
  const ssize_t n = nghttp2_hd_inflate_hd2(
      inflater, &nv, &flags, reinterpret_cast<const uint8_t*>(block->data()),
      block->size(), 1);
  ASSERT_GT(n, 0);
  ASSERT_TRUE(flags & NGHTTP2_HD_INFLATE_EMIT);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
            "x-huge");
  EXPECT_EQ(nv.valuelen, 60000u);
  nghttp2_hd_inflate_del(inflater);
}

class H2TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = TestCertificates::Shared();
    ASSERT_NE(certs_, nullptr);
    TinyH2Server::Options options;
    options.tls = true;
    options.cert_file = certs_->server_cert;
    options.key_file = certs_->server_key;
    server_ = StartServer(options);
  }

  H2TransportOptions Verified() const {
    H2TransportOptions transport;
    transport.tls = true;
    transport.ca_file = certs_->ca_cert;
    return transport;
  }

  const TestCertificates* certs_ = nullptr;
  std::unique_ptr<TinyH2Server> server_;
};

TEST_F(H2TlsTest, StreamsOverTlsWithAlpnH2) {
  H2ClientOptions options;
  options.transport = Verified();
  auto client = ConnectClient(server_->port(), options);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->alpn(), "h2");
  const int32_t a = client->StartStream("GET", "/sse?n=3");
  const int32_t b = client->StartStream("GET", "/big?bytes=300000");
  ASSERT_TRUE(client->PumpUntil(
      [&] { return client->stream(a).ended && client->stream(b).ended; }));
  EXPECT_EQ(client->stream(a).events.size(), 3u);
  EXPECT_EQ(client->stream(b).body.size(), 300000u);
  ASSERT_FALSE(server_->requests().empty());
  EXPECT_THAT(server_->requests()[0].headers,
              ::testing::Contains(Pair(":scheme", "https")));

  const int32_t closing = client->StartStream("GET", "/close");
  EXPECT_GT(closing, 0);
  EXPECT_TRUE(client->WaitForClose());
}

TEST_F(H2TlsTest, RawConnectionOverTls) {
  H2RawOptions options;
  options.transport = Verified();
  options.transport.server_name = "127.0.0.1";  // verified as an IP address
  auto raw = ConnectRaw(server_->port(), options);
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(raw->alpn(), "h2");
  raw->SendPreface();
  ASSERT_TRUE(raw->SendRequest(1, "GET", "/calm").ok());
  const H2ReceivedFrame* goaway = raw->WaitForFrame(NGHTTP2_GOAWAY);
  ASSERT_NE(goaway, nullptr) << raw->DebugString();
  EXPECT_EQ(goaway->error_code, NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_TRUE(raw->WaitForPeerClose());
}

TEST_F(H2TlsTest, ConnectFailsWithoutH2OrWithTheWrongName) {
  H2ClientOptions http1_only;
  http1_only.transport = Verified();
  http1_only.transport.alpn = {"http/1.1"};
  absl::StatusOr<std::unique_ptr<H2TestClient>> client =
      H2TestClient::Connect(server_->port(), http1_only);
  EXPECT_EQ(client.status().code(), absl::StatusCode::kFailedPrecondition)
      << client.status();

  H2ClientOptions wrong_name;
  wrong_name.transport = Verified();
  wrong_name.transport.server_name = "wrong.example";
  client = H2TestClient::Connect(server_->port(), wrong_name);
  EXPECT_FALSE(client.ok());
  EXPECT_THAT(client.status().message(), HasSubstr("TLS handshake failed"));

  // Without a CA file nothing is verified.
  H2ClientOptions unverified;
  unverified.transport.tls = true;
  unverified.transport.server_name = "wrong.example";
  client = H2TestClient::Connect(server_->port(), unverified);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->PingRoundTrip());
}

TEST(H2TestClientConnectTest, FailsWhenNothingListens) {
  int port;
  {
    auto server = StartServer();
    port = server->port();
  }
  H2ClientOptions options;
  options.transport.connect_timeout = absl::Seconds(5);
  EXPECT_FALSE(H2TestClient::Connect(port, options).ok());
}

}  // namespace
}  // namespace sse_gateway
