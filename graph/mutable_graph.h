// Editing API for passes: add/remove nodes, rewire consumers, unique names.
// Passes copy the input GraphDef into a MutableGraph, edit it, and Release() the result.
#pragma once

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "graph/tensor_ref.h"
#include "proto/graph.pb.h"

namespace tfqat {

class MutableGraph {
 public:
  explicit MutableGraph(tensorflow::GraphDef graph);

  const tensorflow::GraphDef& graph() const { return graph_; }
  tensorflow::NodeDef* FindNode(absl::string_view name);
  const tensorflow::NodeDef* FindNode(absl::string_view name) const;
  bool HasNode(absl::string_view name) const { return index_.contains(name); }

  // `base` if free, else `base_1`, `base_2`, ...
  std::string UniqueName(absl::string_view base) const;
  // Adds a node named UniqueName(name) with `op`; returns it (valid until the next Add/Remove).
  tensorflow::NodeDef* AddNode(absl::string_view name, absl::string_view op);
  // Adds a copy of `node`; fails if the name is taken.
  absl::StatusOr<tensorflow::NodeDef*> AddNode(const tensorflow::NodeDef& node);

  // Removes the named nodes and every input that references them (data inputs of
  // surviving nodes that referenced a removed node are an error: rewire them first).
  absl::Status RemoveNodes(const absl::flat_hash_set<std::string>& names);

  // Makes every data consumer of `from` read `to` instead, except nodes in `except`.
  // Returns how many inputs were changed.
  int RewireConsumers(const TensorRef& from, const TensorRef& to,
                      const absl::flat_hash_set<std::string>& except = {});

  tensorflow::GraphDef Release() &&;

 private:
  void Reindex();
  tensorflow::GraphDef graph_;
  absl::flat_hash_map<std::string, int> index_;
};

}  // namespace tfqat
