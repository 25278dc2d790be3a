//! Neural models in tch: the BERT encoder and the heads built on it.

pub mod bert;
mod dropout;
pub mod heads;
pub mod params;
pub mod tagger;

/// Whether a forward pass trains (dropout on, the training mode's settings) or infers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Train,
    Infer,
}

impl Pass {
    /// Whether dropout and the other training-only parts run.
    pub fn trains(self) -> bool {
        self == Pass::Train
    }
}
