//! Turning label distributions into tags (constrained Viterbi or argmax) and scoring
//! tags against gold entities with conlleval semantics.

pub mod conlleval;
pub mod decode;

use tch::{Kind, Tensor};

/// How models are selected; printed with every result.
pub const MODEL_SELECTION: &str = "last checkpoint (no target-language labels used for selection)";

use crate::train::data::EncodedSet;
use conlleval::{Scorer, Scores};
use decode::{decode, Decoder};

/// Decodes each sentence's [words, labels] probabilities into tag strings.
pub fn decode_all(probs: &[Tensor], labels: &[String], decoder: Decoder, start_constraint: bool) -> Vec<Vec<String>> {
    probs
        .iter()
        .map(|p| {
            let flat: Vec<f32> = Vec::<f32>::try_from(p.to_kind(Kind::Float).flatten(0, -1)).expect("float tensor");
            decode(&flat, labels, decoder, start_constraint).into_iter().map(|i| labels[i].clone()).collect()
        })
        .collect()
}

/// Entity scores of predicted tags against a labeled set's gold tags (words lost to
/// truncation count as predicted `O`).
pub fn score(predicted: &[Vec<String>], set: &EncodedSet, labels: &[String]) -> anyhow::Result<Scores> {
    let gold = set.labels.as_ref().ok_or_else(|| anyhow::anyhow!("scoring needs a labeled set"))?;
    let mut scorer = Scorer::default();
    for (pred, gold) in predicted.iter().zip(gold) {
        let gold: Vec<&str> = gold.iter().map(|&i| labels[i as usize].as_str()).collect();
        let pred: Vec<&str> = pred.iter().map(String::as_str).collect();
        scorer.add(&gold, &pred);
    }
    Ok(scorer.report())
}
