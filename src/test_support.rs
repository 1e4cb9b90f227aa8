//! The small surface the integration tests (`tests/it`) use directly: the signing and
//! canonical-JSON primitives they check against vectors made by the Python libraries, the
//! parsers they feed odd input, and the client they drive against the fake coordinator.
//! Nothing here is for other users of the crate; the command line is the product.

pub use crate::auth::{
    encode_query, now_unix, sign_request, EMPTY_BODY_SHA256, HEADER_HOTKEY, HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
};
pub use crate::canonical_json::{canonicalize_str, sha256_hex};
pub use crate::cli::command;
pub use crate::client::Coordinator;
pub use crate::commands::prepush::parse_lines;
pub use crate::error::{Error, Kind};
pub use crate::fnmatch::Pattern;
pub use crate::keys::{load_hotkey, ss58_to_public, BusyGuard, Hotkey, KeyUi, SecretSources, WalletSelector};
pub use crate::manpage::render as render_man_page;
pub use crate::output::Output;
pub use crate::problems::ProblemCode;
pub use crate::repo::Repo;
pub use crate::sidecar::{Sidecar, PLACEHOLDER_SUMMARY};
pub use crate::state::{State, StateFile};
pub use crate::task::{parse_record, Strictness, TaskSnapshot};

/// The submission sidecar's reading, checking and writing.
pub mod sidecar {
    pub use crate::sidecar::{load, problems, record_bench, resolve_path, write, BenchRecordFields};
}
