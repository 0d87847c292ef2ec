// PLACEHOLDER: replaced by the issue that builds `tfqat exec`.
#include "cli/cli_util.h"
#include "cli/commands.h"

namespace tfqat::cli {

void AddExecCommand(CLI::App& app, int* exit_code) {
  auto* sub = app.add_subcommand("exec", "(not built yet)");
  sub->allow_extras();
  sub->callback([exit_code] {
    *exit_code = ReportError("exec", absl::UnimplementedError("this subcommand is not built yet"));
  });
}

}  // namespace tfqat::cli
