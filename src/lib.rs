//! mtmt-pipe: zero-shot cross-lingual NER (MTMT and its baselines) as a pipeline
//! of content-addressed stages. The NER core (corpora, encoder, training, evaluation)
//! is the crate `mtmt-ner` in `ner/`; the engine and shared code live in `src/` (each
//! method in `src/method/`); the shared stages, one file each, in `stages/`.
//!
//! Modules are crate-private unless the binary or the integration tests (`tests/`) reach
//! them, so that an item nothing uses is reported as dead code.

pub(crate) mod artifacts;
pub(crate) mod bench;
pub mod cli;
pub mod commands;
pub(crate) mod config;
pub(crate) mod curves;
pub(crate) mod e5s1;
pub mod engine;
pub mod error;
pub(crate) mod export;
pub(crate) mod files;
pub(crate) mod fit;
pub(crate) mod inspect;
pub(crate) mod manifest;
pub(crate) mod method;
pub(crate) mod method_name;
pub(crate) mod neighbours;
pub(crate) mod predict;
pub(crate) mod recipe;
pub(crate) mod settings;
pub(crate) mod side;
pub(crate) mod stage;
pub mod stage_name;
pub(crate) mod store;
pub(crate) mod summary;
pub mod sweep;
pub(crate) mod trained;
pub(crate) mod ui;
pub(crate) mod variant;

/// The NER core (crate `mtmt-ner`), at the paths the pipeline has always used.
pub use mtmt_ner::{atomic, corpus, eval, health, model, subword, table, train};

#[path = "../stages/mod.rs"]
pub mod stages;

/// UniTrans's word-by-word translation rules, for the tests that plant a dictionary.
pub use method::unitrans::word_translation;
