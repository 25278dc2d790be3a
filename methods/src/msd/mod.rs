//! `msd` (MSD, methods.md): the teacher has classifier heads on intermediate layers
//! (`teacher_msd`); the student has the same heads and learns each from the teacher's
//! matching head on target text (the layer-wise distillation the released code computes
//! but never uses: it trains those heads on the gold target train tags instead, a leak we
//! do not reproduce), plus two MMD terms between [CLS] vectors that pull the student's
//! target and source representations towards the teacher's source ones.
//!
//! Loss per step: `KD(final) + aux_weight * sum_k softmax(omega)_k KD(head k) +
//! mmd_weight * (MMD(t_src, s_tgt) + MMD(t_src, s_src))`, KD being the configured
//! distillation loss (`distill_loss.ner`) against the teacher's probabilities, t_src the
//! teacher's [CLS] vectors on a source chunk drawn each step (as many sentences as the
//! batch), s_tgt / s_src the student's on the target batch and on that chunk.

use serde::Deserialize;
use tch::{Kind, Tensor};

use mtmt_ner::model::params;
use mtmt_ner::model::Pass;
use mtmt_ner::train::data::Batch;
use mtmt_ner::train::rng::Rng;
use mtmt_ner::trainer::{all_batches, StepLoss, Steps};
use mtmt_stage::artifacts::{load_tagger, source_train};
use mtmt_stage::files;
use mtmt_stage::fit::fit;
use mtmt_stage::settings::AsBefore;
use mtmt_stage::stage_name::StageName;
use mtmt_stage::summary::{self, TeacherFigure};

use crate::student::{all_words_loss, ner_loss, DynStudentLoss, StudentLoss, StudentRun};
use crate::MethodSpec;
use layer_heads::{LayerHeads, PREFIX};

mod config;
mod layer_heads;
mod teacher_msd;

pub use config::MsdConfig;
pub use teacher_msd::TeacherMsd;

/// Its teacher's figure that the sweep report's teacher checks show.
pub(crate) const TEACHER_FIGURES: &[TeacherFigure] =
    &[TeacherFigure { stage: StageName::TeacherMsd, what: "entity F1", path: &[summary::SOURCE_DEV, "overall", "f1"] }];

/// Its settings added after artifacts existed (`config::ADDED_LATER`).
pub const ADDED_LATER: &[(&str, AsBefore)] =
    &[("teacher_msd.optimizer", AsBefore::Name("adamw")), ("teacher_msd.parallel_dropout", AsBefore::Flag(false))];

// The files its stages write into their artifacts (`mtmt_stage::files` has the shared ones).
/// `teacher_msd`: MSD's heads on intermediate layers and their mixing weights (beside the
/// recognizer's `MODEL`).
pub(crate) const LAYER_HEADS: &str = "layer_heads.safetensors";

pub struct Msd;

impl MethodSpec for Msd {
    fn recognizer(&self) -> StageName {
        StageName::TeacherMsd
    }
    fn own_teacher(&self) -> Option<StageName> {
        Some(StageName::TeacherMsd)
    }
    fn student(&self) -> Option<&dyn DynStudentLoss> {
        Some(self)
    }
}

/// The biased squared MMD between samples `x` [n, d] and `y` [m, d] under a sum of five
/// Gaussian kernels, as released: base bandwidth = the mean squared distance between
/// distinct points of both samples (held fixed, no gradient) / 4, times 1, 2, 4, 8, 16.
pub fn mmd(x: &Tensor, y: &Tensor) -> Tensor {
    let n = x.size()[0];
    let total = Tensor::cat(&[x, y], 0);
    let points = total.size()[0];
    let distances = (total.unsqueeze(0) - total.unsqueeze(1)).square().sum_dim_intlist(-1, false, Kind::Float);
    let base = distances.detach().sum(Kind::Float) / ((points * points - points).max(1) as f64) / 4.0;
    let kernels: Tensor = (0..5).map(|i| (-&distances / (&base * f64::from(1 << i)).clamp_min(1e-12)).exp()).sum();
    let xx = kernels.narrow(0, 0, n).narrow(1, 0, n).mean(Kind::Float);
    let yy = kernels.narrow(0, n, points - n).narrow(1, n, points - n).mean(Kind::Float);
    let xy = kernels.narrow(0, 0, n).narrow(1, n, points - n).mean(Kind::Float);
    xx + yy - xy * 2.0
}

/// The settings MSD's student reads: the `msd` section.
#[derive(Deserialize)]
pub struct StudentSettings {
    msd: MsdConfig,
}

impl StudentLoss for Msd {
    type Settings = StudentSettings;

    fn inputs(&self) -> &'static [StageName] {
        &[StageName::TeacherMsd, StageName::TokenizeSource]
    }

    fn train(&self, run: &mut StudentRun, StudentSettings { msd }: StudentSettings) -> anyhow::Result<()> {
        let (seed, device) = (run.seed, run.device);
        anyhow::ensure!(!run.teacher.is_empty(), "MSD's student needs target train sentences; the split is empty");
        let n_labels = run.teacher[0].size()[1];
        // The teacher, eval mode, with its heads.
        let teacher =
            load_tagger(&run.encoder, n_labels as usize, &run.ctx.input(StageName::TeacherMsd, files::MODEL), device)?;
        let config = teacher.bert.config.clone();
        let (hidden, layers) = (config.hidden_size, config.num_hidden_layers);
        let teacher_heads = LayerHeads::new(teacher.vs.root() / PREFIX, hidden, n_labels, 0.0, msd.first_layer, layers);
        params::load_trained(&teacher.vs, &run.ctx.input(StageName::TeacherMsd, LAYER_HEADS), &[PREFIX])?;
        let dropout = run.train.dropout;
        let heads = run.extend(PREFIX, |p| LayerHeads::new(p, hidden, n_labels, dropout, msd.first_layer, layers));
        let source = source_train(run.ctx, 0)?;
        anyhow::ensure!(!source.is_empty(), "MSD's MMD terms need source train sentences; the split is empty");

        let StudentRun { ctx, student, opt, schedule, set, teacher: teacher_probs, loss, .. } = run;
        let plan = all_batches(&set.lengths(), schedule, seed);
        ctx.log(format!(
            "MSD: {} target sentences, heads on layers {}..{layers}, source chunks from {} sentences, on {device:?}",
            set.len(),
            msd.first_layer,
            source.len()
        ));
        let cls = |states: &Tensor| states.select(1, 0);
        fit(ctx, &student.vs, opt, Steps { batches: &plan, schedule, seed }, |step, idx| {
            let batch = Batch::new(set, idx, device);
            let mut rng = Rng::derived(seed, &format!("msd source chunk {step}"));
            let chunk: Vec<usize> = (0..idx.len()).map(|_| rng.below(source.len())).collect();
            let chunk = Batch::new(&source, &chunk, device);
            // The teacher: every head's distribution on the target words, [CLS] on the chunk.
            let (teacher_aux, teacher_cls) = tch::no_grad(|| {
                let states = teacher.bert.forward(&batch.input_ids, &batch.attention_mask, Pass::Infer);
                let aux: Vec<Tensor> = teacher_heads
                    .logits(&states, &batch, Pass::Infer)
                    .iter()
                    .map(|l| l.softmax(-1, Kind::Float))
                    .collect();
                (aux, cls(&teacher.bert.last_hidden(&chunk.input_ids, &chunk.attention_mask, Pass::Infer)))
            });
            let states = student.bert.forward(&batch.input_ids, &batch.attention_mask, Pass::Train);
            let last = states.last().expect("at least the embeddings");
            let main = all_words_loss(&student.logits_at(last, &batch, Pass::Train), teacher_probs, idx, loss.ner);
            let aux: Vec<Tensor> = heads
                .logits(&states, &batch, Pass::Train)
                .iter()
                .zip(&teacher_aux)
                .map(|(l, t)| ner_loss(l, t, loss.ner).mean(Kind::Float))
                .collect();
            let student_src = cls(&student.bert.last_hidden(&chunk.input_ids, &chunk.attention_mask, Pass::Train));
            let alignment = mmd(&teacher_cls, &cls(last)) + mmd(&teacher_cls, &student_src);
            Ok(StepLoss::sum(
                vec![
                    ("distill", main),
                    ("layers", heads.mix(&aux) * msd.aux_weight),
                    ("mmd", alignment * msd.mmd_weight),
                ],
                batch.tokens,
            ))
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmd_is_zero_between_a_sample_and_itself_and_grows_with_the_shift() {
        tch::manual_seed(0);
        let x = Tensor::randn([16, 4], (Kind::Float, tch::Device::Cpu));
        assert!(mmd(&x, &x).double_value(&[]).abs() < 1e-6);
        let near = mmd(&x, &(&x + 0.1)).double_value(&[]);
        let far = mmd(&x, &(&x + 3.0)).double_value(&[]);
        assert!(near > 0.0 && far > near, "{near} {far}");
    }
}
