//! `tokenize_source` / `tokenize_target`: encode one language's sentence tables into
//! subword ids with the encoder's tokenizer, one `encoded_<role>` table per split: input ids with CLS/SEP, the
//! first-subword position of each kept word, label ids where labeled, and how many
//! words truncation dropped (evaluation counts their entities as missed).

use mtmt_methods::Method;
use mtmt_ner::subword::SubwordTokenizer;
use mtmt_ner::table;
use mtmt_ner::train::data::EncodedSet;
use mtmt_stage::artifacts::EncodingParams;
use mtmt_stage::files;
use mtmt_stage::settings::bio_labels;
use mtmt_stage::side::{Side, Split};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;

pub(crate) struct Tokenize(pub Side);

impl StageSpec for Tokenize {
    fn name(&self) -> StageName {
        match self.0 {
            Side::Source => StageName::TokenizeSource,
            Side::Target => StageName::TokenizeTarget,
        }
    }
    fn version(&self) -> u32 {
        3
    }
    fn description(&self) -> &'static str {
        "sentence tables -> subword ids, first-subword positions, label ids"
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        vec![self.ingest()]
    }
    fn reads_key(&self, key: &str) -> bool {
        self.0.reads_key(key)
    }
    fn files(&self) -> &'static [&'static str] {
        &["encoder.tokenizer"]
    }
    fn outputs(&self) -> &'static [&'static str] {
        files::all_encoded(self.0)
    }
}

impl Stage for Tokenize {
    type Params = EncodingParams;

    fn run(&self, params: &EncodingParams, ctx: &mut StageContext) -> anyhow::Result<()> {
        let corpus = match self.0 {
            Side::Source => &params.source,
            Side::Target => &params.target,
        };
        let tokenizer = SubwordTokenizer::configured(
            &params.encoder.tokenizer,
            params.tokenize.lowercase,
            params.tokenize.label_past_bare_marker,
            corpus.unspaced,
        )?;
        let labels = bio_labels(&params.labels);
        let mut total_truncated = 0u64;
        for split in Split::ALL {
            let input = ctx.input(self.ingest(), files::sentences(self.0, split));
            if !input.exists() {
                continue;
            }
            let role = format!("{}_{}", self.0.name(), split.name());
            let sentences = table::read(&input)?;
            let ids: Vec<u32> = table::u32_column(&sentences, &input, "sentence_id")?;
            let tokens = table::read_str_lists(&sentences, "tokens")?;
            let tags = if self.0.labeled(split) { Some(table::read_str_lists(&sentences, "tags")?) } else { None };
            let progress = ctx.progress(tokens.len() as u64, 0, "sentences encoded");
            let words = mtmt_ner::train::data::Words { ids, tokens: &tokens, tags: tags.as_deref(), origin: &input };
            let set = EncodedSet::encode(&tokenizer, words, &labels, params.tokenize.max_len, || progress.inc(1))?;
            let rate = progress.finish();
            let truncated: u64 = set.truncated_words.iter().map(|&t| t as u64).sum();
            let subwords = set.tokens();
            total_truncated += truncated;
            ctx.log(format!("{role}: {} sentences, {subwords} subwords, {truncated} truncated words", set.len()));
            let mut meta = ctx.provenance();
            meta.push(("mtmt.labels".into(), serde_json::to_string(&labels)?));
            set.write(&ctx.output(files::encoded(self.0, split)), meta)?;
            ctx.summary.insert(
                role,
                serde_json::json!({"sentences": set.len(), "subwords": subwords, "truncated_words": truncated, "sentences_per_s": rate}),
            );
        }
        ctx.summary.insert("truncated_words".into(), total_truncated.into());
        ctx.summary.insert(mtmt_stage::summary::LABELS.into(), serde_json::to_value(&labels)?);
        Ok(())
    }
}

impl Tokenize {
    fn ingest(&self) -> StageName {
        match self.0 {
            Side::Source => StageName::IngestSource,
            Side::Target => StageName::IngestTarget,
        }
    }
}
