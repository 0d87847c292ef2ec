#include "rewriter/serialized_graph.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace tfqat {

using google::protobuf::io::CodedOutputStream;

namespace {

// Writes bytes [p, p + n) at offset `at` of fd; 0 or the errno of the first failure.
int WriteAt(int fd, const char* p, size_t n, off_t at) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, at);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += w;
    at += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

}  // namespace

// One helper thread writing queued chunks to the spill file (pwrite: any order), keeping the
// memory of up to two written chunks for the graph to reuse. It writes through its own
// descriptor of the file, so the owner may close its own at any time; what is still queued
// when the writer is destroyed is dropped (FinishSpill is what writes everything).
class SerializedGraph::SpillWriter {
 public:
  static constexpr size_t kMaxQueued = 4;  // the graph waits beyond this (a slow disk)
  SpillWriter(int fd, size_t reusable_bytes)
      : fd_(Dup(fd)), reusable_bytes_(reusable_bytes), thread_([this] { Loop(); }) {}
  ~SpillWriter() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      queue_.clear();
    }
    cv_.notify_all();
    thread_.join();
    ::close(fd_);
  }
  void Write(std::unique_ptr<char[]> data, size_t size, size_t capacity, size_t at) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return queue_.size() < kMaxQueued; });
    queue_.push_back(Job{std::move(data), size, capacity, at});
    cv_.notify_all();
  }
  // A written chunk's memory (reusable_bytes of it), or null.
  std::unique_ptr<char[]> TakeFree() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return nullptr;
    std::unique_ptr<char[]> c = std::move(free_.back());
    free_.pop_back();
    return c;
  }
  // Waits until everything queued is written; the first write error (errno), or 0.
  int Drain() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
    return error_;
  }

 private:
  struct Job {
    std::unique_ptr<char[]> data;
    size_t size;
    size_t capacity;
    size_t at;
  };
  static int Dup(int fd) {
    const int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0) throw std::system_error(errno, std::generic_category(), "dup of the spill file");
    return d;
  }
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      Job j = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      const bool failed = error_ != 0;
      lock.unlock();
      const int err = failed ? 0 : WriteAt(fd_, j.data.get(), j.size, static_cast<off_t>(j.at));
#ifdef SYNC_FILE_RANGE_WRITE
      // Start the chunk's way to disk now (asynchronously), so that a final fsync by the owner
      // waits for the last chunks only. Advice: failures change nothing.
      if (err == 0 && !failed) ::sync_file_range(fd_, static_cast<off_t>(j.at), static_cast<off_t>(j.size), SYNC_FILE_RANGE_WRITE);
#endif
      lock.lock();
      if (err != 0 && error_ == 0) error_ = err;
      if (j.capacity == reusable_bytes_ && free_.size() < 2) free_.push_back(std::move(j.data));
      busy_ = false;
      cv_.notify_all();
    }
  }
  const int fd_;
  const size_t reusable_bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::vector<std::unique_ptr<char[]>> free_;
  bool busy_ = false;
  bool stop_ = false;
  int error_ = 0;
  std::thread thread_;  // last: started once the rest is set up
};

void SerializedGraph::SpillTo(int fd) {
  spill_fd_ = fd;
  try {
    spill_writer_ = std::make_unique<SpillWriter>(fd, kChunkBytes);
  } catch (const std::system_error&) {
    spill_writer_.reset();  // no thread to be had: chunks are written in place
  }
}

void SerializedGraph::Spill(Chunk* c) {
  if (c->data == nullptr) return;
  if (spill_writer_ != nullptr) {
    spill_writer_->Write(std::move(c->data), c->used, c->capacity, c->start);
    return;
  }
  if (spill_error_ == 0) spill_error_ = WriteAt(spill_fd_, c->data.get(), c->used, static_cast<off_t>(c->start));
  if (c->capacity == kChunkBytes && spare_ == nullptr) spare_ = std::move(c->data);
  c->data.reset();
}

int SerializedGraph::FinishSpill() {
  if (spill_fd_ >= 0) {
    for (Chunk& c : chunks_) Spill(&c);
    if (spill_writer_ != nullptr && spill_error_ == 0) spill_error_ = spill_writer_->Drain();
  }
  return spill_error_;
}

const char* SerializedGraph::ChunkBytes(const Chunk& c) const {
  if (c.data != nullptr) return c.data.get();
  if (spill_writer_ != nullptr && spill_writer_->Drain() != 0) return nullptr;  // on file once written
  read_back_.resize(c.used);
  size_t got = 0;
  while (got < c.used) {
    const ssize_t n = ::pread(spill_fd_, &read_back_[got], c.used - got, static_cast<off_t>(c.start + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return nullptr;
    got += static_cast<size_t>(n);
  }
  return read_back_.data();
}

// Keeps up to kAhead chunks allocated and faulted in, one at a time, on one helper thread.
class SerializedGraph::Prefaulter {
 public:
  static constexpr size_t kAhead = 2;
  explicit Prefaulter(size_t chunk_bytes) : chunk_bytes_(chunk_bytes), thread_([this] { Loop(); }) {}
  ~Prefaulter() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // The next faulted-in chunk (waits for it).
  std::unique_ptr<char[]> Take() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !ready_.empty(); });
    std::unique_ptr<char[]> c = std::move(ready_.front());
    ready_.pop_front();
    lock.unlock();
    cv_.notify_all();
    return c;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || ready_.size() < kAhead; });
      if (stop_) return;
      lock.unlock();
      std::unique_ptr<char[]> c(new char[chunk_bytes_]);
      volatile char* v = c.get();
      for (size_t i = 0; i < chunk_bytes_; i += 4096) v[i] = 0;  // one write per page maps it
      lock.lock();
      ready_.push_back(std::move(c));
      cv_.notify_all();
    }
  }
  const size_t chunk_bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<char[]>> ready_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the rest is set up
};

SerializedGraph::SerializedGraph() = default;
SerializedGraph::~SerializedGraph() = default;
SerializedGraph::SerializedGraph(SerializedGraph&&) noexcept = default;
SerializedGraph& SerializedGraph::operator=(SerializedGraph&&) noexcept = default;

char* SerializedGraph::Grow(size_t n) {
  if (chunks_.empty() || chunks_.back().capacity - chunks_.back().used < n) {
    Chunk c;
    c.start = size_;
    c.capacity = std::max(kChunkBytes, n);
    std::unique_ptr<char[]> written;  // a spilled chunk's memory, already mapped
    if (c.capacity == kChunkBytes && spill_writer_ != nullptr) written = spill_writer_->TakeFree();
    if (written != nullptr) {
      c.data = std::move(written);
    } else if (c.capacity == kChunkBytes && spare_ != nullptr) {
      c.data = std::move(spare_);
    } else if (c.capacity == kChunkBytes && prefaulter_ != nullptr) {
      c.data = prefaulter_->Take();
    } else {
      c.data.reset(new char[c.capacity]);
    }
    chunks_.push_back(std::move(c));
    // An output past one chunk is likely to need more: fault the next ones in meanwhile (never
    // when spilling, which reuses the spilled chunk's memory).
    // (With one CPU the helper would only take turns with this thread.)
    static const bool several_cpus = std::thread::hardware_concurrency() != 1;
    if (several_cpus && spill_fd_ < 0 && chunks_.size() >= 2 && prefaulter_ == nullptr) {
      try {
        prefaulter_ = std::make_unique<Prefaulter>(kChunkBytes);
      } catch (const std::system_error&) {
        // No thread to be had: the writer faults its chunks in itself.
      }
    }
  }
  Chunk& c = chunks_.back();
  char* p = c.data.get() + c.used;
  c.used += n;
  size_ += n;
  return p;
}

namespace {

// A varint at p (< limit), or nullptr when malformed.
const char* ReadVarint(const char* p, const char* limit, uint64_t* v) {
  *v = 0;
  for (int shift = 0; p < limit && shift < 64; shift += 7) {
    const uint8_t b = static_cast<uint8_t>(*p++);
    *v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) return p;
  }
  return nullptr;
}

}  // namespace

const char* SerializedGraph::NodeRecordName(const char* p, const char* limit, absl::string_view* name) {
  if (p >= limit || static_cast<uint8_t>(*p) != 0x0A) return nullptr;  // GraphDef.node
  uint64_t len;
  p = ReadVarint(p + 1, limit, &len);
  if (p == nullptr || len > static_cast<uint64_t>(limit - p)) return nullptr;
  const char* end = p + len;
  *name = absl::string_view();
  uint64_t name_len;
  if (p < end && static_cast<uint8_t>(*p) == 0x0A) {  // NodeDef.name first, as encoders write it
    const char* q = ReadVarint(p + 1, end, &name_len);
    if (q != nullptr && name_len <= static_cast<uint64_t>(end - q)) *name = absl::string_view(q, name_len);
  }
  return end;
}

std::vector<absl::string_view> SerializedGraph::pieces() const {
  std::vector<absl::string_view> v;
  for (const Chunk& c : chunks_) {
    if (c.data != nullptr) v.emplace_back(c.data.get(), c.used);
  }
  return v;
}

void SerializedGraph::Append(absl::string_view bytes) {
  if (bytes.empty()) return;
  std::memcpy(Grow(bytes.size()), bytes.data(), bytes.size());
}

void SerializedGraph::AppendFields(const google::protobuf::MessageLite& fields) {
  const size_t size = fields.ByteSizeLong();
  if (size == 0) return;
  auto* p = reinterpret_cast<uint8_t*>(Grow(size));
  google::protobuf::io::ArrayOutputStream array(p, static_cast<int>(size));
  CodedOutputStream coded(&array);
  coded.SetSerializationDeterministic(deterministic_);
  fields.SerializeWithCachedSizes(&coded);
}

void SerializedGraph::AppendNode(const tensorflow::NodeDef& node) {
  const size_t body = node.ByteSizeLong();
  const uint32_t body32 = static_cast<uint32_t>(body);
  const size_t header = 1 + CodedOutputStream::VarintSize32(body32);
  auto* p = reinterpret_cast<uint8_t*>(Grow(header + body));
  *p++ = 0x0A;  // field 1 (node), wire type 2 (length-delimited)
  p = CodedOutputStream::WriteVarint32ToArray(body32, p);
  if (!deterministic_) {
    node.SerializeWithCachedSizesToArray(p);
    return;
  }
  google::protobuf::io::ArrayOutputStream array(p, static_cast<int>(body));
  CodedOutputStream coded(&array);
  coded.SetSerializationDeterministic(true);
  node.SerializeWithCachedSizes(&coded);
}

namespace {

// NodeDef field numbers (tensorflow/core/framework/node_def.proto).
constexpr uint32_t kName = 1, kOp = 2, kInput = 3, kDevice = 4, kAttr = 5, kDebugInfo = 6, kType = 7;
// Map entry fields.
constexpr uint32_t kKey = 1, kValue = 2;

uint32_t Tag(uint32_t field) { return field << 3 | 2; }  // length-delimited

size_t FieldSize(uint32_t field, size_t len) {
  return CodedOutputStream::VarintSize32(Tag(field)) + CodedOutputStream::VarintSize32(static_cast<uint32_t>(len)) +
         len;
}

uint8_t* WriteHeader(uint32_t field, size_t len, uint8_t* p) {
  p = CodedOutputStream::WriteVarint32ToArray(Tag(field), p);
  return CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(len), p);
}

uint8_t* WriteBytes(uint32_t field, absl::string_view s, uint8_t* p) {
  p = WriteHeader(field, s.size(), p);
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

}  // namespace

void SerializedGraph::AppendNodeWithInputs(const tensorflow::NodeDef& node,
                                           const std::vector<absl::string_view>& inputs) {
  // The NodeDef encoding written field by field (proto3: empty strings and absent messages
  // are omitted), so that the node itself need not be copied to change its inputs.
  // The attributes in map order, or in key order when deterministic.
  using Entry = google::protobuf::Map<std::string, tensorflow::AttrValue>::value_type;
  std::vector<const Entry*> attrs;
  attrs.reserve(node.attr().size());
  for (const auto& kv : node.attr()) attrs.push_back(&kv);
  if (deterministic_) {
    std::sort(attrs.begin(), attrs.end(), [](const Entry* a, const Entry* b) { return a->first < b->first; });
  }
  std::vector<size_t> entry_sizes;
  size_t body = 0;
  if (!node.name().empty()) body += FieldSize(kName, node.name().size());
  if (!node.op().empty()) body += FieldSize(kOp, node.op().size());
  for (absl::string_view in : inputs) body += FieldSize(kInput, in.size());
  if (!node.device().empty()) body += FieldSize(kDevice, node.device().size());
  for (const Entry* kv : attrs) {
    const auto& [key, value] = *kv;
    const size_t entry = FieldSize(kKey, key.size()) + FieldSize(kValue, value.ByteSizeLong());
    entry_sizes.push_back(entry);
    body += FieldSize(kAttr, entry);
  }
  const size_t debug = node.has_experimental_debug_info() ? node.experimental_debug_info().ByteSizeLong() : 0;
  if (node.has_experimental_debug_info()) body += FieldSize(kDebugInfo, debug);
  const size_t type = node.has_experimental_type() ? node.experimental_type().ByteSizeLong() : 0;
  if (node.has_experimental_type()) body += FieldSize(kType, type);

  auto* p = reinterpret_cast<uint8_t*>(Grow(FieldSize(1, body)));
  p = WriteHeader(1, body, p);  // GraphDef.node
  if (!node.name().empty()) p = WriteBytes(kName, node.name(), p);
  if (!node.op().empty()) p = WriteBytes(kOp, node.op(), p);
  for (absl::string_view in : inputs) p = WriteBytes(kInput, in, p);
  if (!node.device().empty()) p = WriteBytes(kDevice, node.device(), p);
  size_t k = 0;
  for (const Entry* kv : attrs) {  // same order as the sizing loop
    const auto& [key, value] = *kv;
    p = WriteHeader(kAttr, entry_sizes[k++], p);
    p = WriteBytes(kKey, key, p);
    const int value_size = value.GetCachedSize();
    p = WriteHeader(kValue, static_cast<size_t>(value_size), p);
    if (!deterministic_) {
      p = value.SerializeWithCachedSizesToArray(p);
      continue;
    }
    // A value may hold maps too (a function's attributes).
    google::protobuf::io::ArrayOutputStream array(p, value_size);
    CodedOutputStream coded(&array);
    coded.SetSerializationDeterministic(true);
    value.SerializeWithCachedSizes(&coded);
    p += value_size;
  }
  if (node.has_experimental_debug_info()) {
    p = WriteHeader(kDebugInfo, debug, p);
    p = node.experimental_debug_info().SerializeWithCachedSizesToArray(p);
  }
  if (node.has_experimental_type()) {
    p = WriteHeader(kType, type, p);
    p = node.experimental_type().SerializeWithCachedSizesToArray(p);
  }
}

std::string SerializedGraph::ToString() const {
  std::string s;
  s.reserve(size_);
  for (const Chunk& c : chunks_) {
    if (c.data != nullptr) s.append(c.data.get(), c.used);
  }
  return s;
}

bool SerializedGraph::ParseTo(tensorflow::GraphDef* graph) const {
  std::vector<std::unique_ptr<google::protobuf::io::ArrayInputStream>> owned;
  for (const Chunk& c : chunks_) {
    if (c.data == nullptr) continue;
    owned.push_back(std::make_unique<google::protobuf::io::ArrayInputStream>(c.data.get(), static_cast<int>(c.used)));
  }
  std::vector<google::protobuf::io::ZeroCopyInputStream*> streams;
  for (auto& o : owned) streams.push_back(o.get());
  google::protobuf::io::ConcatenatingInputStream in(streams.data(), static_cast<int>(streams.size()));
  return graph->ParseFromZeroCopyStream(&in);
}

absl::string_view NameStore::InternControl(absl::string_view name) {
  char* p = Reserve(name.size() + 1);
  p[0] = '^';
  std::memcpy(p + 1, name.data(), name.size());
  return absl::string_view(p + 1, name.size());
}

char* NameStore::Reserve(size_t n) {
  if (n > kChunkBytes) {
    chunks_.insert(chunks_.begin(), std::unique_ptr<char[]>(new char[n]));  // its own chunk
    return chunks_.front().get();
  }
  if (used_ + n > kChunkBytes) {
    chunks_.push_back(std::unique_ptr<char[]>(new char[kChunkBytes]));  // not zero-filled
    used_ = 0;
  }
  char* p = chunks_.back().get() + used_;
  used_ += n;
  return p;
}

absl::string_view NameStore::Intern(absl::string_view s) {
  char* p = Reserve(s.size());
  std::memcpy(p, s.data(), s.size());
  return absl::string_view(p, s.size());
}

}  // namespace tfqat
