//! Reading what stages hand each other: the encoded sentence sets, the pretrained
//! encoder's files, trained teachers and the recognizer's scores on target text. Any
//! stage may use these; stages never import from one another.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tch::Device;

use crate::files;
use crate::side::{Side, Split};
use crate::stage::StageContext;
use crate::stage_name::StageName;
use mtmt_ner::eval::conlleval::Scores;
use mtmt_ner::model::tagger::Tagger;
use mtmt_ner::table;
use mtmt_ner::train::batching::BatchPlan;
use mtmt_ner::train::data::EncodedSet;

/// The config key of the pretrained encoder's weights file.
pub const ENCODER_WEIGHTS: &str = "encoder.weights";

/// The config keys of the pretrained encoder's files, read by every stage that builds a model.
pub const ENCODER_FILES: &[&str] = &[ENCODER_WEIGHTS, "encoder.config"];

/// The pretrained encoder's weights and `config.json` (the `encoder` part of a stage's params).
#[derive(Debug, Clone, Deserialize)]
pub struct EncoderFiles {
    pub weights: PathBuf,
    pub config: PathBuf,
}

/// The tokenizer file (the `encoder.tokenizer` part of a stage's params).
#[derive(Debug, Deserialize)]
pub struct TokenizerFile {
    pub tokenizer: PathBuf,
}

/// The `tokenize` settings a stage that encodes words reads.
#[derive(Debug, Deserialize)]
pub struct TokenizeSettings {
    pub max_len: usize,
    pub lowercase: bool,
    /// Absent from views while false (`config::ADDED_LATER`).
    #[serde(default)]
    pub label_past_bare_marker: bool,
}

/// Whether a side's language is written without spaces (`source.unspaced`,
/// `target.unspaced`: absent from views while false).
#[derive(Debug, Deserialize, Default)]
pub struct Unspaced {
    #[serde(default)]
    pub unspaced: bool,
}

/// What a stage that encodes words as `tokenize` does reads (its `Params`).
#[derive(Debug, Deserialize)]
pub struct EncodingParams {
    pub labels: Vec<String>,
    pub encoder: TokenizerFile,
    pub tokenize: TokenizeSettings,
    #[serde(default)]
    pub source: Unspaced,
    #[serde(default)]
    pub target: Unspaced,
}

impl EncoderFiles {
    /// The weights and config.json of the configured encoder.
    pub fn of(encoder: &crate::settings::EncoderConfig) -> Self {
        Self { weights: encoder.weights.clone(), config: encoder.config.clone() }
    }
}

/// The `distill` part of the config the scoring stages read (a stage's `distill` field):
/// the bound on the target train sentences the student learns from, and so on the ones
/// the teachers need to score.
#[derive(Debug, Deserialize)]
pub struct StudentSentences {
    /// First this many target train sentences; 0 = all.
    pub max_sentences: usize,
}

/// Sentences per inference batch of the scoring stages (the result does not depend on it).
pub const INFERENCE: BatchPlan = BatchPlan { batch_size: 64, max_tokens: None, chunk_batches: 1 };

/// The source train split, cut to its first `max` sentences (0 = all).
pub fn source_train(ctx: &StageContext, max: usize) -> anyhow::Result<EncodedSet> {
    let path = ctx.input(StageName::TokenizeSource, files::encoded(Side::Source, Split::Train));
    Ok(EncodedSet::read(&path)?.truncated(max))
}

/// The target train sentences a student learns from: the first `max` (0 = all).
pub fn target_train(ctx: &StageContext, max: usize) -> anyhow::Result<EncodedSet> {
    let path = ctx.input(StageName::TokenizeTarget, files::encoded(Side::Target, Split::Train));
    Ok(EncodedSet::read(&path)?.truncated(max))
}

/// A trained tagger (recognizer teacher or student): the pretrained encoder plus the
/// parameters its stage trained.
pub fn load_tagger(encoder: &EncoderFiles, n_labels: usize, trained: &Path, device: Device) -> anyhow::Result<Tagger> {
    let mut tagger = Tagger::pretrained(&encoder.config, &encoder.weights, n_labels, 0.0, device, 0)?;
    tagger.load_trained(trained)?;
    Ok(tagger)
}

/// The source dev split a recognizer teacher is scored on (Viterbi, start constraint) after
/// each epoch and at the end: for inspection only, the model kept is the last one either way.
pub struct SourceDev {
    set: Option<EncodedSet>,
    labels: Vec<String>,
    plan: BatchPlan,
}

impl SourceDev {
    /// The stage's source dev split, if the source has one.
    pub fn read(ctx: &StageContext, labels: &[String], batch_size: usize) -> anyhow::Result<Self> {
        let path = ctx.input(StageName::TokenizeSource, files::encoded(Side::Source, Split::Dev));
        let set = path.exists().then(|| EncodedSet::read(&path)).transpose()?;
        let plan = BatchPlan { batch_size: 4 * batch_size, max_tokens: None, chunk_batches: 1 };
        Ok(Self { set, labels: labels.to_vec(), plan })
    }

    /// `tagger`'s entity scores on the split; `None` without one.
    pub fn score(&self, tagger: &Tagger) -> anyhow::Result<Option<Scores>> {
        let Some(set) = &self.set else { return Ok(None) };
        let probs = tagger.predict_probs(set, &self.plan);
        let tags = mtmt_ner::eval::decode_all(&probs, &self.labels, mtmt_ner::eval::decode::Decoder::Viterbi, true);
        Ok(Some(mtmt_ner::eval::score(&tags, set, &self.labels)?))
    }

    /// Whether the source has a dev split.
    pub fn exists(&self) -> bool {
        self.set.is_some()
    }

    /// Records the labels and the trained model's scores (`last`, the last epoch's, or
    /// scored now from `tagger`) in the summary and the log.
    pub fn record(&self, ctx: &mut StageContext, tagger: &Tagger, last: Option<Scores>) -> anyhow::Result<()> {
        ctx.summary.insert(crate::summary::LABELS.into(), serde_json::to_value(&self.labels)?);
        let scores = match last {
            Some(scores) => Some(scores),
            None => self.score(tagger)?,
        };
        if let Some(scores) = scores {
            ctx.log(format!(
                "source dev F1 {:.2} (P {:.2}, R {:.2})",
                scores.overall.f1, scores.overall.precision, scores.overall.recall
            ));
            ctx.summary.insert(crate::summary::SOURCE_DEV.into(), serde_json::to_value(&scores)?);
            if let Some(warning) = mtmt_ner::health::source_dev(scores.overall.f1) {
                ctx.warn(warning);
            }
        }
        Ok(())
    }

    /// `score` as the per-epoch scorer `fit_scored` takes.
    pub fn scorer<'a>(&'a self, tagger: &'a Tagger) -> impl Fn() -> anyhow::Result<Scores> + 'a {
        move || self.score(tagger).map(|s| s.expect("scored only where the split exists"))
    }
}

/// The recognizer teacher's distributions (`token_probs`), per sentence id:
/// [words x labels] row-major.
pub fn read_token_probs(path: &Path) -> anyhow::Result<HashMap<u32, Vec<f32>>> {
    let df = table::read_columns(path, &["sentence_id", "probs"])?;
    let sentences: Vec<u32> = table::u32_column(&df, path, "sentence_id")?;
    let probs = table::read_f32_lists(&df, "probs")?;
    let mut out: HashMap<u32, Vec<f32>> = HashMap::new();
    // Rows are in (sentence, word) order.
    for (s, p) in sentences.into_iter().zip(probs) {
        out.entry(s).or_default().extend(p);
    }
    Ok(out)
}
