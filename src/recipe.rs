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
    /// The MTMT paper's section 4.2 (`MTMT_PAPER`).
    MtmtPaper,
}

/// The MTMT paper, section 4.2: "We do not freeze any layers [...] batch size 32, maximum
/// sequence length 128, dropout rate 0.2, and we use Adam [...] learning rate 1e-5 and 5e-6
/// [recognition and similarity teachers] [...] 1e-6 for the student models". Adam as
/// `torch.optim.Adam` with its default weight decay, 0. What the paper leaves open stays
/// ours: 3 epochs per model, linear warm-up over 10% of the steps then linear decay, the
/// gradient norm clipped at 1.0. "Dropout rate" is read as the dropout before the
/// classification head; the encoder's own dropout stays its config's (0.1). Only the
/// models of MTMT, MTST and TSL (the recognizer, the similarity teacher, the student)
/// take the recipe; the other methods' teachers keep their settings.
const MTMT_PAPER: &[&str] = &[
    "tokenize.max_len=128",
    "teacher_ner.optimizer=adam",
    "teacher_ner.weight_decay=0",
    "teacher_ner.lr=1e-5",
    "teacher_ner.freeze_layers=0",
    "teacher_ner.freeze_embeddings=false",
    "teacher_ner.dropout=0.2",
    "teacher_ner.batch_size=32",
    "teacher_ner.epochs=3",
    "teacher_sim.optimizer=adam",
    "teacher_sim.weight_decay=0",
    "teacher_sim.lr=5e-6",
    "teacher_sim.freeze_layers=0",
    "teacher_sim.freeze_embeddings=false",
    "teacher_sim.dropout=0.2",
    "teacher_sim.batch_size=32",
    "teacher_sim.epochs=3",
    "distill.optimizer=adam",
    "distill.weight_decay=0",
    "distill.lr=1e-6",
    "distill.freeze_layers=0",
    "distill.freeze_embeddings=false",
    "distill.dropout=0.2",
    "distill.batch_size=32",
    "distill.epochs=3",
];

impl Recipe {
    /// The recipe's settings as `KEY=VALUE`.
    pub fn settings(self) -> &'static [&'static str] {
        match self {
            Recipe::Tsl => &[],
            Recipe::MtmtPaper => MTMT_PAPER,
        }
    }
}
