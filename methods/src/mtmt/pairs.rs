//! Sampling word pairs among a group of sentences: two words from two different
//! sentences. Balanced sampling draws anchors class by class (so entity words are not
//! drowned by `O` words) and partners of the same or another class at a set ratio;
//! uniform sampling ignores classes. Classes come from gold source tags for the
//! similarity teacher, and from the recognizer teacher's predictions on target text,
//! never from gold target tags.

use std::collections::BTreeMap;

use super::SameClass;
use mtmt_ner::train::data::EncodedSet;
use mtmt_ner::train::rng::Rng;

/// A word's class for pair targets: its entity type (label id 2k-1 or 2k -> k, `O` -> 0)
/// or its full label id.
pub(crate) fn class_of(label_id: u32, same: SameClass) -> u32 {
    match same {
        SameClass::Type => label_id.div_ceil(2),
        SameClass::Label => label_id,
    }
}

/// Gold classes of the kept words of the batch's sentences (a labeled set: the source's).
pub(crate) fn batch_classes(set: &EncodedSet, idx: &[usize], same: SameClass) -> Vec<Vec<u32>> {
    let labels = set.labels.as_ref().expect("source sets are labeled");
    idx.iter().map(|&i| labels[i][..set.word_starts[i].len()].iter().map(|&l| class_of(l, same)).collect()).collect()
}

/// A word of the group: the sentence's row in the group, and the word's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct WordRef {
    pub row: usize,
    pub word: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pair {
    pub a: WordRef,
    pub b: WordRef,
    /// Whether the two words' classes match (meaningful for balanced sampling).
    pub same: bool,
}

/// Settings of balanced sampling.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Balance {
    /// Share of pairs whose partner has the anchor's class.
    pub positive_ratio: f64,
    /// Share of anchors drawn from class 0 (`O`).
    pub(crate) o_anchor_ratio: f64,
}

/// Class 0 is `O`; `classes[row][word]` is each word's class.
pub fn balanced(classes: &[Vec<u32>], n: usize, balance: Balance, rng: &mut Rng) -> Vec<Pair> {
    let mut pools: BTreeMap<u32, Vec<WordRef>> = BTreeMap::new();
    for (row, words) in classes.iter().enumerate() {
        for (word, &class) in words.iter().enumerate() {
            pools.entry(class).or_default().push(WordRef { row, word });
        }
    }
    let entity_classes: Vec<u32> = pools.keys().copied().filter(|&c| c != 0).collect();
    let all_classes: Vec<u32> = pools.keys().copied().collect();
    let mut pairs = Vec::with_capacity(n);
    // Bounded effort: a group whose words all sit in one sentence yields no pair.
    for _ in 0..n * 20 {
        if pairs.len() == n || all_classes.is_empty() {
            break;
        }
        // Class keys are sorted, so `all_classes[0]` is `O` whenever `O` words exist.
        let anchor_class =
            if entity_classes.is_empty() || (pools.contains_key(&0) && rng.unit() < balance.o_anchor_ratio) {
                all_classes[0]
            } else {
                entity_classes[rng.below(entity_classes.len())]
            };
        let anchor_pool = &pools[&anchor_class];
        let a = anchor_pool[rng.below(anchor_pool.len())];
        let positive = rng.unit() < balance.positive_ratio;
        let partner_class = if positive {
            anchor_class
        } else {
            let others: Vec<u32> = all_classes.iter().copied().filter(|&c| c != anchor_class).collect();
            if others.is_empty() {
                continue;
            }
            others[rng.below(others.len())]
        };
        let candidates: Vec<WordRef> = pools[&partner_class].iter().copied().filter(|w| w.row != a.row).collect();
        if candidates.is_empty() {
            continue;
        }
        let b = candidates[rng.below(candidates.len())];
        pairs.push(Pair { a, b, same: positive });
    }
    pairs
}

/// Pairs of words drawn uniformly from two different sentences of the group.
pub fn uniform(n_words: &[usize], n: usize, rng: &mut Rng) -> Vec<Pair> {
    let words: Vec<WordRef> =
        n_words.iter().enumerate().flat_map(|(row, &k)| (0..k).map(move |word| WordRef { row, word })).collect();
    let mut pairs = Vec::with_capacity(n);
    if n_words.iter().filter(|&&k| k > 0).count() < 2 {
        return pairs;
    }
    while pairs.len() < n {
        let (a, b) = (words[rng.below(words.len())], words[rng.below(words.len())]);
        if a.row != b.row {
            pairs.push(Pair { a, b, same: false });
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_pairs_cross_sentences_hit_the_ratios_and_favour_entities() {
        // Mostly O words, a few entities of classes 1 and 2.
        let classes: Vec<Vec<u32>> =
            (0..32).map(|r| (0..20).map(|w| if w == r % 20 { 1 + (r % 2) as u32 } else { 0 }).collect()).collect();
        let balance = Balance { positive_ratio: 0.5, o_anchor_ratio: 0.2 };
        let pairs = balanced(&classes, 4000, balance, &mut Rng::new(3));
        assert_eq!(pairs.len(), 4000);
        assert!(pairs.iter().all(|p| p.a.row != p.b.row));
        let class = |w: WordRef| classes[w.row][w.word];
        assert!(pairs.iter().all(|p| (class(p.a) == class(p.b)) == p.same));
        let positives = pairs.iter().filter(|p| p.same).count() as f64 / 4000.0;
        assert!((positives - 0.5).abs() < 0.05, "positive share {positives}");
        let entity_anchors = pairs.iter().filter(|p| class(p.a) != 0).count() as f64 / 4000.0;
        assert!((entity_anchors - 0.8).abs() < 0.05, "entity anchor share {entity_anchors}");
    }

    #[test]
    fn degenerate_groups_give_no_pairs() {
        let mut rng = Rng::new(1);
        assert!(
            balanced(&[vec![0, 1, 2]], 10, Balance { positive_ratio: 0.5, o_anchor_ratio: 0.2 }, &mut rng).is_empty()
        );
        assert!(uniform(&[5, 0], 10, &mut rng).is_empty());
        let pairs = uniform(&[3, 4, 5], 50, &mut rng);
        assert!(pairs.len() == 50 && pairs.iter().all(|p| p.a.row != p.b.row));
    }
}
