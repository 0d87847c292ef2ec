// Early-return helpers for absl::Status / absl::StatusOr.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TFQAT_CONCAT_INNER(a, b) a##b
#define TFQAT_CONCAT(a, b) TFQAT_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define TFQAT_RETURN_IF_ERROR(expr)                 \
  do {                                              \
    ::absl::Status _tfqat_status = (expr);          \
    if (!_tfqat_status.ok()) return _tfqat_status;  \
  } while (0)

// `lhs = value of expr` or return its error status.
#define TFQAT_ASSIGN_OR_RETURN(lhs, expr) \
  TFQAT_ASSIGN_OR_RETURN_IMPL(TFQAT_CONCAT(_tfqat_statusor_, __LINE__), lhs, expr)
#define TFQAT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
