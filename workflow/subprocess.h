// Runs a tfqat stage as a child process of the same binary (`/proc/self/exe SUB ARGS…`), so that
// each pipeline stage is exactly the subcommand a user would run by hand, with its own exit code.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tfqat::workflow {

struct StageCommand {
  std::vector<std::string> args;  // argv[1..] of tfqat
  std::string stdout_path;        // "" = inherit; else stdout goes to this file
  bool quiet_stderr = false;      // send stderr to /dev/null
};

// Exit status of the child (0..255); error only when it could not be started or was killed.
absl::StatusOr<int> RunTfqat(const StageCommand& command);

// The path of the running tfqat binary.
std::string SelfExecutable();

// Shell-quoted command line, for logs and "to reproduce, run" hints.
std::string CommandLine(const std::vector<std::string>& args);

}  // namespace tfqat::workflow
