#include "rewriter/site_template.h"

#include <cstring>
#include <utility>

#include "rewriter/wire_format.h"

namespace tfqat {

namespace {

using wire::LenField;
using wire::PutLenHeader;

// NodeDef fields: name 1, op 2, input 3 (length-delimited); GraphDef.node 1.
constexpr uint8_t kNameTag = wire::Tag(1, wire::kLen), kOpTag = wire::Tag(2, wire::kLen),
                  kInputTag = wire::Tag(3, wire::kLen), kNodeTag = wire::Tag(1, wire::kLen);

}  // namespace

void SiteTemplate::Replay(absl::string_view scope, absl::string_view input, SerializedGraph* out,
                          std::vector<absl::string_view>* names) const {
  auto ref_size = [&](const Ref& r) {
    switch (r.kind) {
      case Ref::Kind::kUnderScope:
        return scope.size() + r.text.size();
      case Ref::Kind::kInput:
        return input.size();
      case Ref::Kind::kLiteral:
        break;
    }
    return r.text.size();
  };
  // Sizes first: the whole site is one contiguous run of records.
  body_sizes_.resize(nodes_.size());
  size_t total = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    size_t body = LenField(scope.size() + n.suffix.size()) + n.op_field.size() + n.attr_fields.size();
    for (const Ref& r : n.inputs) body += LenField(ref_size(r));
    body_sizes_[i] = body;
    total += LenField(body);
  }
  uint8_t* p = out->AppendRaw(total);
  names->clear();
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    p = PutLenHeader(kNodeTag, body_sizes_[i], p);
    const size_t name_size = scope.size() + n.suffix.size();
    p = PutLenHeader(kNameTag, name_size, p);
    names->emplace_back(reinterpret_cast<const char*>(p), name_size);
    p = wire::PutRaw(n.suffix, wire::PutRaw(scope, p));
    p = wire::PutRaw(n.op_field, p);
    for (const Ref& r : n.inputs) {
      p = PutLenHeader(kInputTag, ref_size(r), p);
      switch (r.kind) {
        case Ref::Kind::kUnderScope:
          p = wire::PutRaw(r.text, wire::PutRaw(scope, p));
          break;
        case Ref::Kind::kInput:
          p = wire::PutRaw(input, p);
          break;
        case Ref::Kind::kLiteral:
          p = wire::PutRaw(r.text, p);
          break;
      }
    }
    p = wire::PutRaw(n.attr_fields, p);
  }
}

void SiteRecorder::AddNode(const NodeSpec& spec, absl::string_view asked, absl::string_view stored,
                           bool in_scope) {
  if (!ok_) return;
  if (!in_scope || stored != asked || !UnderScope(stored, scope_)) {
    ok_ = false;
    return;
  }
  SiteTemplate::Node n;
  n.suffix = std::string(stored.substr(scope_.size()));
  // The op and attribute fields: the node encoded with an empty name and no inputs is
  // [record header][name tag, 0][op field][attribute fields].
  const NodeSpec bare{absl::string_view(), spec.op, {}, spec.attrs};
  const EncodedNodeRecord encoded(bare);
  std::string bytes(encoded.size(), '\0');
  const char* name_at = nullptr;
  encoded.Write(reinterpret_cast<uint8_t*>(bytes.data()), &name_at);
  const size_t op_at = static_cast<size_t>(name_at - bytes.data());
  const size_t op_size = LenField(spec.op.size());
  if (op_at + op_size > bytes.size() || static_cast<uint8_t>(bytes[op_at]) != kOpTag) {
    ok_ = false;
    return;
  }
  n.op_field = bytes.substr(op_at, op_size);
  n.attr_fields = bytes.substr(op_at + op_size);
  for (absl::string_view in : spec.inputs) {
    SiteTemplate::Ref r;
    if (in == input_) {
      r.kind = SiteTemplate::Ref::Kind::kInput;
    } else if (UnderScope(in, scope_)) {
      r.kind = SiteTemplate::Ref::Kind::kUnderScope;
      r.text = std::string(in.substr(scope_.size()));
    } else {
      bool literal = false;
      for (absl::string_view l : literals_) literal |= !l.empty() && in == l;
      if (!literal) {
        ok_ = false;
        return;
      }
      r.kind = SiteTemplate::Ref::Kind::kLiteral;
      r.text = std::string(in);
    }
    n.inputs.push_back(std::move(r));
  }
  t_.nodes_.push_back(std::move(n));
  names_.emplace_back(stored);
}

int SiteRecorder::IndexOf(absl::string_view name) const {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

void SiteRecorder::AddEffect(SiteEffect::Kind kind, absl::string_view node_name) {
  if (!ok_) return;
  SiteEffect e;
  e.kind = kind;
  if (kind != SiteEffect::Kind::kFakeQuant) {
    e.node = IndexOf(node_name);
    if (e.node < 0) {
      ok_ = false;
      return;
    }
  }
  t_.effects_.push_back(e);
}

std::optional<SiteTemplate> SiteRecorder::Finish(absl::string_view output) {
  if (!ok_ || names_.empty()) return std::nullopt;
  t_.output_ = IndexOf(output);
  if (t_.output_ < 0) return std::nullopt;
  return std::move(t_);
}

}  // namespace tfqat
