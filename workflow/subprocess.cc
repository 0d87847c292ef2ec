#include "workflow/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace tfqat::workflow {

std::string SelfExecutable() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "tfqat";
  buf[n] = '\0';
  return buf;
}

std::string CommandLine(const std::vector<std::string>& args) {
  std::string out = "tfqat";
  for (const auto& a : args) {
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$*?;&|<>()") == std::string::npos;
    if (plain) {
      absl::StrAppend(&out, " ", a);
    } else {
      std::string q = "'";
      for (char c : a) {
        if (c == '\'') q += "'\\''"; else q += c;
      }
      absl::StrAppend(&out, " ", q, "'");
    }
  }
  return out;
}

absl::StatusOr<int> RunTfqat(const StageCommand& command) {
  std::string exe = SelfExecutable();
  std::vector<std::string> argv_s = {exe};
  argv_s.insert(argv_s.end(), command.args.begin(), command.args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!command.stdout_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, command.stdout_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  if (command.quiet_stderr) {
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  }
  pid_t pid;
  int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("cannot start '", exe, "': ", std::strerror(rc)));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(absl::StrCat("waitpid: ", std::strerror(errno)));
  }
  if (WIFSIGNALED(status)) {
    return absl::InternalError(absl::StrCat(CommandLine(command.args), " was killed by signal ",
                                            WTERMSIG(status)));
  }
  return WEXITSTATUS(status);
}

}  // namespace tfqat::workflow
