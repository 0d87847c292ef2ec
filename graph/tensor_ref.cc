#include "graph/tensor_ref.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tfqat {

std::string TensorRef::ToString() const {
  if (is_control) return absl::StrCat("^", node);
  if (port == 0) return node;
  return absl::StrCat(node, ":", port);
}

absl::StatusOr<TensorRef> ParseTensorRef(absl::string_view input) {
  TensorRef ref;
  absl::string_view s = input;
  if (!s.empty() && s[0] == '^') {
    ref.is_control = true;
    s.remove_prefix(1);
  }
  if (s.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("empty input name '", input, "'"));
  }
  size_t colon = s.rfind(':');
  if (colon != absl::string_view::npos && !ref.is_control) {
    absl::string_view port = s.substr(colon + 1);
    int p = 0;
    if (!port.empty() && absl::SimpleAtoi(port, &p) && p >= 0) {
      ref.port = p;
      s = s.substr(0, colon);
    }
  }
  if (s.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("input '", input, "' has no node name"));
  }
  ref.node = std::string(s);
  return ref;
}

absl::string_view NodeNameOf(absl::string_view input) {
  if (!input.empty() && input[0] == '^') input.remove_prefix(1);
  size_t colon = input.rfind(':');
  if (colon != absl::string_view::npos) {
    absl::string_view port = input.substr(colon + 1);
    int p;
    if (!port.empty() && absl::SimpleAtoi(port, &p)) return input.substr(0, colon);
  }
  return input;
}

}  // namespace tfqat
