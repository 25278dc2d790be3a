//! UniTrans's word-by-word translation (methods.md): the vocabularies a lexicon is induced
//! over, CSLS retrieval (Lample et al. 2018: 2 cos(s, t) - r_T(s) - r_S(t), each r the
//! mean cosine to the k nearest neighbours on the other side), a user's dictionary in the
//! MUSE text format, and the translation rules: PER words and words without an entry are
//! copied, every other word is replaced by its lowercase entry with the source word's
//! casing (or, for a language like German, the entry's spelling in the target text),
//! labels copied one to one.

use std::collections::HashMap;
use std::path::Path;

use tch::{Kind, Tensor};

/// The `size` most frequent lowercase words of `sentences` that hold a letter, with their
/// counts, most frequent first (ties by the word).
pub fn vocabulary(sentences: &[Vec<String>], size: usize) -> Vec<(String, u32)> {
    let mut counts: HashMap<String, u32> = HashMap::new();
    for word in sentences.iter().flatten().filter(|w| w.chars().any(char::is_alphabetic)) {
        *counts.entry(word.to_lowercase()).or_default() += 1;
    }
    let mut words: Vec<(String, u32)> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    words.truncate(size);
    words
}

/// Rows of `x` scaled to unit length.
fn unit_rows(x: &Tensor) -> Tensor {
    x / x.norm_scalaropt_dim(2, [-1], true).clamp_min(1e-12)
}

/// The mean cosine of each row of `a` to its `k` nearest rows of `b` (both unit rows), in
/// chunks so that no |a| x |b| matrix is held at once.
fn neighbourhood(a: &Tensor, b: &Tensor, k: i64) -> Tensor {
    let k = k.min(b.size()[0]).max(1);
    let n = a.size()[0];
    let chunks: Vec<Tensor> = (0..n)
        .step_by(CHUNK as usize)
        .map(|start| {
            let rows = a.narrow(0, start, CHUNK.min(n - start));
            rows.matmul(&b.tr()).topk(k, -1, true, false).0.mean_dim(-1, false, Kind::Float)
        })
        .collect();
    Tensor::cat(&chunks, 0)
}

const CHUNK: i64 = 1024;

/// For every source vector (rows of `source`), the target row with the highest CSLS
/// score and that score, with neighbourhoods of `k`.
pub(crate) fn csls(source: &Tensor, target: &Tensor, k: i64) -> Vec<(usize, f32)> {
    let _guard = tch::no_grad_guard();
    let (s, t) = (unit_rows(&source.to_kind(Kind::Float)), unit_rows(&target.to_kind(Kind::Float)));
    let r_target = neighbourhood(&s, &t, k); // r_T(s): how close each source word is to the target side
    let r_source = neighbourhood(&t, &s, k); // r_S(t)
    let n = s.size()[0];
    let mut out = Vec::with_capacity(n as usize);
    for start in (0..n).step_by(CHUNK as usize) {
        let len = CHUNK.min(n - start);
        let cos = s.narrow(0, start, len).matmul(&t.tr());
        let scores = cos * 2.0 - r_target.narrow(0, start, len).unsqueeze(-1) - r_source.unsqueeze(0);
        let (best, index) = scores.max_dim(-1, false);
        let best = Vec::<f32>::try_from(best).expect("f32 scores");
        let index = Vec::<i64>::try_from(index).expect("i64 indices");
        out.extend(index.into_iter().map(|i| i as usize).zip(best));
    }
    out
}

/// A bilingual dictionary in the MUSE text format (`source target` per line, whitespace
/// separated); a source word's first entry wins, as in lookup by the first translation.
pub(crate) fn read_muse(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let text = fs_err::read_to_string(path)?;
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        anyhow::ensure!(
            fields.len() == 2,
            "{}:{}: expected `source target` (two words), found {} field(s)",
            path.display(),
            i + 1,
            fields.len()
        );
        out.entry(fields[0].to_lowercase()).or_insert_with(|| fields[1].to_string());
    }
    anyhow::ensure!(!out.is_empty(), "{}: the dictionary has no entry", path.display());
    Ok(out)
}

/// `word` with the casing pattern of `like`: all capitals, a capital first, or as is.
pub(crate) fn cased_like(word: &str, like: &str) -> String {
    if all_capitals(like) {
        word.to_uppercase()
    } else if like.chars().next().is_some_and(char::is_uppercase) {
        let mut chars = word.chars();
        chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
    } else {
        word.to_string()
    }
}

/// Each word's most frequent spelling in `sentences` where it is not a sentence's first
/// word (a capital there says nothing of the word), keyed by its lowercase form; a tie goes
/// to the spelling first in sort order.
pub fn spellings(sentences: &[Vec<String>]) -> HashMap<String, String> {
    let mut counts: HashMap<String, HashMap<&str, u32>> = HashMap::new();
    for word in sentences.iter().flat_map(|s| s.iter().skip(1)).filter(|w| w.chars().any(char::is_alphabetic)) {
        *counts.entry(word.to_lowercase()).or_default().entry(word.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(lower, forms)| {
            let best = forms.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0))).expect("a form");
            (lower, best.0.to_string())
        })
        .collect()
}

/// How a replaced word is cased.
pub enum Casing<'a> {
    /// Like the source word: all capitals, a capital first, or as the entry is.
    Source,
    /// The entry's spelling in the target text (by lowercase entry, from `spellings`),
    /// with a capital first where it starts the sentence and all capitals where the source
    /// word is; the source word's casing where the text never has the entry.
    Target(&'a HashMap<String, String>),
}

/// One source sentence word by word: a word tagged PER or without an entry in `lexicon`
/// (lowercase keys) is copied, any other (entity words included) replaced and cased as
/// `casing` says; the tags stay as they are. Returns the words and how many were replaced.
pub fn translate(
    words: &[String],
    tags: &[String],
    lexicon: &HashMap<String, String>,
    casing: &Casing,
) -> (Vec<String>, usize) {
    let mut replaced = 0;
    let out = words
        .iter()
        .zip(tags)
        .enumerate()
        .map(|(i, (word, tag))| {
            let person = tag.strip_prefix("B-").or_else(|| tag.strip_prefix("I-")) == Some("PER");
            let Some(target) = lexicon.get(&word.to_lowercase()).filter(|_| !person) else {
                return word.clone();
            };
            replaced += 1;
            let spelled = match casing {
                Casing::Target(spellings) => spellings.get(&target.to_lowercase()),
                Casing::Source => None,
            };
            match spelled {
                // Inside a sentence a source capital is English's, not the target's.
                Some(form) if i > 0 && !all_capitals(word) => form.clone(),
                Some(form) => cased_like(form, word),
                None => cased_like(target, word),
            }
        })
        .collect();
    (out, replaced)
}

/// Whether `word` has more than one letter, all of them capitals (`UN`, `SOCCER`).
fn all_capitals(word: &str) -> bool {
    let letters: Vec<char> = word.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() > 1 && letters.iter().all(|c| c.is_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn vocabulary_counts_lowercase_words_with_letters() {
        let sentences = vec![strings(&["The", "cat", ",", "the", "1999"]), strings(&["Cat", "the", "dog"])];
        assert_eq!(vocabulary(&sentences, 2), [("the".to_string(), 3), ("cat".to_string(), 2)]);
        assert_eq!(vocabulary(&sentences, 10).len(), 3);
    }

    #[test]
    fn csls_retrieves_the_planted_pairs_where_cosine_falls_for_a_hub() {
        // Source word i is planted next to target i. Target 0 is a hub (the nearest target
        // of sources 0 and 2 by cosine); CSLS discounts it and finds source 2's pair.
        let source = Tensor::from_slice2(&[[-0.1f32, 0.6, 0.8], [-0.7, 0.8, -1.0], [-0.2, -0.1, 0.6]]);
        let target = Tensor::from_slice2(&[[0.8f32, 0.9, 0.3], [0.8, 0.6, -0.8], [0.7, -0.4, 0.0]]);
        let got: Vec<usize> = csls(&source, &target, 2).into_iter().map(|(i, _)| i).collect();
        assert_eq!(got, [0, 1, 2]);
        let cosine = unit_rows(&source).matmul(&unit_rows(&target).tr()).argmax(-1, false);
        assert_eq!(Vec::<i64>::try_from(cosine).unwrap(), [0, 1, 0]);
    }

    #[test]
    fn translation_copies_persons_and_unknown_words_and_keeps_casing_and_tags() {
        let lexicon: HashMap<String, String> =
            [("house", "casa"), ("white", "blanca"), ("john", "juan"), ("un", "onu")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        let words = strings(&["John", "saw", "the", "White", "House", "UN"]);
        let tags = strings(&["B-PER", "O", "O", "B-LOC", "I-LOC", "B-ORG"]);
        let (out, replaced) = translate(&words, &tags, &lexicon, &Casing::Source);
        assert_eq!(out, strings(&["John", "saw", "the", "Blanca", "Casa", "ONU"]));
        assert_eq!(replaced, 3);
    }

    #[test]
    fn target_casing_spells_words_as_the_target_text_does_away_from_sentence_starts() {
        // German: nouns capitalized inside sentences; `Der` only starts sentences.
        let text = vec![
            strings(&["Der", "Mann", "sah", "das", "Haus", "."]),
            strings(&["Das", "Haus", "ist", "weiss", "und", "das", "Weiss", "auch"]),
            strings(&["Weiss", "ist", "das", "haus", "im", "Haus"]),
        ];
        let spelled = spellings(&text);
        assert_eq!(spelled["haus"], "Haus", "3 of 4 inside sentences");
        assert_eq!(spelled["das"], "das");
        assert_eq!(spelled["weiss"], "Weiss", "a tie goes to the first in sort order");
        assert!(!spelled.contains_key("der") && !spelled.contains_key("."), "{spelled:?}");

        let lexicon: HashMap<String, String> =
            [("the", "der"), ("house", "haus"), ("man", "mann"), ("saw", "sah"), ("un", "uno")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        let words = strings(&["The", "man", "saw", "the", "House", "UN"]);
        let tags = strings(&["O", "O", "O", "O", "B-LOC", "B-ORG"]);
        let (out, replaced) = translate(&words, &tags, &lexicon, &Casing::Target(&spelled));
        // `der` never occurs inside a sentence: the source casing; `uno` neither.
        assert_eq!(out, strings(&["Der", "Mann", "sah", "der", "Haus", "UNO"]));
        assert_eq!(replaced, 6);
        let (source_cased, _) = translate(&words, &tags, &lexicon, &Casing::Source);
        assert_eq!(source_cased, strings(&["Der", "mann", "sah", "der", "Haus", "UNO"]));
    }

    #[test]
    fn a_bad_dictionary_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("en-es.txt");
        std::fs::write(&path, "house casa\nhouse hogar\n\nthree words here\n").unwrap();
        let err = read_muse(&path).unwrap_err().to_string();
        assert!(err.ends_with("en-es.txt:4: expected `source target` (two words), found 3 field(s)"), "{err}");
        std::fs::write(&path, "House casa\nhouse hogar\n").unwrap();
        assert_eq!(read_muse(&path).unwrap()["house"], "casa");
    }
}
