#include "tests/graph/test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

namespace tfqat::testing_util {

std::string TempPath(absl::string_view stem) {
  static std::atomic<int> counter{0};
  return absl::StrCat(::testing::TempDir(), "/tfqat_graph_", ::getpid(), "_", counter++, "_", stem);
}

void WriteBytes(const std::string& path, absl::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TfqatBin() {
  const char* bin = std::getenv("TFQAT_BIN");
  return bin ? bin : "";
}

RunResult RunTfqat(const std::vector<std::string>& args) {
  RunResult r;
  std::string out_path = TempPath("stdout"), err_path = TempPath("stderr");
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* o = std::freopen(out_path.c_str(), "w", stdout);
    std::FILE* e = std::freopen(err_path.c_str(), "w", stderr);
    (void)o;
    (void)e;
    std::string bin = TfqatBin();
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(bin.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    std::_Exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadBytes(out_path);
  r.err = ReadBytes(err_path);
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  return r;
}

namespace {

struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p == end) return false;
      uint8_t b = *p++;
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  // Skips a field's payload; for wire type 2 returns the bytes in *payload.
  bool Field(int wire_type, absl::string_view* payload) {
    uint64_t n = 0;
    switch (wire_type) {
      case 0: return Varint(&n);
      case 1: if (end - p < 8) return false; p += 8; return true;
      case 5: if (end - p < 4) return false; p += 4; return true;
      case 2:
        if (!Varint(&n) || n > static_cast<uint64_t>(end - p)) return false;
        *payload = absl::string_view(reinterpret_cast<const char*>(p), n);
        p += n;
        return true;
      default: return false;  // groups do not occur in GraphDef
    }
  }
};

}  // namespace

bool WireOpHistogram(absl::string_view bytes, std::map<std::string, int>* hist) {
  Reader r{reinterpret_cast<const uint8_t*>(bytes.data()),
           reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size()};
  while (r.p != r.end) {
    uint64_t tag;
    absl::string_view payload;
    if (!r.Varint(&tag) || !r.Field(static_cast<int>(tag & 7), &payload)) return false;
    if ((tag >> 3) != 1 || (tag & 7) != 2) continue;  // GraphDef.node = 1
    Reader n{reinterpret_cast<const uint8_t*>(payload.data()),
             reinterpret_cast<const uint8_t*>(payload.data()) + payload.size()};
    std::string op;
    while (n.p != n.end) {
      uint64_t t;
      absl::string_view v;
      if (!n.Varint(&t) || !n.Field(static_cast<int>(t & 7), &v)) return false;
      if ((t >> 3) == 2 && (t & 7) == 2) op = std::string(v);  // NodeDef.op = 2
    }
    ++(*hist)[op];
  }
  return true;
}

std::map<std::string, int> TextOpHistogram(absl::string_view text) {
  std::map<std::string, int> hist;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == absl::string_view::npos) eol = text.size();
    absl::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    // Top-level nodes are `node {` at column 0 with fields indented by two spaces.
    if (absl::ConsumePrefix(&line, "  op: \"") && absl::ConsumeSuffix(&line, "\"")) {
      ++hist[std::string(line)];
    }
  }
  return hist;
}

std::vector<std::string> FindFiles(const std::string& dir, absl::string_view suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file() && absl::EndsWith(it->path().filename().string(), suffix)) {
      out.push_back(it->path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string SharedDir() { return TFQAT_SHARED_DIR; }

}  // namespace tfqat::testing_util
