// Helpers shared by the graph suite: temp files, running the tfqat binary, an independent
// protobuf wire-format reader for GraphDef op histograms.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/graph.pb.h"

namespace tfqat::testing_util {

// A fresh file path under the test temp dir (unique per call).
std::string TempPath(absl::string_view stem);
void WriteBytes(const std::string& path, absl::string_view bytes);
std::string ReadBytes(const std::string& path);

struct RunResult {
  int exit_code = -1;  // exit status; 128+signal when killed by a signal
  std::string out;
  std::string err;
};
// Runs the built tfqat (env TFQAT_BIN) with `args`; empty path if TFQAT_BIN is unset.
std::string TfqatBin();
RunResult RunTfqat(const std::vector<std::string>& args);

// Op type -> node count of a binary GraphDef, decoded straight from the protobuf wire format
// (GraphDef field 1 = NodeDef, NodeDef field 2 = op), without the generated classes.
// Returns false on malformed input.
bool WireOpHistogram(absl::string_view bytes, std::map<std::string, int>* hist);

// Op type -> node count of a text GraphDef as TensorFlow prints it: lines `  op: "X"` at the
// nesting depth of top-level nodes.
std::map<std::string, int> TextOpHistogram(absl::string_view text);

// Every file under `dir` (recursively) whose name ends with `suffix`, sorted.
std::vector<std::string> FindFiles(const std::string& dir, absl::string_view suffix);

std::string SharedDir();  // TFQAT_SHARED_DIR

}  // namespace tfqat::testing_util
