//! Error types of the library. Each variant names the file, line, config key or
//! stage it concerns, so the CLI can print it as is.

use std::path::PathBuf;

/// A failure to read or write a file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct IoError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Attaches the path to an `io::Result`.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, IoError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, IoError> {
        self.map_err(|source| IoError { path: path.into(), source })
    }
}

/// Problems with the pipeline configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{}: invalid TOML: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Schema { path: PathBuf, message: String },
    #[error("unknown config key `{key}`; valid keys are:\n  {}", valid.join("\n  "))]
    UnknownKey { key: String, valid: Vec<String> },
    #[error("--set {assignment}: expected KEY=VALUE")]
    BadAssignment { assignment: String },
    #[error("--set {key}={value}: {message}")]
    BadValue { key: String, value: String, message: String },
    #[error("config key `{key}` references ${{{var}}}, which is not set in the environment")]
    MissingEnv { key: String, var: String },
}

/// Bad content in an input data file, located to the line.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct InputError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

/// Failures of the artifact store and the stage engine.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("unknown stage `{name}`; stages are: {}", known.join(", "))]
    UnknownStage { name: String, known: Vec<String> },
    #[error("stage `{stage}` failed: {source:#}")]
    StageFailed {
        stage: String,
        #[source]
        source: anyhow::Error,
    },
    #[error("stage `{stage}`: input file {} (config key `{key}`): {source}", path.display())]
    InputFile {
        stage: String,
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: corrupt manifest: {message}", path.display())]
    BadManifest { path: PathBuf, message: String },
    #[error("no artifact named `{name}`: it is neither a Parquet file nor an output of any stage (outputs: {})", known.join(", "))]
    UnknownOutput { name: String, known: Vec<String> },
    #[error("`{name}` (stage `{stage}`) is not built for the current config: run `mtmt-pipe run stage {stage}` first")]
    NotBuilt { name: String, stage: String },
}

/// Problems with a sweep file or one of its cells.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("sweep cell {cell}: {source}")]
    Cell {
        cell: String,
        #[source]
        source: ConfigError,
    },
    #[error("sweep cell {cell}: {source}")]
    Run {
        cell: String,
        #[source]
        source: StoreError,
    },
}
