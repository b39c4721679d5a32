//! Per-core record layout (in progress).
