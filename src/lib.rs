//! mtmt-pipe: zero-shot cross-lingual NER (MTMT and its baselines) as a pipeline
//! of content-addressed stages. A workspace of crates, each layer above the last: the NER
//! core (corpora, encoder, training, evaluation) in `ner/`; the stage layer (what a stage
//! is and what stages share) in `stage/`; the methods, one folder each, in `methods/`;
//! the shared stages, one file each, in `stages/`; and here, on top, the tool: the config
//! schema, the store and its engine, sweeps, and the commands.
//!
//! Modules are crate-private unless the binary or the integration tests (`tests/`) reach
//! them, so that an item nothing uses is reported as dead code.

pub(crate) mod bench;
pub mod cli;
pub mod commands;
pub(crate) mod config;
pub(crate) mod curves;
pub(crate) mod e5s1;
pub mod engine;
pub mod error;
pub(crate) mod export;
pub(crate) mod inspect;
pub(crate) mod neighbours;
pub(crate) mod predict;
pub(crate) mod recipe;
pub(crate) mod store;
pub mod sweep;
pub(crate) mod trained;

/// The layers below the tool, at the paths the pipeline has always used: the NER core
/// (`mtmt-ner`), the stage layer (`mtmt-stage`), the methods (`mtmt-methods`) and the
/// shared stages with the registry of all (`mtmt-stages`).
pub use mtmt_ner::{atomic, corpus, eval, health, model, subword, table, train, trainer};
pub use mtmt_stage::{
    artifacts, debug, files, fit, info, manifest, method_name, settings, side, stage, stage_name, summary, ui, variant,
    warn,
};
pub use {mtmt_methods as method, mtmt_stages as stages};

/// UniTrans's word-by-word translation rules, for the tests that plant a dictionary.
pub use method::unitrans::word_translation;

#[cfg(test)]
mod layout;
