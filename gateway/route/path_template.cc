#include "gateway/route/path_template.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gateway/http/query_string.h"

namespace sse_gateway {
namespace {

bool IsIdentifier(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return false;
    }
  }
  return !absl::ascii_isdigit(static_cast<unsigned char>(text[0]));
}

bool IsFieldPath(absl::string_view text) {
  for (absl::string_view part : absl::StrSplit(text, '.')) {
    if (!IsIdentifier(part)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<PathTemplate> PathTemplate::Parse(absl::string_view text) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("path template \"", text, "\": ", why));
  };
  if (text.empty() || text[0] != '/') return invalid("must start with '/'");
  PathTemplate result;
  result.text_ = std::string(text);
  absl::string_view rest = text.substr(1);

  // The verb is a ':' after the last '/' and outside any braces.
  size_t last_slash = rest.rfind('/');
  size_t last_close = rest.rfind('}');
  size_t search_from = last_slash == absl::string_view::npos ? 0 : last_slash;
  if (last_close != absl::string_view::npos && last_close > search_from) {
    search_from = last_close;
  }
  size_t colon = rest.find(':', search_from);
  if (colon != absl::string_view::npos) {
    result.verb_ = std::string(rest.substr(colon + 1));
    if (result.verb_.empty()) return invalid("empty verb after ':'");
    rest = rest.substr(0, colon);
  }

  bool any_many = false;
  bool in_prefix = true;
  size_t i = 0;
  while (i <= rest.size()) {
    size_t end = i;
    std::optional<Variable> variable;
    std::vector<absl::string_view> pieces;
    if (i < rest.size() && rest[i] == '{') {
      size_t close = rest.find('}', i);
      if (close == absl::string_view::npos) return invalid("unclosed '{'");
      absl::string_view inner = rest.substr(i + 1, close - i - 1);
      std::pair<absl::string_view, absl::string_view> field_and_pattern =
          absl::StrSplit(inner, absl::MaxSplits('=', 1));
      if (!IsFieldPath(field_and_pattern.first)) {
        return invalid(
            absl::StrCat("bad field path \"", field_and_pattern.first, "\""));
      }
      variable = Variable{std::string(field_and_pattern.first),
                          result.segments_.size(), 0};
      absl::string_view pattern = inner.find('=') == absl::string_view::npos
                                      ? "*"
                                      : field_and_pattern.second;
      if (pattern.empty()) return invalid("empty variable pattern");
      pieces = absl::StrSplit(pattern, '/');
      end = close + 1;
    } else {
      end = rest.find('/', i);
      if (end == absl::string_view::npos) end = rest.size();
      pieces.push_back(rest.substr(i, end - i));
    }
    for (absl::string_view piece : pieces) {
      if (any_many) return invalid("\"**\" must be the last segment");
      Segment segment;
      if (piece == "*") {
        segment.kind = Segment::kAny;
      } else if (piece == "**") {
        segment.kind = Segment::kAnyMany;
        any_many = true;
      } else if (piece.empty() ||
                 piece.find_first_of("{}*=") != absl::string_view::npos) {
        return invalid(absl::StrCat("bad segment \"", piece, "\""));
      } else {
        segment.kind = Segment::kLiteral;
        segment.literal = std::string(piece);
      }
      if (segment.kind != Segment::kLiteral || variable.has_value()) {
        in_prefix = false;
      }
      if (in_prefix) ++result.literal_prefix_;
      result.segments_.push_back(std::move(segment));
    }
    if (variable.has_value()) {
      variable->end = result.segments_.size();
      result.variables_.push_back(*std::move(variable));
    }
    if (end >= rest.size()) break;
    if (rest[end] != '/') return invalid("expected '/' after a variable");
    i = end + 1;
  }
  return result;
}

std::optional<PathTemplate::Bindings> PathTemplate::Match(
    absl::string_view path) const {
  if (path.empty() || path[0] != '/') return std::nullopt;
  path.remove_prefix(1);
  if (!verb_.empty()) {
    std::string suffix = absl::StrCat(":", verb_);
    if (path.size() < suffix.size() ||
        path.substr(path.size() - suffix.size()) != suffix) {
      return std::nullopt;
    }
    path.remove_suffix(suffix.size());
  }
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  const bool any_many =
      !segments_.empty() && segments_.back().kind == Segment::kAnyMany;
  size_t fixed = any_many ? segments_.size() - 1 : segments_.size();
  if (any_many ? parts.size() < fixed : parts.size() != fixed) {
    return std::nullopt;
  }
  for (size_t s = 0; s < fixed; ++s) {
    const Segment& segment = segments_[s];
    if (parts[s].empty()) return std::nullopt;
    if (segment.kind == Segment::kLiteral && parts[s] != segment.literal) {
      return std::nullopt;
    }
  }
  Bindings bindings;
  for (const Variable& variable : variables_) {
    size_t first = variable.begin;
    size_t last = variable.end == segments_.size() && any_many ? parts.size()
                                                               : variable.end;
    std::vector<absl::string_view> matched(parts.begin() + first,
                                           parts.begin() + last);
    bool multi = last - first != 1;
    std::optional<std::string> value =
        PercentDecode(absl::StrJoin(matched, "/"), /*plus_is_space=*/false,
                      /*keep_escaped_slash=*/multi);
    if (!value.has_value()) return std::nullopt;
    bindings.emplace_back(variable.field_path, *std::move(value));
  }
  return bindings;
}

}  // namespace sse_gateway
