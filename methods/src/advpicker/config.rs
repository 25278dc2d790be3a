//! AdvPicker's sections of the settings: `advpicker` (its struct, defaults and range
//! checks) and the role that gives `teacher_adv` its training defaults.

use serde::{Deserialize, Serialize};

use mtmt_stage::settings::ModelRole;

/// AdvPicker's adversarial teacher: its NER updates as released (lr 6e-5, 10 epochs, 5%
/// warm-up).
#[derive(Debug, Clone, Default)]
pub struct Adversarial;

impl ModelRole for Adversarial {
    const LR: f64 = 6e-5;
    const EPOCHS: usize = 10;
    const WARMUP: f64 = 0.05;
}

/// AdvPicker (methods.md): per source batch an NER update, a discriminator update and a
/// generator update of the encoder with flipped labels; then the target sentences whose
/// discriminator probability is closest to 0.5 are kept for the student.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdvPickerConfig {
    /// The discriminator's learning rate (released: 5e-3).
    pub(crate) discriminator_lr: f64,
    /// The generator (encoder, flipped labels) learning rate (released: 6e-7).
    pub(crate) generator_lr: f64,
    /// The discriminator's hidden width: Linear(hidden -> this) - ReLU - Linear(-> 1).
    pub(crate) discriminator_hidden: i64,
    /// Target sentences the adversarial teacher sees, as a share of the source sentences
    /// it trains on (released: 1/3), drawn at random from the target train text; 0 = all.
    pub(crate) target_ratio: f64,
    /// Share of the target train sentences kept for the student: those whose mean
    /// discriminator probability is closest to 0.5 (released: 0.8).
    pub keep: f64,
    /// Seed teachers: with N > 1, adversarial teachers are trained with seeds seed ..
    /// seed + N - 1 (each the artifact that seed's own run trains) and each target sentence
    /// takes the soft labels of the one most confident on it (released: 5); 1 = the run's.
    pub teachers: u64,
}

impl Default for AdvPickerConfig {
    fn default() -> Self {
        Self {
            discriminator_lr: 5e-3,
            generator_lr: 6e-7,
            discriminator_hidden: 500,
            target_ratio: 1.0 / 3.0,
            keep: 0.8,
            teachers: 1,
        }
    }
}

impl AdvPickerConfig {
    /// The range checks of this section (`Config::range_errors`).
    pub fn range_errors(&self, check: &mut impl FnMut(bool, &str, String)) {
        let a = self;
        for (key, lr) in
            [("advpicker.discriminator_lr", a.discriminator_lr), ("advpicker.generator_lr", a.generator_lr)]
        {
            check(lr > 0.0 && lr.is_finite(), key, format!("is {lr}: must be a positive number"));
        }
        check(a.discriminator_hidden >= 1, "advpicker.discriminator_hidden", "must be at least 1".into());
        check(
            a.target_ratio >= 0.0 && a.target_ratio.is_finite(),
            "advpicker.target_ratio",
            format!("is {}: must be 0 (all) or positive", a.target_ratio),
        );
        check(a.keep > 0.0 && a.keep <= 1.0, "advpicker.keep", format!("is {}: must lie in (0, 1]", a.keep));
        check(a.teachers >= 1, "advpicker.teachers", "must be at least 1".into());
    }
}
