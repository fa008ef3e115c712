// TestingSchema: the schema of proto/testing/v1/testing.proto, loaded from its
// descriptor set (//proto:testing_cc_proto_descriptor_set, which a test using
// this must have in its `data`), with no generated code. For tests.
//
// Loaded once per test binary and never freed; a load failure fails the
// calling test. Thread-safe.

#ifndef SSE_GATEWAY_TESTS_TESTING_SCHEMA_H_
#define SSE_GATEWAY_TESTS_TESTING_SCHEMA_H_

#include "core/schema.h"

namespace sse_gateway {

// The runfiles path of the testing descriptor set.
inline constexpr char kTestingDescriptorSet[] =
    "proto/testing/v1/testing.descriptor_set.pb";

// The loaded schema, or nullptr (with a test failure recorded) if the
// descriptor set cannot be loaded.
const Schema* TestingSchema();

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_TESTING_SCHEMA_H_
