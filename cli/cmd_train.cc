// PLACEHOLDER: replaced by the issue that builds `tfqat train`.
#include "cli/cli_util.h"
#include "cli/commands.h"

namespace tfqat::cli {

void AddTrainCommand(CLI::App& app, int* exit_code) {
  auto* sub = app.add_subcommand("train", "(not built yet)");
  sub->allow_extras();
  sub->callback([exit_code] {
    *exit_code = ReportError("train", absl::UnimplementedError("this subcommand is not built yet"));
  });
}

}  // namespace tfqat::cli
