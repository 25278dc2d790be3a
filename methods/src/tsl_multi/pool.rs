//! `pool_source` / `pool_target`: every sentence of one language as one vector, the mean of
//! the pretrained encoder's (not fine-tuned) last hidden states over its subwords, for
//! multi-source TSL's language-similarity model (`lang_sim`). Kept apart from it because
//! the vectors depend on the text and the encoder only: one pooling of a language serves
//! every seed, target and weighting that reads it. Writes `vectors.safetensors`: `train`
//! [sentences, hidden] in the encoded table's order, and `dev` where the side has a labeled
//! dev split to measure language identification on (the source side).

use serde::Deserialize;
use tch::Tensor;

use super::similarity_model::sentence_vectors;
use crate::Method;
use mtmt_ner::model::tagger::Tagger;
use mtmt_ner::train::data::EncodedSet;
use mtmt_stage::artifacts::{EncoderFiles, ENCODER_FILES};
use mtmt_stage::files;
use mtmt_stage::side::{Side, Split};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;

pub struct Pool(pub Side);

#[derive(Deserialize)]
pub struct Params {
    encoder: EncoderFiles,
}

impl Pool {
    fn tokenize(&self) -> StageName {
        match self.0 {
            Side::Source => StageName::TokenizeSource,
            Side::Target => StageName::TokenizeTarget,
        }
    }
}

impl StageSpec for Pool {
    fn name(&self) -> StageName {
        match self.0 {
            Side::Source => StageName::PoolSource,
            Side::Target => StageName::PoolTarget,
        }
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "one vector per sentence: the pretrained encoder's mean last hidden state"
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        vec![self.tokenize()]
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[super::VECTORS]
    }
}

impl Stage for Pool {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let device = ctx.device()?;
        let encoder = Tagger::pretrained(&p.encoder.config, &p.encoder.weights, 1, 0.0, device, 0)?;
        let splits: &[Split] = match self.0 {
            Side::Source => &[Split::Train, Split::Dev],
            Side::Target => &[Split::Train],
        };
        let started = std::time::Instant::now();
        let mut pooled: Vec<(&str, Tensor)> = Vec::new();
        for &split in splits {
            let path = ctx.input(self.tokenize(), files::encoded(self.0, split));
            if path.exists() {
                pooled.push((split.name(), sentence_vectors(&encoder.bert, &EncodedSet::read(&path)?, device)));
            }
        }
        let n: i64 = pooled.iter().map(|(_, t)| t.size()[0]).sum();
        let secs = started.elapsed().as_secs_f64();
        ctx.log(format!("{n} sentences pooled in {secs:.1}s ({:.0} sentences/s)", n as f64 / secs));
        let path = ctx.output(super::VECTORS);
        let refs: Vec<(&str, &Tensor)> = pooled.iter().map(|(name, t)| (*name, t)).collect();
        mtmt_ner::atomic::write_with(&path, |tmp| Ok(Tensor::write_safetensors(&refs, tmp)?))
    }
}
