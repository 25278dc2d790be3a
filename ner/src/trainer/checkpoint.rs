//! Resumable training checkpoints: model variables and optimizer state in a
//! safetensors file named by its step, then the progress JSON naming that step (the
//! commit point). A kill at any moment leaves the last committed pair intact.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use super::Optimizers;

const PROGRESS: &str = "checkpoint.json";

fn tensors_file(step: i64) -> String {
    format!("checkpoint-{step:09}.safetensors")
}

/// A training stage's trainable parameters after epoch `epoch` (1-based) of several, for
/// model selection downstream (`eval.selection`); the last epoch's is the stage's
/// `model.safetensors`.
pub fn epoch_model(epoch: usize) -> String {
    format!("model-epoch{epoch}.safetensors")
}

/// Where training stands; everything else (batch order, dropout masks) is derived
/// from the seed and the step, so this is all a resume needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub step: i64,
    /// Mean loss of each completed epoch.
    pub epoch_losses: Vec<f64>,
    /// Running sum and count of the current epoch's losses.
    pub(crate) loss_sum: f64,
    pub(crate) loss_count: i64,
    /// Real subword tokens trained on so far.
    pub tokens: u64,
    /// Every step so far (a resumed run keeps the steps before it).
    #[serde(default)]
    pub curve: Vec<CurvePoint>,
    /// The names of the loss's terms (`StepLoss::terms`; empty for a loss of one term).
    #[serde(default)]
    pub loss_terms: Vec<String>,
    /// Source-dev entity F1 after each completed epoch, where the stage scores one (NaN for
    /// an epoch a checkpoint from before these scores did not record).
    #[serde(default)]
    pub epoch_dev_f1: Vec<f64>,
    /// The last of those scores in full (this process's).
    #[serde(skip)]
    pub last_dev: Option<crate::eval::conlleval::Scores>,
    /// Where this process's steps spent their time (not saved: a resumed run times its own).
    #[serde(skip)]
    pub times: StepTimes,
}

/// One training step of the curve a training stage writes (`curve.parquet`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub step: i64,
    pub epoch: usize,
    pub loss: f64,
    /// The base learning rate of the step (after warm-up and decay).
    pub lr: f64,
    /// Real subword tokens of the batch per second of the step.
    pub tokens_per_s: f64,
    /// The value of each of `TrainState::loss_terms` (empty for a step checkpointed before
    /// terms were recorded).
    #[serde(default)]
    pub terms: Vec<f64>,
}

/// Seconds spent in each part of the training steps a process took. On the CPU every op
/// has finished when it returns, so wall clocks around each part split the step; on a GPU
/// the parts blur (kernels run ahead) and only the total is exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StepTimes {
    /// The method's step function: building the batch, forward and loss.
    pub(crate) batch_forward_loss: f64,
    pub backward: f64,
    pub(crate) clip: f64,
    pub optimizer: f64,
    /// Reading the loss back and saving checkpoints.
    pub bookkeeping: f64,
    pub steps: u64,
}

impl StepTimes {
    /// Each part's seconds, named for people, in step order.
    pub fn parts(&self) -> [(&'static str, f64); 5] {
        [
            ("batch + forward + loss", self.batch_forward_loss),
            ("backward", self.backward),
            ("gradient clipping", self.clip),
            ("AdamW step", self.optimizer),
            ("loss readback + checkpoints", self.bookkeeping),
        ]
    }

    /// Seconds in all the parts.
    pub fn total(&self) -> f64 {
        self.parts().iter().map(|(_, s)| s).sum()
    }
}

pub struct CheckpointDir {
    dir: PathBuf,
}

impl CheckpointDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn save(&self, vs: &nn::VarStore, opt: &impl Optimizers, progress: &TrainState) -> anyhow::Result<()> {
        fs_err::create_dir_all(&self.dir)?;
        // Frozen variables never change, so only trainable ones are saved.
        let mut named: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .map(|(name, t)| (format!("model.{name}"), t))
            .collect();
        named.extend(opt.state().into_iter().map(|(name, t)| (format!("optim.{name}"), t)));
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let previous = self.saved_step();
        let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let tensors = self.dir.join(tensors_file(progress.step));
        crate::atomic::write_with(&tensors, |tmp| {
            Tensor::write_safetensors(&refs, tmp).with_context(|| format!("writing {}", tensors.display()))
        })?;
        let json = serde_json::to_vec_pretty(progress)?;
        crate::atomic::write_file(&self.dir.join(PROGRESS), &json)?;
        if let Some(old) = previous.filter(|&s| s != progress.step) {
            let _ = fs_err::remove_file(self.dir.join(tensors_file(old)));
        }
        Ok(())
    }

    /// Keeps the trainable parameters after epoch `epoch` (1-based), beside the checkpoints
    /// and never replaced by them, in the form `params::save_trained` writes.
    pub(crate) fn save_epoch(&self, vs: &nn::VarStore, epoch: usize) -> anyhow::Result<()> {
        fs_err::create_dir_all(&self.dir)?;
        crate::model::params::save_trained(vs, &self.dir.join(epoch_model(epoch)))
    }

    /// The epochs `save_epoch` kept (1-based), with their files, in order.
    pub fn saved_epochs(&self) -> Vec<(usize, PathBuf)> {
        (1..).map(|e| (e, self.dir.join(epoch_model(e)))).take_while(|(_, p)| p.exists()).collect()
    }

    /// The step of the saved checkpoint, if any.
    pub fn saved_step(&self) -> Option<i64> {
        let text = std::fs::read(self.dir.join(PROGRESS)).ok()?;
        serde_json::from_slice::<TrainState>(&text).ok().map(|p| p.step)
    }

    /// Restores the last checkpoint into `vs` and `opt`, if there is one.
    pub fn load(&self, vs: &nn::VarStore, opt: &mut impl Optimizers) -> anyhow::Result<Option<TrainState>> {
        let progress_path = self.dir.join(PROGRESS);
        if !progress_path.exists() {
            return Ok(None);
        }
        let progress: TrainState = serde_json::from_slice(&fs_err::read(&progress_path)?)
            .with_context(|| format!("parsing {}", progress_path.display()))?;
        let file = self.dir.join(tensors_file(progress.step));
        let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(&file)
            .with_context(|| format!("reading {}", file.display()))?
            .into_iter()
            .collect();
        {
            let _guard = tch::no_grad_guard();
            for (name, mut var) in vs.variables().into_iter().filter(|(_, t)| t.requires_grad()) {
                let src = tensors
                    .get(&format!("model.{name}"))
                    .with_context(|| format!("{}: no tensor model.{name}", file.display()))?;
                var.copy_(src);
            }
        }
        let optim: HashMap<String, Tensor> =
            tensors.into_iter().filter_map(|(k, t)| k.strip_prefix("optim.").map(|k| (k.to_string(), t))).collect();
        opt.load_state(&optim)?;
        Ok(Some(progress))
    }
}
