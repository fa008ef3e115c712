#include "gateway/cors.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gateway/http_status.h"

namespace sse_gateway {
namespace {

constexpr char kAnyOrigin[] = "*";

void WriteForbidden(absl::string_view message, httplib::Response& response) {
  const absl::Status status = absl::PermissionDeniedError(message);
  response.status = 403;
  response.set_header("Cache-Control", "no-store");
  response.set_content(StatusJson(status), "application/json");
}

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

CorsPolicy::CorsPolicy(CorsConfig config,
                       const std::vector<std::string>& allowed_request_headers,
                       std::vector<std::string> exposed_response_headers)
    : config_(std::move(config)),
      exposed_headers_(absl::StrJoin(exposed_response_headers, ", ")) {
  for (const std::string& origin : config_.allowed_origins) {
    if (origin == kAnyOrigin) {
      any_origin_ = !config_.allow_credentials;
    } else {
      origins_.insert(origin);
    }
  }
  allowed_headers_ = {"last-event-id", "authorization", "grpc-timeout"};
  for (const std::string& name : allowed_request_headers) {
    allowed_headers_.insert(absl::AsciiStrToLower(name));
  }
}

bool CorsPolicy::IsOriginAllowed(absl::string_view origin) const {
  if (origin.empty()) return false;
  return any_origin_ || origins_.contains(origin);
}

bool CorsPolicy::IsPreflight(const httplib::Request& request) {
  return request.method == "OPTIONS" && request.has_header("Origin") &&
         request.has_header("Access-Control-Request-Method");
}

void CorsPolicy::AddResponseHeaders(const httplib::Request& request,
                                    httplib::Response& response) const {
  response.set_header("Vary", "Origin");
  if (!request.has_header("Origin")) return;
  const std::string origin = request.get_header_value("Origin");
  if (!IsOriginAllowed(origin)) return;
  response.set_header("Access-Control-Allow-Origin",
                      any_origin_ ? std::string(kAnyOrigin) : origin);
  if (config_.allow_credentials) {
    response.set_header("Access-Control-Allow-Credentials", "true");
  }
  if (!exposed_headers_.empty()) {
    response.set_header("Access-Control-Expose-Headers", exposed_headers_);
  }
}

std::string CorsPolicy::AllowedHeadersOf(absl::string_view requested) const {
  std::vector<std::string> allowed;
  for (absl::string_view name : absl::StrSplit(requested, ',')) {
    std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(name));
    if (lower.empty()) continue;
    if (allowed_headers_.contains(lower) ||
        absl::StartsWith(lower, "grpc-metadata-")) {
      allowed.push_back(std::move(lower));
    }
  }
  return absl::StrJoin(allowed, ", ");
}

void CorsPolicy::ServePreflight(const httplib::Request& request,
                                httplib::Response& response) const {
  response.set_header("Vary", "Origin");
  const std::string origin = request.get_header_value("Origin");
  if (!IsOriginAllowed(origin)) {
    WriteForbidden(absl::StrCat("origin \"", absl::CHexEscape(origin),
                                "\" is not allowed"),
                   response);
    return;
  }
  const std::string method =
      request.get_header_value("Access-Control-Request-Method");
  if (method != "GET") {
    WriteForbidden(absl::StrCat("method \"", absl::CHexEscape(method),
                                "\" is not allowed; only GET is"),
                   response);
    return;
  }
  response.status = 204;
  response.set_header("Access-Control-Allow-Origin",
                      any_origin_ ? std::string(kAnyOrigin) : origin);
  if (config_.allow_credentials) {
    response.set_header("Access-Control-Allow-Credentials", "true");
  }
  response.set_header("Access-Control-Allow-Methods", "GET");
  std::string headers = AllowedHeadersOf(
      request.get_header_value("Access-Control-Request-Headers"));
  if (!headers.empty()) {
    response.set_header("Access-Control-Allow-Headers", headers);
  }
  response.set_header("Access-Control-Max-Age",
                      std::to_string(absl::ToInt64Seconds(config_.max_age)));
}

}  // namespace sse_gateway
