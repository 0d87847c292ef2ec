// PLACEHOLDER: replaced by the issue that builds `tfqat compare`.
#include "cli/cli_util.h"
#include "cli/commands.h"

namespace tfqat::cli {

void AddCompareCommand(CLI::App& app, int* exit_code) {
  auto* sub = app.add_subcommand("compare", "(not built yet)");
  sub->allow_extras();
  sub->callback([exit_code] {
    *exit_code = ReportError("compare", absl::UnimplementedError("this subcommand is not built yet"));
  });
}

}  // namespace tfqat::cli
