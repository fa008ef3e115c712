#include "fuzz/fuzz_schema.h"

#include <cstdlib>
#include <iostream>
#include <memory>
#include <set>
#include <string>

#include "google/protobuf/any.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/empty.pb.h"
#include "google/protobuf/field_mask.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/wrappers.pb.h"
#include "proto/testing/v1/testing.pb.h"

namespace sse_gateway {
namespace {

using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;

constexpr char kWellKnownFile[] = R"pb(
  name: "fuzz/v1/well_known.proto"
  package: "fuzz.v1"
  syntax: "proto3"
  dependency: "google/protobuf/any.proto"
  dependency: "google/protobuf/duration.proto"
  dependency: "google/protobuf/empty.proto"
  dependency: "google/protobuf/field_mask.proto"
  dependency: "google/protobuf/struct.proto"
  dependency: "google/protobuf/timestamp.proto"
  dependency: "google/protobuf/wrappers.proto"
  dependency: "testing/v1/testing.proto"  # replaced, see BuildFuzzSchema
  message_type {
    name: "WellKnown"
    field {
      name: "any"
      number: 1
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Any"
      json_name: "any"
    }
    field {
      name: "struct"
      number: 2
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Struct"
      json_name: "struct"
    }
    field {
      name: "value"
      number: 3
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Value"
      json_name: "value"
    }
    field {
      name: "list"
      number: 4
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.ListValue"
      json_name: "list"
    }
    field {
      name: "duration"
      number: 5
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Duration"
      json_name: "duration"
    }
    field {
      name: "mask"
      number: 6
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.FieldMask"
      json_name: "mask"
    }
    field {
      name: "when"
      number: 7
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Timestamp"
      json_name: "when"
    }
    field {
      name: "a_double"
      number: 8
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.DoubleValue"
      json_name: "aDouble"
    }
    field {
      name: "a_float"
      number: 9
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.FloatValue"
      json_name: "aFloat"
    }
    field {
      name: "an_int64"
      number: 10
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Int64Value"
      json_name: "anInt64"
    }
    field {
      name: "a_uint64"
      number: 11
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.UInt64Value"
      json_name: "aUint64"
    }
    field {
      name: "an_int32"
      number: 12
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Int32Value"
      json_name: "anInt32"
    }
    field {
      name: "a_uint32"
      number: 13
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.UInt32Value"
      json_name: "aUint32"
    }
    field {
      name: "a_bool"
      number: 14
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.BoolValue"
      json_name: "aBool"
    }
    field {
      name: "a_string"
      number: 15
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.StringValue"
      json_name: "aString"
    }
    field {
      name: "a_bytes"
      number: 16
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.BytesValue"
      json_name: "aBytes"
    }
    field {
      name: "values"
      number: 17
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".fuzz.v1.WellKnown.ValuesEntry"
      json_name: "values"
    }
    field {
      name: "by_id"
      number: 18
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".fuzz.v1.WellKnown.ByIdEntry"
      json_name: "byId"
    }
    field {
      name: "anys"
      number: 19
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Any"
      json_name: "anys"
    }
    field {
      name: "empty"
      number: 20
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Empty"
      oneof_index: 0
      json_name: "empty"
    }
    field {
      name: "null"
      number: 21
      label: LABEL_OPTIONAL
      type: TYPE_ENUM
      type_name: ".google.protobuf.NullValue"
      oneof_index: 0
      json_name: "null"
    }
    field {
      name: "filter"
      number: 22
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".testing.v1.Filter"
      oneof_index: 0
      json_name: "filter"
    }
    field {
      name: "durations"
      number: 23
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Duration"
      json_name: "durations"
    }
    field {
      name: "flags"
      number: 24
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".fuzz.v1.WellKnown.FlagsEntry"
      json_name: "flags"
    }
    field {
      name: "response"
      number: 25
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".testing.v1.StreamResponse"
      json_name: "response"
    }
    field {
      name: "self"
      number: 26
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".fuzz.v1.WellKnown"
      json_name: "self"
    }
    field {
      name: "masks"
      number: 27
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.FieldMask"
      json_name: "masks"
    }
    field {
      name: "stamps"
      number: 28
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Timestamp"
      json_name: "stamps"
    }
    oneof_decl { name: "pick" }
    nested_type {
      name: "ValuesEntry"
      field {
        name: "key"
        number: 1
        label: LABEL_OPTIONAL
        type: TYPE_STRING
        json_name: "key"
      }
      field {
        name: "value"
        number: 2
        label: LABEL_OPTIONAL
        type: TYPE_MESSAGE
        type_name: ".google.protobuf.Value"
        json_name: "value"
      }
      options { map_entry: true }
    }
    nested_type {
      name: "ByIdEntry"
      field {
        name: "key"
        number: 1
        label: LABEL_OPTIONAL
        type: TYPE_INT64
        json_name: "key"
      }
      field {
        name: "value"
        number: 2
        label: LABEL_OPTIONAL
        type: TYPE_MESSAGE
        type_name: ".testing.v1.AllTypes"
        json_name: "value"
      }
      options { map_entry: true }
    }
    nested_type {
      name: "FlagsEntry"
      field {
        name: "key"
        number: 1
        label: LABEL_OPTIONAL
        type: TYPE_BOOL
        json_name: "key"
      }
      field {
        name: "value"
        number: 2
        label: LABEL_OPTIONAL
        type: TYPE_BYTES
        json_name: "value"
      }
      options { map_entry: true }
    }
  }
)pb";

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "FuzzSchema: " << what << "\n";
  std::abort();
}

// Appends `file` to `*set` after its dependencies, each file once.
void AddWithDependencies(const FileDescriptor* file,
                         std::set<std::string>* added, FileDescriptorSet* set) {
  if (!added->insert(file->name()).second) return;
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddWithDependencies(file->dependency(i), added, set);
  }
  file->CopyTo(set->add_file());
}

const Schema* BuildFuzzSchema() {
  // Referencing each generated type links its file into the generated pool.
  const FileDescriptor* generated[] = {
      google::protobuf::Any::descriptor()->file(),
      google::protobuf::Duration::descriptor()->file(),
      google::protobuf::Empty::descriptor()->file(),
      google::protobuf::FieldMask::descriptor()->file(),
      google::protobuf::Struct::descriptor()->file(),
      google::protobuf::Timestamp::descriptor()->file(),
      google::protobuf::Int64Value::descriptor()->file(),
      testing::v1::StreamResponse::descriptor()->file(),
  };
  FileDescriptorSet set;
  std::set<std::string> added;
  for (const FileDescriptor* file : generated) {
    AddWithDependencies(file, &added, &set);
  }
  FileDescriptorProto* well_known = set.add_file();
  if (!google::protobuf::TextFormat::ParseFromString(kWellKnownFile,
                                                     well_known)) {
    Die("cannot parse the fuzz/v1/well_known.proto descriptor");
  }
  // The generated testing file is named as protoc saw it (with the Bazel
  // package prefix); import it under that name.
  *well_known->mutable_dependency()->rbegin() =
      testing::v1::StreamResponse::descriptor()->file()->name();
  absl::StatusOr<std::unique_ptr<Schema>> schema =
      Schema::FromDescriptorSet(set);
  if (!schema.ok()) Die(std::string(schema.status().message()));
  return schema->release();
}

}  // namespace

const Schema& FuzzSchema() {
  static const Schema* const schema = BuildFuzzSchema();
  return *schema;
}

}  // namespace sse_gateway
