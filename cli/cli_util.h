// Shared plumbing for tfqat subcommands: exit codes and error printing.
#pragma once

#include <iostream>
#include <string>

#include "absl/status/status.h"

namespace tfqat::cli {

// Exit codes used by every subcommand.
inline constexpr int kExitOk = 0;        // success, nothing to report
inline constexpr int kExitFindings = 1;  // ran, and found problems (audit, compare thresholds)
inline constexpr int kExitError = 2;     // could not read/validate/convert the input

// Prints "tfqat SUB: error: <message>" to stderr and returns kExitError.
inline int ReportError(const std::string& sub, const absl::Status& status) {
  std::cerr << "tfqat " << sub << ": error: " << status.message() << "\n";
  return kExitError;
}

}  // namespace tfqat::cli
