// Serializes a quantized (or float) model as a TFLite flatbuffer (proto/tflite_schema.fbs) and
// checks the bytes with the flatbuffers verifier before returning them.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "converter/ir.h"

namespace tfqat::converter {

// The TFLite operator version for `op` in `model` (the lowest version whose kernels take these
// types and options, as TFLite's converter assigns them).
int OpVersion(const Model& model, const Op& op);

absl::StatusOr<std::string> WriteTfliteFlatbuffer(const Model& model);

}  // namespace tfqat::converter
