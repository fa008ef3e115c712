#include "gateway/http/query_string.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/status_macros.h"

namespace sse_gateway {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(static_cast<unsigned char>(c));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

absl::StatusOr<std::string> Decode(absl::string_view text) {
  std::optional<std::string> decoded =
      PercentDecode(text, /*plus_is_space=*/true, /*keep_escaped_slash=*/false);
  if (!decoded.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid percent-encoding in query parameter \"",
                     absl::CHexEscape(text), "\""));
  }
  return *std::move(decoded);
}

}  // namespace

std::optional<std::string> PercentDecode(absl::string_view text,
                                         bool plus_is_space,
                                         bool keep_escaped_slash) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+' && plus_is_space) {
      out.push_back(' ');
      continue;
    }
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    int high = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
    int low = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
    if (high < 0 || low < 0) return std::nullopt;
    char decoded = static_cast<char>(high * 16 + low);
    if (decoded == '/' && keep_escaped_slash) {
      out.append(text.data() + i, 3);
    } else {
      out.push_back(decoded);
    }
    i += 2;
  }
  return out;
}

absl::StatusOr<QueryParams> ParseQueryString(absl::string_view query) {
  QueryParams params;
  for (absl::string_view part : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> key_value =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    ASSIGN_OR_RETURN(std::string key, Decode(key_value.first));
    if (key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter with an empty name: \"",
                       absl::CHexEscape(part), "\""));
    }
    ASSIGN_OR_RETURN(std::string value, Decode(key_value.second));
    params.emplace_back(std::move(key), std::move(value));
  }
  return params;
}

absl::string_view PathOfTarget(absl::string_view target) {
  return target.substr(0, target.find_first_of("?#"));
}

absl::string_view QueryOfTarget(absl::string_view target) {
  size_t question = target.find('?');
  if (question == absl::string_view::npos) return "";
  absl::string_view query = target.substr(question + 1);
  size_t hash = query.find('#');
  return hash == absl::string_view::npos ? query : query.substr(0, hash);
}

}  // namespace sse_gateway
