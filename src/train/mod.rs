//! The training core shared by every model: seeded randomness, length-bucketed
//! batches, AdamW with a linear schedule, devices, and resumable checkpoints.

pub mod batching;
pub mod checkpoint;
pub mod data;
pub mod device;
pub mod fit;
pub mod optim;
pub mod rng;
pub mod trainer;
