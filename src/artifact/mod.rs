//! Submission artifacts, validator-exact (cli.md §10.1, protocol.md §7.6): hashing files,
//! fetching URIs as validators do, a cache of downloaded bytes under the git dir, and putting
//! an artifact in place for a benchmark run.

pub mod fetch;
pub mod hash;
pub mod place;

use std::path::{Path, PathBuf};

use crate::check::Problem;
use crate::sidecar::Sidecar;
use crate::task::TaskSnapshot;

pub use fetch::{fetch, parse_uri, ArtifactUri, Expected, Fetched};
pub use hash::{hash_file, Digested};

/// The task variable by which validators require an artifact (protocol.md §7.6).
pub const REQUIRE_ENV: &str = "AUTORESEARCH_REQUIRE_SUBMISSION_ARTIFACT";

/// Whether validators require an artifact for this task whatever the patch: the record says
/// `requires_submission_artifact` (or an equivalent), or `validator_benchmark_env` sets
/// `AUTORESEARCH_REQUIRE_SUBMISSION_ARTIFACT` to 1/true/yes. (An empty patch requires one too;
/// see [`missing_problem`].)
pub fn task_requires_artifact(task: &TaskSnapshot) -> bool {
    task.artifact_required
        || task.benchmark_env().iter().any(|(key, value)| {
            key == REQUIRE_ENV && ["1", "true", "yes"].contains(&value.trim().to_ascii_lowercase().as_str())
        })
}

/// `artifact_missing` when validators would require an artifact (the task needs one, or the
/// patch is empty) and the sidecar names none.
pub fn missing_problem(task: &TaskSnapshot, patch_is_empty: bool, has_artifact: bool) -> Option<Problem> {
    if has_artifact {
        return None;
    }
    let why = if task_requires_artifact(task) {
        "this task scores a submission artifact"
    } else if patch_is_empty {
        "a submission with an empty patch is scored on its artifact"
    } else {
        return None;
    };
    Some(
        Problem::new(
            "artifact_missing",
            format!("{why}, but the submission sidecar names none (`artifact_uri`)"),
        )
        .with_hint("upload the artifact to an https URL that serves it directly, then `git bitsota artifact set URL --file FILE`"),
    )
}

/// A coordinator on this machine (`http://` on a loopback host): a local rehearsal, where a
/// loopback `http://` artifact is as good as a public one.
pub fn is_local_rehearsal(coordinator_url: &str) -> bool {
    coordinator_url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://"))
        && crate::client::check_base_url(coordinator_url).is_ok()
}

/// What the sidecar says the artifact's bytes are.
pub fn expected(sidecar: &Sidecar) -> Expected {
    Expected { sha256: sidecar.artifact_sha256(), size_bytes: sidecar.artifact_size_bytes() }
}

/// Where downloaded artifacts are kept, named by their sha256: shared by every worktree of
/// the repository, and never part of a patch.
pub fn cache_dir(common_dir: &Path) -> PathBuf {
    common_dir.join("bitsota").join("artifacts")
}

/// The cached copy of the artifact with `sha256` and `size_bytes`, when there is one.
pub fn cached(common_dir: &Path, sha256: &str, size_bytes: u64) -> Option<PathBuf> {
    if !hash::is_sha256_hex(sha256) {
        return None;
    }
    let path = cache_dir(common_dir).join(sha256.to_ascii_lowercase());
    let meta = std::fs::symlink_metadata(&path).ok()?;
    (meta.is_file() && meta.len() == size_bytes).then_some(path)
}

/// Where `bench --artifact` (or a replay) takes the artifact from.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    Uri(ArtifactUri),
}

impl Source {
    /// A URI when the text has a scheme (`…://`), else a file path.
    pub fn parse(text: &str) -> crate::error::Result<Source> {
        if text.contains("://") {
            Ok(Source::Uri(parse_uri(text)?))
        } else {
            Ok(Source::File(PathBuf::from(text)))
        }
    }
}

/// An artifact ready to be placed: its bytes on disk and what the run is told about it.
#[derive(Debug, Clone)]
pub struct Ready {
    pub file: PathBuf,
    pub uri: String,
    pub size_bytes: u64,
    /// How it was found, for the user: "file", "downloaded" or "cached".
    pub how: &'static str,
}

/// The artifact for a run: the file given, the URI given (from the cache when its bytes are
/// there, else downloaded into it like `verify --download`), or without `source` the sidecar's
/// artifact when its bytes are cached. A URI the sidecar also names must give the sidecar's
/// sha256 and size: any problem refuses (exit 1) before anything runs.
pub fn ready(
    common_dir: &Path,
    source: Option<&Source>,
    sidecar: Option<&Sidecar>,
    out: &crate::output::Output,
) -> crate::error::Result<Option<Ready>> {
    use crate::error::Error;
    let sidecar_uri = sidecar.and_then(Sidecar::artifact_uri);
    let sidecar_expected = sidecar.map(expected).unwrap_or_default();
    let cached_by_sidecar = || match (&sidecar_expected.sha256, sidecar_expected.size_bytes) {
        (Some(sha), Some(size)) => cached(common_dir, sha, size).map(|file| (file, size)),
        _ => None,
    };
    match source {
        None => Ok(sidecar_uri.and_then(|uri| {
            cached_by_sidecar().map(|(file, size_bytes)| Ready {
                file,
                uri: uri.to_string(),
                size_bytes,
                how: "cached",
            })
        })),
        Some(Source::File(path)) => {
            let file = hash::open_regular(path, "artifact file")?;
            let size_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
            let uri = match sidecar_uri {
                Some(uri) => uri.to_string(),
                None => {
                    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                    format!("file://{}", absolute.display())
                }
            };
            Ok(Some(Ready { file: path.clone(), uri, size_bytes, how: "file" }))
        }
        Some(Source::Uri(uri)) => {
            let same = sidecar_uri.is_some_and(|s| s == uri.text);
            let expected = if same { sidecar_expected.clone() } else { Expected::default() };
            if same {
                if let Some((file, size_bytes)) = cached_by_sidecar() {
                    return Ok(Some(Ready { file, uri: uri.text.clone(), size_bytes, how: "cached" }));
                }
            }
            if let Some(warning) = fetch::local_http_warning(uri) {
                out.warn(warning);
            }
            let fetched = fetch(uri, &expected, Some(&cache_dir(common_dir)), out)?;
            match (&fetched.file, fetched.downloaded_bytes, fetched.problems.first()) {
                (Some(file), Some(size_bytes), None) => Ok(Some(Ready {
                    file: file.clone(),
                    uri: uri.text.clone(),
                    size_bytes,
                    how: "downloaded",
                })),
                (_, _, first) => {
                    let code = first.map_or("artifact_unreachable", |p| p.code);
                    let messages: Vec<&str> = fetched.problems.iter().map(|p| p.message.as_str()).collect();
                    let mut err = Error::problems(format!(
                        "the artifact cannot be used; nothing was run: {}",
                        messages.join("; ")
                    ))
                    .with_code(code);
                    if let Some(hint) = first.and_then(|p| p.hint.clone()) {
                        err = err.with_hint(hint);
                    }
                    Err(err)
                }
            }
        }
    }
}
