#include "bench/http2_request.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sse_gateway {
namespace {

constexpr absl::string_view kConnectionSpecific[] = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding",
    "upgrade"};

absl::string_view TrimSpacesAndTabs(absl::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// RFC 9110 5.6.2 token characters.
bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) !=
             absl::string_view::npos;
}

bool IsToken(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// Splits off the next line (without its CR LF or LF); false if there is no
// line end.
bool NextLine(absl::string_view* rest, absl::string_view* line) {
  const size_t lf = rest->find('\n');
  if (lf == absl::string_view::npos) return false;
  *line = rest->substr(0, lf);
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  rest->remove_prefix(lf + 1);
  return true;
}

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("HTTP/2 request from the HTTP/1 head: ", what));
}

}  // namespace

absl::StatusOr<std::vector<Http2Header>> Http2HeadersFromRequest(
    absl::string_view request, absl::string_view scheme) {
  absl::string_view rest = request;
  absl::string_view line;
  if (!NextLine(&rest, &line)) return Malformed("no request line");
  const std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || !IsToken(parts[0]) || parts[1].empty() ||
      !absl::StartsWith(parts[2], "HTTP/1.")) {
    return Malformed(absl::StrCat("bad request line \"", line, "\""));
  }
  std::vector<Http2Header> fields;
  std::string authority;
  bool have_host = false;
  bool ended = false;
  while (NextLine(&rest, &line)) {
    if (line.empty()) {
      ended = true;
      break;
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || !IsToken(line.substr(0, colon))) {
      return Malformed(absl::StrCat("bad header line \"", line, "\""));
    }
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    const absl::string_view value = TrimSpacesAndTabs(line.substr(colon + 1));
    if (name == "host") {
      if (have_host || value.empty()) return Malformed("bad or repeated Host");
      have_host = true;
      authority = std::string(value);
      continue;
    }
    bool connection_specific = name == "te" && value != "trailers";
    for (absl::string_view forbidden : kConnectionSpecific) {
      connection_specific = connection_specific || name == forbidden;
    }
    if (connection_specific) continue;
    fields.push_back({std::move(name), std::string(value)});
  }
  if (!ended) return Malformed("the head does not end with an empty line");
  if (!rest.empty()) return Malformed("bytes after the head");
  if (!have_host) return Malformed("no Host");
  std::vector<Http2Header> headers = {
      {":method", std::string(parts[0])},
      {":path", std::string(parts[1])},
      {":scheme", std::string(scheme)},
      {":authority", std::move(authority)},
  };
  for (Http2Header& field : fields) headers.push_back(std::move(field));
  return headers;
}

}  // namespace sse_gateway
