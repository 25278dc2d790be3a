//! `lexicon`: UniTrans's source -> target word lexicon (methods.md). The released code maps
//! fastText vectors with MUSE; neither can be had here, so the lexicon is induced over the
//! project's own multilingual encoder, whose space is shared across languages: the
//! `unitrans.vocabulary` most frequent words of the source train split and of the
//! unlabeled target train text, each a vector (`unitrans.word_vectors`: the mean of its
//! subwords' input embeddings, or its contextual state at layer `unitrans.layer` averaged
//! over its occurrences), each source word's translation the target word of highest CSLS
//! (k = `unitrans.csls_k`). Or a user's MUSE-format dictionary (`unitrans.dictionary`).
//! Label-free quality figures go to the manifest: the share of mutual nearest neighbours
//! (the translation's own best translation back is the word) and of words translated to
//! themselves. Writes `lexicon.parquet`: source, target, score (CSLS; null from a file),
//! and with `unitrans.target_casing` target_spelling: the target word as the target text
//! spells it inside sentences (null where it never occurs there).

use std::collections::HashMap;
use std::path::PathBuf;

use polars::prelude::*;
use serde::Deserialize;
use tch::{Device, Kind, Tensor};

use super::word_translation::{csls, read_muse, spellings, vocabulary};
use super::WordVectors;
use crate::Method;
use mtmt_ner::model::tagger::Tagger;
use mtmt_ner::model::Pass;
use mtmt_ner::subword::SubwordTokenizer;
use mtmt_ner::table;
use mtmt_ner::train::batching::sorted_batches;
use mtmt_ner::train::data::{Batch, EncodedSet};
use mtmt_stage::artifacts::{Unspaced, INFERENCE};
use mtmt_stage::files;
use mtmt_stage::side::{Side, Split};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;
use mtmt_stage::summary;

pub struct Lexicon;

#[derive(Deserialize)]
pub(crate) struct EncoderParams {
    tokenizer: PathBuf,
    weights: PathBuf,
    config: PathBuf,
}

#[derive(Deserialize)]
pub(crate) struct Induction {
    word_vectors: WordVectors,
    layer: usize,
    context_sentences: usize,
    vocabulary: usize,
    csls_k: i64,
    dictionary: Option<PathBuf>,
    #[serde(default)]
    target_casing: bool,
}

#[derive(Deserialize)]
pub struct Lowercase {
    lowercase: bool,
}

#[derive(Deserialize)]
pub struct Params {
    encoder: EncoderParams,
    tokenize: Lowercase,
    unitrans: Induction,
    #[serde(default)]
    source: Unspaced,
    #[serde(default)]
    target: Unspaced,
}

impl StageSpec for Lexicon {
    fn name(&self) -> StageName {
        StageName::Lexicon
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "UniTrans: source -> target word lexicon by CSLS over the encoder's word vectors, or a user's dictionary"
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        vec![StageName::IngestSource, StageName::IngestTarget, StageName::TokenizeSource, StageName::TokenizeTarget]
    }
    fn files(&self) -> &'static [&'static str] {
        &["encoder.tokenizer", "encoder.weights", "encoder.config", "unitrans.dictionary"]
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[super::LEXICON]
    }
}

/// One side's train split: its words per sentence (sentence-table order) and, for
/// contextual vectors, the encoding of its first `context` sentences.
struct SideText {
    tokens: Vec<Vec<String>>,
    encoded: Option<EncodedSet>,
}

fn side_text(ctx: &StageContext, side: Side, context: Option<usize>) -> anyhow::Result<SideText> {
    let (ingest, tokenize) = match side {
        Side::Source => (StageName::IngestSource, StageName::TokenizeSource),
        Side::Target => (StageName::IngestTarget, StageName::TokenizeTarget),
    };
    let path = ctx.input(ingest, files::sentences(side, Split::Train));
    let df = table::read_columns(&path, &["tokens"])?;
    let encoded = context
        .map(|n| {
            Ok::<_, anyhow::Error>(
                EncodedSet::read(&ctx.input(tokenize, files::encoded(side, Split::Train)))?.truncated(n),
            )
        })
        .transpose()?;
    Ok(SideText { tokens: table::read_str_lists(&df, "tokens")?, encoded })
}

impl Stage for Lexicon {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let u = &p.unitrans;
        // The encoded text only where contextual vectors are made of it.
        let contextual = u.dictionary.is_none() && u.word_vectors == WordVectors::Contextual;
        let context = contextual.then_some(u.context_sentences);
        let source = side_text(ctx, Side::Source, context)?;
        let target = side_text(ctx, Side::Target, context)?;
        let rows: Vec<(String, String, Option<f32>)> = match &u.dictionary {
            Some(path) => {
                let mut entries: Vec<(String, String)> = read_muse(path)?.into_iter().collect();
                entries.sort();
                ctx.log(format!("{} entries from {}", entries.len(), path.display()));
                entries.into_iter().map(|(s, t)| (s, t, None)).collect()
            }
            None => induce(ctx, p, &source, &target)?,
        };
        // Label-free signs of vectors that follow spelling rather than meaning: a word
        // translated to itself, or to a longer word that starts with it (`was` -> `washington`).
        let n = rows.len().max(1) as f64;
        let lower: Vec<(String, String)> = rows.iter().map(|(s, t, _)| (s.to_lowercase(), t.to_lowercase())).collect();
        let identical = lower.iter().filter(|(s, t)| s == t).count() as f64 / n;
        let prefixed =
            lower.iter().filter(|(s, t)| s != t && s.chars().count() >= 2 && t.starts_with(s.as_str())).count() as f64
                / n;
        ctx.log(format!(
            "{} entries: {:.1}% translated to themselves, {:.1}% to a longer word starting with them",
            rows.len(),
            100.0 * identical,
            100.0 * prefixed
        ));
        ctx.summary.insert(summary::LEXICON_SELF_TRANSLATED.into(), identical.into());
        ctx.summary.insert(summary::LEXICON_PREFIXED.into(), prefixed.into());
        let mut columns = vec![
            Column::new("source".into(), rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>()),
            Column::new("target".into(), rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>()),
            Column::new("score".into(), rows.iter().map(|r| r.2).collect::<Vec<_>>()),
        ];
        if u.target_casing {
            let spelled = spellings(&target.tokens);
            let forms: Vec<Option<&str>> =
                rows.iter().map(|r| spelled.get(&r.1.to_lowercase()).map(String::as_str)).collect();
            let (found, capital) = (
                forms.iter().flatten().count(),
                forms.iter().flatten().filter(|f| f.chars().next().is_some_and(char::is_uppercase)).count(),
            );
            ctx.log(format!(
                "target casing: {found} of {} translations occur inside target sentences, {capital} of them with a capital",
                rows.len()
            ));
            ctx.summary
                .insert(summary::LEXICON_TARGET_CAPITALIZED.into(), (capital as f64 / found.max(1) as f64).into());
            columns.push(Column::new("target_spelling".into(), forms));
        }
        let mut df = DataFrame::new(rows.len(), columns)?;
        table::write(&mut df, &ctx.output(super::LEXICON), ctx.provenance())
    }
}

/// The induced lexicon, in source-frequency order, and its mutual-neighbour share.
fn induce(
    ctx: &mut StageContext,
    p: &Params,
    source: &SideText,
    target: &SideText,
) -> anyhow::Result<Vec<(String, String, Option<f32>)>> {
    let u = &p.unitrans;
    let device = ctx.device()?;
    let encoder = Tagger::pretrained(&p.encoder.config, &p.encoder.weights, 1, 0.0, device, 0)?;
    let vectors = |text: &SideText, unspaced: bool| -> anyhow::Result<(Vec<String>, Tensor)> {
        let words: Vec<String> = vocabulary(&text.tokens, u.vocabulary).into_iter().map(|(w, _)| w).collect();
        match u.word_vectors {
            WordVectors::Input => {
                let tokenizer = SubwordTokenizer::load(&p.encoder.tokenizer, p.tokenize.lowercase)?.unspaced(unspaced);
                input_vectors(&encoder, &tokenizer, words)
            }
            WordVectors::Contextual => Ok(contextual_vectors(&encoder, text, words, u, device)),
        }
    };
    let (source_words, s) = vectors(source, p.source.unspaced)?;
    let (target_words, t) = vectors(target, p.target.unspaced)?;
    anyhow::ensure!(!source_words.is_empty() && !target_words.is_empty(), "no word with a vector on one side");
    let forward = csls(&s, &t, u.csls_k);
    let backward = csls(&t, &s, u.csls_k);
    let mutual = forward.iter().enumerate().filter(|(i, (j, _))| backward[*j].0 == *i).count();
    let share = mutual as f64 / forward.len() as f64;
    ctx.log(format!(
        "{} source x {} target words ({:?} vectors): {:.1}% mutual nearest neighbours",
        source_words.len(),
        target_words.len(),
        u.word_vectors,
        100.0 * share
    ));
    ctx.summary.insert(summary::LEXICON_MUTUAL.into(), share.into());
    Ok(source_words
        .into_iter()
        .zip(forward)
        .map(|(word, (j, score))| (word, target_words[j].clone(), Some(score)))
        .collect())
}

/// Each word's mean subword input embedding (the word tokenized on its own).
fn input_vectors(
    encoder: &Tagger,
    tokenizer: &SubwordTokenizer,
    words: Vec<String>,
) -> anyhow::Result<(Vec<String>, Tensor)> {
    let table = encoder.vs.variables()["bert.embeddings.word_embeddings.weight"].to_device(Device::Cpu);
    let rows = words
        .iter()
        .map(|w| {
            let ids: Vec<i64> = tokenizer.word_ids(w)?.into_iter().map(i64::from).collect();
            Ok(table.index_select(0, &Tensor::from_slice(&ids)).mean_dim(0, false, Kind::Float))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((words, Tensor::stack(&rows, 0).detach()))
}

/// Each word's hidden state at its first subword in layer `unitrans.layer`, averaged over
/// its occurrences in the encoded sentences (the first `unitrans.context_sentences`); words
/// never seen there are left out.
fn contextual_vectors(
    encoder: &Tagger,
    text: &SideText,
    words: Vec<String>,
    u: &Induction,
    device: Device,
) -> (Vec<String>, Tensor) {
    let _guard = tch::no_grad_guard();
    let index: HashMap<&str, usize> = words.iter().enumerate().map(|(i, w)| (w.as_str(), i)).collect();
    let hidden = encoder.bert.config.hidden_size;
    let mut sums = Tensor::zeros([words.len() as i64, hidden], (Kind::Float, Device::Cpu));
    let mut counts = vec![0u32; words.len()];
    let set = text.encoded.as_ref().expect("read where vectors are contextual");
    for idx in sorted_batches(&set.lengths(), &INFERENCE) {
        let batch = Batch::new(set, &idx, device);
        let states = encoder.bert.forward(&batch.input_ids, &batch.attention_mask, Pass::Infer).swap_remove(u.layer);
        let states = states.index(&[Some(batch.word_rows), Some(batch.word_cols)]).to_device(Device::Cpu);
        // (row of `states`, vocabulary index) of every vocabulary word in the batch.
        let (mut rows, mut ks) = (Vec::new(), Vec::new());
        let mut row = 0i64;
        for &i in &idx {
            for (w, word) in text.tokens[i].iter().take(set.word_starts[i].len()).enumerate() {
                if let Some(&k) = index.get(word.to_lowercase().as_str()) {
                    rows.push(row + w as i64);
                    ks.push(k as i64);
                    counts[k] += 1;
                }
            }
            row += set.word_starts[i].len() as i64;
        }
        let picked = states.index_select(0, &Tensor::from_slice(&rows));
        let _ = sums.index_add_(0, &Tensor::from_slice(&ks), &picked);
    }
    let seen: Vec<usize> = (0..words.len()).filter(|&k| counts[k] > 0).collect();
    let rows = Tensor::from_slice(&seen.iter().map(|&k| k as i64).collect::<Vec<_>>());
    let counts = Tensor::from_slice(&seen.iter().map(|&k| counts[k] as f32).collect::<Vec<_>>()).unsqueeze(-1);
    let vectors = sums.index_select(0, &rows) / counts;
    (seen.into_iter().map(|k| words[k].clone()).collect(), vectors)
}
