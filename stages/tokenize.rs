//! `tokenize_source` / `tokenize_target`: encode one language's sentence tables into
//! subword ids with the encoder's tokenizer, one `encoded_<role>` table per split: input ids with CLS/SEP, the
//! first-subword position of each kept word, label ids where labeled, and how many
//! words truncation dropped (evaluation counts their entities as missed).

use std::path::PathBuf;

use serde::Deserialize;

use super::Side;
use crate::config::{bio_labels, Config};
use crate::stage::{Stage, StageContext};
use crate::subword::SubwordTokenizer;
use crate::table;
use crate::train::data::EncodedSet;

pub struct Tokenize(pub Side);

#[derive(Deserialize)]
struct Params {
    labels: Vec<String>,
    encoder: EncoderParams,
    tokenize: TokenizeParams,
    #[serde(default)]
    source: CorpusParams,
    #[serde(default)]
    target: CorpusParams,
}

#[derive(Deserialize, Default)]
struct CorpusParams {
    #[serde(default)]
    unspaced: bool,
}

#[derive(Deserialize)]
struct EncoderParams {
    tokenizer: PathBuf,
}

#[derive(Deserialize)]
struct TokenizeParams {
    max_len: usize,
    lowercase: bool,
}

impl Stage for Tokenize {
    fn name(&self) -> &'static str {
        match self.0 {
            Side::Source => "tokenize_source",
            Side::Target => "tokenize_target",
        }
    }
    fn version(&self) -> u32 {
        3
    }
    fn description(&self) -> &'static str {
        "sentence tables -> subword ids, first-subword positions, label ids"
    }
    fn inputs(&self, _: &Config) -> Vec<&'static str> {
        vec![self.ingest()]
    }
    fn reads(&self) -> &'static [&'static str] {
        &["labels", "tokenize.max_len", "tokenize.lowercase"]
    }
    fn flags_added_later(&self) -> &'static [&'static str] {
        match self.0 {
            Side::Source => &["source.unspaced"],
            Side::Target => &["target.unspaced"],
        }
    }
    fn files(&self) -> &'static [&'static str] {
        &["encoder.tokenizer"]
    }
    fn outputs(&self) -> &'static [&'static str] {
        match self.0 {
            Side::Source => {
                &["encoded_source_train.parquet", "encoded_source_dev.parquet", "encoded_source_test.parquet"]
            }
            Side::Target => {
                &["encoded_target_train.parquet", "encoded_target_dev.parquet", "encoded_target_test.parquet"]
            }
        }
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let params: Params = ctx.params()?;
        let corpus = match self.0 {
            Side::Source => &params.source,
            Side::Target => &params.target,
        };
        let tokenizer =
            SubwordTokenizer::load(&params.encoder.tokenizer, params.tokenize.lowercase)?.unspaced(corpus.unspaced);
        let labels = bio_labels(&params.labels);
        let mut total_truncated = 0u64;
        for role in self.0.roles() {
            let input = ctx.input(self.ingest(), &format!("sentences_{}.parquet", role.name()));
            if !input.exists() {
                continue;
            }
            let sentences = table::read(&input)?;
            let ids: Vec<u32> = sentences.column("sentence_id")?.u32()?.into_no_null_iter().collect();
            let tokens = table::read_str_lists(&sentences, "tokens")?;
            let tags = if role.labeled { Some(table::read_str_lists(&sentences, "tags")?) } else { None };
            let progress = ctx.progress(tokens.len() as u64, "sentences encoded");
            let set = EncodedSet::encode(
                &tokenizer,
                ids,
                &tokens,
                tags.as_deref(),
                &labels,
                params.tokenize.max_len,
                || progress.inc(1),
            )?;
            let rate = progress.finish();
            let truncated: u64 = set.truncated_words.iter().map(|&t| t as u64).sum();
            let subwords = set.tokens();
            total_truncated += truncated;
            ctx.log(format!(
                "{}: {} sentences, {subwords} subwords, {truncated} truncated words",
                role.name(),
                set.len()
            ));
            let mut meta = ctx.provenance();
            meta.push(("mtmt.labels".into(), serde_json::to_string(&labels)?));
            set.write(&ctx.output(&format!("encoded_{}.parquet", role.name())), meta)?;
            ctx.summary.insert(
                role.name(),
                serde_json::json!({"sentences": set.len(), "subwords": subwords, "truncated_words": truncated, "sentences_per_s": rate}),
            );
        }
        ctx.summary.insert("truncated_words".into(), total_truncated.into());
        ctx.summary.insert("labels".into(), serde_json::to_value(&labels)?);
        Ok(())
    }
}

impl Tokenize {
    fn ingest(&self) -> &'static str {
        match self.0 {
            Side::Source => "ingest_source",
            Side::Target => "ingest_target",
        }
    }
}
