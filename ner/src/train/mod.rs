//! The training primitives every model and its evaluation build on: encoded sentence
//! sets and their batches, length-bucketed batch plans, seeded randomness, AdamW with a
//! linear schedule, devices. The loop and its resumable checkpoints are `trainer`, above
//! the model (what a training stage does around them is the pipeline's `fit`).

pub mod batching;
pub mod data;
pub mod device;
pub mod optim;
pub mod rng;
