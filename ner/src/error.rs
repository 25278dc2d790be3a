//! The NER core's own error: bad content in an input file, located to the line (the
//! pipeline's other errors are in `mtmt-pipe`'s `error`).

use std::path::PathBuf;

/// Bad content in an input data file, located to the line.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct InputError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}
