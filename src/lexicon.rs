//! UniTrans's word-by-word translation (methods.md): the vocabularies a lexicon is induced
//! over, CSLS retrieval (Lample et al. 2018: 2 cos(s, t) - r_T(s) - r_S(t), each r the
//! mean cosine to the k nearest neighbours on the other side), a user's dictionary in the
//! MUSE text format, and the translation rules: PER words and words without an entry are
//! copied, every other word is replaced by its lowercase entry with the source word's
//! casing, labels copied one to one.

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
pub fn csls(source: &Tensor, target: &Tensor, k: i64) -> Vec<(usize, f32)> {
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
pub fn read_muse(path: &Path) -> anyhow::Result<HashMap<String, String>> {
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
pub fn cased_like(word: &str, like: &str) -> String {
    let letters: Vec<char> = like.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() > 1 && letters.iter().all(|c| c.is_uppercase()) {
        word.to_uppercase()
    } else if like.chars().next().is_some_and(char::is_uppercase) {
        let mut chars = word.chars();
        chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
    } else {
        word.to_string()
    }
}

/// One source sentence word by word: a word tagged PER or without an entry in `lexicon`
/// (lowercase keys) is copied, any other (entity words included) replaced with the source
/// word's casing; the tags stay as they are. Returns the words and how many were replaced.
pub fn translate(words: &[String], tags: &[String], lexicon: &HashMap<String, String>) -> (Vec<String>, usize) {
    let mut replaced = 0;
    let out = words
        .iter()
        .zip(tags)
        .map(|(word, tag)| {
            let person = tag.strip_prefix("B-").or_else(|| tag.strip_prefix("I-")) == Some("PER");
            match lexicon.get(&word.to_lowercase()).filter(|_| !person) {
                Some(target) => {
                    replaced += 1;
                    cased_like(target, word)
                }
                None => word.clone(),
            }
        })
        .collect();
    (out, replaced)
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
        let (out, replaced) = translate(&words, &tags, &lexicon);
        assert_eq!(out, strings(&["John", "saw", "the", "Blanca", "Casa", "ONU"]));
        assert_eq!(replaced, 3);
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
