#include "gateway/route/cors.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gateway/http/http_status.h"

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
