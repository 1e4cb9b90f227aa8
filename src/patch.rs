//! PLACEHOLDER module patch (being written).
