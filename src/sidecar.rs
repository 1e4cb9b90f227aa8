//! PLACEHOLDER module sidecar (being written).
