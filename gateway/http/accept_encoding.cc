#include "gateway/http/accept_encoding.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace sse_gateway {
namespace {

// A q-value ("0", "0.5", "1", "1.000"), in thousandths; nullopt if it is
// not one.
std::optional<int> ParseQValue(absl::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  if (text[0] != '0' && text[0] != '1') return std::nullopt;
  int thousandths = (text[0] - '0') * 1000;
  if (text.size() > 1) {
    if (text[1] != '.') return std::nullopt;
    int scale = 100;
    for (char c : text.substr(2)) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
        return std::nullopt;
      }
      thousandths += (c - '0') * scale;
      scale /= 10;
    }
  }
  if (thousandths > 1000) return std::nullopt;
  return thousandths;
}

}  // namespace

ContentEncoding NegotiateContentEncoding(absl::string_view accept_encoding,
                                         bool allow_gzip, bool allow_br) {
  // The q-value given to each coding (-1: not named).
  int gzip = -1;
  int br = -1;
  int any = -1;
  for (absl::string_view element : absl::StrSplit(accept_encoding, ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(element, ';');
    const std::string coding =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[0]));
    if (coding.empty()) continue;
    int q = 1000;
    bool malformed = false;
    for (size_t i = 1; i < parts.size(); ++i) {
      absl::string_view parameter = absl::StripAsciiWhitespace(parts[i]);
      if (parameter.size() >= 2 &&
          (parameter[0] == 'q' || parameter[0] == 'Q') && parameter[1] == '=') {
        std::optional<int> parsed = ParseQValue(parameter.substr(2));
        if (!parsed.has_value()) {
          malformed = true;
          break;
        }
        q = *parsed;
      }
    }
    if (malformed) continue;
    // x-gzip is gzip's old name (RFC 9110 8.4.1.3).
    if (coding == "gzip" || coding == "x-gzip") {
      gzip = std::max(gzip, q);
    } else if (coding == "br") {
      br = std::max(br, q);
    } else if (coding == "*") {
      any = std::max(any, q);
    }
  }
  if (gzip < 0) gzip = any;
  if (br < 0) br = any;
  // Brotli when allowed and at least as welcome as gzip.
  if (allow_br && br > 0 && (!allow_gzip || br >= gzip)) {
    return ContentEncoding::kBrotli;
  }
  if (allow_gzip && gzip > 0) return ContentEncoding::kGzip;
  if (allow_br && br > 0) return ContentEncoding::kBrotli;
  return ContentEncoding::kIdentity;
}

}  // namespace sse_gateway
