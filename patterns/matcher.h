// The one generic matcher. Applies patterns at every node in reverse topological order
// (consumers before producers, ties by graph order), so that the longest chain ending at a
// node is taken first; matches never overlap (a node owned by one match cannot be owned by a
// later one) and the result is deterministic for a given graph.
//
// A match is refused when an owned interior node (not the root, not a Boundary()) has a data
// consumer outside the match, or is a protected node (a graph output), unless its pattern node
// says AllowEscape(). A refused candidate records why (MatchFailure) for the audit.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "graph/graph_view.h"
#include "patterns/pattern.h"

namespace tfqat::patterns {

// A captured tensor: node index and output port.
struct Captured {
  int node = -1;
  int port = 0;
};

struct Match {
  std::string pattern;    // Pattern::name
  int root = -1;          // node producing the match's output
  std::vector<int> owned;  // nodes owned by the match (root included), in match order
  std::vector<std::pair<std::string, Captured>> captures;  // in match order

  // Index of the captured node, or -1 when the capture is absent (an optional node skipped).
  int Node(absl::string_view capture) const;
  std::optional<Captured> Get(absl::string_view capture) const;
  bool Has(absl::string_view capture) const { return Node(capture) >= 0; }
};

struct MatchFailure {
  std::string pattern;
  int root = -1;     // candidate root
  int at_node = -1;  // graph node where the deepest attempt failed
  std::string reason;
};

struct MatchOptions {
  // Nodes fetched as graph outputs: they may only be a match's root, never interior.
  absl::flat_hash_set<int> protected_nodes;
  // Nodes that no match may own (e.g. outside --scope, or already rewritten).
  absl::flat_hash_set<int> excluded_nodes;
  // Record a MatchFailure for candidates whose op could start a match but did not.
  bool record_failures = true;
  // The view's TopologicalOrder(), when the caller already has it (passes over one view
  // share it); computed by FindMatches when null.
  const std::vector<int>* topological_order = nullptr;
};

struct MatchSet {
  std::vector<Match> matches;         // in discovery order (reverse topological)
  std::vector<MatchFailure> failures;  // in discovery order
  std::vector<int> owner;              // per node: index into matches, or -1
};

// Applies `patterns` (earlier ones win at the same root). Errors only on a cyclic graph.
absl::StatusOr<MatchSet> FindMatches(const GraphView& view, const std::vector<Pattern>& patterns,
                                     const MatchOptions& options = {});

// Tries one pattern at one root, ignoring claims of other matches. On failure returns nullopt
// and sets *why (when non-null) to the reason.
std::optional<Match> MatchAt(const GraphView& view, const Pattern& pattern, int root,
                             const MatchOptions& options = {}, std::string* why = nullptr);

}  // namespace tfqat::patterns
