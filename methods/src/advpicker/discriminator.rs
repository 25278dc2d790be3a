//! AdvPicker's language discriminator (`discriminator.*`): a token-level MLP on the
//! encoder's last hidden layer, Linear(hidden -> width) - ReLU - Linear(width -> 1), whose
//! sigmoid is the probability that a token comes from the source language.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

pub(crate) struct Discriminator {
    dense: nn::Linear,
    out: nn::Linear,
}

impl Discriminator {
    /// Randomly initialised variables under `p` (`dense.*`, `out.*`).
    pub fn new(p: nn::Path, hidden: i64, width: i64) -> Self {
        Self {
            dense: nn::linear(&p / "dense", hidden, width, Default::default()),
            out: nn::linear(&p / "out", width, 1, Default::default()),
        }
    }

    /// Source-language logits [n] of token states [n, hidden].
    pub fn forward(&self, states: &Tensor) -> Tensor {
        self.out.forward(&self.dense.forward(states).relu()).squeeze_dim(-1)
    }
}

/// The states [n, hidden] of the real (non-padding) tokens of hidden states [batch, len,
/// hidden] under `attention_mask` [batch, len].
pub(crate) fn real_tokens(hidden: &Tensor, attention_mask: &Tensor) -> Tensor {
    let dim = hidden.size()[2];
    let keep = attention_mask.to_kind(Kind::Bool).reshape([-1]);
    hidden.reshape([-1, dim]).index(&[Some(keep.nonzero().squeeze_dim(-1))])
}

/// Mean binary cross-entropy of source logits against one label for every row: `source`
/// true means "these tokens are source-language".
pub(crate) fn language_bce(logits: &Tensor, source: bool) -> Tensor {
    let target = if source { logits.ones_like() } else { logits.zeros_like() };
    logits.binary_cross_entropy_with_logits::<Tensor>(&target, None, None, tch::Reduction::Mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_tokens_drop_padding_and_bce_prefers_the_right_side() {
        let hidden = Tensor::arange(2 * 3 * 2, (Kind::Float, tch::Device::Cpu)).view([2, 3, 2]);
        let mask = Tensor::from_slice2(&[[1i64, 1, 0], [1, 0, 0]]);
        let kept = real_tokens(&hidden, &mask);
        assert_eq!(Vec::<f32>::try_from(kept.flatten(0, -1)).unwrap(), [0.0, 1.0, 2.0, 3.0, 6.0, 7.0]);
        let confident_source = Tensor::from_slice(&[4.0f32, 5.0]);
        assert!(language_bce(&confident_source, true).double_value(&[]) < 0.05);
        assert!(language_bce(&confident_source, false).double_value(&[]) > 3.0);
    }
}
