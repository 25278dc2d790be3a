//! mtmt-pipe: zero-shot cross-lingual NER (MTMT and its baselines) as a pipeline
//! of content-addressed stages. The engine and shared code live in `src/` (each
//! method in `src/method/`); the stages themselves, one file each, in `stages/`,
//! which depend on `src/` only.

pub mod artifacts;
pub mod atomic;
pub mod bench;
pub mod cli;
pub mod commands;
pub mod config;
pub mod corpus;
pub mod curves;
pub mod e5s1;
pub mod engine;
pub mod error;
pub mod eval;
pub mod export;
pub mod files;
pub mod health;
pub mod inspect;
pub mod lexicon;
pub mod manifest;
pub mod method;
pub mod model;
pub mod neighbours;
pub mod pairs;
pub mod predict;
pub mod recipe;
pub mod side;
pub mod stage;
pub mod stage_name;
pub mod store;
pub mod subword;
pub mod summary;
pub mod sweep;
pub mod table;
pub mod train;
pub mod trained;
pub mod ui;
pub mod variant;

#[path = "../stages/mod.rs"]
pub mod stages;
