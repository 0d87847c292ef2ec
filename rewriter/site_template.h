// A quantization site recorded once and replayed. Every activation (or weight) the rewriter
// quantizes in a fresh scope emits the same nodes as the one before it — range variables,
// their updates, the FakeQuant and the delay switch — except for the scope their names lie
// under and the tensor they quantize. The first site of a kind is emitted node by node and
// recorded here; later ones are written from the record straight into the output's bytes:
// names and inputs spliced together, each node's op and attributes copied as already-encoded
// bytes. The bytes are exactly those the node-by-node path writes (rewriter/node_encoder.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "rewriter/node_encoder.h"
#include "rewriter/serialized_graph.h"

namespace tfqat {

// Whether `name` lies under scope `scope` ("<scope>/...").
inline bool UnderScope(absl::string_view name, absl::string_view scope) {
  return name.size() > scope.size() && name[scope.size()] == '/' && name.substr(0, scope.size()) == scope;
}

// What a site did besides emitting nodes, in order: a node named in the layer's report, a node
// added to the update ops, a FakeQuant counted.
struct SiteEffect {
  enum class Kind : uint8_t { kReported, kUpdateOp, kFakeQuant };
  Kind kind = Kind::kReported;
  int node = -1;  // index into the site's nodes (kReported, kUpdateOp)
};

class SiteTemplate {
 public:
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  const std::vector<SiteEffect>& effects() const { return effects_; }
  // The node whose output the site returns.
  int output() const { return output_; }

  // Appends the site's nodes for `scope` and `input` to *out; names[i] is then node i's
  // name (a view into *out's bytes).
  void Replay(absl::string_view scope, absl::string_view input, SerializedGraph* out,
              std::vector<absl::string_view>* names) const;

 private:
  friend class SiteRecorder;
  // A node input: the scope followed by `text`, the site's input, or `text` as it is.
  struct Ref {
    enum class Kind : uint8_t { kUnderScope, kInput, kLiteral };
    Kind kind = Kind::kLiteral;
    std::string text;
  };
  struct Node {
    std::string suffix;       // name = scope + suffix
    std::string op_field;     // NodeDef.op, encoded
    std::string attr_fields;  // NodeDef.attr entries, encoded (key order)
    std::vector<Ref> inputs;
  };
  std::vector<Node> nodes_;
  std::vector<SiteEffect> effects_;
  int output_ = -1;
  mutable std::vector<size_t> body_sizes_;  // Replay's scratch
};

// Records a site while the rewriter emits it node by node. A site can be replayed only if all
// its nodes were named "<scope>/..." as asked (nothing renamed), and every input is one of
// them, the site's input or one of `literals` (names that stay the same for the whole run);
// otherwise Finish gives nothing and the rewriter keeps emitting that kind node by node.
class SiteRecorder {
 public:
  SiteRecorder(absl::string_view scope, absl::string_view input, std::vector<absl::string_view> literals)
      : scope_(scope), input_(input), literals_(std::move(literals)) {}

  // A node as emitted: `asked` is the name it was emitted under before any renaming, `stored`
  // the name it got; `in_scope` whether the rewriter emitted it under the site's open scope.
  void AddNode(const NodeSpec& spec, absl::string_view asked, absl::string_view stored, bool in_scope);
  void AddEffect(SiteEffect::Kind kind, absl::string_view node_name);
  std::optional<SiteTemplate> Finish(absl::string_view output);

 private:
  int IndexOf(absl::string_view name) const;
  absl::string_view scope_;
  absl::string_view input_;
  std::vector<absl::string_view> literals_;
  std::vector<std::string> names_;
  SiteTemplate t_;
  bool ok_ = true;
};

}  // namespace tfqat
