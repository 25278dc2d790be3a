//! Decoding per-word label distributions into BIO tags. Viterbi uses hard
//! constraints only (no learned transitions): `I-X` may not follow `O` or a tag of
//! another type, and, with the start constraint, may not open a sentence.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decoder {
    #[default]
    Viterbi,
    Argmax,
}

/// `I-X` with its type, for each label (`None` for `O` and `B-`).
fn inside_type(label: &str) -> Option<&str> {
    label.strip_prefix("I-")
}

/// Whether `next` may follow `prev` (`None` = sentence start, when constrained).
fn allowed(prev: Option<&str>, next: &str) -> bool {
    match inside_type(next) {
        None => true,
        Some(ty) => prev.is_some_and(|p| p.get(2..) == Some(ty) && p != "O"),
    }
}

/// Label indices for a sentence. `probs` is row-major [words][labels].
pub fn decode(probs: &[f32], labels: &[String], decoder: Decoder, start_constraint: bool) -> Vec<usize> {
    let n = labels.len();
    let words = probs.len() / n;
    let rows = probs.chunks_exact(n);
    match decoder {
        Decoder::Argmax => {
            rows.map(|r| r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)).collect()
        }
        Decoder::Viterbi => {
            if words == 0 {
                return vec![];
            }
            let logp: Vec<f64> = probs.iter().map(|&p| (p.max(1e-12) as f64).ln()).collect();
            let mut score: Vec<f64> = (0..n)
                .map(|j| if !start_constraint || allowed(None, &labels[j]) { logp[j] } else { f64::NEG_INFINITY })
                .collect();
            let mut back = vec![vec![0usize; n]; words];
            for w in 1..words {
                let mut next = vec![f64::NEG_INFINITY; n];
                for j in 0..n {
                    for i in 0..n {
                        if allowed(Some(&labels[i]), &labels[j]) && score[i] > next[j] {
                            next[j] = score[i];
                            back[w][j] = i;
                        }
                    }
                    next[j] += logp[w * n + j];
                }
                score = next;
            }
            let mut best = (0..n).max_by(|&a, &b| score[a].total_cmp(&score[b])).unwrap_or(0);
            let mut path = vec![best; words];
            for w in (1..words).rev() {
                best = back[w][best];
                path[w - 1] = best;
            }
            path
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"].map(String::from).to_vec()
    }

    fn row(best: usize, second: usize) -> Vec<f32> {
        let mut r = vec![0.05f32; 5];
        r[best] = 0.6;
        r[second] = 0.3;
        r
    }

    #[test]
    fn viterbi_never_puts_i_after_o_or_another_type() {
        // Argmax says O I-PER I-LOC: both I- tags are illegal.
        let probs: Vec<f32> = [row(0, 1), row(2, 1), row(4, 2)].concat();
        assert_eq!(decode(&probs, &labels(), Decoder::Argmax, true), vec![0, 2, 4]);
        let tags = decode(&probs, &labels(), Decoder::Viterbi, true);
        assert_eq!(tags, vec![0, 1, 2]);
    }

    #[test]
    fn start_constraint_is_optional() {
        let probs: Vec<f32> = [row(2, 1), row(2, 0)].concat();
        assert_eq!(decode(&probs, &labels(), Decoder::Viterbi, true), vec![1, 2]);
        assert_eq!(decode(&probs, &labels(), Decoder::Viterbi, false), vec![2, 2]);
        assert!(decode(&[], &labels(), Decoder::Viterbi, true).is_empty());
    }
}
