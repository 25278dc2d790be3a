//! Variants of a pipeline: the same stages planned under a config with a few values
//! changed (another seed, another source language). A stage that needs several teachers
//! (AdvPicker's seed teachers, one recognizer per source language) reads the artifacts of
//! its upstream stage under each variant. A variant's artifacts are keyed exactly as the
//! pipeline of the changed config would key them, so they are shared with it: seed 14's
//! teacher is one artifact whether seed 14's own cell or seed 13's ensemble asked for it.

use serde_json::Value;

use crate::settings::Corpus;

/// One changed copy of the config, named for logs, `status` and the manifests' inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub label: String,
    /// (dotted key, new value) pairs applied to the resolved config.
    pub set: Vec<(&'static str, Value)>,
}

impl Variant {
    /// The config under another `seed`.
    pub fn seed(seed: u64) -> Self {
        Self { label: format!("seed={seed}"), set: vec![("seed", Value::from(seed))] }
    }

    /// The config with `corpus` as its labeled source language.
    pub fn source(corpus: &Corpus) -> Self {
        let value = serde_json::to_value(corpus).expect("a corpus serializes");
        Self { label: format!("source={}", corpus.lang), set: vec![("source", value)] }
    }
}
