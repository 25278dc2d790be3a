//! Neural models in tch: the BERT encoder and the heads built on it.

pub mod bert;
pub mod calibration;
pub mod discriminator;
pub mod heads;
pub mod lang_sim;
pub mod layer_heads;
pub mod params;
pub mod siamese;
pub mod tagger;
