// PLACEHOLDER: replaced by the issue that builds `tfqat bench`.
#include "cli/cli_util.h"
#include "cli/commands.h"

namespace tfqat::cli {

void AddBenchCommand(CLI::App& app, int* exit_code) {
  auto* sub = app.add_subcommand("bench", "(not built yet)");
  sub->allow_extras();
  sub->callback([exit_code] {
    *exit_code = ReportError("bench", absl::UnimplementedError("this subcommand is not built yet"));
  });
}

}  // namespace tfqat::cli
