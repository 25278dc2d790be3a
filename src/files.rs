//! The names of the files stages write into their artifacts, in one place: a stage
//! reads an upstream file by one of these constants, never by a string of its own.

use crate::side::{Side, Split};

/// Trained parameters of a model (teachers, student).
pub const MODEL: &str = "model.safetensors";
/// A training stage's trainable parameters after epoch `epoch` (1-based) of several, for
/// model selection downstream (`eval.selection`); the last epoch's model is `MODEL`.
pub fn epoch_model(epoch: usize) -> String {
    format!("model-epoch{epoch}.safetensors")
}
/// `teacher_adv`: AdvPicker's trained discriminator (beside the recognizer's `MODEL`).
pub const DISCRIMINATOR: &str = "discriminator.safetensors";
/// `teacher_msd`: MSD's heads on intermediate layers and their mixing weights (beside the
/// recognizer's `MODEL`).
pub const LAYER_HEADS: &str = "layer_heads.safetensors";
/// `select`: AdvPicker's discriminator probability of every target train sentence and
/// whether the student learns from it.
pub const SELECTION: &str = "selection.parquet";
/// `lang_sim`: multi-source TSL's weight of each source language's teacher per target
/// train sentence.
pub const TEACHER_WEIGHTS: &str = "teacher_weights.parquet";
/// `pool_source`, `pool_target`: each sentence's pooled pretrained-encoder vector, per split.
pub const VECTORS: &str = "vectors.safetensors";
/// `lang_sim`: the trained language-similarity model.
pub const LANG_SIM: &str = "lang_sim.safetensors";
/// `lexicon`: UniTrans's source -> target word lexicon (source, target, score).
pub const LEXICON: &str = "lexicon.parquet";
/// `translate`: the source train split translated word by word (a sentence table).
pub const TRANSLATED: &str = "translated.parquet";
/// `translate`: the translated sentences encoded as a `tokenize` table (with labels).
pub const ENCODED_TRANSLATED: &str = "encoded_translated.parquet";
/// `score_tokens`: the recognizer's distribution for every target train word.
pub const TOKEN_PROBS: &str = "token_probs.parquet";
/// `score_pairs`: target word pairs with the similarity teacher's t.
pub const PAIRS: &str = "pairs.parquet";
/// `score_pairs`: the sentence groups (one student batch each).
pub const GROUPS: &str = "groups.parquet";
/// `weights`: pairs with both sides' distributions and the four confidence weights.
pub const PSEUDO_LABELS: &str = "pseudo_labels.parquet";
/// `teacher_sim` with `similarity.calibrated`: t = sigmoid(scale * cos + bias) as JSON.
pub const CALIBRATION: &str = "calibration.json";
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
