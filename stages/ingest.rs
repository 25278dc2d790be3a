//! `ingest_source` / `ingest_target`: read one language's files (any format `corpus` reads,
//! through the side's tag map) into one `sentences_<role>` Parquet table per split. The
//! target's train split is read unlabeled: its table has no tag column, so gold target
//! labels cannot reach training.

use std::path::PathBuf;

use polars::prelude::*;
use serde::Deserialize;

use mtmt_methods::Method;
use mtmt_ner::corpus::Corpus;
use mtmt_ner::corpus::{self, Format, Labels, Reading};
use mtmt_ner::table;
use mtmt_stage::files;
use mtmt_stage::side::{Side, Split};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;

pub struct Ingest(pub Side);

#[derive(Deserialize)]
pub struct Params {
    labels: Vec<String>,
    source: Option<Corpus>,
    target: Option<Corpus>,
}

fn split_file(corpus: &Corpus, split: Split) -> Option<&PathBuf> {
    match split {
        Split::Train => Some(&corpus.train),
        Split::Dev => corpus.dev.as_ref(),
        Split::Test => corpus.test.as_ref(),
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
            Side::Source => "source files (CoNLL, CoNLL-U, JSONL, Parquet) -> sentence tables (IOB2, validated)",
            Side::Target => "target files (also plain text) -> sentence tables (train read without labels)",
        }
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        vec![]
    }
    fn idle_reads(&self, view: &serde_json::Value, files: &[(&str, &std::path::Path)]) -> Vec<&'static str> {
        // `unspaced` splits plain text into characters; it changes no other format's reading.
        let (key, format) = match self.0 {
            Side::Source => ("source.unspaced", "source.format"),
            Side::Target => ("target.unspaced", "target.format"),
        };
        let configured = mtmt_stage::settings::lookup(view, format).and_then(|f| f.as_str());
        let text = |path: &std::path::Path| match configured {
            Some(format) => format == Format::Text.name(),
            None => corpus::sniff_file(path) == Some(Format::Text),
        };
        if files.iter().any(|(_, path)| text(path)) {
            vec![]
        } else {
            vec![key]
        }
    }
    fn reads_key(&self, key: &str) -> bool {
        self.0.reads_key(key)
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
        let reading = Reading::of(corpus, self.0.name());
        for split in Split::ALL {
            let Some(path) = split_file(corpus, split) else { continue };
            let labeled = self.0.labeled(split);
            let role = format!("{}_{}", self.0.name(), split.name());
            let labels = if labeled { Labels::Types(&params.labels) } else { Labels::Unlabeled };
            let (sentences, stats) = corpus::read_file(path, &reading, labels)?;
            ctx.log(format!(
                "{role}: {} sentences, {} tokens, {} entities, {} empty skipped ({}, read as {})",
                stats.sentences,
                stats.tokens,
                stats.entities,
                stats.empty_sentences_skipped,
                path.display(),
                stats.format.map(|f| f.name()).unwrap_or("?"),
            ));
            for (change, n) in stats.mapped.iter().chain(&stats.dropped) {
                let verb = if stats.dropped.contains_key(change) { "dropped (mapped to O)" } else { "mapped" };
                ctx.log(format!("{role}: {n} entities {verb}: {change}"));
            }
            if self.0 == Side::Source && split == Split::Train {
                refuse_unseen_labels(&params.labels, &stats.types, path)?;
            }
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

/// A label the source train split never shows cannot be learned: refused, with its fix.
fn refuse_unseen_labels(
    labels: &[String],
    seen: &std::collections::BTreeMap<String, usize>,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let unseen: Vec<&str> = labels.iter().filter(|l| !seen.contains_key(*l)).map(String::as_str).collect();
    anyhow::ensure!(
        unseen.is_empty(),
        "{}: label type(s) {} never occur in the source train split (it has {}): no model can learn them from it. \
         Remove them from `labels`, and map the target's finer types onto the source's with `target.tag_map`",
        path.display(),
        unseen.join(", "),
        seen.iter().map(|(t, n)| format!("{n} {t}")).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}
