//! mtmt-pipe: zero-shot cross-lingual NER (MTMT and its baselines) as a pipeline
//! of content-addressed stages. The engine and shared code live in `src/` (each
//! method in `src/method/`); the stages themselves, one file each, in `stages/`,
//! which depend on `src/` only.
//!
//! Modules are crate-private unless the binary or the integration tests (`tests/`) reach
//! them, so that an item nothing uses is reported as dead code.

pub(crate) mod artifacts;
pub(crate) mod atomic;
pub(crate) mod bench;
pub mod cli;
pub mod commands;
pub(crate) mod config;
pub mod corpus;
pub(crate) mod curves;
pub(crate) mod e5s1;
pub mod engine;
pub mod error;
pub mod eval;
pub(crate) mod export;
pub(crate) mod files;
pub(crate) mod health;
pub(crate) mod inspect;
pub(crate) mod manifest;
pub(crate) mod method;
pub mod model;
pub(crate) mod neighbours;
pub(crate) mod predict;
pub(crate) mod recipe;
pub(crate) mod side;
pub(crate) mod stage;
pub mod stage_name;
pub(crate) mod store;
pub mod subword;
pub(crate) mod summary;
pub mod sweep;
pub mod table;
pub mod train;
pub(crate) mod trained;
pub(crate) mod ui;
pub(crate) mod variant;

#[path = "../stages/mod.rs"]
pub mod stages;

/// UniTrans's word-by-word translation rules, for the tests that plant a dictionary.
pub use method::unitrans::word_translation;
