//! `ingest_source` / `ingest_target`: read one language's CoNLL files into one
//! `sentences_<role>` Parquet table per split. The target's train split is read
//! unlabeled: its table has no tag column, so gold target labels cannot reach
//! training.

use std::path::PathBuf;

use polars::prelude::*;
use serde::Deserialize;

use crate::config::Encoding;
use crate::conll::{self, Labels};
use crate::files;
use crate::method::Method;
use crate::side::{Side, Split};
use crate::stage::{Stage, StageContext, StageSpec};
use crate::stage_name::StageName;
use crate::table;

pub struct Ingest(pub Side);

#[derive(Deserialize)]
pub struct Params {
    labels: Vec<String>,
    source: Option<CorpusParams>,
    target: Option<CorpusParams>,
}

#[derive(Deserialize)]
pub struct CorpusParams {
    lang: String,
    encoding: Encoding,
    train: PathBuf,
    dev: Option<PathBuf>,
    test: Option<PathBuf>,
}

impl CorpusParams {
    fn split(&self, split: Split) -> Option<&PathBuf> {
        match split {
            Split::Train => Some(&self.train),
            Split::Dev => self.dev.as_ref(),
            Split::Test => self.test.as_ref(),
        }
    }
}

impl StageSpec for Ingest {
    fn name(&self) -> StageName {
        match self.0 {
            Side::Source => StageName::IngestSource,
            Side::Target => StageName::IngestTarget,
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
    fn inputs(&self, _: Method) -> Vec<StageName> {
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
        files::all_sentences(self.0)
    }
}

impl Stage for Ingest {
    type Params = Params;

    fn run(&self, params: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let corpus = match self.0 {
            Side::Source => &params.source,
            Side::Target => &params.target,
        }
        .as_ref()
        .expect("the view holds this side");
        for split in Split::ALL {
            let Some(path) = corpus.split(split) else { continue };
            let labeled = self.0.labeled(split);
            let role = format!("{}_{}", self.0.name(), split.name());
            let labels = if labeled { Labels::Types(&params.labels) } else { Labels::Unlabeled };
            let (sentences, stats) = conll::read_file(path, corpus.encoding, labels)?;
            ctx.log(format!(
                "{role}: {} sentences, {} tokens, {} entities, {} empty skipped ({})",
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
                Column::new("split".into(), vec![split.name(); n]),
                Column::new("line".into(), sentences.iter().map(|s| s.line as u32).collect::<Vec<_>>()),
                table::str_lists("tokens", sentences.iter().map(|s| s.tokens.as_slice())),
            ];
            if labeled {
                columns.push(table::str_lists(
                    "tags",
                    sentences.iter().map(|s| s.tags.as_deref().expect("labeled read keeps tags")),
                ));
            }
            let mut df = DataFrame::new(n, columns)?;
            table::write(&mut df, &ctx.output(files::sentences(self.0, split)), ctx.provenance())?;
            ctx.summary.insert(role, serde_json::to_value(&stats)?);
        }
        Ok(())
    }
}
