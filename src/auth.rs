//! PLACEHOLDER module auth (being written).
