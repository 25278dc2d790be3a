//! Length-bucketed batching: sentences are shuffled, cut into chunks, sorted by
//! length inside each chunk and cut into batches, and the batches are shuffled, so
//! a batch holds sentences of similar length (little padding) yet epochs differ.

use super::rng::Rng;

/// How batches are formed.
#[derive(Debug, Clone, Copy)]
pub struct BatchPlan {
    /// Sentences per batch.
    pub batch_size: usize,
    /// Optional cap on padded tokens per batch (batch rows x longest row).
    pub max_tokens: Option<usize>,
    /// Batches per sorting chunk: larger means less padding, less randomness.
    pub chunk_batches: usize,
}

/// Batches of sentence indices for one epoch; `lengths[i]` is sentence i's length.
pub fn epoch_batches(lengths: &[usize], plan: &BatchPlan, rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    rng.shuffle(&mut order);
    let chunk = (plan.batch_size * plan.chunk_batches).max(1);
    let mut batches = Vec::new();
    for piece in order.chunks_mut(chunk) {
        piece.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
        batches.extend(cut(piece, lengths, plan));
    }
    rng.shuffle(&mut batches);
    batches
}

/// Batches for inference: globally sorted by length (longest first), no shuffling.
pub fn sorted_batches(lengths: &[usize], plan: &BatchPlan) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    cut(&order, lengths, plan)
}

/// Cuts length-sorted (descending) indices into batches within both limits.
fn cut(sorted: &[usize], lengths: &[usize], plan: &BatchPlan) -> Vec<Vec<usize>> {
    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for &i in sorted {
        let longest = current.first().map_or(lengths[i], |&f| lengths[f]);
        let over_tokens = plan.max_tokens.is_some_and(|m| (current.len() + 1) * longest > m);
        if !current.is_empty() && (current.len() == plan.batch_size || over_tokens) {
            batches.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sentence_once_and_batches_respect_limits() {
        let lengths: Vec<usize> = (0..1000).map(|i| 5 + (i * 37) % 90).collect();
        let plan = BatchPlan { batch_size: 32, max_tokens: Some(1500), chunk_batches: 20 };
        let batches = epoch_batches(&lengths, &plan, &mut Rng::new(1));
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        for b in &batches {
            let longest = b.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(b.len() <= 32 && (b.len() * longest <= 1500 || b.len() == 1));
        }
        // Bucketing keeps padding small compared to random batches.
        let padded: usize = batches.iter().map(|b| b.len() * b.iter().map(|&i| lengths[i]).max().unwrap()).sum();
        let real: usize = lengths.iter().sum();
        assert!((padded as f64) < 1.15 * real as f64, "padding {padded} vs {real}");
        // Same seed, same batches; another seed, another order.
        assert_eq!(batches, epoch_batches(&lengths, &plan, &mut Rng::new(1)));
        assert_ne!(batches, epoch_batches(&lengths, &plan, &mut Rng::new(2)));
    }
}
