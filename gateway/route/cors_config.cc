#include "gateway/route/cors_config.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace sse_gateway {
namespace {

constexpr char kAnyOrigin[] = "*";

}  // namespace

absl::Status CheckCorsOrigin(absl::string_view origin) {
  if (origin == kAnyOrigin) return absl::OkStatus();
  auto not_an_origin = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", origin,
                     "\" is not an origin (want scheme://host[:port] with no "
                     "path, or \"*\")"));
  };
  size_t separator = origin.find("://");
  if (separator == absl::string_view::npos || separator == 0) {
    return not_an_origin();
  }
  for (char c : origin.substr(0, separator)) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' &&
        c != '-' && c != '.') {
      return not_an_origin();
    }
  }
  absl::string_view host = origin.substr(separator + 3);
  if (host.empty()) return not_an_origin();
  for (char c : host) {
    if (c == '/' || c == '?' || c == '#' || c == '@' || c == '*' ||
        absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return not_an_origin();
    }
  }
  return absl::OkStatus();
}

absl::Status CheckCorsConfig(const CorsConfig& config) {
  if (config.allowed_origins.empty()) {
    return absl::InvalidArgumentError(
        "allowed_origins: must be a non-empty list of origins");
  }
  for (size_t i = 0; i < config.allowed_origins.size(); ++i) {
    const std::string& origin = config.allowed_origins[i];
    absl::Status status = CheckCorsOrigin(origin);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("allowed_origins[", i, "]: ", status.message()));
    }
    if (origin == kAnyOrigin && config.allow_credentials) {
      return absl::InvalidArgumentError(
          absl::StrCat("allowed_origins[", i,
                       "]: \"*\" cannot be used with allow_credentials: true; "
                       "list the origins"));
    }
  }
  if (config.max_age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max_age_s: must not be negative");
  }
  return absl::OkStatus();
}

}  // namespace sse_gateway
