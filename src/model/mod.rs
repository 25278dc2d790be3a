//! Neural models in tch: the BERT encoder and the heads built on it.

pub mod bert;
pub mod heads;
pub mod tagger;
