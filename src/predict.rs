//! `mtmt-pipe predict`: tags new text with a model of the store. Input: any format
//! `corpus` reads (detected, or `--input-format`), labels ignored; plain text is one
//! sentence per line split into words at Unicode word boundaries with punctuation a word
//! of its own (`corpus::words`), or every character a word for unspaced scripts, as
//! `target.unspaced`; stdin by default. Output: JSON Lines, one record per sentence (per
//! input line for text, blank lines included), with the words, their BIO tags (Viterbi as
//! `evaluate`) and the entities as `{type, text, start, end, score}` with character offsets
//! into the line (the shape of transformers' `pipeline("ner", aggregation_strategy=...)`: `score`
//! is the mean of the entity's words' top probability); or CoNLL (word, tag).

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use tch::Kind;

use crate::artifacts::{load_tagger, EncoderFiles};
use crate::config::{bio_labels, Corpus, ResolvedConfig};
use crate::corpus::{self, Format, Labels, Reading};
use crate::engine::Plan;
use crate::eval::decode_all;
use crate::stage::DynStage;
use crate::store::Store;
use crate::subword::SubwordTokenizer;
use crate::train::batching::BatchPlan;
use crate::train::data::{EncodedSet, Words};

/// How the input is read: detected from its content (`corpus::sniff`), or one of
/// `corpus::Format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    Auto,
    Text,
    Conll,
    Conllu,
    Jsonl,
    Parquet,
}

impl InputFormat {
    fn format(self) -> Option<Format> {
        match self {
            InputFormat::Auto => None,
            InputFormat::Text => Some(Format::Text),
            InputFormat::Conll => Some(Format::Conll),
            InputFormat::Conllu => Some(Format::Conllu),
            InputFormat::Jsonl => Some(Format::Jsonl),
            InputFormat::Parquet => Some(Format::Parquet),
        }
    }
}

/// How predictions are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Jsonl,
    Conll,
}

/// One sentence to tag: its words with their character spans in `text`, and where it came from.
struct Sentence {
    text: String,
    words: Vec<(String, usize, usize)>,
    origin: String,
}

/// A recognized entity, character offsets into the sentence's text.
#[derive(Serialize)]
struct Entity {
    #[serde(rename = "type")]
    kind: String,
    text: String,
    start: usize,
    end: usize,
    score: f32,
}

#[derive(Serialize)]
struct Record<'a> {
    tokens: Vec<&'a str>,
    tags: &'a [String],
    entities: Vec<Entity>,
    /// With `--probs`: each word's label distribution (empty for words past the length limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    probs: Option<Vec<&'a [f32]>>,
}

/// The sentences of one input (`-` is stdin), read as `format` with the target's settings.
fn read_input(path: &Path, format: InputFormat, target: &Corpus) -> anyhow::Result<Vec<Sentence>> {
    let name = if path == Path::new("-") { "<stdin>".to_string() } else { path.display().to_string() };
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).context("reading stdin")?;
    } else {
        bytes = fs_err::read(path)?;
    }
    let format = format.format().unwrap_or_else(|| corpus::sniff(&bytes));
    let reading = Reading { format: Some(format), flag: Some("--input-format"), ..Reading::of(target, "target") };
    let sentences: Vec<Sentence> = match format {
        Format::Text => {
            corpus::check_plain_text(Path::new(&name), &bytes, &reading)?;
            // A final newline ends the last line; it does not start another.
            let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            body.split(|&b| b == b'\n')
                .enumerate()
                .map(|(i, line)| {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let text = std::str::from_utf8(line)
                        .map_err(|e| anyhow::anyhow!("{name}:{}: not valid UTF-8 ({e})", i + 1))?
                        .to_string();
                    Ok(Sentence {
                        words: corpus::words::split(&text, target.unspaced),
                        text,
                        origin: format!("{name}:{}", i + 1),
                    })
                })
                .collect::<anyhow::Result<_>>()?
        }
        _ => {
            let (read, _) = corpus::parse(Path::new(&name), &bytes, &reading, Labels::Unlabeled)?;
            read.into_iter()
                .map(|s| {
                    let mut words = Vec::with_capacity(s.tokens.len());
                    let mut at = 0;
                    for token in &s.tokens {
                        let n = token.chars().count();
                        words.push((token.clone(), at, at + n));
                        at += n + 1;
                    }
                    Sentence { text: s.tokens.join(" "), words, origin: format!("{name}:{}", s.line) }
                })
                .collect()
        }
    };
    anyhow::ensure!(sentences.iter().any(|s| !s.words.is_empty()), "{name}: no sentence to tag (the input is empty)");
    Ok(sentences)
}

/// Sentences encoded, tagged and written at a time (the progress bar's step).
const CHUNK: usize = 512;

/// Sentences cut at `tokenize.max_len` named one by one; past them, one line says how many
/// (a large corpus would otherwise bury the output under warnings).
const NAMED_TRUNCATIONS: usize = 10;

/// Options of one `predict`.
pub struct PredictOptions {
    pub inputs: Vec<PathBuf>,
    pub model: String,
    pub input: InputFormat,
    pub output: OutputFormat,
    /// Add each word's label distribution to the JSON records.
    pub probs: bool,
    /// bf16 inference (`--bf16`, or the config's `eval.bf16`).
    pub bf16: bool,
}

/// Tags every input and writes the predictions to stdout.
pub fn predict(
    opts: &PredictOptions,
    cfg: &ResolvedConfig,
    store: &Store,
    stages: &[Box<dyn DynStage>],
) -> anyhow::Result<()> {
    let c = &cfg.config;
    let weights = crate::trained::resolve(&opts.model, &Plan::new(cfg, stages)?, store)?.weights;
    let labels = bio_labels(&c.labels);
    let device = c.runtime.device()?;
    let mut tagger = load_tagger(&EncoderFiles::of(&c.encoder), labels.len(), &weights, device)?;
    tagger.bert.infer_bf16 = opts.bf16 || c.eval.bf16;
    let tokenizer = SubwordTokenizer::configured(
        &c.encoder.tokenizer,
        c.tokenize.lowercase,
        c.tokenize.label_past_bare_marker,
        c.target.unspaced,
    )?;
    let stdin = [PathBuf::from("-")];
    let inputs = if opts.inputs.is_empty() { &stdin[..] } else { &opts.inputs[..] };
    let mut sentences = Vec::new();
    for input in inputs {
        sentences.extend(read_input(input, opts.input, &c.target)?);
    }
    let started = std::time::Instant::now();
    let plan = BatchPlan { batch_size: c.eval.batch_size, max_tokens: None, chunk_batches: 1 };
    let progress = (sentences.len() > CHUNK).then(|| indicatif::ProgressBar::new(sentences.len() as u64));
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut truncated = 0;
    for chunk in sentences.chunks(CHUNK) {
        let tokens: Vec<Vec<String>> = chunk.iter().map(|s| s.words.iter().map(|w| w.0.clone()).collect()).collect();
        let words =
            Words { ids: (0..chunk.len() as u32).collect(), tokens: &tokens, tags: None, origin: Path::new("input") };
        let set = EncodedSet::encode(&tokenizer, words, &labels, c.tokenize.max_len, || {})?;
        for (s, &cut) in chunk.iter().zip(&set.truncated_words) {
            if cut > 0 {
                truncated += 1;
                if truncated <= NAMED_TRUNCATIONS {
                    crate::warn!(
                        "{}: {cut} word(s) past {} subwords not read by the model (tagged O)",
                        s.origin,
                        c.tokenize.max_len
                    );
                }
            }
        }
        let probs = tagger.predict_probs(&set, &plan);
        let tags = decode_all(&probs, &labels, c.eval.decoder, c.eval.start_constraint);
        for ((s, mut tags), p) in chunk.iter().zip(tags).zip(&probs) {
            let flat = Vec::<f32>::try_from(p.to_kind(Kind::Float).flatten(0, -1))?;
            let mut rows: Vec<&[f32]> = flat.chunks_exact(labels.len()).collect();
            let mut confidence: Vec<f32> = rows.iter().map(|r| r.iter().copied().fold(0.0, f32::max)).collect();
            tags.resize(s.words.len(), "O".into());
            confidence.resize(s.words.len(), 0.0);
            rows.resize(s.words.len(), &[]);
            let probs = opts.probs.then_some(rows);
            write_sentence(&mut out, Tagged { sentence: s, tags: &tags, confidence: &confidence, probs }, opts.output)?;
        }
        if let Some(bar) = &progress {
            bar.inc(chunk.len() as u64);
        }
    }
    out.flush()?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if truncated > NAMED_TRUNCATIONS {
        crate::warn!(
            "{truncated} sentences in all had words past {} subwords, tagged O (the first {NAMED_TRUNCATIONS} named above)",
            c.tokenize.max_len
        );
    }
    let secs = started.elapsed().as_secs_f64();
    let words: usize = sentences.iter().map(|s| s.words.len()).sum();
    crate::info!(
        "tagged {} sentences ({words} words) in {secs:.1}s: {:.0} sentences/s, {:.0} words/s on {device:?}",
        sentences.len(),
        sentences.len() as f64 / secs,
        words as f64 / secs
    );
    Ok(())
}

/// The entities of BIO `tags` (conlleval: an `I-X` after `O` or another type starts one).
fn entities(s: &Sentence, tags: &[String], confidence: &[f32]) -> Vec<Entity> {
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let Some((prefix, kind)) = tag.split_once('-') else { continue };
        match out.last_mut() {
            Some((k, _, end)) if prefix == "I" && k == kind && *end == i => *end = i + 1,
            _ => out.push((kind.to_string(), i, i + 1)),
        }
    }
    out.into_iter()
        .map(|(kind, first, last)| {
            let (start, end) = (s.words[first].1, s.words[last - 1].2);
            let text: String = s.text.chars().skip(start).take(end - start).collect();
            let score = confidence[first..last].iter().sum::<f32>() / (last - first) as f32;
            Entity { kind, text, start, end, score }
        })
        .collect()
}

/// One sentence's predictions.
struct Tagged<'a> {
    sentence: &'a Sentence,
    tags: &'a [String],
    confidence: &'a [f32],
    probs: Option<Vec<&'a [f32]>>,
}

fn write_sentence(out: &mut impl Write, t: Tagged, format: OutputFormat) -> anyhow::Result<()> {
    let Tagged { sentence: s, tags, confidence, probs } = t;
    match format {
        OutputFormat::Jsonl => {
            let record = Record {
                tokens: s.words.iter().map(|w| w.0.as_str()).collect(),
                tags,
                entities: entities(s, tags, confidence),
                probs,
            };
            serde_json::to_writer(&mut *out, &record)?;
            writeln!(out)?;
        }
        OutputFormat::Conll => {
            for (w, tag) in s.words.iter().zip(tags) {
                writeln!(out, "{}\t{tag}", w.0)?;
            }
            writeln!(out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_follow_conlleval_and_point_into_the_line() {
        let text = "Ángel Pérez vive en Nueva York".to_string();
        let s = Sentence { words: corpus::words::split(&text, false), text, origin: "t:1".into() };
        let tags: Vec<String> = ["B-PER", "I-PER", "O", "O", "I-LOC", "I-LOC"].iter().map(|t| t.to_string()).collect();
        let found = entities(&s, &tags, &[0.9, 0.7, 0.99, 0.99, 0.6, 0.8]);
        let got: Vec<(&str, &str, usize, usize)> =
            found.iter().map(|e| (e.kind.as_str(), e.text.as_str(), e.start, e.end)).collect();
        assert_eq!(got, [("PER", "Ángel Pérez", 0, 11), ("LOC", "Nueva York", 20, 30)]);
        assert!((found[0].score - 0.8).abs() < 1e-6);
    }
}
