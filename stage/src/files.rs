//! The names of the files the shared stages write into their artifacts: a stage reads an
//! upstream file by one of these constants (or its method's, in the method's folder),
//! never by a string of its own.

use crate::side::{Side, Split};

/// Trained parameters of a model (teachers, student).
pub const MODEL: &str = "model.safetensors";
pub use mtmt_ner::trainer::checkpoint::epoch_model;
/// `score_tokens`: the recognizer's distribution for every target train word.
pub const TOKEN_PROBS: &str = "token_probs.parquet";
/// `weights`: pairs with both sides' distributions and the four confidence weights.
pub const PSEUDO_LABELS: &str = "pseudo_labels.parquet";
/// Training stages: one row per training step (step, epoch, loss, its terms, lr,
/// tokens_per_s, source_dev_f1).
pub const CURVE: &str = "curve.parquet";
/// `curve.parquet`: the column of a loss term is this prefix and the term's name.
pub const LOSS_TERM_PREFIX: &str = "loss_";
/// `evaluate`: every model's predictions on target dev/test.
pub const PREDICTIONS: &str = "predictions.parquet";
/// `evaluate`: entity P/R/F1 per model and split.
pub const METRICS: &str = "metrics.json";
/// `evaluate`: the markdown report.
pub const REPORT: &str = "report.md";
/// Every artifact's manifest.
pub const MANIFEST: &str = "manifest.json";
/// Every artifact's log.
pub const STAGE_LOG: &str = "stage.log";

/// Per side (source, target) and split (train, dev, test), in `Side` and `Split` order.
const SENTENCES: [[&str; 3]; 2] = [
    ["sentences_source_train.parquet", "sentences_source_dev.parquet", "sentences_source_test.parquet"],
    ["sentences_target_train.parquet", "sentences_target_dev.parquet", "sentences_target_test.parquet"],
];
const ENCODED: [[&str; 3]; 2] = [
    ["encoded_source_train.parquet", "encoded_source_dev.parquet", "encoded_source_test.parquet"],
    ["encoded_target_train.parquet", "encoded_target_dev.parquet", "encoded_target_test.parquet"],
];

/// `ingest_<side>`: the sentence table of one split.
pub const fn sentences(side: Side, split: Split) -> &'static str {
    SENTENCES[side as usize][split as usize]
}

/// `ingest_<side>`: the sentence tables of every split.
pub const fn all_sentences(side: Side) -> &'static [&'static str] {
    &SENTENCES[side as usize]
}

/// `tokenize_<side>`: the encoded table of one split.
pub const fn encoded(side: Side, split: Split) -> &'static str {
    ENCODED[side as usize][split as usize]
}

/// `tokenize_<side>`: the encoded tables of every split.
pub const fn all_encoded(side: Side) -> &'static [&'static str] {
    &ENCODED[side as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_file_names_follow_side_and_split() {
        for side in [Side::Source, Side::Target] {
            for split in Split::ALL {
                let role = format!("{}_{}", side.name(), split.name());
                assert_eq!(sentences(side, split), format!("sentences_{role}.parquet"));
                assert_eq!(encoded(side, split), format!("encoded_{role}.parquet"));
            }
        }
    }
}
