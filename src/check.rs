//! PLACEHOLDER module check (being written).
