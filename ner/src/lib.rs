//! The NER core of mtmt-pipe: reading corpora (`corpus`), subword encoding (`subword`),
//! the training primitives (`train`: encoded sets, batches, optimizers, schedules), the
//! BERT encoder and its heads (`model`), decoding and scoring (`eval`), the training loop
//! and its checkpoints (`trainer`), a run's health checks (`health`), and the file
//! primitives under them (`atomic` writes, Parquet `table`s).
//!
//! It knows no method, no stage, no configuration file and no store: what every method
//! shares sits here, and the pipeline (`mtmt-pipe`) builds on it, so that an edit above it
//! never recompiles it.

pub mod atomic;
pub mod corpus;
pub mod error;
pub mod eval;
pub mod health;
pub mod model;
pub mod subword;
pub mod table;
pub mod train;
pub mod trainer;
