#include "graph/tensor_ref.h"

#include "absl/strings/str_cat.h"

namespace tfqat {
namespace {

// Splits "name:123" into ("name", 123) the way TensorFlow's ParseTensorName does: only a
// non-empty run of decimal digits after the last ':' is a port; anything else ("a:", "a:x",
// "a:-1", "a: 1") stays part of the name. Ports above 2^31-1 are not ports either.
absl::string_view SplitPort(absl::string_view s, int* port) {
  *port = 0;
  size_t colon = s.rfind(':');
  if (colon == absl::string_view::npos || colon + 1 == s.size()) return s;
  int64_t p = 0;
  for (size_t i = colon + 1; i < s.size(); ++i) {
    char c = s[i];
    if (c < '0' || c > '9') return s;
    p = p * 10 + (c - '0');
    if (p > 0x7fffffff) return s;
  }
  *port = static_cast<int>(p);
  return s.substr(0, colon);
}

}  // namespace

std::string TensorRef::ToString() const {
  if (is_control) return absl::StrCat("^", node);
  if (port == 0) return node;
  return absl::StrCat(node, ":", port);
}

absl::StatusOr<TensorRefView> ParseTensorRefView(absl::string_view input) {
  TensorRefView ref;
  absl::string_view s = input;
  if (!s.empty() && s[0] == '^') {
    ref.is_control = true;
    s.remove_prefix(1);
  }
  if (s.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("empty input name '", input, "'"));
  }
  int port = 0;
  s = SplitPort(s, &port);
  // A control edge has no port; TensorFlow accepts (and ignores) one written as "^a:1".
  if (!ref.is_control) ref.port = port;
  if (s.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("input '", input, "' has no node name"));
  }
  ref.node = s;
  return ref;
}

absl::StatusOr<TensorRef> ParseTensorRef(absl::string_view input) {
  absl::StatusOr<TensorRefView> v = ParseTensorRefView(input);
  if (!v.ok()) return v.status();
  TensorRef ref;
  ref.node = std::string(v->node);
  ref.port = v->port;
  ref.is_control = v->is_control;
  return ref;
}

absl::string_view NodeNameOf(absl::string_view input) {
  if (!input.empty() && input[0] == '^') input.remove_prefix(1);
  int port = 0;
  return SplitPort(input, &port);
}

}  // namespace tfqat
