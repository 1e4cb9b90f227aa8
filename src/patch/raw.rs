//! Parsing git's `-z --raw` records (and a raw+patch run's output) into changes.

use super::*;

/// One record of `git diff-files --raw -z`: what changed in the work tree against the index.
#[derive(Clone, Copy)]
pub(super) struct Unstaged<'a> {
    pub(super) path: &'a [u8],
    /// The index entry's mode.
    pub(super) index_mode: &'a str,
    /// The mode git would record for the work-tree file.
    pub(super) dst_mode: &'a str,
    /// The index entry's object id.
    pub(super) index_oid: &'a str,
    pub(super) status: u8,
}

pub(super) fn parse_unstaged(output: &[u8]) -> Result<Vec<Unstaged<'_>>> {
    let bad = || Error::usage("unexpected output from `git diff-files --raw`").with_code("git_output");
    let mut found = Vec::new();
    let mut records = output.split(|b| *b == 0);
    while let Some(header) = records.next() {
        if header.is_empty() {
            continue;
        }
        let path = records.next().filter(|p| !p.is_empty()).ok_or_else(bad)?;
        let header = std::str::from_utf8(header).map_err(|_| bad())?;
        let parts: Vec<&str> = header.trim_start_matches(':').split(' ').collect();
        let [index_mode, dst_mode, index_oid, _, status] = parts[..] else {
            return Err(bad());
        };
        let status = *status.as_bytes().first().ok_or_else(bad)?;
        found.push(Unstaged { path, index_mode, dst_mode, index_oid, status });
    }
    Ok(found)
}

/// `--raw -z` records only: what changed, with nothing read or rendered.
pub(super) const RAW_ONLY: [&str; 4] = ["-z", "--raw", "--no-abbrev", "-M"];

/// `--raw -z` records, then the patch with every option that fixes its bytes.
pub(super) const RAW_AND_PATCH: [&str; 12] = [
    "-z",
    "--raw",
    "--no-abbrev",
    "-p",
    "--binary",
    "--full-index",
    "-M",
    "--no-ext-diff",
    "--no-textconv",
    "--no-color",
    "--src-prefix=a/",
    "--dst-prefix=b/",
];

/// Split `--raw -z -p` output: raw records (`:srcmode dstmode srcoid dstoid STATUS NUL path
/// NUL [dstpath NUL]`), an empty record, then the patch bytes.
pub(super) fn split_raw_and_patch(bytes: &[u8]) -> Result<(Vec<RawChange>, Vec<u8>)> {
    let bad = || Error::usage("unexpected output from `git diff --raw -p`").with_code("git_output");
    let mut changes = Vec::new();
    let mut rest = bytes;
    let field = |rest: &mut &[u8]| -> Result<Vec<u8>> {
        let end = rest.iter().position(|b| *b == 0).ok_or_else(bad)?;
        let value = rest[..end].to_vec();
        *rest = &rest[end + 1..];
        Ok(value)
    };
    while !rest.is_empty() {
        if rest[0] == 0 {
            return Ok((changes, rest[1..].to_vec()));
        }
        let header = String::from_utf8(field(&mut rest)?).map_err(|_| bad())?;
        let parts: Vec<&str> = header.trim_start_matches(':').split(' ').collect();
        let [src_mode, dst_mode, src_oid, dst_oid, status] = parts[..] else {
            return Err(bad());
        };
        let status = *status.as_bytes().first().ok_or_else(bad)?;
        let src_path = field(&mut rest)?;
        let dst_path = if matches!(status, b'R' | b'C') { Some(field(&mut rest)?) } else { None };
        changes.push(RawChange {
            src_mode: src_mode.to_string(),
            dst_mode: dst_mode.to_string(),
            src_oid: src_oid.to_string(),
            dst_oid: dst_oid.to_string(),
            status,
            src_path,
            dst_path,
        });
    }
    Ok((changes, Vec::new()))
}
