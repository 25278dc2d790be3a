//! UniTrans's section of the settings (`unitrans`): its struct, defaults and range checks.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Method;
use mtmt_stage::settings::depth_text;

/// UniTrans (methods.md): the labeled source translated word by word into the target
/// language with a lexicon induced by CSLS over the encoder's word vectors (or a user's
/// dictionary), teachers on it, and a student with soft labels plus voted hard labels.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UniTransConfig {
    /// A word's vector: `contextual` (the encoder's hidden state at its first subword in
    /// layer `layer`, averaged over its occurrences in the first `context_sentences`
    /// sentences, 0 = all) or `input` (the mean of its subwords' input embeddings, which
    /// follows spelling: docs/measurements.md, "UniTrans's lexicon").
    pub(crate) word_vectors: WordVectors,
    pub layer: usize,
    pub(crate) context_sentences: usize,
    /// The most frequent words of each side the lexicon is induced over.
    pub vocabulary: usize,
    /// CSLS neighbourhood size (released: 10).
    pub(crate) csls_k: i64,
    /// A bilingual dictionary in the MUSE text format (`source target` per line) to use
    /// instead of an induced lexicon; its content enters the key.
    pub dictionary: Option<PathBuf>,
    /// eta: the weight of the cross-entropy on the words where all three teachers agree
    /// (released: 1).
    pub(crate) hard_weight: f64,
    /// A replaced word takes the spelling its translation has in the target text (away from
    /// a sentence start) rather than the source word's casing: German capitalizes its
    /// nouns, so the released code takes de casing from the target text.
    pub target_casing: bool,
}

impl Default for UniTransConfig {
    fn default() -> Self {
        Self {
            word_vectors: WordVectors::Contextual,
            layer: 8,
            context_sentences: 0,
            vocabulary: 20000,
            csls_k: 10,
            dictionary: None,
            hard_weight: 1.0,
            target_casing: false,
        }
    }
}

/// How the lexicon's word vectors are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordVectors {
    Input,
    Contextual,
}

impl UniTransConfig {
    /// Its dictionary's path resolved against the config file's folder.
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(p) = self.dictionary.as_mut().filter(|p| p.is_relative()) {
            *p = base.join(&*p);
        }
    }

    /// The range checks of this section (`Config::range_errors`).
    pub fn range_errors(&self, method: Method, layers: Option<usize>, check: &mut impl FnMut(bool, &str, String)) {
        let (depth, has) = depth_text(layers);
        let u = self;
        check(u.vocabulary >= 1, "unitrans.vocabulary", "must be at least 1".into());
        check(u.csls_k >= 1, "unitrans.csls_k", "must be at least 1".into());
        // Bounded by the encoder's depth only where contextual vectors are made.
        let contextual = method == Method::UniTrans && u.word_vectors == WordVectors::Contextual;
        check(
            !contextual || layers.is_none_or(|n| u.layer >= 1 && u.layer <= n),
            "unitrans.layer",
            format!("is {}: must lie in [1, {depth}]{has}", u.layer),
        );
        check(
            u.hard_weight.is_finite() && u.hard_weight >= 0.0,
            "unitrans.hard_weight",
            format!("is {}: must be 0 or more", u.hard_weight),
        );
    }
}
