#include "core/schema.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/read_file.h"
#include "core/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace sse_gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

constexpr absl::string_view kInMemorySource = "<descriptor set>";

// Collects the pool's build errors into one line.
class BuildErrorCollector : public DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const google::protobuf::Message* /*descriptor*/,
                ErrorLocation /*location*/,
                const std::string& message) override {
    errors_.push_back(element_name.empty()
                          ? message
                          : absl::StrCat(element_name, ": ", message));
  }
  std::string Joined() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::vector<std::string> errors_;
};

// The serialized file without source code info, which protoc includes or not
// depending on flags and which does not change what the file defines.
std::string CanonicalBytes(const FileDescriptorProto& proto) {
  FileDescriptorProto copy = proto;
  copy.clear_source_code_info();
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  copy.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      const bool same =
          absl::ascii_tolower(a[i - 1]) == absl::ascii_tolower(b[j - 1]);
      row[j] =
          std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

absl::string_view LastComponent(absl::string_view full_name) {
  const size_t dot = full_name.rfind('.');
  return dot == absl::string_view::npos ? full_name : full_name.substr(dot + 1);
}

// Candidates that look like a typo of `wanted` (case-insensitive edit
// distance, or the same last dotted component), best first, at most five.
std::vector<std::string> CloseNames(
    absl::string_view wanted, const std::vector<std::string>& candidates) {
  const size_t max_distance = std::max<size_t>(2, wanted.size() / 4);
  std::vector<std::pair<size_t, std::string>> scored;
  for (const std::string& candidate : candidates) {
    size_t distance = EditDistance(wanted, candidate);
    if (absl::EqualsIgnoreCase(LastComponent(wanted),
                               LastComponent(candidate))) {
      distance = std::min<size_t>(distance, 1);
    }
    if (distance <= max_distance) scored.emplace_back(distance, candidate);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> names;
  for (size_t i = 0; i < scored.size() && i < 5; ++i) {
    names.push_back(scored[i].second);
  }
  return names;
}

std::string DidYouMean(const std::vector<std::string>& names) {
  if (names.empty()) return "";
  return absl::StrCat("; did you mean ", absl::StrJoin(names, ", "), "?");
}

absl::StatusOr<FileDescriptorSet> ReadDescriptorSetFile(
    const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFileToString(path);
  if (!contents.ok()) {
    return absl::Status(
        contents.status().code(),
        absl::StrCat("descriptor set: ", contents.status().message()));
  }
  FileDescriptorSet set;
  if (!set.ParseFromString(*contents)) {
    return absl::InvalidArgumentError(
        absl::StrCat("descriptor set \"", path,
                     "\" is not a binary FileDescriptorSet (build it with "
                     "protoc --include_imports --descriptor_set_out)"));
  }
  return set;
}

}  // namespace

Schema::Schema()
    : pool_(std::make_unique<DescriptorPool>()),
      factory_(std::make_unique<google::protobuf::DynamicMessageFactory>(
          pool_.get())) {}

Schema::~Schema() = default;

absl::StatusOr<std::unique_ptr<Schema>> Schema::LoadDescriptorSetFiles(
    const std::vector<std::string>& paths) {
  std::vector<SourcedFile> files;
  for (const std::string& path : paths) {
    ASSIGN_OR_RETURN(FileDescriptorSet set, ReadDescriptorSetFile(path));
    for (FileDescriptorProto& proto : *set.mutable_file()) {
      files.push_back(SourcedFile{path, std::move(proto)});
    }
  }
  return Build(std::move(files));
}

absl::StatusOr<std::unique_ptr<Schema>> Schema::FromDescriptorSet(
    const FileDescriptorSet& set) {
  std::vector<SourcedFile> files;
  for (const FileDescriptorProto& proto : set.file()) {
    files.push_back(SourcedFile{std::string(kInMemorySource), proto});
  }
  return Build(std::move(files));
}

absl::StatusOr<std::unique_ptr<Schema>> Schema::Build(
    std::vector<SourcedFile> files) {
  // Deduplicate by file name; identical copies are dropped.
  std::vector<const SourcedFile*> unique_files;
  absl::flat_hash_map<std::string, const SourcedFile*> by_name;
  for (const SourcedFile& file : files) {
    const std::string& name = file.proto.name();
    if (name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "descriptor set \"", file.source, "\" holds a file without a name"));
    }
    auto [it, inserted] = by_name.emplace(name, &file);
    if (inserted) {
      unique_files.push_back(&file);
    } else if (CanonicalBytes(it->second->proto) !=
               CanonicalBytes(file.proto)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "descriptor set \"", file.source, "\" defines \"", name,
          "\" differently from descriptor set \"", it->second->source, "\""));
    }
  }

  // Order files so that every dependency is built before its dependents.
  std::vector<const SourcedFile*> ordered;
  enum class Mark { kVisiting, kDone };
  absl::flat_hash_map<std::string, Mark> marks;
  // Iterative depth-first search: (file, index of the next dependency).
  for (const SourcedFile* root : unique_files) {
    if (marks.contains(root->proto.name())) continue;
    std::vector<std::pair<const SourcedFile*, int>> stack = {{root, 0}};
    marks[root->proto.name()] = Mark::kVisiting;
    while (!stack.empty()) {
      auto& [file, next] = stack.back();
      if (next == file->proto.dependency_size()) {
        marks[file->proto.name()] = Mark::kDone;
        ordered.push_back(file);
        stack.pop_back();
        continue;
      }
      const std::string& dependency = file->proto.dependency(next++);
      auto found = by_name.find(dependency);
      if (found == by_name.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "descriptor set \"", file->source, "\": \"", file->proto.name(),
            "\" imports \"", dependency,
            "\", which no descriptor set contains (build the set with "
            "protoc --include_imports)"));
      }
      auto mark = marks.find(dependency);
      if (mark == marks.end()) {
        marks[dependency] = Mark::kVisiting;
        stack.emplace_back(found->second, 0);
      } else if (mark->second == Mark::kVisiting) {
        return absl::InvalidArgumentError(
            absl::StrCat("descriptor set \"", file->source,
                         "\": import cycle through \"", dependency, "\""));
      }
    }
  }

  std::unique_ptr<Schema> schema(new Schema());
  for (const SourcedFile* file : ordered) {
    BuildErrorCollector errors;
    const FileDescriptor* built =
        schema->pool_->BuildFileCollectingErrors(file->proto, &errors);
    if (built == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("descriptor set \"", file->source, "\": cannot load \"",
                       file->proto.name(), "\": ", errors.Joined()));
    }
    schema->files_.push_back(built);
  }
  return schema;
}

absl::StatusOr<const MethodDescriptor*> Schema::FindServerStreamingMethod(
    absl::string_view name) const {
  absl::string_view trimmed = name;
  absl::ConsumePrefix(&trimmed, "/");
  const std::vector<absl::string_view> parts = absl::StrSplit(trimmed, '/');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed method name \"", absl::CHexEscape(name),
                     "\": expected \"package.Service/Method\""));
  }
  const absl::string_view service_name = parts[0];
  const absl::string_view method_name = parts[1];

  const ServiceDescriptor* service =
      pool_->FindServiceByName(std::string(service_name));
  if (service == nullptr) {
    std::vector<std::string> services;
    for (const FileDescriptor* file : files_) {
      for (int i = 0; i < file->service_count(); ++i) {
        services.push_back(file->service(i)->full_name());
      }
    }
    return absl::NotFoundError(
        absl::StrCat("unknown service \"", absl::CHexEscape(service_name), "\"",
                     DidYouMean(CloseNames(service_name, services))));
  }

  const MethodDescriptor* method =
      service->FindMethodByName(std::string(method_name));
  if (method == nullptr) {
    std::vector<std::string> methods;
    for (int i = 0; i < service->method_count(); ++i) {
      methods.push_back(service->method(i)->name());
    }
    return absl::NotFoundError(
        absl::StrCat("service \"", service->full_name(), "\" has no method \"",
                     absl::CHexEscape(method_name), "\"",
                     DidYouMean(CloseNames(method_name, methods))));
  }

  if (!method->server_streaming() || method->client_streaming()) {
    const char* kind = !method->client_streaming()  ? "unary"
                       : method->server_streaming() ? "bidirectional streaming"
                                                    : "client-streaming";
    return absl::InvalidArgumentError(
        absl::StrCat("method \"", service->full_name(), "/", method->name(),
                     "\" is ", kind, ", not server-streaming"));
  }
  return method;
}

const google::protobuf::Message* Schema::GetPrototype(
    const Descriptor* type) const {
  if (type == nullptr || type->file()->pool() != pool_.get()) return nullptr;
  // DynamicMessageFactory::GetPrototype is documented as thread-safe.
  return factory_->GetPrototype(type);
}

}  // namespace sse_gateway
