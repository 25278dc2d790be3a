//! Named training recipes: sets of settings a config takes where neither its file nor a
//! `--set` gives the key, as it takes a method's defaults (`recipe = "mtmt-paper"`).

use serde::{Deserialize, Serialize};

/// Which papers' training settings the models get.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recipe {
    /// The TSL/UniTrans recipe, which the defaults spell out: embeddings and the bottom 3
    /// layers frozen, AdamW (weight decay 0.01), teachers lr 5e-5, students lr 1e-4,
    /// dropout 0.1 before the head.
    #[default]
    Tsl,
    /// The MTMT paper's section 4.2 (`method::mtmt::PAPER_RECIPE`).
    MtmtPaper,
}

impl Recipe {
    /// The recipe's settings as `KEY=VALUE`.
    pub fn settings(self) -> &'static [&'static str] {
        match self {
            Recipe::Tsl => &[],
            Recipe::MtmtPaper => crate::method::mtmt::PAPER_RECIPE,
        }
    }
}
