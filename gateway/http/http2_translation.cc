#include "gateway/http/http2_translation.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sse_gateway {
namespace {

// HTTP's token characters (RFC 9110 5.6.2), which method and field names
// are made of.
bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  return absl::string_view("!#$%&'*+-.^_`|~").find(c) !=
         absl::string_view::npos;
}

bool IsToken(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// A field value an HTTP/1 head carries unchanged: no CR, LF or NUL (RFC
// 9113 8.2.1 makes them malformed in HTTP/2 as well).
bool IsCarriableValue(absl::string_view value) {
  return value.find_first_of(absl::string_view("\r\n\0", 3)) ==
         absl::string_view::npos;
}

// A request target an HTTP/1 request line carries unchanged: visible ASCII
// only (no space, control or non-ASCII byte).
bool IsCarriableTarget(absl::string_view target) {
  if (target.empty()) return false;
  for (char c : target) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x21 || byte > 0x7e) return false;
  }
  return true;
}

// Headers that are about one HTTP/1 connection and have no meaning in
// HTTP/2 (RFC 9113 8.2.2).
bool IsConnectionSpecific(absl::string_view lower_name) {
  return lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "proxy-connection" ||
         lower_name == "transfer-encoding" || lower_name == "upgrade";
}

}  // namespace

void Http2RequestHead::Fail(std::string message) {
  if (error_.ok()) error_ = absl::InvalidArgumentError(std::move(message));
}

void Http2RequestHead::Add(absl::string_view name, absl::string_view value) {
  if (!error_.ok()) return;
  if (!IsCarriableValue(value)) {
    Fail(absl::StrCat("header ", name, " holds CR, LF or NUL"));
    return;
  }
  if (absl::StartsWith(name, ":")) {
    if (saw_regular_field_) {
      Fail(absl::StrCat("pseudo-header ", name, " after a regular header"));
      return;
    }
    std::string* slot = nullptr;
    if (name == ":method") {
      slot = &method_;
    } else if (name == ":path") {
      slot = &path_;
    } else if (name == ":authority") {
      slot = &authority_;
    } else if (name == ":scheme") {
      return;  // http or https: the connection already says which.
    } else {
      Fail(absl::StrCat("unknown pseudo-header ", name));
      return;
    }
    if (!slot->empty()) {
      Fail(absl::StrCat("pseudo-header ", name, " repeated"));
      return;
    }
    if (value.empty()) {
      Fail(absl::StrCat("pseudo-header ", name, " is empty"));
      return;
    }
    *slot = std::string(value);
    return;
  }
  saw_regular_field_ = true;
  if (!IsToken(name) || name != absl::AsciiStrToLower(name)) {
    Fail("header name is not a lower-case token");
    return;
  }
  if (IsConnectionSpecific(name) || (name == "te" && value != "trailers")) {
    Fail(absl::StrCat("connection-specific header ", name));
    return;
  }
  if (name == "content-length") return;  // The body is DATA frames.
  if (name == "cookie") {
    if (!cookie_.empty()) cookie_ += "; ";
    absl::StrAppend(&cookie_, value);
    return;
  }
  if (name == "host") has_host_ = true;
  fields_.emplace_back(std::string(name), std::string(value));
}

absl::StatusOr<std::string> Http2RequestHead::Build() const {
  if (!error_.ok()) return error_;
  if (method_.empty()) return absl::InvalidArgumentError("no :method");
  if (path_.empty()) return absl::InvalidArgumentError("no :path");
  if (!IsToken(method_)) {
    return absl::InvalidArgumentError(":method is not a token");
  }
  if (!IsCarriableTarget(path_) ||
      !(path_[0] == '/' || (path_ == "*" && method_ == "OPTIONS"))) {
    return absl::InvalidArgumentError(
        ":path is not an origin-form target of visible ASCII");
  }
  if (!authority_.empty() && !IsCarriableTarget(authority_)) {
    return absl::InvalidArgumentError(":authority is not visible ASCII");
  }
  std::string head = absl::StrCat(method_, " ", path_, " HTTP/1.1\r\n");
  if (!has_host_ && !authority_.empty()) {
    absl::StrAppend(&head, "host: ", authority_, "\r\n");
  }
  for (const auto& [name, value] : fields_) {
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  if (!cookie_.empty()) absl::StrAppend(&head, "cookie: ", cookie_, "\r\n");
  head += "\r\n";
  return head;
}

absl::StatusOr<Http1Response> ParseHttp1Response(absl::string_view bytes) {
  const size_t head_end = bytes.find("\r\n\r\n");
  if (head_end == absl::string_view::npos) {
    return absl::InvalidArgumentError("response head has no end");
  }
  Http1Response response;
  response.body_offset = head_end + 4;
  absl::string_view head = bytes.substr(0, head_end + 2);
  size_t line_end = head.find("\r\n");
  const absl::string_view status_line = head.substr(0, line_end);
  // "HTTP/1.1 200 OK"
  if (!absl::StartsWith(status_line, "HTTP/1.") || status_line.size() < 12 ||
      status_line[8] != ' ' ||
      !absl::SimpleAtoi(status_line.substr(9, 3), &response.status) ||
      response.status < 100 || response.status > 999) {
    return absl::InvalidArgumentError("bad response status line");
  }
  head.remove_prefix(line_end + 2);
  while (!head.empty()) {
    line_end = head.find("\r\n");
    const absl::string_view line = head.substr(0, line_end);
    head.remove_prefix(line_end + 2);
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError("bad response header line");
    }
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    if (!IsToken(name)) {
      return absl::InvalidArgumentError("bad response header name");
    }
    if (IsConnectionSpecific(name)) continue;
    response.headers.emplace_back(
        std::move(name),
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return response;
}

}  // namespace sse_gateway
