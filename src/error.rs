//! Error types of the library. Each variant names the file, line, config key or
//! stage it concerns. A variant that wraps a cause returns it from `source()` and
//! leaves it out of its own message: the CLI prints the chain, each cause once.
//! File-system errors come from `fs_err`, whose messages carry the path.

use std::path::PathBuf;

/// Where a config value came from, for errors that blame it.
#[derive(Debug, Clone)]
pub enum Origin {
    /// The config file.
    File(PathBuf),
    /// A `--set KEY=VALUE` on the command line (or a sweep's override).
    Set(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Set(assignment) => write!(f, "--set {assignment}"),
        }
    }
}

/// Problems with the pipeline configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{}: invalid TOML: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{origin}: {message}")]
    Schema { origin: Origin, message: String },
    #[error("unknown config key `{key}`; valid keys are:\n  {}", valid.join("\n  "))]
    UnknownKey { key: String, valid: Vec<String> },
    #[error("--set {assignment}: expected KEY=VALUE")]
    BadAssignment { assignment: String },
    #[error("--set {key}={value}: {message}")]
    BadValue { key: String, value: String, message: String },
    #[error("{origin}: `{key}` {message}")]
    OutOfRange { origin: Origin, key: String, message: String },
    #[error("config key `{key}` references ${{{var}}}, which is not set in the environment")]
    MissingEnv { key: String, var: String },
}

pub use mtmt_ner::error::InputError;

pub use mtmt_stage::error::StoreError;

/// Problems with a sweep file or one of its cells.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("sweep cell {cell}")]
    Cell {
        cell: String,
        #[source]
        source: ConfigError,
    },
    #[error("sweep cell {cell}")]
    Run {
        cell: String,
        #[source]
        source: StoreError,
    },
    #[error("sweep cell {cell} failed ({status}); its log: {}", log.display())]
    Job { cell: String, status: String, log: PathBuf },
    #[error(
        "{}: method `{method}` selects its model on target dev F1, which uses target labels: its name must say \
         so wherever its figures are shown (`{mark}`, say `{method} ({mark})`)",
        path.display()
    )]
    UnmarkedTargetDev { path: PathBuf, method: String, mark: &'static str },
}

/// The message the CLI prints for `err`: its chain on one line, each cause once. A full
/// disk, which libraries report in their own wording (`IoError(Os { code: 28, ... })`),
/// is said plainly, after what was being done, with what is kept.
pub fn message(err: &anyhow::Error) -> String {
    let full = |e: &(dyn std::error::Error + 'static)| {
        let io = e.downcast_ref::<std::io::Error>();
        let text = e.to_string();
        io.is_some_and(|io| io.raw_os_error() == Some(28) || io.kind() == std::io::ErrorKind::StorageFull)
            || ["os error 28", "code: 28", "No space left on device"].iter().any(|s| text.contains(s))
    };
    let Some(at) = err.chain().position(full) else {
        return format!("{err:#}");
    };
    let doing: Vec<String> = err.chain().take(at).map(|e| e.to_string()).collect();
    let what = if doing.is_empty() { String::new() } else { format!("{}: ", doing.join(": ")) };
    format!(
        "{what}the disk is full (no space left on device). Free space and run again: published artifacts are \
         complete and kept, a half-built one is cleared, and a training stage resumes from its last checkpoint"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_full_disk_is_said_plainly_after_what_was_being_done() {
        let io = std::io::Error::from_raw_os_error(28);
        let err = anyhow::Error::new(io).context("writing model.safetensors").context("stage `distill` failed");
        let msg = super::message(&err);
        assert!(msg.starts_with("stage `distill` failed: writing model.safetensors: the disk is full"), "{msg}");
        assert!(!msg.contains("os error"), "{msg}");
        // A library's own wording, carried as text.
        let err = anyhow::anyhow!("saving: IoError(Os {{ code: 28, kind: StorageFull }})").context("stage `x` failed");
        assert!(super::message(&err).starts_with("stage `x` failed: the disk is full"), "{}", super::message(&err));
        assert_eq!(super::message(&anyhow::anyhow!("other")), "other");
    }
}
