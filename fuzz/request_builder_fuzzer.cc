// libFuzzer target for query -> request mapping (core/request_builder.h, fed
// by gateway/http/query_string.h as the gateway does), over dynamic messages of
// testing.v1.StreamRequest (every scalar kind, enums, nesting, repetition,
// oneof, Timestamp and a wrapper under "echo.") or fuzz.v1.WellKnown
// (fuzz/fuzz_schema.h: Duration, FieldMask, every wrapper...).
//
// Input: up to four lines (LF separated; later lines may be missing):
//   1. the raw query string, as after '?' in a request target
//   2. the Last-Event-ID value (absent line: no resume)
//   3. the resume field path (default "after_seq")
//   4. the request type's full name (default testing.v1.StreamRequest)
//
// Checks: errors are InvalidArgument values; every request, even a partly
// built one after an error, serializes and round-trips to the same bytes; on
// success every key resolves, and each singular scalar set reads back with
// FieldValueAsText as text that SetFieldFromText turns into the same message
// (the documented inverse, which resuming from an id relies on); a refused
// resume value leaves the request unchanged, and an accepted string value
// reads back as is.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/field_path.h"
#include "core/json_renderer.h"
#include "core/request_builder.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_schema.h"
#include "gateway/http/query_string.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"

namespace sse_gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using FieldPath = std::vector<const FieldDescriptor*>;

void CheckErrorIsInvalidArgument(const absl::Status& status) {
  if (!status.ok()) {
    FuzzCheck(status.code() == absl::StatusCode::kInvalidArgument,
              "error is not InvalidArgument:", status.ToString());
  }
}

// Deterministic wire bytes of `message` (no maps can be set from text, but
// nested WellKnown maps stay empty anyway; determinism is for safety).
std::string Serialize(const Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    FuzzCheck(message.SerializeToCodedStream(&coded), "cannot serialize");
  }
  return bytes;
}

// The message must survive serialize -> parse -> serialize unchanged.
std::string CheckRoundTrip(const Message& message) {
  const std::string bytes = Serialize(message);
  std::unique_ptr<Message> parsed(message.New());
  FuzzCheck(parsed->ParseFromString(bytes),
            "serialized request does not parse");
  FuzzCheck(Serialize(*parsed) == bytes, "request does not round-trip");
  return bytes;
}

// FieldValueAsText is the inverse of SetFieldFromText: reading the value at
// `path` and setting it back must not change the message.
void CheckReadsBack(const Message& message, const FieldPath& path) {
  if (!CheckScalarFieldPath(path).ok()) return;  // Repeated or message leaf.
  absl::StatusOr<std::string> text = FieldValueAsText(message, path);
  FuzzCheck(text.ok(), "FieldValueAsText failed on a scalar path:",
            text.status().ToString());
  std::unique_ptr<Message> copy(message.New());
  copy->CopyFrom(message);
  const absl::Status status = SetFieldFromText(copy.get(), path, *text);
  FuzzCheck(
      status.ok(), "text read back does not parse:",
      FieldPathToString(path) + " = \"" + *text + "\": " + status.ToString());
  FuzzCheck(Serialize(*copy) == Serialize(message),
            "value read back sets a different value:",
            FieldPathToString(path) + " = \"" + *text + "\"");
}

void FuzzOne(absl::string_view input) {
  const std::vector<absl::string_view> lines =
      absl::StrSplit(input, absl::MaxSplits('\n', 3));
  const absl::string_view query = lines[0];
  const bool has_last_event_id = lines.size() > 1;
  const absl::string_view last_event_id = has_last_event_id ? lines[1] : "";
  const absl::string_view resume_path =
      lines.size() > 2 ? lines[2] : "after_seq";
  const std::string type_name =
      lines.size() > 3 ? std::string(lines[3]) : "testing.v1.StreamRequest";

  const Schema& schema = FuzzSchema();
  const Descriptor* type = schema.pool()->FindMessageTypeByName(type_name);
  if (type == nullptr) {
    type = schema.pool()->FindMessageTypeByName("testing.v1.StreamRequest");
  }
  std::unique_ptr<Message> request(schema.GetPrototype(type)->New());

  absl::StatusOr<QueryParams> params = ParseQueryString(query);
  CheckErrorIsInvalidArgument(params.status());
  if (params.ok()) {
    const absl::Status applied = ApplyFieldBindings(*params, request.get());
    CheckErrorIsInvalidArgument(applied);
    CheckRoundTrip(*request);
    if (applied.ok()) {
      for (const auto& [key, value] : *params) {
        absl::StatusOr<FieldPath> path = ResolveFieldPath(type, key);
        FuzzCheck(path.ok(), "applied an unresolvable key:", key);
        CheckReadsBack(*request, *path);
      }
    }
  }

  if (!has_last_event_id) return;
  absl::StatusOr<FieldPath> resume = ResolveFieldPath(type, resume_path);
  if (!resume.ok() || !CheckScalarFieldPath(*resume).ok()) return;
  const std::string before = Serialize(*request);
  const absl::Status resumed =
      SetFieldFromText(request.get(), *resume, last_event_id);
  CheckErrorIsInvalidArgument(resumed);
  if (!resumed.ok()) {
    FuzzCheck(Serialize(*request) == before,
              "refused value changed the request");
    return;
  }
  CheckRoundTrip(*request);
  CheckReadsBack(*request, *resume);
  if (resume->back()->type() == FieldDescriptor::TYPE_STRING) {
    absl::StatusOr<std::string> text = FieldValueAsText(*request, *resume);
    FuzzCheck(text.ok() && *text == last_event_id, "string id not kept as is");
  }
}

}  // namespace
}  // namespace sse_gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sse_gateway::FuzzOne(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
