//! The pipeline's stages, one file each, in dependency order.

mod distill;
pub mod evaluate;
mod fit;
mod ingest;
mod score;
mod teacher_ner;
mod teacher_sim;
mod tokenize;
mod weights;

pub use distill::Distill;
pub use evaluate::{Evaluate, MODEL_SELECTION};
pub use ingest::Ingest;
pub use score::{ScorePairs, ScoreTokens};
pub use teacher_ner::{schedule as teacher_schedule, TeacherNer};
pub use teacher_sim::TeacherSim;
pub use tokenize::Tokenize;
pub use weights::Weights;

use crate::stage::Stage;

/// The labeled source language or the unlabeled target language. Each side has its
/// own ingest and tokenize stages, so teachers (source only) are shared by every
/// target language trained from the same source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }

    /// The splits of this side, with whether they are read with their labels: the
    /// target's train split never is.
    pub fn roles(self) -> [Role; 3] {
        let corpus = self.name();
        let train_labeled = self == Side::Source;
        [
            Role { corpus, split: "train", labeled: train_labeled },
            Role { corpus, split: "dev", labeled: true },
            Role { corpus, split: "test", labeled: true },
        ]
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Role {
    pub corpus: &'static str,
    pub split: &'static str,
    pub labeled: bool,
}

impl Role {
    pub fn name(&self) -> String {
        format!("{}_{}", self.corpus, self.split)
    }
}

/// Every stage, upstream first; the last is what `run all` builds.
pub fn registry() -> Vec<Box<dyn Stage>> {
    vec![
        Box::new(Ingest(Side::Source)),
        Box::new(Ingest(Side::Target)),
        Box::new(Tokenize(Side::Source)),
        Box::new(Tokenize(Side::Target)),
        Box::new(TeacherNer { multitask: false }),
        Box::new(TeacherSim),
        Box::new(TeacherNer { multitask: true }),
        Box::new(ScoreTokens),
        Box::new(ScorePairs),
        Box::new(Weights),
        Box::new(Distill),
        Box::new(Evaluate),
    ]
}
