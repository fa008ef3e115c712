#include "gateway/http/response_bytes.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sse_gateway {
namespace {

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

}  // namespace

std::string ResponseHead(const httplib::Response& response) {
  std::string head = absl::StrCat("HTTP/1.1 ", response.status, " ",
                                  ReasonPhrase(response.status), "\r\n");
  for (const auto& [name, value] : response.headers) {
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  head.append("\r\n");
  return head;
}

std::string CompleteResponse(httplib::Response response, bool head_request,
                             bool close) {
  response.headers.erase("Content-Length");
  response.set_header("Content-Length", std::to_string(response.body.size()));
  if (close) {
    response.headers.erase("Connection");
    response.set_header("Connection", "close");
  }
  std::string bytes = ResponseHead(response);
  if (!head_request) bytes += response.body;
  return bytes;
}

}  // namespace sse_gateway
