//! The stage layer of mtmt-pipe, between the NER core (`mtmt-ner`) and the methods: what
//! a pipeline stage is (`stage`: the trait, its context and cache-key view, its config keys
//! read from its `Params`), the names stages and methods go by (`stage_name`,
//! `method_name`), the settings every layer reads (`settings`), and what the stages hand
//! each other (`artifacts`, the file names in `files`, `side`, `variant`, `summary`, the
//! `manifest` each artifact carries, `fit`: training around the trainer).
//!
//! It knows no method (the methods, `mtmt-methods`, sit above it), no config file and no
//! store engine (the tool, `mtmt-pipe`, on top).

pub mod artifacts;
pub mod error;
pub mod files;
pub mod fit;
pub mod manifest;
pub mod method_name;
pub mod settings;
pub mod side;
pub mod stage;
pub mod stage_name;
pub mod summary;
pub mod ui;
pub mod variant;
