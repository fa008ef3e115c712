// FuzzSchema: the schema the fuzzers transcode with, built in memory (no
// runfiles needed): proto/testing/v1/testing.proto plus a fuzz-only file,
// fuzz/v1/well_known.proto, whose message fuzz.v1.WellKnown holds every
// well-known type (Any, Struct, Value, ListValue, Duration, FieldMask,
// Timestamp, Empty, NullValue, all wrappers), maps with message, scalar and
// bool keys, a oneof, repeated Any and itself (recursion). The files are
// copied out of the generated pool into a Schema, so the fuzzers use dynamic
// messages of a private pool exactly like the gateway does.
//
// Built once per process and never freed; aborts if it cannot be built (a
// bug in this file, not a finding). Thread-safe.

#ifndef SSE_GATEWAY_FUZZ_FUZZ_SCHEMA_H_
#define SSE_GATEWAY_FUZZ_FUZZ_SCHEMA_H_

#include "core/schema.h"

namespace sse_gateway {

// The full name of the fuzz-only message type.
inline constexpr char kWellKnownType[] = "fuzz.v1.WellKnown";

const Schema& FuzzSchema();

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_FUZZ_FUZZ_SCHEMA_H_
