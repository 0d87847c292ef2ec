#include "rewriter/serialized_graph.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace tfqat {

using google::protobuf::io::CodedOutputStream;

char* SerializedGraph::Grow(size_t n) {
  if (chunks_.empty() || chunks_.back().capacity() - chunks_.back().size() < n) {
    chunks_.emplace_back();
    chunks_.back().reserve(std::max(kChunkBytes, n));
  }
  std::string& c = chunks_.back();
  const size_t at = c.size();
  c.resize(at + n);
  size_ += n;
  return c.data() + at;
}

void SerializedGraph::Append(absl::string_view bytes) {
  if (bytes.empty()) return;
  std::memcpy(Grow(bytes.size()), bytes.data(), bytes.size());
}

void SerializedGraph::AppendNode(const tensorflow::NodeDef& node) {
  const size_t body = node.ByteSizeLong();
  const uint32_t body32 = static_cast<uint32_t>(body);
  const size_t header = 1 + CodedOutputStream::VarintSize32(body32);
  auto* p = reinterpret_cast<uint8_t*>(Grow(header + body));
  *p++ = 0x0A;  // field 1 (node), wire type 2 (length-delimited)
  p = CodedOutputStream::WriteVarint32ToArray(body32, p);
  node.SerializeWithCachedSizesToArray(p);
}

std::string SerializedGraph::ToString() const {
  std::string s;
  s.reserve(size_);
  for (const std::string& c : chunks_) s += c;
  return s;
}

bool SerializedGraph::ParseTo(tensorflow::GraphDef* graph) const {
  std::vector<std::unique_ptr<google::protobuf::io::ArrayInputStream>> owned;
  for (const std::string& c : chunks_) {
    owned.push_back(std::make_unique<google::protobuf::io::ArrayInputStream>(c.data(), static_cast<int>(c.size())));
  }
  std::vector<google::protobuf::io::ZeroCopyInputStream*> streams;
  for (auto& o : owned) streams.push_back(o.get());
  google::protobuf::io::ConcatenatingInputStream in(streams.data(), static_cast<int>(streams.size()));
  return graph->ParseFromZeroCopyStream(&in);
}

absl::string_view NameStore::Intern(absl::string_view s) {
  if (s.size() > kChunkBytes) {
    chunks_.insert(chunks_.begin(), std::make_unique<char[]>(s.size()));  // its own chunk
    std::memcpy(chunks_.front().get(), s.data(), s.size());
    return absl::string_view(chunks_.front().get(), s.size());
  }
  if (used_ + s.size() > kChunkBytes) {
    chunks_.push_back(std::make_unique<char[]>(kChunkBytes));
    used_ = 0;
  }
  char* p = chunks_.back().get() + used_;
  std::memcpy(p, s.data(), s.size());
  used_ += s.size();
  return absl::string_view(p, s.size());
}

}  // namespace tfqat
