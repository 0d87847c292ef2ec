// A serialized GraphDef built piece by piece, for rewrites of graphs too large to hold as
// NodeDef objects (a NodeDef with its attribute map takes ~1 KB in memory, ~5x its encoding).
// Stored in chunks: growing never copies what is already written, and no allocation is larger
// than a chunk. The bytes parse as a GraphDef (repeated fields may come in any order).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/graph.pb.h"

namespace tfqat {

class SerializedGraph {
 public:
  SerializedGraph();
  ~SerializedGraph();
  SerializedGraph(SerializedGraph&&) noexcept;
  SerializedGraph& operator=(SerializedGraph&&) noexcept;
  // Deterministic: map fields (NodeDef.attr) in key order, as SaveGraphDef writes them, so the
  // same graph always gives the same bytes (off by default: sorting costs a little).
  void set_deterministic(bool on) { deterministic_ = on; }
  // Raw bytes (already encoded GraphDef fields).
  void Append(absl::string_view bytes);
  // The encoded fields of `fields` (e.g. a GraphDef holding only the fields after the nodes).
  void AppendFields(const google::protobuf::MessageLite& fields);
  // `node` as one GraphDef.node (field 1) record.
  void AppendNode(const tensorflow::NodeDef& node);
  // `node` with its inputs replaced by `inputs`, without copying the node.
  void AppendNodeWithInputs(const tensorflow::NodeDef& node, const std::vector<absl::string_view>& inputs);

  // Room for n more bytes at the end, for an encoder that writes a whole record there
  // (rewriter/node_encoder.h). The bytes never move while the graph lives.
  uint8_t* AppendRaw(size_t n) { return reinterpret_cast<uint8_t*>(Grow(n)); }
  // Calls fn(name) for the name of each GraphDef.node record in [begin, end) (offsets as size()
  // gave them, at record boundaries; records whose first field is not the name are skipped),
  // until fn returns true. Returns whether it did.
  template <typename Fn>
  bool AnyNodeName(size_t begin, size_t end, Fn fn) const;

  // Spilling (for outputs larger than memory should hold): SpillFullChunks writes every full
  // chunk to `fd` at its offset and frees it (views into those bytes end: the writer calls it
  // where it holds none); FinishSpill writes the rest. The bytes then live in the file (read
  // back only for AnyNodeName); pieces(), ToString() and ParseTo() see only what is still in
  // memory. `fd` must be open for reading and writing. Without a file these do nothing.
  // The writes happen on a helper thread (at most a few chunks queued), so that the writer
  // does not wait on them; FinishSpill waits for all of them.
  void SpillTo(int fd);
  void SpillFullChunks() {
    if (spill_fd_ < 0) return;
    for (; spilled_ + 1 < chunks_.size(); ++spilled_) Spill(&chunks_[spilled_]);
  }
  // Writes what is still in memory; the first write error (errno), or 0.
  int FinishSpill();

  size_t size() const { return size_; }
  // The bytes, in order, in pieces.
  std::vector<absl::string_view> pieces() const;
  std::string ToString() const;
  // Parses the bytes (for tests and small graphs).
  bool ParseTo(tensorflow::GraphDef* graph) const;

 private:
  // Room for n more bytes at the end of the last chunk (a new chunk when it is full).
  char* Grow(size_t n);
  static constexpr size_t kChunkBytes = size_t{16} << 20;
  struct Chunk;
  // A chunk's bytes: in memory, or (spilled) read back from the file into a scratch buffer.
  const char* ChunkBytes(const Chunk& c) const;
  // Writes chunk c to the spill file and frees it.
  void Spill(Chunk* c);
  // Decodes the node record at p (< limit): its name (empty if not first) and its end.
  static const char* NodeRecordName(const char* p, const char* limit, absl::string_view* name);
  struct Chunk {
    size_t start = 0;  // offset of data[0] in the whole
    std::unique_ptr<char[]> data;  // not zero-filled: only [0, used) is ever read
    size_t capacity = 0;
    size_t used = 0;
  };
  std::vector<Chunk> chunks_;
  size_t size_ = 0;
  bool deterministic_ = false;
  int spill_fd_ = -1;
  size_t spilled_ = 0;  // chunks before this one are in the file
  // A spilled chunk's memory (kChunkBytes), reused by the next chunk: its pages are already
  // mapped (fresh pages cost a fault and zeroing each, ~1/4 of a large rewrite's time).
  std::unique_ptr<char[]> spare_;
  // In memory (no spill file) and past the first chunk: the next chunks, allocated and their
  // pages faulted in by a helper thread while this one fills (serialized_graph.cc). A fresh
  // page costs a fault and its zeroing (on a VM, the host backing it too): a third of a
  // 1M-node train rewrite's time when the writing thread paid it.
  class Prefaulter;
  std::unique_ptr<Prefaulter> prefaulter_;
  // Spilling: writes full chunks on a helper thread and hands their memory back for reuse.
  class SpillWriter;
  std::unique_ptr<SpillWriter> spill_writer_;
  int spill_error_ = 0;
  mutable std::string read_back_;  // a spilled chunk read back
};

template <typename Fn>
bool SerializedGraph::AnyNodeName(size_t begin, size_t end, Fn fn) const {
  for (const Chunk& c : chunks_) {
    if (c.start + c.used <= begin) continue;
    if (c.start >= end) break;
    const char* base = ChunkBytes(c);
    if (base == nullptr) return false;
    const char* p = base + (begin > c.start ? begin - c.start : 0);
    const char* limit = base + (std::min(end, c.start + c.used) - c.start);
    while (p < limit) {
      absl::string_view name;
      p = NodeRecordName(p, limit, &name);
      if (p == nullptr) return false;  // not a node record: stop
      if (!name.empty() && fn(name)) return true;
    }
  }
  return false;
}

// Interned strings with stable addresses (views stay valid while the store lives): chunks
// of characters, no per-string allocation.
class NameStore {
 public:
  absl::string_view Intern(absl::string_view s);
  // `name` stored as "^name" (a control input): the view is of the name, its data()[-1] is '^'.
  absl::string_view InternControl(absl::string_view name);

 private:
  static constexpr size_t kChunkBytes = size_t{1} << 20;
  char* Reserve(size_t n);  // room for n bytes that never moves
  std::vector<std::unique_ptr<char[]>> chunks_;
  size_t used_ = kChunkBytes;  // of the last chunk
};

}  // namespace tfqat
