//! `tokenize`: encodes every sentence table into subword ids with the encoder's
//! tokenizer, one `encoded_<role>` table per role: input ids with CLS/SEP, the
//! first-subword position of each kept word, label ids where labeled, and how many
//! words truncation dropped (evaluation counts their entities as missed).

use std::path::PathBuf;

use anyhow::Context;
use polars::prelude::*;
use rayon::prelude::*;
use serde::Deserialize;

use super::ROLES;
use crate::config::bio_labels;
use crate::stage::{Stage, StageContext};
use crate::subword::{EncodedSentence, SubwordTokenizer};
use crate::table;

pub struct Tokenize;

#[derive(Deserialize)]
struct Params {
    labels: Vec<String>,
    encoder: EncoderParams,
    tokenize: TokenizeParams,
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
        "tokenize"
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "sentence tables -> subword ids, first-subword positions, label ids"
    }
    fn inputs(&self) -> &'static [&'static str] {
        &["ingest"]
    }
    fn reads(&self) -> &'static [&'static str] {
        &["labels", "tokenize.max_len", "tokenize.lowercase"]
    }
    fn files(&self) -> &'static [&'static str] {
        &["encoder.tokenizer"]
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[
            "encoded_source_train.parquet",
            "encoded_source_dev.parquet",
            "encoded_source_test.parquet",
            "encoded_target_train.parquet",
            "encoded_target_dev.parquet",
            "encoded_target_test.parquet",
        ]
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let params: Params = ctx.params()?;
        let tokenizer = SubwordTokenizer::load(&params.encoder.tokenizer, params.tokenize.lowercase)?;
        let labels = bio_labels(&params.labels);
        let mut total_truncated = 0u64;
        for role in ROLES {
            let input = ctx.input("ingest", &format!("sentences_{}.parquet", role.name()));
            if !input.exists() {
                continue;
            }
            let sentences = table::read(&input)?;
            let ids = sentences.column("sentence_id")?.u32()?.clone();
            let tokens = table::read_str_lists(&sentences, "tokens")?;
            let progress = ctx.progress(tokens.len() as u64, "sentences encoded");
            let encoded: Vec<EncodedSentence> = tokens
                .par_iter()
                .map(|words| {
                    let e = tokenizer.encode(words, params.tokenize.max_len);
                    progress.inc(1);
                    e
                })
                .collect::<anyhow::Result<_>>()?;
            let rate = progress.finish();
            let truncated: u64 = encoded.iter().map(|e| e.truncated_words as u64).sum();
            let subwords: u64 = encoded.iter().map(|e| e.input_ids.len() as u64).sum();
            total_truncated += truncated;
            ctx.log(format!("{}: {} sentences, {subwords} subwords, {truncated} truncated words", role.name(), encoded.len()));

            let mut columns = vec![
                Column::from(ids.into_series()),
                table::u32_lists("input_ids", encoded.iter().map(|e| e.input_ids.as_slice())),
                table::u32_lists("word_starts", encoded.iter().map(|e| e.word_starts.as_slice())),
                Column::new("n_words".into(), tokens.iter().map(|t| t.len() as u32).collect::<Vec<_>>()),
                Column::new("truncated_words".into(), encoded.iter().map(|e| e.truncated_words).collect::<Vec<_>>()),
            ];
            if role.labeled {
                let tags = table::read_str_lists(&sentences, "tags")?;
                let label_ids = tags
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|t| labels.iter().position(|l| l == t).map(|i| i as u32))
                            .collect::<Option<Vec<u32>>>()
                            .with_context(|| format!("a tag outside the label set {labels:?}"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                columns.push(table::u32_lists("label_ids", label_ids.iter().map(Vec::as_slice)));
            }
            let mut df = DataFrame::new(encoded.len(), columns)?;
            let mut meta = ctx.provenance();
            meta.push(("mtmt.labels".into(), serde_json::to_string(&labels)?));
            table::write(&mut df, &ctx.output(&format!("encoded_{}.parquet", role.name())), meta)?;
            ctx.summary.insert(
                role.name(),
                serde_json::json!({"sentences": encoded.len(), "subwords": subwords, "truncated_words": truncated, "sentences_per_s": rate}),
            );
        }
        ctx.summary.insert("truncated_words".into(), total_truncated.into());
        ctx.summary.insert("labels".into(), serde_json::to_value(&labels)?);
        Ok(())
    }
}
