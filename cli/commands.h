// Each subcommand lives in its own cmd_<name>.cc and adds itself to the app through one of
// these functions; main.cc calls them in a fixed, explicit order (no static registration).
// A subcommand's callback stores its exit code in *exit_code.
#pragma once

#include "CLI/CLI.hpp"

namespace tfqat::cli {

void AddInspectCommand(CLI::App& app, int* exit_code);
void AddRewriteCommand(CLI::App& app, int* exit_code);
void AddAuditCommand(CLI::App& app, int* exit_code);
void AddExecCommand(CLI::App& app, int* exit_code);
void AddTrainCommand(CLI::App& app, int* exit_code);
void AddFreezeCommand(CLI::App& app, int* exit_code);
void AddConvertCommand(CLI::App& app, int* exit_code);
void AddRunCommand(CLI::App& app, int* exit_code);
void AddBenchCommand(CLI::App& app, int* exit_code);
void AddCompareCommand(CLI::App& app, int* exit_code);
void AddPipelineCommand(CLI::App& app, int* exit_code);

}  // namespace tfqat::cli
