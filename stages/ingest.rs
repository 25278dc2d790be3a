//! `ingest_source` / `ingest_target`: read one language's CoNLL files into one
//! `sentences_<role>` Parquet table per split. The target's train split is read
//! unlabeled: its table has no tag column, so gold target labels cannot reach
//! training.

use std::path::PathBuf;

use polars::prelude::*;
use serde::Deserialize;

use super::Side;
use crate::config::{Config, Encoding};
use crate::conll::{self, Labels};
use crate::stage::{Stage, StageContext};
use crate::table;

pub struct Ingest(pub Side);

#[derive(Deserialize)]
struct Params {
    labels: Vec<String>,
    source: Option<CorpusParams>,
    target: Option<CorpusParams>,
}

#[derive(Deserialize)]
struct CorpusParams {
    lang: String,
    encoding: Encoding,
    train: PathBuf,
    dev: Option<PathBuf>,
    test: Option<PathBuf>,
}

impl CorpusParams {
    fn split(&self, split: &str) -> Option<&PathBuf> {
        match split {
            "train" => Some(&self.train),
            "dev" => self.dev.as_ref(),
            _ => self.test.as_ref(),
        }
    }
}

impl Stage for Ingest {
    fn name(&self) -> &'static str {
        match self.0 {
            Side::Source => "ingest_source",
            Side::Target => "ingest_target",
        }
    }
    fn version(&self) -> u32 {
        2
    }
    fn description(&self) -> &'static str {
        match self.0 {
            Side::Source => "source CoNLL files -> sentence tables (IOB2, validated)",
            Side::Target => "target CoNLL files -> sentence tables (train read without labels)",
        }
    }
    fn inputs(&self, _: &Config) -> Vec<&'static str> {
        vec![]
    }
    fn reads(&self) -> &'static [&'static str] {
        match self.0 {
            Side::Source => &["labels", "source.lang", "source.encoding"],
            Side::Target => &["labels", "target.lang", "target.encoding"],
        }
    }
    fn files(&self) -> &'static [&'static str] {
        match self.0 {
            Side::Source => &["source.train", "source.dev", "source.test"],
            Side::Target => &["target.train", "target.dev", "target.test"],
        }
    }
    fn outputs(&self) -> &'static [&'static str] {
        match self.0 {
            Side::Source => {
                &["sentences_source_train.parquet", "sentences_source_dev.parquet", "sentences_source_test.parquet"]
            }
            Side::Target => {
                &["sentences_target_train.parquet", "sentences_target_dev.parquet", "sentences_target_test.parquet"]
            }
        }
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let params: Params = ctx.params()?;
        let corpus = match self.0 {
            Side::Source => params.source,
            Side::Target => params.target,
        }
        .expect("the view holds this side");
        for role in self.0.roles() {
            let Some(path) = corpus.split(role.split) else { continue };
            let labels = if role.labeled { Labels::Types(&params.labels) } else { Labels::Unlabeled };
            let (sentences, stats) = conll::read_file(path, corpus.encoding, labels)?;
            ctx.log(format!(
                "{}: {} sentences, {} tokens, {} entities, {} empty skipped ({})",
                role.name(),
                stats.sentences,
                stats.tokens,
                stats.entities,
                stats.empty_sentences_skipped,
                path.display()
            ));
            let n = sentences.len();
            let mut columns: Vec<Column> = vec![
                Column::new("sentence_id".into(), (0..n as u32).collect::<Vec<_>>()),
                Column::new("lang".into(), vec![corpus.lang.as_str(); n]),
                Column::new("split".into(), vec![role.split; n]),
                Column::new("line".into(), sentences.iter().map(|s| s.line as u32).collect::<Vec<_>>()),
                table::str_lists("tokens", sentences.iter().map(|s| s.tokens.as_slice())),
            ];
            if role.labeled {
                columns.push(table::str_lists(
                    "tags",
                    sentences.iter().map(|s| s.tags.as_deref().expect("labeled read keeps tags")),
                ));
            }
            let mut df = DataFrame::new(n, columns)?;
            table::write(&mut df, &ctx.output(&format!("sentences_{}.parquet", role.name())), ctx.provenance())?;
            ctx.summary.insert(role.name(), serde_json::to_value(&stats)?);
        }
        Ok(())
    }
}
