//! git-bitsota: a git extension for BitSota (Bittensor SN94) research tasks.

pub mod canonical_json;
pub mod error;
pub mod fnmatch;
pub mod keys;
pub mod output;
pub mod repo;
pub mod state;
pub mod task;

pub fn main() -> i32 {
    0
}
