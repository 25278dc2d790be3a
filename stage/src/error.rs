//! The errors of the artifact store and the stage engine that the stages' own layer
//! raises (a manifest that does not parse, a stage that failed). Each variant names the
//! stage or file it concerns; a wrapped cause is its `source()`, left out of its message.

use std::path::PathBuf;

use crate::stage_name::StageName;

/// Failures of the artifact store and the stage engine.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("stage `{stage}` failed")]
    StageFailed {
        stage: StageName,
        #[source]
        source: anyhow::Error,
    },
    #[error("stage `{stage}`: its config values do not parse: {message}")]
    BadParams { stage: StageName, message: String },
    #[error("stage `{stage}`: input file of config key `{key}`")]
    InputFile {
        stage: StageName,
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: corrupt manifest: {message}", path.display())]
    BadManifest { path: PathBuf, message: String },
    #[error("{}: not an mtmt-pipe store (it has no .mtmt-store marker, which `mtmt-pipe run` writes); refusing to delete anything", path.display())]
    NotAStore { path: PathBuf },
    #[error("no artifact named `{name}`: it is neither a Parquet file nor an output of any stage (outputs: {})", known.join(", "))]
    UnknownOutput { name: String, known: Vec<String> },
    #[error("`{name}` (stage `{stage}`) is not built for the current config: run `mtmt-pipe run stage {stage}` first")]
    NotBuilt { name: String, stage: StageName },
}
