#include "gateway/route/grpc_timeout.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sse_gateway {

absl::StatusOr<absl::Duration> ParseGrpcTimeout(absl::string_view text) {
  auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("Grpc-Timeout: \"", absl::CHexEscape(text),
                     "\" is not <1-8 digits><H|M|S|m|u|n>, e.g. 30S or 500m"));
  };
  if (text.size() < 2 || text.size() > 9) return invalid();
  absl::string_view digits = text.substr(0, text.size() - 1);
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return invalid();
  }
  int64_t value;
  if (!absl::SimpleAtoi(digits, &value) || value == 0) return invalid();
  switch (text.back()) {
    case 'H':
      return absl::Hours(value);
    case 'M':
      return absl::Minutes(value);
    case 'S':
      return absl::Seconds(value);
    case 'm':
      return absl::Milliseconds(value);
    case 'u':
      return absl::Microseconds(value);
    case 'n':
      return absl::Nanoseconds(value);
    default:
      return invalid();
  }
}

}  // namespace sse_gateway
