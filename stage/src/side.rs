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

    /// Whether config key `key` is not the other side's (`source.…` for the target): what a
    /// stage planned once per side reads of its parameters (`StageSpec::reads_key`).
    pub fn reads_key(self, key: &str) -> bool {
        let other = match self {
            Side::Source => Side::Target,
            Side::Target => Side::Source,
        };
        key.split('.').next() != Some(other.name())
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
