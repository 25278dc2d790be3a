//! `teacher_msd`: MSD's teacher (methods.md), the recognizer with a token classifier on
//! every intermediate layer from `msd.first_layer` on (`layer_heads`), trained on the
//! labeled source train split with cross-entropy at every head:
//! `CE(final) + aux_weight * sum_k softmax(omega)_k CE(head k)`. Source only, so one
//! teacher serves every target. Writes the recognizer (`model.safetensors`, what
//! `score_tokens` and `evaluate` load) and the heads (`layer_heads.safetensors`, what the
//! MSD student distills from).

use serde::Deserialize;

use crate::Method;
use mtmt_ner::model::heads::cross_entropy;
use mtmt_ner::model::params;
use mtmt_ner::model::tagger::Tagger;
use mtmt_ner::model::Pass;
use mtmt_ner::train::data::Batch;
use mtmt_ner::trainer::StepLoss;
use mtmt_stage::artifacts::{source_train, EncoderFiles, ENCODER_FILES};
use mtmt_stage::files;
use mtmt_stage::fit::train_recognizer;
use mtmt_stage::settings::{bio_labels, TrainConfig};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;

use super::layer_heads::{LayerHeads, PREFIX};

pub struct TeacherMsd;

/// The `msd` settings the teacher reads.
#[derive(Deserialize)]
pub struct Heads {
    first_layer: usize,
    aux_weight: f64,
}

#[derive(Deserialize)]
pub struct Params {
    seed: u64,
    labels: Vec<String>,
    encoder: EncoderFiles,
    teacher_msd: TrainConfig,
    msd: Heads,
}

impl StageSpec for TeacherMsd {
    fn name(&self) -> StageName {
        StageName::TeacherMsd
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "MSD's recognizer teacher with classifier heads on intermediate layers"
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        vec![StageName::TokenizeSource]
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[files::MODEL, super::LAYER_HEADS, files::CURVE]
    }
}

impl Stage for TeacherMsd {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let device = ctx.device()?;
        let labels = bio_labels(&p.labels);
        let set = source_train(ctx, p.teacher_msd.max_sentences)?;
        let t = &p.teacher_msd;
        let mut tagger =
            Tagger::pretrained(&p.encoder.config, &p.encoder.weights, labels.len(), t.dropout, device, p.seed)?;
        let config = &tagger.bert.config;
        let (hidden, layers) = (config.hidden_size, config.num_hidden_layers);
        let heads = LayerHeads::new(
            tagger.vs.root() / PREFIX,
            hidden,
            labels.len() as i64,
            t.dropout,
            p.msd.first_layer,
            layers,
        );
        tagger.prepare_training(t.freeze(), t.mode());
        ctx.log(format!("{} sentences, heads on layers {}..{layers}, on {device:?}", set.len(), p.msd.first_layer));
        train_recognizer(ctx, &tagger, t, &set.lengths(), &labels, p.seed, |_, idx| {
            let batch = Batch::new(&set, idx, device);
            let gold = batch.labels.as_ref().expect("source is labeled");
            let states = tagger.bert.forward(&batch.input_ids, &batch.attention_mask, Pass::Train);
            let last = states.last().expect("at least the embeddings");
            let main = cross_entropy(&tagger.logits_at(last, &batch, Pass::Train), gold);
            let aux: Vec<_> =
                heads.logits(&states, &batch, Pass::Train).iter().map(|l| cross_entropy(l, gold)).collect();
            Ok(StepLoss::sum(vec![("ner", main), ("layers", heads.mix(&aux) * p.msd.aux_weight)], batch.tokens))
        })?;
        params::save_trained_over(&tagger.vs, &ctx.output(super::LAYER_HEADS), |n| n.starts_with(PREFIX))?;
        Ok(())
    }
}
