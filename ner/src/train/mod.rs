//! The training core shared by every model: seeded randomness, length-bucketed
//! batches, AdamW with a linear schedule, devices, and resumable checkpoints (what a
//! training stage does around them is the pipeline's `fit`).

pub mod batching;
pub mod checkpoint;
pub mod data;
pub mod device;
pub mod optim;
pub mod rng;
pub mod trainer;
