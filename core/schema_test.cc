#include "core/schema.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;
using ::testing::HasSubstr;

constexpr char kTestingSet[] = "proto/testing/v1/testing.descriptor_set.pb";

FileDescriptorSet ReadTestingSet() {
  std::ifstream in(kTestingSet, std::ios::binary);
  FileDescriptorSet set;
  EXPECT_TRUE(set.ParseFromIstream(&in)) << "cannot read " << kTestingSet;
  return set;
}

const FileDescriptorProto* FindFile(const FileDescriptorSet& set,
                                    const std::string& name) {
  for (const FileDescriptorProto& file : set.file()) {
    if (file.name() == name) return &file;
  }
  ADD_FAILURE() << name << " is not in the set";
  return nullptr;
}

FileDescriptorProto ParseFile(const std::string& text) {
  FileDescriptorProto file;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &file));
  return file;
}

// A second schema sharing google/protobuf/timestamp.proto with the testing
// one, with one method of every streaming kind.
FileDescriptorProto OtherFile() {
  return ParseFile(R"pb(
    name: "other/v1/other.proto"
    package: "other.v1"
    syntax: "proto3"
    dependency: "google/protobuf/timestamp.proto"
    message_type {
      name: "Event"
      field {
        name: "at"
        number: 1
        label: LABEL_OPTIONAL
        type: TYPE_MESSAGE
        type_name: ".google.protobuf.Timestamp"
      }
    }
    service {
      name: "OtherService"
      method {
        name: "Watch"
        input_type: ".other.v1.Event"
        output_type: ".other.v1.Event"
        server_streaming: true
      }
      method {
        name: "Upload"
        input_type: ".other.v1.Event"
        output_type: ".other.v1.Event"
        client_streaming: true
      }
      method {
        name: "Chat"
        input_type: ".other.v1.Event"
        output_type: ".other.v1.Event"
        client_streaming: true
        server_streaming: true
      }
    }
  )pb");
}

std::string WriteTempFile(const std::string& name, const std::string& bytes) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path =
      absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  EXPECT_TRUE(out.good()) << "cannot write " << path;
  return path;
}

std::string WriteSet(const std::string& name, const FileDescriptorSet& set) {
  return WriteTempFile(name, set.SerializeAsString());
}

std::unique_ptr<Schema> LoadTestingSchema() {
  absl::StatusOr<std::unique_ptr<Schema>> schema =
      Schema::LoadDescriptorSetFiles({kTestingSet});
  EXPECT_TRUE(schema.ok()) << schema.status();
  return schema.ok() ? std::move(*schema) : nullptr;
}

TEST(SchemaTest, LoadsTestingDescriptorSet) {
  std::unique_ptr<Schema> schema = LoadTestingSchema();
  ASSERT_NE(schema, nullptr);
  const google::protobuf::Descriptor* all_types =
      schema->pool()->FindMessageTypeByName("testing.v1.AllTypes");
  ASSERT_NE(all_types, nullptr);
  EXPECT_NE(schema->pool()->FindMessageTypeByName("google.protobuf.Timestamp"),
            nullptr);
  EXPECT_EQ(schema->files().back()->name(), "proto/testing/v1/testing.proto");

  const google::protobuf::Message* prototype = schema->GetPrototype(all_types);
  ASSERT_NE(prototype, nullptr);
  std::unique_ptr<google::protobuf::Message> message(prototype->New());
  EXPECT_EQ(message->GetDescriptor(), all_types);
  EXPECT_EQ(schema->GetPrototype(all_types), prototype);
}

TEST(SchemaTest, PrototypeOfForeignTypeIsNull) {
  std::unique_ptr<Schema> schema = LoadTestingSchema();
  ASSERT_NE(schema, nullptr);
  EXPECT_EQ(schema->GetPrototype(FileDescriptorProto::descriptor()), nullptr);
  EXPECT_EQ(schema->GetPrototype(nullptr), nullptr);
}

TEST(SchemaTest, PrototypesAreSharedAcrossThreads) {
  std::unique_ptr<Schema> schema = LoadTestingSchema();
  ASSERT_NE(schema, nullptr);
  const std::vector<std::string> names = {
      "testing.v1.AllTypes", "testing.v1.Filter", "testing.v1.StreamRequest",
      "testing.v1.StreamResponse", "google.protobuf.Timestamp"};
  std::vector<std::vector<const google::protobuf::Message*>> seen(4);
  std::vector<std::thread> threads;
  for (auto& per_thread : seen) {
    threads.emplace_back([&schema, &names, &per_thread] {
      for (const std::string& name : names) {
        per_thread.push_back(
            schema->GetPrototype(schema->pool()->FindMessageTypeByName(name)));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const auto& per_thread : seen) {
    EXPECT_EQ(per_thread, seen[0]);
    for (const auto* prototype : per_thread) EXPECT_NE(prototype, nullptr);
  }
}

TEST(SchemaTest, MissingFileIsNotFoundAndNamesThePath) {
  const std::string path = "no/such/dir/missing.pb";
  absl::StatusOr<std::unique_ptr<Schema>> schema =
      Schema::LoadDescriptorSetFiles({kTestingSet, path});
  EXPECT_EQ(schema.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(schema.status().message(), HasSubstr(path));
}

TEST(SchemaTest, GarbageFileIsAnErrorNamingThePath) {
  const std::string path =
      WriteTempFile("garbage.pb", std::string("\xff\xff\xff\xff not protobuf"));
  absl::StatusOr<std::unique_ptr<Schema>> schema =
      Schema::LoadDescriptorSetFiles({path});
  EXPECT_EQ(schema.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(schema.status().message(), HasSubstr(path));
}

TEST(SchemaTest, TwoSetsMayShareIdenticalFiles) {
  const FileDescriptorSet testing = ReadTestingSet();
  FileDescriptorSet other;
  const FileDescriptorProto* timestamp =
      FindFile(testing, "google/protobuf/timestamp.proto");
  ASSERT_NE(timestamp, nullptr);
  *other.add_file() = *timestamp;
  // Source info differs between copies of a file when protoc flags differ.
  other.mutable_file(0)->mutable_source_code_info()->add_location()->add_path(
      4);
  *other.add_file() = OtherFile();
  const std::string other_path = WriteSet("other.pb", other);

  absl::StatusOr<std::unique_ptr<Schema>> schema =
      Schema::LoadDescriptorSetFiles({kTestingSet, other_path});
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_TRUE(
      (*schema)->FindServerStreamingMethod("other.v1.OtherService/Watch").ok());
  EXPECT_TRUE((*schema)
                  ->FindServerStreamingMethod("testing.v1.TestService/Stream")
                  .ok());
}

TEST(SchemaTest, ConflictingRedefinitionOfAFileIsAnError) {
  FileDescriptorSet changed = ReadTestingSet();
  for (FileDescriptorProto& file : *changed.mutable_file()) {
    if (file.name() == "proto/testing/v1/testing.proto") {
      file.add_message_type()->set_name("Extra");
    }
  }
  const std::string changed_path = WriteSet("changed.pb", changed);
  absl::StatusOr<std::unique_ptr<Schema>> schema =
      Schema::LoadDescriptorSetFiles({kTestingSet, changed_path});
  EXPECT_EQ(schema.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(schema.status().message(), HasSubstr(changed_path));
  EXPECT_THAT(schema.status().message(),
              HasSubstr("proto/testing/v1/testing.proto"));
}

TEST(SchemaTest, SymbolDefinedInTwoFilesIsAnError) {
  FileDescriptorSet duplicate;
  *duplicate.add_file() = ParseFile(R"pb(
    name: "dup/v1/dup.proto"
    package: "testing.v1"
    syntax: "proto3"
    message_type { name: "Filter" }
  )pb");
  const std::string duplicate_path = WriteSet("duplicate.pb", duplicate);
  absl::StatusOr<std::unique_ptr<Schema>> schema =
      Schema::LoadDescriptorSetFiles({kTestingSet, duplicate_path});
  EXPECT_EQ(schema.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(schema.status().message(), HasSubstr(duplicate_path));
  EXPECT_THAT(schema.status().message(), HasSubstr("testing.v1.Filter"));
}

TEST(SchemaTest, MissingDependencyIsAnErrorNamingThePath) {
  FileDescriptorSet partial;
  *partial.add_file() = OtherFile();
  const std::string partial_path = WriteSet("partial.pb", partial);
  absl::StatusOr<std::unique_ptr<Schema>> schema =
      Schema::LoadDescriptorSetFiles({partial_path});
  EXPECT_EQ(schema.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(schema.status().message(), HasSubstr(partial_path));
  EXPECT_THAT(schema.status().message(),
              HasSubstr("google/protobuf/timestamp.proto"));
}

TEST(SchemaTest, FilesMayComeInAnyOrder) {
  FileDescriptorSet reversed;
  const FileDescriptorSet testing = ReadTestingSet();
  for (int i = testing.file_size() - 1; i >= 0; --i) {
    *reversed.add_file() = testing.file(i);
  }
  absl::StatusOr<std::unique_ptr<Schema>> schema =
      Schema::FromDescriptorSet(reversed);
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_NE((*schema)->pool()->FindMessageTypeByName("testing.v1.AllTypes"),
            nullptr);
}

class MethodLookupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FileDescriptorSet set = ReadTestingSet();
    *set.add_file() = OtherFile();
    absl::StatusOr<std::unique_ptr<Schema>> schema =
        Schema::FromDescriptorSet(set);
    ASSERT_TRUE(schema.ok()) << schema.status();
    schema_ = std::move(*schema);
  }

  absl::Status Lookup(absl::string_view name) {
    return schema_->FindServerStreamingMethod(name).status();
  }

  std::unique_ptr<Schema> schema_;
};

TEST_F(MethodLookupTest, FindsServerStreamingMethod) {
  absl::StatusOr<const google::protobuf::MethodDescriptor*> method =
      schema_->FindServerStreamingMethod("testing.v1.TestService/Stream");
  ASSERT_TRUE(method.ok()) << method.status();
  EXPECT_EQ((*method)->full_name(), "testing.v1.TestService.Stream");
  EXPECT_EQ((*method)->input_type()->full_name(), "testing.v1.StreamRequest");

  method = schema_->FindServerStreamingMethod("/testing.v1.TestService/Stream");
  ASSERT_TRUE(method.ok()) << method.status();
  EXPECT_EQ((*method)->name(), "Stream");
}

TEST_F(MethodLookupTest, MalformedNamesAreInvalidArgument) {
  for (const char* name :
       {"", "/", "testing.v1.TestService.Stream", "testing.v1.TestService/",
        "/Stream", "a/b/c", "//testing.v1.TestService/Stream"}) {
    const absl::Status status = Lookup(name);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(status.message(), HasSubstr("malformed")) << name;
  }
}

TEST_F(MethodLookupTest, UnknownServiceListsCloseNames) {
  const absl::Status status = Lookup("testing.v1.TestServise/Stream");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("unknown service"));
  EXPECT_THAT(status.message(), HasSubstr("testing.v1.TestService"));

  // Same service name in the wrong package.
  EXPECT_THAT(Lookup("TestService/Stream").message(),
              HasSubstr("did you mean testing.v1.TestService"));
  // Nothing close: no suggestion.
  EXPECT_THAT(Lookup("zzz.Unrelated/Stream").message(),
              ::testing::Not(HasSubstr("did you mean")));
}

TEST_F(MethodLookupTest, UnknownMethodListsCloseNames) {
  const absl::Status status = Lookup("testing.v1.TestService/Steam");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("no method \"Steam\""));
  EXPECT_THAT(status.message(), HasSubstr("did you mean Stream"));
}

TEST_F(MethodLookupTest, NonServerStreamingMethodsAreRejected) {
  absl::Status status = Lookup("testing.v1.TestService/Unary");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("is unary"));

  status = Lookup("other.v1.OtherService/Upload");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("is client-streaming"));

  status = Lookup("other.v1.OtherService/Chat");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("is bidirectional streaming"));

  EXPECT_TRUE(Lookup("other.v1.OtherService/Watch").ok());
}

}  // namespace
}  // namespace sse_gateway
