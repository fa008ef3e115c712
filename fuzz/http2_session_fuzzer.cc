// libFuzzer target for what an HTTP/2 client sends the gateway: a real
// Http2Session (gateway/http/http2_session.h, libnghttp2) after the client
// preface, fed the input in reads, in front of an HttpServer whose handler
// answers small and large complete responses and 404s, with a transport
// whose socket takes a fuzz-chosen number of bytes per write (so output
// backs up, as with a client that does not read).
//
// Input format: a sequence of records, each one control byte then data:
//   control % 4 == 0: the next (control / 4 + 1) * 64 bytes arrive as one
//                     read (the last record takes what is left)
//   control % 4 == 1: a loop scan 100 ms later (timeouts, drain)
//   control % 4 == 2: the socket takes (control / 4) * 512 bytes per write
//                     from now on (0: it is full)
//   control % 4 == 3: the server starts draining
//
// Checks: nothing crashes, leaks or trips a sanitizer; every response the
// session adopted is handed back (reaped) by the time it is destroyed; the
// session never holds more streams than SETTINGS_MAX_CONCURRENT_STREAMS (plus
// those closing) and never more than its output batch of unsent bytes per
// write attempt beyond what the socket refused.

#include <sys/epoll.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_check.h"
#include "gateway/http/connection.h"
#include "gateway/http/http2_session.h"
#include "gateway/http/http_server.h"

namespace sse_gateway {
namespace {

class FuzzHost : public ConnectionHost {
 public:
  FuzzHost() {
    limits_.http2.enabled = true;
    limits_.http2.max_concurrent_streams = 16;
    limits_.http2.max_header_list_bytes = 4096;
    limits_.http2.reset_burst = 50;
    limits_.http2.resets_per_second = 10;
    limits_.write_timeout = absl::Seconds(1);
    limits_.idle_timeout = absl::Seconds(1);
    server_.set_pre_routing_handler(
        [](const httplib::Request& request, httplib::Response& response) {
          if (request.path == "/ok") {
            response.set_content("ok", "text/plain");
          } else if (request.path == "/big") {
            response.set_content(std::string(100 * 1024, 'b'), "text/plain");
          } else {
            response.status = 404;
            response.set_content("{}", "application/json");
          }
          return httplib::Server::HandlerResponse::Handled;
        });
  }

  void Watch(Connection*, uint32_t) override {}
  void Forget(Connection*) override {}
  void Wake(const std::shared_ptr<Connection>&) override {}
  void Adopted() override { ++adopted_; }
  void Reap(std::unique_ptr<Reapable> object) override {
    object.reset();
    ++reaped_;
  }
  HttpServer& server() override { return server_; }
  const ConnectionLimits& limits() const override { return limits_; }
  void CountHeadTimeout() override {}
  void CountHttp2Connection() override {}
  bool draining() const override { return draining_; }

  int64_t adopted_ = 0;
  int64_t reaped_ = 0;
  bool draining_ = false;

 private:
  ConnectionLimits limits_;
  HttpServer server_;
};

class FuzzTransport : public Http2Session::Transport {
 public:
  IoStep Send(const char*, size_t size) override {
    if (accept_per_write_ == 0) {
      return IoStep{IoStatus::kWouldBlock, 0, /*wait_events=*/0x004};
    }
    const size_t taken = std::min(size, accept_per_write_);
    sent_ += taken;
    return IoStep{IoStatus::kDone, taken, 0};
  }
  IoStep Receive(char* buffer, size_t size) override {
    if (pending_.empty()) return IoStep{IoStatus::kWouldBlock, 0, 0x001};
    const size_t taken = std::min(size, pending_.size());
    pending_.copy(buffer, taken);
    pending_.erase(0, taken);
    return IoStep{IoStatus::kDone, taken, 0};
  }
  void SetInterest(uint32_t) override {}
  std::function<void()> ReadyCallback() override {
    return [] {};
  }

  std::string pending_;
  size_t accept_per_write_ = 1 << 20;
  size_t sent_ = 0;
};

}  // namespace
}  // namespace sse_gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using sse_gateway::FuzzCheck;
  static sse_gateway::FuzzHost* host = new sse_gateway::FuzzHost();
  host->adopted_ = 0;
  host->reaped_ = 0;
  host->draining_ = false;
  sse_gateway::FuzzTransport transport;
  sse_gateway::PeerAddress peer;
  peer.remote_ip = "127.0.0.1";
  absl::Time now = absl::FromUnixSeconds(1700000000);
  // The preface and an empty SETTINGS frame: what every h2c client sends.
  const std::string preface =
      std::string(sse_gateway::kHttp2ClientPreface) +
      std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
  {
    std::unique_ptr<sse_gateway::Http2Session> session =
        sse_gateway::Http2Session::Create(host, &transport, peer, preface, now);
    FuzzCheck(session != nullptr, "a session is created");
    size_t at = 0;
    while (at < size && !session->over()) {
      const uint8_t control = data[at++];
      switch (control % 4) {
        case 0: {
          const size_t length =
              std::min<size_t>(size - at, (control / 4 + 1) * 64);
          transport.pending_.assign(reinterpret_cast<const char*>(data + at),
                                    length);
          at += length;
          session->OnEvents(/*readable=*/true, /*writable=*/true, now);
          break;
        }
        case 1:
          now += absl::Milliseconds(100);
          session->OnScan(now);
          break;
        case 2:
          transport.accept_per_write_ = (control / 4) * 512;
          session->OnEvents(/*readable=*/false, /*writable=*/true, now);
          break;
        case 3:
          host->draining_ = true;
          session->OnScan(now);
          break;
      }
      FuzzCheck(session->open_streams() <= 64,
                "streams stay near SETTINGS_MAX_CONCURRENT_STREAMS");
    }
  }
  FuzzCheck(host->adopted_ == 0 || host->reaped_ >= host->adopted_,
            "every adopted response is reaped");
  return 0;
}
