//! The pipeline's stages, one file each, in dependency order.

mod ingest;
mod teacher_ner;
mod tokenize;

pub use ingest::Ingest;
pub use teacher_ner::{schedule as teacher_schedule, TeacherNer};
pub use tokenize::Tokenize;

use crate::stage::Stage;

/// Corpus roles in the order they are processed; the target's train split is unlabeled.
pub const ROLES: [Role; 6] = [
    Role { corpus: "source", split: "train", labeled: true },
    Role { corpus: "source", split: "dev", labeled: true },
    Role { corpus: "source", split: "test", labeled: true },
    Role { corpus: "target", split: "train", labeled: false },
    Role { corpus: "target", split: "dev", labeled: true },
    Role { corpus: "target", split: "test", labeled: true },
];

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

/// Every stage, upstream first.
pub fn registry() -> Vec<Box<dyn Stage>> {
    vec![Box::new(Ingest), Box::new(Tokenize), Box::new(TeacherNer)]
}
