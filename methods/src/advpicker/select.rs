//! `select`: AdvPicker's sentence picking. The adversarial teacher's discriminator reads
//! every target train sentence the student may learn from (eval mode); a sentence's score
//! is the mean probability over its real subwords that they are source-language. The share
//! `advpicker.keep` of sentences closest to 0.5 (the most language-independent for the
//! discriminator) are kept. Writes `selection.parquet`: sentence_id, p_source, distance
//! (|p_source - 0.5|), kept; no tag is read.

use polars::prelude::*;
use serde::Deserialize;
use tch::{Kind, Tensor};

use super::discriminator::Discriminator;
use crate::Method;
use mtmt_ner::model::params;
use mtmt_ner::model::Pass;
use mtmt_ner::table;
use mtmt_ner::train::batching::sorted_batches;
use mtmt_ner::train::data::Batch;
use mtmt_stage::artifacts::{load_tagger, target_train, EncoderFiles, StudentSentences, ENCODER_FILES, INFERENCE};
use mtmt_stage::files;
use mtmt_stage::settings::bio_labels;
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;
use mtmt_stage::summary;

pub struct Select;

/// The `advpicker` settings selection reads.
#[derive(Deserialize)]
pub(crate) struct Picking {
    discriminator_hidden: i64,
    keep: f64,
}

#[derive(Deserialize)]
pub struct Params {
    labels: Vec<String>,
    encoder: EncoderFiles,
    advpicker: Picking,
    distill: StudentSentences,
}

impl StageSpec for Select {
    fn name(&self) -> StageName {
        StageName::Select
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "AdvPicker's selection: target sentences the discriminator finds most language-independent"
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        vec![StageName::TokenizeTarget, StageName::TeacherAdv]
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[super::SELECTION]
    }
}

/// Which of `scores` (mean source probabilities) to keep: the `keep` share (at least one)
/// closest to 0.5, ties by position.
pub fn kept(scores: &[f64], keep: f64) -> Vec<bool> {
    let n = scores.len();
    let count = ((keep * n as f64).round() as usize).clamp(n.min(1), n);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| (scores[a] - 0.5).abs().total_cmp(&(scores[b] - 0.5).abs()).then(a.cmp(&b)));
    let mut out = vec![false; n];
    for &i in &order[..count] {
        out[i] = true;
    }
    out
}

impl Stage for Select {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let device = ctx.device()?;
        let labels = bio_labels(&p.labels);
        let set = target_train(ctx, p.distill.max_sentences)?;
        let teacher = ctx.input(StageName::TeacherAdv, files::MODEL);
        let tagger = load_tagger(&p.encoder, labels.len(), &teacher, device)?;
        let hidden = tagger.bert.config.hidden_size;
        let discriminator =
            Discriminator::new(tagger.vs.root() / "discriminator", hidden, p.advpicker.discriminator_hidden);
        params::load_trained(&tagger.vs, &ctx.input(StageName::TeacherAdv, super::DISCRIMINATOR), &["discriminator."])?;
        let mut scores = vec![0.0f64; set.len()];
        tch::no_grad(|| {
            for idx in sorted_batches(&set.lengths(), &INFERENCE) {
                let batch = Batch::new(&set, &idx, device);
                let states = tagger.bert.last_hidden(&batch.input_ids, &batch.attention_mask, Pass::Infer);
                let mask = batch.attention_mask.to_kind(Kind::Float);
                let p_source: Tensor = discriminator.forward(&states).sigmoid();
                let mean = (p_source * &mask).sum_dim_intlist(-1, false, Kind::Float)
                    / mask.sum_dim_intlist(-1, false, Kind::Float).clamp_min(1.0);
                let mean = Vec::<f32>::try_from(mean.to_device(tch::Device::Cpu)).expect("f32 scores");
                for (&i, m) in idx.iter().zip(mean) {
                    scores[i] = m as f64;
                }
            }
        });
        let kept = kept(&scores, p.advpicker.keep);
        let n_kept = kept.iter().filter(|&&k| k).count();
        let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
        ctx.log(format!("kept {n_kept} of {} sentences; mean source probability {mean:.3}", set.len()));
        ctx.summary.insert(summary::KEPT_SENTENCES.into(), n_kept.into());
        let distance: Vec<f64> = scores.iter().map(|p| (p - 0.5).abs()).collect();
        let mut df = DataFrame::new(
            set.len(),
            vec![
                Column::new("sentence_id".into(), set.sentence_ids.clone()),
                Column::new("p_source".into(), scores),
                Column::new("distance".into(), distance),
                Column::new("kept".into(), kept),
            ],
        )?;
        table::write(&mut df, &ctx.output(super::SELECTION), ctx.provenance())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_share_closest_to_one_half() {
        let scores = [0.9, 0.5, 0.45, 0.1, 0.6];
        assert_eq!(kept(&scores, 0.6), [false, true, true, false, true]);
        assert_eq!(kept(&scores, 1.0), [true; 5]);
        // At least one sentence is kept; ties go to the earlier sentence.
        assert_eq!(kept(&[0.4, 0.6], 0.01), [true, false]);
        assert!(kept(&[], 0.8).is_empty());
    }
}
