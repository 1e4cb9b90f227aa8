//! PLACEHOLDER module client (being written).
