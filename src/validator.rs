//! PLACEHOLDER module validator (being written).
