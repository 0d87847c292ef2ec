// The one parser of NodeDef input strings: "node", "node:port", "^node".
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace tfqat {

struct TensorRef {
  std::string node;
  int port = 0;
  bool is_control = false;

  bool operator==(const TensorRef& o) const {
    return node == o.node && port == o.port && is_control == o.is_control;
  }
  bool operator!=(const TensorRef& o) const { return !(*this == o); }
  // "node" for port 0, "node:port" otherwise, "^node" for control inputs.
  std::string ToString() const;
};

absl::StatusOr<TensorRef> ParseTensorRef(absl::string_view input);

// ParseTensorRef without copying the node name: `node` points into `input`.
struct TensorRefView {
  absl::string_view node;
  int port = 0;
  bool is_control = false;
};
absl::StatusOr<TensorRefView> ParseTensorRefView(absl::string_view input);

// Node name of an input string without parsing errors ("^a" -> "a", "a:1" -> "a").
absl::string_view NodeNameOf(absl::string_view input);

}  // namespace tfqat
