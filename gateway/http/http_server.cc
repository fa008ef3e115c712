#include "gateway/http/http_server.h"

#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "gateway/http/http_status.h"
#include "gateway/http/request_context.h"
#include "gateway/http/request_head.h"

namespace sse_gateway {
namespace {

// Replaces the values httplib parsed by the raw ones in `head`.
void RestoreRawHeaders(absl::string_view head, httplib::Request& request) {
  std::vector<std::pair<std::string, std::string>> fields =
      ParseRawHeaderFields(head);
  absl::flat_hash_set<std::string> names;
  for (const auto& field : fields) {
    names.insert(absl::AsciiStrToLower(field.first));
  }
  for (auto it = request.headers.begin(); it != request.headers.end();) {
    if (names.contains(absl::AsciiStrToLower(it->first))) {
      it = request.headers.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& field : fields) {
    request.headers.emplace(std::move(field.first), std::move(field.second));
  }
  // httplib's own entries, in case the client sent fields of these names.
  request.set_header("REMOTE_ADDR", request.remote_addr);
  request.set_header("REMOTE_PORT", std::to_string(request.remote_port));
  request.set_header("LOCAL_ADDR", request.local_addr);
  request.set_header("LOCAL_PORT", std::to_string(request.local_port));
}

// Whether the request says a body follows its head.
bool AnnouncesBody(const httplib::Request& request) {
  if (request.has_header("Transfer-Encoding")) return true;
  if (!request.has_header("Content-Length")) return false;
  return request.get_header_value("Content-Length") != std::string("0");
}

// httplib's view of the connection during one Serve(): reads come from the
// head in memory (then end of stream), writes go to memory.
class MemoryStream : public httplib::Stream {
 public:
  MemoryStream(absl::string_view head, const PeerAddress& peer)
      : head_(head), peer_(peer) {}

  bool is_readable() const override { return read_offset_ < head_.size(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, head_.size() - read_offset_);
    std::copy_n(head_.data() + read_offset_, n, ptr);
    read_offset_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    written_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = peer_.remote_ip;
    port = peer_.remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = peer_.local_ip;
    port = peer_.local_port;
  }
  int socket() const override { return peer_.socket; }

  std::string TakeWritten() { return std::move(written_); }

 private:
  const absl::string_view head_;
  const PeerAddress& peer_;
  size_t read_offset_ = 0;
  std::string written_;
};

}  // namespace

HttpServer::HttpServer() {
  // httplib answers a head it cannot parse (400, 414...) before calling any
  // handler of ours, with a keep-alive header; the connection is closed, and
  // the answer says so.
  httplib::Server::set_error_handler(HandlerWithResponse(
      [](const httplib::Request&, httplib::Response& response) {
        const RequestContext* context = RequestContext::Current();
        if (context != nullptr && !context->head_parsed) {
          response.set_header("Connection", "close");
        }
        return HandlerResponse::Unhandled;
      }));
}

void HttpServer::set_pre_routing_handler(HandlerWithResponse handler) {
  httplib::Server::set_pre_routing_handler([handler = std::move(handler)](
                                               const httplib::Request& request,
                                               httplib::Response& response) {
    const RequestContext* context = RequestContext::Current();
    if (context != nullptr && !context->head_error.ok()) {
      response.status = 400;
      response.set_header("Cache-Control", "no-store");
      response.set_content(StatusJson(context->head_error), "application/json");
      return HandlerResponse::Handled;
    }
    return handler(request, response);
  });
}

HttpServer::Result HttpServer::Serve(absl::string_view head,
                                     const PeerAddress& peer, bool last,
                                     absl::string_view protocol) {
  RequestContext context(protocol);
  MemoryStream stream(head, peer);
  bool connection_closed = false;
  bool announced_body = false;
  const bool ok = process_request(
      stream, /*close_connection=*/last, connection_closed,
      [&](httplib::Request& request) {
        context.head_parsed = true;
        context.head_error =
            head.size() > kMaxHeadBytes
                ? absl::InvalidArgumentError("the request head is too large")
                : CheckRequestHead(head);
        RestoreRawHeaders(head, request);
        announced_body = AnnouncesBody(request);
        if (!context.head_error.ok()) {
          // Answered by the pre-routing wrapper; say so in the response.
          request.headers.erase("Connection");
          request.set_header("Connection", "close");
        }
      });
  Result result;
  result.deferred = context.TakeDeferred();
  if (result.deferred == nullptr) result.bytes = stream.TakeWritten();
  // The connection is closed after:
  //  - a head httplib could not parse (it answered 400, 414...) or that
  //    CheckRequestHead refused: where one request ends is then unknown, and
  //    reading on would run the rest of the bytes as another request
  //    (request desynchronisation);
  //  - a request that announced a body: the gateway answers every request
  //    from its head and never reads a body, so the body's bytes are still
  //    unread, and parsing them as the next request would let a client
  //    smuggle a request past a proxy in front;
  // (A deferred response says itself whether it ends the connection.)
  result.close = !ok || last || connection_closed || announced_body ||
                 !context.head_parsed || !context.head_error.ok();
  return result;
}

}  // namespace sse_gateway
