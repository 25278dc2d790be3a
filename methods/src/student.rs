//! What every student shares, whatever its method: a fresh copy of the pretrained
//! encoder with a classification head, its optimizer and schedule, the target train
//! sentences, and the recognizer teacher's distribution for each of their words. A
//! method's `StudentLoss` trains it from there.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use tch::{Device, Kind, Tensor};

use mtmt_ner::model::tagger::Tagger;
use mtmt_ner::train::data::EncodedSet;
use mtmt_ner::train::optim::AdamW;
use mtmt_ner::trainer::Schedule;
use mtmt_stage::artifacts::{read_token_probs, target_train, EncoderFiles};
use mtmt_stage::settings::{DistillLossConfig, NerLoss, Student, TrainConfig};
use mtmt_stage::stage::{param_keys, StageContext};
use mtmt_stage::stage_name::StageName;

/// A method's student loss.
pub trait StudentLoss: Sync {
    /// The method's own settings its student reads, declared once as a struct whose
    /// field names are the config keys (a field holding a struct is a section): `distill`
    /// reads them, and is keyed by them, under this method only. `NoSettings` for none.
    type Settings: DeserializeOwned;
    /// Upstream artifacts the student reads besides the tokenized target text and the
    /// recognizer's scores (`score_tokens`).
    fn inputs(&self) -> &'static [StageName];
    /// Trains `run.student` (checkpointed and resumable through `fit`).
    fn train(&self, run: &mut StudentRun, settings: Self::Settings) -> anyhow::Result<()>;
}

/// A student loss of no settings of its own.
#[derive(Deserialize)]
pub struct NoSettings {}

/// A `StudentLoss` behind a pointer (each method's settings are a type of its own).
pub trait DynStudentLoss: Sync {
    fn inputs(&self) -> &'static [StageName];
    /// The config keys of `Settings`, dotted.
    fn reads(&self) -> Vec<String>;
    /// Reads `Settings` from the stage's view, then trains.
    fn train(&self, run: &mut StudentRun) -> anyhow::Result<()>;
}

impl<S: StudentLoss> DynStudentLoss for S {
    fn inputs(&self) -> &'static [StageName] {
        StudentLoss::inputs(self)
    }
    fn reads(&self) -> Vec<String> {
        param_keys::<S::Settings>()
    }
    fn train(&self, run: &mut StudentRun) -> anyhow::Result<()> {
        let settings = S::Settings::deserialize(&run.ctx.view)
            .map_err(|e| anyhow::anyhow!("distill: the method's own settings: {e}"))?;
        StudentLoss::train(self, run, settings)
    }
}

/// A student about to be trained, with everything its loss needs.
pub struct StudentRun<'a> {
    pub ctx: &'a mut StageContext,
    pub student: Tagger,
    pub opt: AdamW,
    pub schedule: Schedule,
    pub seed: u64,
    pub device: Device,
    /// The target train sentences the student learns from.
    pub set: EncodedSet,
    /// The recognizer teacher's distributions, per sentence of `set`: [words, labels].
    pub teacher: Vec<Tensor>,
    pub loss: DistillLossConfig,
    /// The pretrained encoder's files (a method may load a teacher of its own).
    pub encoder: EncoderFiles,
    /// The student's training settings.
    pub train: TrainConfig<Student>,
}

impl<'a> StudentRun<'a> {
    /// The pretrained student (head initialised from `seed`) and the teacher's
    /// distributions for the first `distill.max_sentences` target train sentences.
    pub fn new(
        ctx: &'a mut StageContext,
        encoder: &EncoderFiles,
        n_labels: usize,
        train: &TrainConfig<Student>,
        loss: DistillLossConfig,
        seed: u64,
    ) -> anyhow::Result<Self> {
        let device = ctx.device()?;
        let set = target_train(ctx, train.max_sentences)?;
        let probs_path = ctx.input(StageName::ScoreTokens, mtmt_stage::files::TOKEN_PROBS);
        let by_id = read_token_probs(&probs_path)?;
        let teacher = set
            .sentence_ids
            .iter()
            .zip(&set.word_starts)
            .map(|(id, starts)| {
                let flat = by_id.get(id).map(Vec::as_slice).unwrap_or(&[]);
                // A sentence whose every word was truncated away has no row, as in `score_tokens`.
                anyhow::ensure!(
                    flat.len() == starts.len() * n_labels,
                    "{}: sentence {id} has {} probabilities, expected {} words x {n_labels} labels \
                     (the table does not belong to this target text)",
                    probs_path.display(),
                    flat.len(),
                    starts.len()
                );
                Ok(Tensor::from_slice(flat).view([-1, n_labels as i64]))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut student = Tagger::pretrained(&encoder.config, &encoder.weights, n_labels, train.dropout, device, seed)?;
        student.prepare_training(train.freeze(), train.mode());
        let opt = student.optimizer(train.decay(), train.head_lr_scale);
        Ok(Self {
            ctx,
            student,
            opt,
            schedule: train.schedule(),
            seed,
            device,
            set,
            teacher,
            loss,
            encoder: encoder.clone(),
            train: train.clone(),
        })
    }

    /// Adds parameters of the method's own to the student (built by `build` under
    /// `prefix` of its variable store) and remakes the optimizer so that they train too.
    /// They are not part of the saved student.
    pub fn extend<T>(&mut self, prefix: &str, build: impl FnOnce(tch::nn::Path) -> T) -> T {
        let built = build(self.student.vs.root() / prefix);
        self.opt = self.student.optimizer(self.train.decay(), self.train.head_lr_scale);
        built
    }
}

/// Per-word distillation loss between student logits and teacher probabilities [n, labels] -> [n].
pub(crate) fn ner_loss(logits: &Tensor, teacher: &Tensor, loss: NerLoss) -> Tensor {
    match loss {
        // Soft cross-entropy: KL up to the teacher's (constant) entropy.
        NerLoss::Kl => -(teacher * logits.log_softmax(-1, Kind::Float)).sum_dim_intlist(-1, false, Kind::Float),
        NerLoss::Mse => (logits.softmax(-1, Kind::Float) - teacher).square().mean_dim(-1, false, Kind::Float),
        NerLoss::MseSum => (logits.softmax(-1, Kind::Float) - teacher).square().sum_dim_intlist(-1, false, Kind::Float),
    }
}

/// The teacher's distributions of the words of the batch's sentences, in batch order.
pub(crate) fn teacher_batch(teacher: &[Tensor], idx: &[usize], device: Device) -> Tensor {
    Tensor::cat(&idx.iter().map(|&i| &teacher[i]).collect::<Vec<_>>(), 0).to_device(device)
}

/// TSL's loss: the mean distillation loss over every word of the batch.
pub(crate) fn all_words_loss(logits: &Tensor, teacher: &[Tensor], idx: &[usize], loss: NerLoss) -> Tensor {
    ner_loss(logits, &teacher_batch(teacher, idx, logits.device()), loss).mean(Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ner_losses_vanish_when_the_student_matches_the_teacher() {
        let teacher = Tensor::from_slice(&[0.7f32, 0.2, 0.1]).view([1, 3]);
        let matching = teacher.log();
        let off = Tensor::from_slice(&[0.0f32, 3.0, 0.0]).view([1, 3]);
        for loss in [NerLoss::Mse, NerLoss::MseSum] {
            assert!(ner_loss(&matching, &teacher, loss).double_value(&[0]).abs() < 1e-9);
            assert!(ner_loss(&off, &teacher, loss).double_value(&[0]) > 0.1);
        }
        // Soft cross-entropy is minimal (= the teacher's entropy) at the teacher's distribution.
        let entropy = -(&teacher * teacher.log()).sum(Kind::Float).double_value(&[]);
        assert!((ner_loss(&matching, &teacher, NerLoss::Kl).double_value(&[0]) - entropy).abs() < 1e-6);
        assert!(ner_loss(&off, &teacher, NerLoss::Kl).double_value(&[0]) > entropy + 0.1);
        // The summed MSE is the mean one times the number of classes.
        let ratio = ner_loss(&off, &teacher, NerLoss::MseSum).double_value(&[0])
            / ner_loss(&off, &teacher, NerLoss::Mse).double_value(&[0]);
        assert!((ratio - 3.0).abs() < 1e-5);
    }
}
