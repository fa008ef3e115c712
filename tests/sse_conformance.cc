#include "tests/sse_conformance.h"

#include <cstdint>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sse_gateway {
namespace {

constexpr char kCasesPath[] = "../shared/conformance/sse_framing_cases.json";

// A JSON string or null.
std::optional<std::string> OptionalString(
    const google::protobuf::Value& value) {
  if (value.has_string_value()) return value.string_value();
  return std::nullopt;
}

absl::StatusOr<SseMessage> MessageFromStruct(
    const google::protobuf::Struct& fields) {
  SseMessage message;
  for (const auto& [key, value] : fields.fields()) {
    if (key == "id") {
      message.id = value.string_value();
    } else if (key == "event") {
      message.event = value.string_value();
    } else if (key == "data") {
      message.data = value.string_value();
    } else if (key == "retry_ms") {
      const double retry = value.number_value();
      if (static_cast<double>(static_cast<int64_t>(retry)) != retry) {
        return absl::InvalidArgumentError("retry_ms is not an integer");
      }
      message.retry_ms = static_cast<int64_t>(retry);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown field ", key));
    }
  }
  return message;
}

}  // namespace

absl::StatusOr<SseConformanceCases> LoadSseConformanceCases() {
  std::ifstream file(kCasesPath, std::ios::binary);
  if (!file)
    return absl::NotFoundError(absl::StrCat("cannot open ", kCasesPath));
  std::stringstream contents;
  contents << file.rdbuf();

  google::protobuf::Struct root;
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(contents.str(), &root);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad JSON in ", kCasesPath, ": ", parsed.ToString()));
  }
  SseConformanceCases loaded;
  std::vector<FramingCase>& cases = loaded.framing;
  if (root.fields().count("cases") == 0 ||
      root.fields().count("last_event_id") == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kCasesPath, " lacks \"cases\" or \"last_event_id\""));
  }
  for (const auto& entry :
       root.fields().at("last_event_id").list_value().values()) {
    const auto& fields = entry.struct_value().fields();
    if (fields.count("header") == 0 || fields.count("stream_receives") == 0) {
      return absl::InvalidArgumentError(
          "a last_event_id case lacks header or stream_receives");
    }
    loaded.last_event_id.push_back(
        LastEventIdCase{OptionalString(fields.at("header")),
                        OptionalString(fields.at("stream_receives"))});
  }
  for (const auto& entry : root.fields().at("cases").list_value().values()) {
    const auto& fields = entry.struct_value().fields();
    FramingCase framing_case;
    framing_case.name = fields.at("name").string_value();
    absl::StatusOr<SseMessage> message =
        MessageFromStruct(fields.at("message").struct_value());
    if (!message.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "case ", framing_case.name, ": ", message.status().message()));
    }
    framing_case.message = *std::move(message);
    if (fields.count("expect") > 0) {
      framing_case.expect = fields.at("expect").string_value();
    }
    framing_case.expect_error = fields.count("expect_error") > 0 &&
                                fields.at("expect_error").bool_value();
    if (framing_case.expect.has_value() == framing_case.expect_error) {
      return absl::InvalidArgumentError(
          absl::StrCat("case ", framing_case.name,
                       " needs exactly one of expect, expect_error"));
    }
    cases.push_back(std::move(framing_case));
  }
  if (cases.empty() || loaded.last_event_id.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kCasesPath, " holds no cases"));
  }
  return loaded;
}

}  // namespace sse_gateway
