//! Entity-level precision, recall and F1 with conlleval semantics: a chunk starts at
//! `B-X`, or at `I-X` after `O`, after another type, or at the sentence start; an
//! entity counts as found only if its type and both boundaries match.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// (type, first word, last word) of each chunk in a tag sequence.
pub fn chunks(tags: &[&str]) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    let mut open: Option<(String, usize)> = None;
    for (i, tag) in tags.iter().enumerate() {
        let (prefix, ty) = tag.split_once('-').unwrap_or(("O", ""));
        let continues = prefix == "I" && open.as_ref().is_some_and(|(t, _)| t == ty);
        if !continues {
            if let Some((t, start)) = open.take() {
                out.push((t, start, i - 1));
            }
            if prefix == "B" || prefix == "I" {
                open = Some((ty.to_string(), i));
            }
        }
    }
    if let Some((t, start)) = open {
        out.push((t, start, tags.len() - 1));
    }
    out
}

/// True positives, predicted and gold chunk counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub correct: usize,
    pub predicted: usize,
    pub gold: usize,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.predicted)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.correct, self.gold)
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Accumulates counts over sentences, overall and per entity type.
#[derive(Debug, Clone, Default)]
pub struct Scorer {
    pub overall: Counts,
    pub per_type: BTreeMap<String, Counts>,
}

impl Scorer {
    /// Adds one sentence. `predicted` may be shorter than `gold` (words lost to
    /// truncation): the missing words count as predicted `O`.
    pub fn add(&mut self, gold: &[&str], predicted: &[&str]) {
        let mut padded: Vec<&str> = predicted.to_vec();
        padded.resize(gold.len(), "O");
        let (g, p) = (chunks(gold), chunks(&padded));
        for c in &g {
            self.overall.gold += 1;
            self.per_type.entry(c.0.clone()).or_default().gold += 1;
            if p.contains(c) {
                self.overall.correct += 1;
                self.per_type.entry(c.0.clone()).or_default().correct += 1;
            }
        }
        for c in &p {
            self.overall.predicted += 1;
            self.per_type.entry(c.0.clone()).or_default().predicted += 1;
        }
    }

    /// P, R, F1 (x100) overall and per type.
    pub fn report(&self) -> Scores {
        let s = |c: &Counts| TypeScores {
            precision: 100.0 * c.precision(),
            recall: 100.0 * c.recall(),
            f1: 100.0 * c.f1(),
            counts: *c,
        };
        Scores { overall: s(&self.overall), per_type: self.per_type.iter().map(|(t, c)| (t.clone(), s(c))).collect() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TypeScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub overall: TypeScores,
    pub per_type: BTreeMap<String, TypeScores>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_boundaries_follow_conlleval() {
        // I- after O starts an entity; a type change splits; an entity may end the sentence.
        let tags = ["O", "I-PER", "I-PER", "I-LOC", "B-LOC", "I-LOC"];
        assert_eq!(chunks(&tags), vec![("PER".into(), 1, 2), ("LOC".into(), 3, 3), ("LOC".into(), 4, 5)]);
        assert_eq!(chunks(&["B-ORG", "I-ORG"]), vec![("ORG".into(), 0, 1)]);
        assert!(chunks(&["O", "O"]).is_empty());
    }

    #[test]
    fn scores_on_hand_made_cases() {
        let mut s = Scorer::default();
        // Exact match, a wrong boundary, a wrong type.
        s.add(&["B-PER", "I-PER", "O", "B-LOC"], &["B-PER", "I-PER", "O", "B-LOC"]);
        s.add(&["B-ORG", "I-ORG", "O"], &["B-ORG", "O", "O"]);
        s.add(&["B-LOC"], &["B-PER"]);
        assert_eq!(s.overall, Counts { correct: 2, predicted: 4, gold: 4 });
        let r = s.report();
        assert!((r.overall.f1 - 50.0).abs() < 1e-9);
        assert_eq!(r.per_type["PER"].counts, Counts { correct: 1, predicted: 2, gold: 1 });
    }

    #[test]
    fn truncated_words_are_missed_entities() {
        let mut s = Scorer::default();
        // The last two words were truncated away: the LOC there is missed.
        s.add(&["B-PER", "O", "B-LOC", "I-LOC"], &["B-PER", "O"]);
        assert_eq!(s.overall, Counts { correct: 1, predicted: 1, gold: 2 });
    }
}

/// Token counts and scores of a CoNLL file whose last two columns are gold and predicted tags.
#[derive(Debug)]
pub struct FileScores {
    pub tokens: usize,
    pub(crate) correct_tags: usize,
    pub scores: Scores,
}

/// Scores a file in conlleval's input format (`-DOCSTART-` lines skipped, blank lines
/// end sentences). A line with fewer than 3 fields is an error naming its line.
/// A file that cannot be read is an I/O error naming it; bad content (invalid UTF-8, too
/// few fields) an `InputError` naming its line.
pub fn score_file(path: &std::path::Path) -> anyhow::Result<FileScores> {
    let err = |line: usize, message: String| crate::error::InputError { path: path.to_path_buf(), line, message };
    let bytes = fs_err::read(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        err(line, "invalid UTF-8".into())
    })?;
    let mut scorer = Scorer::default();
    let (mut tokens, mut correct_tags) = (0, 0);
    let (mut gold, mut predicted): (Vec<String>, Vec<String>) = (vec![], vec![]);
    let mut flush = |gold: &mut Vec<String>, predicted: &mut Vec<String>| {
        let g: Vec<&str> = gold.iter().map(String::as_str).collect();
        let p: Vec<&str> = predicted.iter().map(String::as_str).collect();
        scorer.add(&g, &p);
        gold.clear();
        predicted.clear();
    };
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || fields[0] == "-DOCSTART-" {
            flush(&mut gold, &mut predicted);
            continue;
        }
        if fields.len() < 3 {
            return Err(err(
                i + 1,
                format!("expected `TOKEN ... GOLD PREDICTED` (at least 3 fields), found {}", fields.len()),
            )
            .into());
        }
        let (g, p) = (fields[fields.len() - 2], fields[fields.len() - 1]);
        tokens += 1;
        correct_tags += usize::from(g == p);
        gold.push(g.to_string());
        predicted.push(p.to_string());
    }
    flush(&mut gold, &mut predicted);
    Ok(FileScores { tokens, correct_tags, scores: scorer.report() })
}

impl FileScores {
    /// conlleval's summary lines.
    pub fn render(&self) -> String {
        let o = &self.scores.overall;
        let mut out = format!(
            "processed {} tokens with {} phrases; found: {} phrases; correct: {}.\n",
            self.tokens, o.counts.gold, o.counts.predicted, o.counts.correct
        );
        out.push_str(&format!(
            "accuracy: {:6.2}%; precision: {:6.2}%; recall: {:6.2}%; FB1: {:6.2}\n",
            100.0 * self.correct_tags as f64 / self.tokens.max(1) as f64,
            o.precision,
            o.recall,
            o.f1
        ));
        for (ty, s) in &self.scores.per_type {
            out.push_str(&format!(
                "{ty:>17}: precision: {:6.2}%; recall: {:6.2}%; FB1: {:6.2}  {}\n",
                s.precision, s.recall, s.f1, s.counts.predicted
            ));
        }
        out
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn file_errors_name_the_file_and_the_real_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.txt");
        std::fs::write(&path, b"Paris B-LOC B-LOC\n\nM\xfcnchen B-LOC O\n").unwrap();
        let msg = format!("{:#}", score_file(&path).unwrap_err());
        assert_eq!(msg, format!("{}:3: invalid UTF-8", path.display()));
        let missing = dir.path().join("missing.txt");
        let msg = format!("{:#}", score_file(&missing).unwrap_err());
        assert!(msg.contains("missing.txt") && !msg.contains(":0:"), "{msg}");
        std::fs::write(&path, "Paris B-LOC B-LOC\nMadrid B-LOC O\n").unwrap();
        let scores = score_file(&path).unwrap();
        assert_eq!((scores.tokens, scores.correct_tags), (2, 1));
    }
}
