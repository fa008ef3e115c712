// libFuzzer target for JSON rendering (core/json_renderer.h): arbitrary bytes
// as the wire form of a response type, rendered the way a route renders each
// backend message (parse check, then JsonRenderer::Render on the same bytes).
//
// Input: byte 0 picks the type (bits 0-1: testing.v1.StreamResponse,
// testing.v1.AllTypes (maps, oneof, wrapper, Timestamp), fuzz.v1.WellKnown
// (Any, Struct, Value, Duration, FieldMask, every wrapper, maps, recursion;
// fuzz/fuzz_schema.h), google.protobuf.Struct) and the options (bit 2
// emit_defaults, bit 3 use_proto_names, bit 4 enums_as_ints); the rest is the
// message's wire bytes.
//
// Checks: Render and RenderJson agree on success; errors are InvalidArgument;
// the JSON is one line, valid JSON (checked by a small validator here), and
// RenderJson's text (which renders the parsed message) up to the order of
// object members.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "core/json_renderer.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_schema.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/logging.h"

namespace sse_gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::Message;

constexpr int kTypeCount = 4;
constexpr int kOptionCount = 8;
constexpr const char* kTypeNames[kTypeCount] = {
    "testing.v1.StreamResponse", "testing.v1.AllTypes", kWellKnownType,
    "google.protobuf.Struct"};

JsonOptions OptionsFromBits(int bits) {
  JsonOptions options;
  options.emit_defaults = (bits & 1) != 0;
  options.use_proto_names = (bits & 2) != 0;
  options.enums_as_ints = (bits & 4) != 0;
  return options;
}

// One renderer per (type, options), built once like a route's.
const JsonRenderer& RendererFor(const Descriptor* type, int type_index,
                                int option_bits) {
  static std::array<std::unique_ptr<JsonRenderer>, kTypeCount * kOptionCount>
      renderers;
  std::unique_ptr<JsonRenderer>& renderer =
      renderers[type_index * kOptionCount + option_bits];
  if (renderer == nullptr) {
    renderer =
        std::make_unique<JsonRenderer>(type, OptionsFromBits(option_bits));
  }
  return *renderer;
}

void SkipSpace(absl::string_view json, size_t* pos) {
  while (*pos < json.size() && absl::ascii_isspace(json[*pos])) ++*pos;
}

// Whether `token` is a JSON number, true, false or null (RFC 8259).
bool IsJsonScalar(absl::string_view token) {
  if (token == "true" || token == "false" || token == "null") return true;
  size_t i = 0;
  auto digits = [&token, &i] {
    const size_t start = i;
    while (i < token.size() && absl::ascii_isdigit(token[i])) ++i;
    return i - start;
  };
  if (i < token.size() && token[i] == '-') ++i;
  const size_t start = i;
  const size_t integer_digits = digits();
  if (integer_digits == 0 || (integer_digits > 1 && token[start] == '0')) {
    return false;
  }
  if (i < token.size() && token[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  }
  if (i < token.size() && (token[i] == 'e' || token[i] == 'E')) {
    ++i;
    if (i < token.size() && (token[i] == '+' || token[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == token.size();
}

// Appends to `*out` the JSON value at `*pos` of `json` (advancing `*pos`
// past it) with every object's members sorted, duplicates kept; everything
// else as written. False if `json` is not valid JSON there.
bool AppendSorted(absl::string_view json, size_t* pos, std::string* out,
                  int depth) {
  SkipSpace(json, pos);
  if (*pos >= json.size() || depth > 1000) return false;
  const char open = json[*pos];
  if (open == '"') {
    size_t end = *pos + 1;
    for (; end < json.size() && json[end] != '"'; ++end) {
      if (static_cast<unsigned char>(json[end]) < 0x20) return false;
      if (json[end] != '\\') continue;
      if (++end >= json.size()) return false;
      if (json[end] == 'u') {
        for (int i = 0; i < 4; ++i) {
          if (++end >= json.size() || !absl::ascii_isxdigit(json[end])) {
            return false;
          }
        }
      } else if (absl::string_view("\"\\/bfnrt").find(json[end]) ==
                 absl::string_view::npos) {
        return false;
      }
    }
    if (end >= json.size()) return false;
    out->append(json.data() + *pos, end + 1 - *pos);
    *pos = end + 1;
    return true;
  }
  if (open != '{' && open != '[') {
    const size_t end =
        std::min(json.find_first_of(",:]} \t\r\n", *pos), json.size());
    if (!IsJsonScalar(json.substr(*pos, end - *pos))) return false;
    out->append(json.data() + *pos, end - *pos);
    *pos = end;
    return true;
  }
  const char close = open == '{' ? '}' : ']';
  std::vector<std::string> items;
  ++*pos;
  SkipSpace(json, pos);
  if (*pos < json.size() && json[*pos] == close) {
    ++*pos;
  } else {
    while (true) {
      std::string item;
      if (!AppendSorted(json, pos, &item, depth + 1)) return false;
      if (open == '{') {
        if (item.empty() || item[0] != '"') return false;  // Keys are strings.
        SkipSpace(json, pos);
        if (*pos >= json.size() || json[*pos] != ':') return false;
        ++*pos;
        item.push_back(':');
        if (!AppendSorted(json, pos, &item, depth + 1)) return false;
      }
      items.push_back(std::move(item));
      SkipSpace(json, pos);
      if (*pos >= json.size()) return false;
      if (json[*pos] == close) {
        ++*pos;
        break;
      }
      if (json[*pos] != ',') return false;
      ++*pos;
    }
  }
  if (open == '{') std::sort(items.begin(), items.end());
  out->push_back(open);
  out->append(absl::StrJoin(items, ","));
  out->push_back(close);
  return true;
}

// `json`, which must be valid JSON (RFC 8259; a small validator, since
// protobuf's JSON parser refuses some JSON its printer writes, such as a
// repeated map key or a FieldMask path it cannot convert), with every
// object's members sorted: two renderings of one message may list map
// entries in different orders, nothing else.
std::string SortedJson(const std::string& json) {
  std::string sorted;
  size_t pos = 0;
  FuzzCheck(AppendSorted(json, &pos, &sorted, 0), "malformed JSON:", json);
  SkipSpace(json, &pos);
  FuzzCheck(pos == json.size(), "text after the JSON value:", json);
  return sorted;
}

void FuzzOne(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const int type_index = data[0] & 3;
  const int option_bits = (data[0] >> 2) & 7;
  const absl::string_view wire(reinterpret_cast<const char*>(data + 1),
                               size - 1);
  const Schema& schema = FuzzSchema();
  const Descriptor* type =
      schema.pool()->FindMessageTypeByName(kTypeNames[type_index]);
  FuzzCheck(type != nullptr, "type missing from the fuzz schema");
  std::unique_ptr<Message> message(schema.GetPrototype(type)->New());
  // The gateway drops a response that does not parse before rendering it.
  if (!message->ParseFromString(std::string(wire))) return;

  const JsonOptions options = OptionsFromBits(option_bits);
  std::string json = "stale";
  const absl::Status rendered =
      RendererFor(type, type_index, option_bits).Render(wire, &json);
  const absl::StatusOr<std::string> from_message =
      RenderJson(*message, options);
  if (!rendered.ok()) {
    FuzzCheck(rendered.code() == absl::StatusCode::kInvalidArgument,
              "Render error is not InvalidArgument:", rendered.ToString());
  }
  if (!from_message.ok()) {
    FuzzCheck(
        from_message.status().code() == absl::StatusCode::kInvalidArgument,
        "RenderJson error is not InvalidArgument:",
        from_message.status().ToString());
  }
  FuzzCheck(
      rendered.ok() == from_message.ok(),
      "Render and RenderJson disagree on success:",
      rendered.ok() ? from_message.status().ToString() : rendered.ToString());
  if (!rendered.ok()) return;
  FuzzCheck(json.find_first_of("\r\n") == std::string::npos,
            "JSON spans several lines:", json);

  // RenderJson renders the parsed, so canonical, message: Render's text must
  // be the same up to the order of object members (map entries). A repeated
  // key or an extra oneof member would make a page read other data.
  FuzzCheck(SortedJson(json) == SortedJson(*from_message),
            "Render and RenderJson differ:", json + "\n  vs\n" + *from_message);
}

}  // namespace
}  // namespace sse_gateway

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // Invalid UTF-8 in string fields is logged on every parse; keep quiet.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sse_gateway::FuzzOne(data, size);
  return 0;
}
