//! The two languages of a pipeline and their splits. Each side has its own ingest and
//! tokenize stages, so teachers (source only) are shared by every target language
//! trained from the same source.

/// The labeled source language or the unlabeled target language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

/// A split of one side's corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }

    /// Whether `split` is read with its labels: every split but the target's train split,
    /// which is what keeps gold target labels away from training.
    pub fn labeled(self, split: Split) -> bool {
        self == Side::Source || split != Split::Train
    }
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Dev, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }
}
