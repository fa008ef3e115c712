#include "gateway/http/request_head.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/status_macros.h"

namespace sse_gateway {
namespace {

// RFC 9110 section 5.6.2: tchar.
bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  return absl::string_view("!#$%&'*+-.^_`|~").find(c) !=
         absl::string_view::npos;
}

absl::Status Refuse(absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed request head: ", problem));
}

}  // namespace

absl::string_view TrimSpacesAndTabs(absl::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

namespace {

// Checks one field line (without its CRLF).
absl::Status CheckFieldLine(absl::string_view line, int* content_lengths) {
  if (line.front() == ' ' || line.front() == '\t') {
    return Refuse("a folded header line (obsolete line folding)");
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) {
    return Refuse("a header line without ':'");
  }
  const absl::string_view name = line.substr(0, colon);
  if (name.empty()) return Refuse("a header line with an empty name");
  for (char c : name) {
    if (!IsTokenChar(c)) {
      return Refuse(c == ' ' || c == '\t'
                        ? "whitespace between a header name and ':'"
                        : "a header name that is not a token");
    }
  }
  const absl::string_view value = TrimSpacesAndTabs(line.substr(colon + 1));
  if (value.find('\0') != absl::string_view::npos) {
    // Named: httplib hands values out as C strings, cut at the NUL.
    return Refuse(absl::StrCat("header ", name, " contains a NUL byte"));
  }
  if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
    return Refuse("Transfer-Encoding on a request (no request body is read)");
  }
  if (absl::EqualsIgnoreCase(name, "Content-Length")) {
    if (++*content_lengths > 1) return Refuse("more than one Content-Length");
    if (value.empty() || value.size() > 18) {
      return Refuse("a Content-Length that is not a number of bytes");
    }
    for (char c : value) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
        return Refuse("a Content-Length that is not a number of bytes");
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ParseRawHeaderFields(
    absl::string_view head) {
  std::vector<std::pair<std::string, std::string>> fields;
  bool request_line = true;
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    if (request_line) {
      request_line = false;
      continue;
    }
    if (line.empty()) break;  // End of the head.
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) continue;
    fields.emplace_back(std::string(line.substr(0, colon)),
                        std::string(TrimSpacesAndTabs(line.substr(colon + 1))));
  }
  return fields;
}

absl::Status CheckRequestHead(absl::string_view head) {
  int content_lengths = 0;
  bool request_line = true;
  while (!head.empty()) {
    const size_t end = head.find("\r\n");
    const absl::string_view line =
        head.substr(0, end == absl::string_view::npos ? head.size() : end);
    if (line.find_first_of("\r\n") != absl::string_view::npos) {
      return Refuse("a bare CR or LF (lines must end with CRLF)");
    }
    if (end == absl::string_view::npos) {
      return Refuse("a line that does not end with CRLF");
    }
    head.remove_prefix(end + 2);
    if (line.empty()) break;  // The end of the head.
    if (request_line) {
      request_line = false;
      if (line.find('\0') != absl::string_view::npos) {
        return Refuse("a NUL byte in the request line");
      }
      continue;  // httplib checks the rest of the request line itself.
    }
    RETURN_IF_ERROR(CheckFieldLine(line, &content_lengths));
  }
  return absl::OkStatus();
}

}  // namespace sse_gateway
