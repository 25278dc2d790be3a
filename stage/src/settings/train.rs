//! One model's fine-tuning settings (`TrainConfig`), with the role (teacher, student,
//! adversarial teacher) that picks its defaults.

use serde::{Deserialize, Serialize};

use super::*;

/// Whose training a `TrainConfig` describes: it picks the defaults of the learning rate
/// (methods.md: teachers 5e-5, students 1e-4), the epochs and the warm-up.
pub trait ModelRole: Default + Clone + std::fmt::Debug {
    const LR: f64;
    const EPOCHS: usize = 3;
    const WARMUP: f64 = 0.1;
}

#[derive(Debug, Clone, Default)]
pub struct Teacher;
#[derive(Debug, Clone, Default)]
pub struct Student;

impl ModelRole for Teacher {
    const LR: f64 = 5e-5;
}
impl ModelRole for Student {
    const LR: f64 = 1e-4;
}

/// Fine-tuning settings of one model; `R` picks the learning-rate default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, bound = "")]
pub struct TrainConfig<R: ModelRole = Teacher> {
    pub epochs: usize,
    /// Sentences per batch.
    pub batch_size: usize,
    /// Cap on padded tokens per batch; 0 = none.
    pub max_tokens: usize,
    pub lr: f64,
    /// Fraction of steps of linear warm-up (then linear decay to 0).
    pub warmup: f64,
    pub weight_decay: f64,
    pub max_grad_norm: f64,
    /// Bottom encoder layers kept frozen.
    pub freeze_layers: usize,
    pub freeze_embeddings: bool,
    /// Dropout before the classification head.
    pub dropout: f64,
    /// The head's learning rate as a multiple of `lr`.
    pub head_lr_scale: f64,
    /// Checkpoint every this many steps (0 = at epoch ends only), for resuming.
    pub checkpoint_every: i64,
    /// Train on the first this many sentences of the split; 0 = all.
    pub max_sentences: usize,
    /// Dropout on the attention probabilities inside the encoder, as the recipe (HF BERT)
    /// has it. Off, attention takes libtorch's fused kernel: faster, other numbers.
    pub attention_dropout: bool,
    /// Dropout inside the frozen bottom (embeddings and `freeze_layers`), as the recipe has
    /// it. Off, the frozen bottom runs as at inference, without autograd: faster, other numbers.
    pub frozen_dropout: bool,
    /// `adamw` (decoupled weight decay, the TSL/UniTrans recipe) or `adam` (weight decay as
    /// an L2 term of the gradient, `torch.optim.Adam`: the MTMT paper's optimizer).
    pub optimizer: Optimizer,
    /// Mixed precision: the encoder's dense products in bfloat16 while training
    /// (attention, parameters, optimizer and everything else in f32), much as PyTorch's CPU
    /// autocast. Off, all in f32 as the recipe. On, faster where the CPU has bf16
    /// instructions (AVX512-BF16, AMX), other numbers.
    pub bf16: bool,
    /// The encoder's dropout masks drawn over all threads from a counter-based generator
    /// (`mtmt_kernels::dropout_mask`) instead of libtorch's serial one, on the CPU: the same
    /// dropout rates, other masks, so other numbers. Faster where dropout runs (the recipe
    /// draws a mask for every attention map and hidden state). The head's one small mask per
    /// batch stays libtorch's.
    pub parallel_dropout: bool,
    #[serde(skip)]
    role: std::marker::PhantomData<R>,
}

impl<R: ModelRole> TrainConfig<R> {
    /// The pretrained parameters kept fixed.
    pub fn freeze(&self) -> Freeze {
        Freeze { embeddings: self.freeze_embeddings, layers: self.freeze_layers }
    }

    /// How the encoder runs while training: where it drops out, in which precision.
    pub fn mode(&self) -> TrainMode {
        TrainMode::new(self.freeze(), self.attention_dropout, self.frozen_dropout, self.bf16, self.parallel_dropout)
    }

    /// The weight decay and the update it enters.
    pub fn decay(&self) -> Decay {
        Decay { rate: self.weight_decay, optimizer: self.optimizer }
    }

    /// The training schedule this config describes.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            epochs: self.epochs,
            batch: BatchPlan {
                batch_size: self.batch_size,
                max_tokens: (self.max_tokens > 0).then_some(self.max_tokens),
                chunk_batches: 50,
            },
            lr: self.lr,
            warmup_ratio: self.warmup,
            max_grad_norm: self.max_grad_norm,
            checkpoint_every: self.checkpoint_every,
        }
    }
}

impl<R: ModelRole> Default for TrainConfig<R> {
    fn default() -> Self {
        Self {
            epochs: R::EPOCHS,
            batch_size: 32,
            max_tokens: 0,
            lr: R::LR,
            warmup: R::WARMUP,
            weight_decay: 0.01,
            max_grad_norm: 1.0,
            freeze_layers: 3,
            freeze_embeddings: true,
            dropout: 0.1,
            head_lr_scale: 1.0,
            checkpoint_every: 200,
            max_sentences: 0,
            attention_dropout: true,
            frozen_dropout: true,
            optimizer: Optimizer::AdamW,
            bf16: false,
            parallel_dropout: false,
            role: std::marker::PhantomData,
        }
    }
}
