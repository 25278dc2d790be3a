//! `translate`: UniTrans's pseudo target-language training set. Every labeled source train
//! sentence is translated word by word with the `lexicon` (`word_translation::translate`: PER words
//! and words without an entry copied, every other word replaced with the source word's
//! casing, or with `unitrans.target_casing` the lexicon's target-text spelling) and keeps
//! its tags one to one. Writes `translated.parquet` (sentence_id, tokens,
//! tags, source_tokens: a sentence table to inspect) and `encoded_translated.parquet` (the
//! same sentences encoded as `tokenize` encodes target text, with labels), what the
//! translation teachers train on.

use std::collections::HashMap;

use polars::prelude::*;
use serde::Deserialize;

use super::word_translation::{translate, Casing};
use crate::Method;
use mtmt_ner::subword::SubwordTokenizer;
use mtmt_ner::table;
use mtmt_ner::train::data::{EncodedSet, Words};
use mtmt_stage::artifacts::{TokenizeSettings, TokenizerFile, Unspaced};
use mtmt_stage::files;
use mtmt_stage::settings::bio_labels;
use mtmt_stage::side::{Side, Split};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;
use mtmt_stage::summary;

pub struct Translate;

#[derive(Deserialize)]
pub struct Params {
    labels: Vec<String>,
    encoder: TokenizerFile,
    tokenize: TokenizeSettings,
    #[serde(default)]
    target: Unspaced,
    /// Out of the view when off (`config::ADDED_LATER`).
    #[serde(default)]
    unitrans: CasingParams,
}

#[derive(Deserialize, Default)]
pub(crate) struct CasingParams {
    #[serde(default)]
    target_casing: bool,
}

impl StageSpec for Translate {
    fn name(&self) -> StageName {
        StageName::Translate
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "UniTrans: the labeled source train split translated word by word, tags copied"
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        vec![StageName::IngestSource, StageName::Lexicon]
    }
    fn files(&self) -> &'static [&'static str] {
        &["encoder.tokenizer"]
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[super::TRANSLATED, super::ENCODED_TRANSLATED]
    }
}

impl Stage for Translate {
    type Params = Params;

    fn run(&self, params: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let p = params;
        let lexicon_path = ctx.input(StageName::Lexicon, super::LEXICON);
        // With `unitrans.target_casing`, also the lexicon's target-text spellings.
        let target_casing = params.unitrans.target_casing;
        let columns: &[&str] =
            if target_casing { &["source", "target", "target_spelling"] } else { &["source", "target"] };
        let df = table::read_columns(&lexicon_path, columns)?;
        let targets = df.column("target")?.str()?;
        let lexicon: HashMap<String, String> = df
            .column("source")?
            .str()?
            .iter()
            .zip(targets.iter())
            .filter_map(|(s, t)| Some((s?.to_string(), t?.to_string())))
            .collect();
        let spelled: Option<HashMap<String, String>> = target_casing
            .then(|| {
                let forms = df.column("target_spelling")?.str()?;
                Ok::<_, anyhow::Error>(
                    targets
                        .iter()
                        .zip(forms.iter())
                        .filter_map(|(t, f)| Some((t?.to_lowercase(), f?.to_string())))
                        .collect(),
                )
            })
            .transpose()?;
        let casing = spelled.as_ref().map_or(Casing::Source, Casing::Target);
        let source = ctx.input(StageName::IngestSource, files::sentences(Side::Source, Split::Train));
        let sentences = table::read(&source)?;
        let ids = table::u32_column(&sentences, &source, "sentence_id")?;
        let words = table::read_str_lists(&sentences, "tokens")?;
        let tags = table::read_str_lists(&sentences, "tags")?;
        let (mut translated, mut replaced, mut total) = (Vec::with_capacity(words.len()), 0, 0);
        for (w, t) in words.iter().zip(&tags) {
            let (out, n) = translate(w, t, &lexicon, &casing);
            translated.push(out);
            replaced += n;
            total += w.len();
        }
        let share = replaced as f64 / total.max(1) as f64;
        ctx.log(format!("{} sentences: {replaced} of {total} words replaced ({:.1}%)", words.len(), 100.0 * share));
        ctx.summary.insert(summary::TRANSLATED_WORDS.into(), share.into());

        let mut df = DataFrame::new(
            ids.len(),
            vec![
                Column::new("sentence_id".into(), ids.clone()),
                table::str_lists("tokens", translated.iter().map(Vec::as_slice)),
                table::str_lists("tags", tags.iter().map(Vec::as_slice)),
                table::str_lists("source_tokens", words.iter().map(Vec::as_slice)),
            ],
        )?;
        table::write(&mut df, &ctx.output(super::TRANSLATED), ctx.provenance())?;

        let labels = bio_labels(&p.labels);
        let tokenizer = SubwordTokenizer::configured(
            &p.encoder.tokenizer,
            p.tokenize.lowercase,
            p.tokenize.label_past_bare_marker,
            p.target.unspaced,
        )?;
        let out = ctx.output(super::TRANSLATED);
        let words = Words { ids, tokens: &translated, tags: Some(&tags), origin: &out };
        let set = EncodedSet::encode(&tokenizer, words, &labels, p.tokenize.max_len, || {})?;
        let mut meta = ctx.provenance();
        meta.push(("mtmt.labels".into(), serde_json::to_string(&labels)?));
        set.write(&ctx.output(super::ENCODED_TRANSLATED), meta)
    }
}
