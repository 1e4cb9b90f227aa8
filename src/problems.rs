//! The problem codes of `check`, `submit` and the pre-push check (cli.md §5), in one table:
//! each code once, with the words shown next to a refused file, its message, its hint and what
//! the man page says about it. `check` builds its problems from it and the man page's PROBLEM
//! CODES section lists it, so adding a code is one entry here.

use crate::patch::Reason;

/// Declares [`ProblemCode`] and its table from one list.
macro_rules! problem_codes {
    ($($variant:ident => $code:literal {
        words: $words:literal,
        message: $message:literal,
        hint: $hint:literal $(,)?
    })*) => {
        /// A problem code of cli.md §5 (plus this tool's extra ones).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ProblemCode {
            $($variant,)*
        }

        impl ProblemCode {
            /// Every code, in the order of the table (and of the man page).
            pub const ALL: &'static [ProblemCode] = &[$(ProblemCode::$variant),*];

            /// The stable machine code (`check --json` `problems[].code`).
            pub fn code(self) -> &'static str {
                match self { $(ProblemCode::$variant => $code,)* }
            }

            /// A few words: next to a refused file in the human report.
            pub fn words(self) -> &'static str {
                match self { $(ProblemCode::$variant => $words,)* }
            }

            /// The message of the problem (some problems say more, with numbers), and the man
            /// page's description of the code.
            pub fn message(self) -> &'static str {
                match self { $(ProblemCode::$variant => $message,)* }
            }

            /// What to do about it.
            pub fn hint(self) -> &'static str {
                match self { $(ProblemCode::$variant => $hint,)* }
            }
        }
    };
}

problem_codes! {
    OutsideAllowedPaths => "outside_allowed_paths" {
        words: "outside allowed_patch_paths",
        message: "changed path(s) outside allowed_patch_paths; validators reject the whole patch",
        hint: "revert them (git restore / git rm --cached), or submit with --allow-outside to leave them out",
    }
    BytecodePath => "bytecode_path" {
        words: "Python bytecode",
        message: "Python bytecode (.pyc/.pyo) path(s); validators never accept them",
        hint: "delete the files or add `__pycache__/` and `*.py[co]` to .gitignore",
    }
    UnquotablePath => "unquotable_path" {
        words: "name validators cannot read",
        message: "path(s) git would quote (control characters, quotes, backslashes, edge spaces or non-UTF-8); validators cannot read them",
        hint: "rename the files to plain names",
    }
    NestedRepository => "nested_repository" {
        words: "nested repository",
        message: "untracked nested git repositories cannot be part of a patch",
        hint: "move them out of the work tree or add them to .git/info/exclude",
    }
    UnmergedPath => "unmerged_path" {
        words: "unresolved merge conflict",
        message: "path(s) with an unresolved merge conflict; the files hold conflict markers",
        hint: "resolve the conflict and `git add` the files, or `git merge --abort`",
    }
    SubmoduleChange => "submodule_change" {
        words: "submodule commit",
        message: "submodule (gitlink) change(s); validators clone without submodules, so the change would replay as nothing",
        hint: "restore the submodule to its base commit (git submodule update), or copy the files into the repository",
    }
    ConvertedByAttributes => "converted_by_attributes" {
        words: "line endings or filters change its bytes",
        message: "file(s) that .gitattributes (text, eol, filter) convert: validators would get other bytes than your work tree",
        hint: "give each file the bytes git checks out (`git add F && rm F && git checkout -- F`; for `text=auto` that is LF line endings), then benchmark again",
    }
    NeedsRefusedChange => "needs_refused_change" {
        words: "needs a refused change",
        message: "allowed change(s) that cannot apply without a refused change (a file and a directory of the same name)",
        hint: "make the other change allowed too, or undo these",
    }
    PatchTooLarge => "patch_too_large" {
        words: "the exact patch is longer than max_patch_bytes",
        message: "the exact patch is longer than the task's max_patch_bytes",
        hint: "make the change smaller (binary files and renames of large files cost the most)",
    }
    EmptyPatch => "empty_patch" {
        words: "nothing to submit (artifact-first tasks may submit an artifact instead)",
        message: "there is nothing to submit: no allowed change since the base commit",
        hint: "edit files matching allowed_patch_paths",
    }
    PatchNotUtf8 => "patch_not_utf8" {
        words: "the patch is not UTF-8",
        message: "the patch is not valid UTF-8; validators read it as text and would fail",
        hint: "mark non-UTF-8 text files as binary: add `<path> binary` to .git/info/attributes",
    }
    PatchMisread => "patch_misread" {
        words: "the paths a validator would read from the patch are not exactly the submitted paths",
        message: "validators would read path(s) from this patch that are not the changed files, and reject it",
        hint: "a changed line starting with `-- ` or `++ ` reads like a file header; reword that line",
    }
    SubmissionInvalid => "submission_invalid" {
        words: "the submission file is missing (submit), not a JSON object, or breaks a rule (see SUBMISSION FILE)",
        message: "the submission file is missing (submit), not a JSON object, or breaks a rule (see SUBMISSION FILE)",
        hint: "edit submission.json (see `git bitsota man`, SUBMISSION FILE)",
    }
    ClaimMissing => "claim_missing" {
        words: "submit without a claim",
        message: "this clone holds no claim of the task",
        hint: "claim the task first: `git bitsota claim`",
    }
    ClaimExpired => "claim_expired" {
        words: "submit with a claim that expired or is no longer active",
        message: "the claim expired or is no longer active",
        hint: "claim the task again: `git bitsota claim`",
    }
    NotDescendedFromBase => "not_descended_from_base" {
        words: "pre-push: a pushed commit does not descend from the base commit",
        message: "a pushed commit does not descend from the task's base commit (pre-push)",
        hint: "rebase your work onto the base commit; validators apply the patch there",
    }
    ArtifactMissing => "artifact_missing" {
        words: "no artifact where validators require one",
        message: "validators require an artifact (requires_submission_artifact, AUTORESEARCH_REQUIRE_SUBMISSION_ARTIFACT in validator_benchmark_env, or an empty patch) and the sidecar names none",
        hint: "upload the artifact to an https URL that serves it directly, then `git bitsota artifact set URL --file FILE`",
    }
    ArtifactRedirect => "artifact_redirect" {
        words: "the artifact URI redirects",
        message: "artifact verify, submit: the artifact URI answers a redirect, which validators do not follow (Hugging Face resolve/ URLs redirect to a CDN)",
        hint: "use a URL that serves the bytes itself",
    }
    ArtifactUnreachable => "artifact_unreachable" {
        words: "the artifact cannot be downloaded",
        message: "artifact verify, submit: HTTP 4xx/5xx, no connection, or no data for 60 s",
        hint: "the URL must be public and answer a plain GET with the file",
    }
    ArtifactSizeMismatch => "artifact_size_mismatch" {
        words: "the artifact has another size",
        message: "the Content-Length served (or, with --download, the bytes read) differs from artifact_size_bytes",
        hint: "run `git bitsota artifact set URI` to record what the URI serves, or upload the right file",
    }
    ArtifactSha256Mismatch => "artifact_sha256_mismatch" {
        words: "the artifact has another SHA-256",
        message: "artifact verify --download: the bytes read have another SHA-256",
        hint: "run `git bitsota artifact set URI` to record what the URI serves, or upload the right file",
    }
}

impl ProblemCode {
    /// The code a per-file refusal is reported under.
    pub fn for_reason(reason: Reason) -> ProblemCode {
        match reason {
            Reason::Outside => ProblemCode::OutsideAllowedPaths,
            Reason::Bytecode => ProblemCode::BytecodePath,
            Reason::Unquotable => ProblemCode::UnquotablePath,
            Reason::NestedRepository => ProblemCode::NestedRepository,
            Reason::Unmerged => ProblemCode::UnmergedPath,
            Reason::Submodule => ProblemCode::SubmoduleChange,
            Reason::NeedsRefused => ProblemCode::NeedsRefusedChange,
            Reason::Converted => ProblemCode::ConvertedByAttributes,
        }
    }
}

/// The per-file refusals, in the order their problems are reported.
pub const PER_FILE: [Reason; 8] = [
    Reason::Outside,
    Reason::Bytecode,
    Reason::Unquotable,
    Reason::NestedRepository,
    Reason::Unmerged,
    Reason::Submodule,
    Reason::NeedsRefused,
    Reason::Converted,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_per_file_ones_map_back() {
        let mut codes: Vec<&str> = ProblemCode::ALL.iter().map(|c| c.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), ProblemCode::ALL.len());
        for reason in PER_FILE {
            assert!(ProblemCode::ALL.contains(&ProblemCode::for_reason(reason)));
        }
    }
}
