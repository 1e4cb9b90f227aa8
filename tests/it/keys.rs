//! Key loading tests (being written).
