//! Errors that reach the user: each carries the exit-code class of cli.md §7, a stable
//! machine code for `--json`, an optional hint, and the chain of causes.

use std::fmt;

/// Declares [`Kind`] and its table from one list: each class once, with its exit status, its
/// default JSON error code and the description `--help`, the man page and the README show.
macro_rules! exit_kinds {
    ($($(#[$doc:meta])* $variant:ident => $status:literal, $json:literal, $description:literal;)*) => {
        /// The exit-code classes of cli.md §7.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind {
            $($(#[$doc])* $variant,)*
        }

        impl Kind {
            /// Every class, in the order of the table.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            pub fn exit_code(self) -> i32 {
                match self { $(Kind::$variant => $status,)* }
            }

            /// The JSON error code used when an error sets no more specific one.
            pub fn json_code(self) -> &'static str {
                match self { $(Kind::$variant => $json,)* }
            }

            /// What the exit status means, for `--help`, the man page and the README.
            pub fn description(self) -> &'static str {
                match self { $(Kind::$variant => $description,)* }
            }
        }
    };
}

exit_kinds! {
    /// Writing to a closed stdout pipe; not an error for the user: exit 0, nothing printed.
    BrokenPipe => 0, "broken_pipe", "success (a closed stdout pipe is not an error)";
    /// `check` (or the checks inside `submit`) found a problem: exit 1.
    Problems => 1, "problems",
        "a check found a problem (check, submit, the pre-push check), or a bench run did not end ok";
    /// Usage or local configuration error, including a failed local `git`: exit 2.
    Usage => 2, "usage",
        "usage or local error (bad flags, not a task clone, corrupt state, a git command failed)";
    /// Coordinator (or the task repository's remote) unreachable or timed out: exit 3.
    Network => 3, "network", "network: the coordinator or the repository's host is unreachable or timed out";
    /// Key or authentication problem, or the coordinator said 401/403: exit 4.
    Auth => 4, "auth", "key or authentication: no wallet, wrong password, bad keyfile, coordinator said 401/403";
    /// The coordinator refused the request or answered garbage: exit 5.
    Server => 5, "server", "the coordinator refused the request (other 4xx/5xx) or answered something unexpected";
    /// Interrupted by Ctrl-C (SIGINT): exit 130, after removing what was half-made.
    Interrupted => 130, "interrupted", "interrupted (Ctrl-C); whatever was half-made is removed";
}

impl Kind {
    fn default_code(self) -> &'static str {
        self.json_code()
    }
}

/// The exit statuses in table order, each once: status, default JSON error code (none for
/// success) and description.
pub fn exit_statuses() -> Vec<(i32, &'static str, &'static str)> {
    let mut rows = vec![(0, "", "success")];
    rows.extend(
        Kind::ALL
            .iter()
            .filter(|k| k.exit_code() != 0)
            .map(|k| (k.exit_code(), k.json_code(), k.description())),
    );
    rows
}

/// The exit-status list of `--help`.
pub fn exit_status_help() -> String {
    let mut text = String::from("Exit status:\n");
    for (code, _, description) in exit_statuses() {
        text.push_str(&format!("  {code:<4} {description}\n"));
    }
    text.push_str("\nSee `git bitsota man` for files, environment, problem codes and the full reference.");
    text
}

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error for the user. Build it with a constructor named after its class, then add a
/// machine code, a hint or a cause.
pub struct Error {
    kind: Kind,
    code: &'static str,
    message: String,
    hint: Option<String>,
    source: Option<Cause>,
    /// Already shown to the user (e.g. the `check` report); only the exit code is left to give.
    reported: bool,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            code: kind.default_code(),
            message: message.into(),
            hint: None,
            source: None,
            reported: false,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }
    pub fn problems(message: impl Into<String>) -> Self {
        Self::new(Kind::Problems, message)
    }
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(Kind::Network, message)
    }
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(Kind::Auth, message)
    }
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(Kind::Server, message)
    }
    pub fn broken_pipe() -> Self {
        Self::new(Kind::BrokenPipe, "broken pipe")
    }

    /// Set the stable machine-readable code shown in `--json` errors.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn with_source(mut self, source: impl Into<Cause>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Mark the error as already reported: `main` prints nothing more and exits with its code.
    pub fn already_reported(mut self) -> Self {
        self.reported = true;
        self
    }
    pub fn is_reported(&self) -> bool {
        self.reported
    }
    pub fn kind(&self) -> Kind {
        self.kind
    }
    pub fn code(&self) -> &'static str {
        self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }

    /// The messages of every cause below this error, outermost first.
    pub fn causes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> =
            self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static));
        while let Some(err) = next {
            let text = err.to_string();
            // Some libraries repeat their source in their own message; skip exact repeats.
            if out.last() != Some(&text) {
                out.push(text);
            }
            next = err.source();
        }
        out
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} error ({}): {}", self.kind, self.code, self.message)?;
        for cause in self.causes() {
            write!(f, "\n  caused by: {cause}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Attach a user-facing message to lower-level errors: `io_result.or_usage(|| "cannot read X")?`.
pub trait ResultExt<T> {
    /// Turn any error into a usage error (exit 2) with `message`, keeping it as the cause.
    fn or_usage<M: Into<String>>(self, message: impl FnOnce() -> M) -> Result<T>;
    /// Turn any error into an error of `kind` with `message`, keeping it as the cause.
    fn or_kind<M: Into<String>>(self, kind: Kind, message: impl FnOnce() -> M) -> Result<T>;
}

impl<T, E> ResultExt<T> for std::result::Result<T, E>
where
    E: Into<Cause>,
{
    fn or_usage<M: Into<String>>(self, message: impl FnOnce() -> M) -> Result<T> {
        self.or_kind(Kind::Usage, message)
    }
    fn or_kind<M: Into<String>>(self, kind: Kind, message: impl FnOnce() -> M) -> Result<T> {
        self.map_err(|e| Error::new(kind, message()).with_source(e))
    }
}
