// Whole-file reads and crash-safe writes (temp file + rename).
#pragma once

#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tfqat {

absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Writes `contents` to a temp file beside `path`, fsyncs and renames it over `path`,
// so a failure never leaves a partial output. The input file of a command is never
// opened for writing.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);
// The same for contents given in pieces, written in order (no joined copy).
absl::Status WriteFileAtomically(const std::string& path, const std::vector<absl::string_view>& pieces);

}  // namespace tfqat
