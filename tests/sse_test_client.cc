#include "tests/sse_test_client.h"

#include <utility>

#include "absl/time/time.h"

namespace sse_gateway {

std::string SseResponse::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

SseTestClient::SseTestClient(const std::string& host, int port,
                             absl::Duration timeout)
    : client_(host, port) {
  int64_t seconds = absl::ToInt64Seconds(timeout);
  client_.set_connection_timeout(seconds);
  client_.set_read_timeout(seconds);
  client_.set_write_timeout(seconds);
  client_.set_keep_alive(false);
  client_.set_decompress(false);
  client_.set_url_encode(
      false);  // Send targets exactly as the test wrote them.
}

SseResponse SseTestClient::Get(
    const std::string& path_and_query, const httplib::Headers& headers,
    const std::function<bool(const SseEvent&)>& on_event) {
  SseResponse response;
  SseParser parser;
  std::vector<SseEvent> batch;
  httplib::Result result = client_.Get(
      path_and_query, headers,
      [&](const httplib::Response& head) {
        response.status = head.status;
        response.headers = head.headers;
        return true;
      },
      [&](const char* data, size_t length) {
        response.body.append(data, length);
        batch.clear();
        parser.Feed(absl::string_view(data, length), &batch);
        bool go_on = true;
        for (SseEvent& event : batch) {
          if (on_event && !on_event(event)) go_on = false;
          response.events.push_back(std::move(event));
        }
        return go_on;
      });
  if (result) {
    response.status = result->status;
    response.headers = result->headers;
    response.completed = true;
    // Error responses arrive as a plain body, not through the receiver.
    if (response.body.empty()) response.body = result->body;
  }
  response.reconnection_time_ms = parser.reconnection_time_ms();
  response.comment_count = parser.comment_count();
  return response;
}

SseResponse SseTestClient::Send(const std::string& method,
                                const std::string& path,
                                const httplib::Headers& headers) {
  httplib::Request request;
  request.method = method;
  request.path = path;
  request.headers = headers;
  SseResponse response;
  httplib::Result result = client_.send(request);
  if (result) {
    response.status = result->status;
    response.headers = result->headers;
    response.body = result->body;
    response.completed = true;
  }
  return response;
}

}  // namespace sse_gateway
