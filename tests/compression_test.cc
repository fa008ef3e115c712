// End-to-end tests of compressed event streams: the real Gateway in front
// of a real gRPC TestBackend, read by curl --compressed and by a socket
// client that de-chunks and decodes (zlib, Brotli) incrementally, so that it
// sees each event as soon as its bytes arrive. The decoded stream is byte
// for byte the uncompressed one; an event is decodable while the backend
// holds the stream open with nothing more to send (nothing waits for the
// next event); heartbeats and `end` arrive too; Vary and Content-Encoding
// say what was done; HTTP/2 and fan-out streams compress the same way.

#include <arpa/inet.h>
#include <brotli/decode.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/h2_test_client.h"
#include "tests/test_backend.h"
#include "tests/test_gateway.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(60);

// Decodes a gzip or Brotli stream incrementally.
class Decoder {
 public:
  explicit Decoder(const std::string& encoding) : encoding_(encoding) {
    if (encoding_ == "gzip") {
      zlib_ = std::make_unique<z_stream>();
      *zlib_ = {};
      ok_ = inflateInit2(zlib_.get(), 16 + MAX_WBITS) == Z_OK;
    } else if (encoding_ == "br") {
      brotli_ = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
      ok_ = brotli_ != nullptr;
    }
  }
  ~Decoder() {
    if (zlib_ != nullptr) inflateEnd(zlib_.get());
    if (brotli_ != nullptr) BrotliDecoderDestroyInstance(brotli_);
  }
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Appends what `bytes` decode to; false on corrupt input.
  bool Feed(absl::string_view bytes, std::string* out) {
    if (!ok_) return false;
    if (encoding_.empty() || encoding_ == "identity") {
      out->append(bytes.data(), bytes.size());
      return true;
    }
    char buffer[16384];
    if (zlib_ != nullptr) {
      zlib_->next_in =
          reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
      zlib_->avail_in = static_cast<uInt>(bytes.size());
      do {
        zlib_->next_out = reinterpret_cast<Bytef*>(buffer);
        zlib_->avail_out = sizeof(buffer);
        const int result = inflate(zlib_.get(), Z_SYNC_FLUSH);
        if (result == Z_STREAM_END) finished_ = true;
        if (result != Z_OK && result != Z_STREAM_END && result != Z_BUF_ERROR) {
          return ok_ = false;
        }
        out->append(buffer, sizeof(buffer) - zlib_->avail_out);
      } while (zlib_->avail_out == 0);
      return true;
    }
    size_t available_in = bytes.size();
    const uint8_t* next_in = reinterpret_cast<const uint8_t*>(bytes.data());
    for (;;) {
      size_t available_out = sizeof(buffer);
      uint8_t* next_out = reinterpret_cast<uint8_t*>(buffer);
      const BrotliDecoderResult result = BrotliDecoderDecompressStream(
          brotli_, &available_in, &next_in, &available_out, &next_out, nullptr);
      out->append(buffer, sizeof(buffer) - available_out);
      if (result == BROTLI_DECODER_RESULT_ERROR) return ok_ = false;
      if (result == BROTLI_DECODER_RESULT_SUCCESS) finished_ = true;
      if (result != BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) return true;
    }
  }
  // The compressed stream was properly ended (gzip trailer, Brotli last
  // block).
  bool finished() const { return finished_; }

 private:
  const std::string encoding_;
  bool ok_ = true;
  bool finished_ = false;
  std::unique_ptr<z_stream> zlib_;
  BrotliDecoderState* brotli_ = nullptr;
};

// An HTTP/1.1 GET on a socket whose chunked body is de-chunked and decoded
// as it arrives.
class DecodingClient {
 public:
  DecodingClient(int port, const std::string& target,
                 const std::string& accept_encoding) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address),
                           sizeof(address)) == 0;
    std::string request = absl::StrCat("GET ", target,
                                       " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       "Accept: text/event-stream\r\n");
    if (!accept_encoding.empty()) {
      absl::StrAppend(&request, "Accept-Encoding: ", accept_encoding, "\r\n");
    }
    request += "\r\n";
    if (connected_) {
      connected_ = ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) ==
                   static_cast<ssize_t>(request.size());
    }
  }
  ~DecodingClient() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Reads until `condition` holds on the decoded body (true), or the
  // connection ends or `patience` passes (false).
  bool ReadUntil(const std::function<bool()>& condition,
                 absl::Duration patience = kPatience) {
    const absl::Time give_up = absl::Now() + patience;
    while (!condition()) {
      if (!connected_ || closed_ || absl::Now() > give_up) return false;
      pollfd poll_fd{fd_, POLLIN, 0};
      if (::poll(&poll_fd, 1, 50) <= 0) continue;
      char buffer[16384];
      const ssize_t got = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (got <= 0) {
        closed_ = true;
        continue;
      }
      raw_.append(buffer, static_cast<size_t>(got));
      Process();
    }
    return true;
  }
  bool ReadToEnd() {
    return ReadUntil([&] { return body_done_ || closed_; }) && body_done_;
  }

  int status() const { return status_; }
  std::string header(const std::string& lower_name) const {
    auto found = headers_.find(lower_name);
    return found == headers_.end() ? "" : found->second;
  }
  bool has_header(const std::string& lower_name) const {
    return headers_.count(lower_name) != 0;
  }
  const std::string& decoded() const { return decoded_; }
  size_t wire_bytes() const { return wire_bytes_; }
  bool decode_failed() const { return decode_failed_; }
  bool compressed_stream_finished() const {
    return decoder_ != nullptr && decoder_->finished();
  }

 private:
  void Process() {
    if (status_ == 0) {
      const size_t end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) return;
      std::vector<std::string> lines =
          absl::StrSplit(raw_.substr(0, end), "\r\n");
      std::vector<std::string> status_line = absl::StrSplit(lines[0], ' ');
      if (status_line.size() < 2 ||
          !absl::SimpleAtoi(status_line[1], &status_)) {
        status_ = -1;
      }
      for (size_t i = 1; i < lines.size(); ++i) {
        const size_t colon = lines[i].find(':');
        if (colon == std::string::npos) continue;
        headers_[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
            std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      }
      raw_.erase(0, end + 4);
      decoder_ = std::make_unique<Decoder>(header("content-encoding"));
    }
    // Chunks: "<hex>\r\n<bytes>\r\n", ended by "0\r\n\r\n".
    while (!body_done_) {
      const size_t line_end = raw_.find("\r\n");
      if (line_end == std::string::npos) return;
      size_t size = 0;
      if (!absl::SimpleHexAtoi(raw_.substr(0, line_end), &size)) {
        decode_failed_ = true;
        return;
      }
      if (raw_.size() < line_end + 2 + size + 2) return;
      if (size == 0) {
        body_done_ = true;
        return;
      }
      wire_bytes_ += size;
      if (!decoder_->Feed(absl::string_view(raw_).substr(line_end + 2, size),
                          &decoded_)) {
        decode_failed_ = true;
      }
      raw_.erase(0, line_end + 2 + size + 2);
    }
  }

  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  bool body_done_ = false;
  bool decode_failed_ = false;
  int status_ = 0;
  std::map<std::string, std::string> headers_;
  std::string raw_;
  std::string decoded_;
  size_t wire_bytes_ = 0;
  std::unique_ptr<Decoder> decoder_;
};

// Runs `command` and returns its standard output.
std::string RunCommand(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  size_t read;
  while ((read = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output.append(buffer, read);
  }
  ::pclose(pipe);
  return output;
}

class CompressionTest : public GatewayTest {
 protected:
  // Routes: /stream (compression from the global default, which is on),
  // /plain (compression: {enabled: false}), /shared (fan-out).
  void StartCompressing(
      const std::function<void(GatewayConfig&)>& edit = nullptr) {
    StartGateway([&](GatewayConfig& config) {
      config.compression = CompressionConfig();
      config.routes.push_back(TestRoute("/stream", [](RouteConfig& route) {
        route.upstream.resume_field = "after_seq";
      }));
      config.routes.push_back(TestRoute("/plain", [](RouteConfig& route) {
        CompressionConfig off;
        off.enabled = false;
        route.compression = off;
      }));
      config.routes.push_back(TestRoute("/shared", [](RouteConfig& route) {
        route.upstream.id_field = "seq";
        route.upstream.resume_field = "after_seq";
        route.fanout = FanoutConfig();
      }));
      if (edit) edit(config);
    });
  }
};

// gzip and br: the decoded body is byte for byte the identity body, the
// compressed stream is properly ended, the headers say what was done.
TEST_F(CompressionTest, DecodedStreamIsTheIdentityStream) {
  ASSERT_NO_FATAL_FAILURE(StartCompressing());
  const std::string target = "/stream?count=200&key_prefix=tick-ACME-";
  DecodingClient identity(port(), target, "");
  ASSERT_TRUE(identity.ReadToEnd());
  EXPECT_EQ(identity.status(), 200);
  EXPECT_FALSE(identity.has_header("content-encoding"));
  EXPECT_EQ(identity.header("vary"), "Accept-Encoding");
  ASSERT_THAT(identity.decoded(), HasSubstr("id: 200\n"));
  ASSERT_THAT(identity.decoded(), HasSubstr("event: end\n"));

  for (const char* encoding : {"gzip", "br"}) {
    SCOPED_TRACE(encoding);
    // What browsers send, with and without br.
    DecodingClient client(
        port(), target,
        std::string(encoding) == "br" ? "gzip, deflate, br" : "gzip, deflate");
    ASSERT_TRUE(client.ReadToEnd());
    EXPECT_EQ(client.status(), 200);
    EXPECT_EQ(client.header("content-encoding"), encoding);
    EXPECT_EQ(client.header("vary"), "Accept-Encoding");
    EXPECT_FALSE(client.decode_failed());
    EXPECT_TRUE(client.compressed_stream_finished());
    EXPECT_EQ(client.decoded(), identity.decoded());
    std::printf(
        "[measured] %s: %zu wire bytes for %zu identity bytes (%.1f%%)\n",
        encoding, client.wire_bytes(), identity.wire_bytes(),
        100.0 * client.wire_bytes() / identity.wire_bytes());
    EXPECT_LT(client.wire_bytes(), identity.wire_bytes() / 2);
  }

  // curl --compressed decodes both to the same bytes.
  const std::string url = absl::StrCat("http://127.0.0.1:", port(), target);
  for (const char* encoding : {"gzip", "br"}) {
    const std::string body = RunCommand(
        absl::StrCat("curl -sS --compressed -H 'Accept-Encoding: ", encoding,
                     "' '", url, "'"));
    EXPECT_EQ(body, identity.decoded()) << encoding;
  }
}

// One event and then nothing (the backend holds the stream open): the event
// is decodable at once, without waiting for more bytes; heartbeats arrive
// compressed too.
TEST_F(CompressionTest, NoEventWaitsForTheNext) {
  ASSERT_NO_FATAL_FAILURE(StartCompressing([](GatewayConfig& config) {
    config.heartbeat = absl::Milliseconds(200);
  }));
  for (const char* accept : {"gzip", "br"}) {
    SCOPED_TRACE(accept);
    const absl::Time started = absl::Now();
    DecodingClient client(port(), "/stream?count=1&hold_open=true", accept);
    ASSERT_TRUE(client.ReadUntil(
        [&] { return absl::StrContains(client.decoded(), "id: 1\n"); }));
    const absl::Duration first_event = absl::Now() - started;
    EXPECT_EQ(client.header("content-encoding"), accept);
    std::printf("[measured] %s: first event decoded %s after the request\n",
                accept, absl::FormatDuration(first_event).c_str());
    // The whole first event (its blank line) is there, not just a prefix.
    EXPECT_THAT(client.decoded(), HasSubstr("\n\n"));
    // Then a heartbeat, compressed and flushed on its own.
    ASSERT_TRUE(client.ReadUntil(
        [&] { return absl::StrContains(client.decoded(), "\n\n:\n"); }));
    EXPECT_FALSE(client.decode_failed());
  }
}

// A route with compression off, a client that accepts nothing, a client
// that refuses both: identity, and Vary only where it depended on the
// request.
TEST_F(CompressionTest, IdentityWhenOffOrNotAccepted) {
  ASSERT_NO_FATAL_FAILURE(StartCompressing());
  DecodingClient off(port(), "/plain?count=3", "gzip, br");
  ASSERT_TRUE(off.ReadToEnd());
  EXPECT_FALSE(off.has_header("content-encoding"));
  EXPECT_FALSE(off.has_header("vary"));
  EXPECT_THAT(off.decoded(), HasSubstr("id: 3\n"));

  DecodingClient refused(port(), "/stream?count=3", "gzip;q=0, br;q=0");
  ASSERT_TRUE(refused.ReadToEnd());
  EXPECT_FALSE(refused.has_header("content-encoding"));
  EXPECT_EQ(refused.header("vary"), "Accept-Encoding");
  EXPECT_THAT(refused.decoded(), HasSubstr("id: 3\n"));

  DecodingClient deflate_only(port(), "/stream?count=3", "deflate");
  ASSERT_TRUE(deflate_only.ReadToEnd());
  EXPECT_FALSE(deflate_only.has_header("content-encoding"));
}

// Over HTTP/2 the DATA frames carry the same compressed body.
TEST_F(CompressionTest, Http2StreamsAreCompressedToo) {
  ASSERT_NO_FATAL_FAILURE(StartCompressing(
      [](GatewayConfig& config) { config.http2.enabled = true; }));
  absl::StatusOr<std::unique_ptr<H2TestClient>> connected =
      H2TestClient::Connect(port());
  ASSERT_TRUE(connected.ok()) << connected.status();
  H2TestClient& client = **connected;
  const int32_t id = client.StartStream("GET", "/stream?count=50",
                                        {{"accept-encoding", "br"}});
  ASSERT_TRUE(
      client.PumpUntil([&] { return client.stream(id).ended; }, kPatience));
  EXPECT_EQ(client.stream(id).header("content-encoding"), "br");
  EXPECT_EQ(client.stream(id).header("vary"), "Accept-Encoding");
  Decoder decoder("br");
  std::string decoded;
  ASSERT_TRUE(decoder.Feed(client.stream(id).body, &decoded));
  EXPECT_TRUE(decoder.finished());
  DecodingClient identity(port(), "/stream?count=50", "");
  ASSERT_TRUE(identity.ReadToEnd());
  EXPECT_EQ(decoded, identity.decoded());
}

// Fan-out: each subscriber compresses its own cursor's bytes; every
// subscriber decodes the same stream.
TEST_F(CompressionTest, FanoutSubscribersEachDecodeTheSameStream) {
  ASSERT_NO_FATAL_FAILURE(StartCompressing());
  const std::string target = "/shared?count=100&interval_ms=2&key_prefix=k";
  DecodingClient gzip(port(), target, "gzip");
  DecodingClient br(port(), target, "br");
  DecodingClient identity(port(), target, "");
  ASSERT_TRUE(gzip.ReadToEnd());
  ASSERT_TRUE(br.ReadToEnd());
  ASSERT_TRUE(identity.ReadToEnd());
  EXPECT_EQ(gzip.header("content-encoding"), "gzip");
  EXPECT_EQ(br.header("content-encoding"), "br");
  // Each joined the shared call at its own point; from event 51 on (well
  // after all three joined) they must be the same bytes.
  const auto from51 = [](const std::string& decoded) {
    const size_t at = decoded.find("id: 51\n");
    return at == std::string::npos ? std::string() : decoded.substr(at);
  };
  ASSERT_THAT(from51(identity.decoded()), HasSubstr("id: 100\n"));
  ASSERT_THAT(from51(identity.decoded()), HasSubstr("event: end\n"));
  EXPECT_EQ(from51(gzip.decoded()), from51(identity.decoded()));
  EXPECT_EQ(from51(br.decoded()), from51(identity.decoded()));
}

}  // namespace
}  // namespace sse_gateway
