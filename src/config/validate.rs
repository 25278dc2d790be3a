//! Path resolution and the range check of every value, run once when a config is loaded
//! (an error names the key; `load` adds where its value came from).

use std::path::{Path, PathBuf};

use super::*;

impl Config {
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for corpus in [&mut self.source, &mut self.target].into_iter().chain(&mut self.sources) {
            join(&mut corpus.train);
            corpus.dev.as_mut().map(join);
            corpus.test.as_mut().map(join);
        }
        join(&mut self.encoder.tokenizer);
        join(&mut self.encoder.weights);
        join(&mut self.encoder.config);
        self.resolve_methods_paths(base);
    }

    /// Every value outside its range, as (key, what is wrong): checked once, when the
    /// config is resolved, so no stage meets a value it cannot use.
    pub(super) fn range_errors(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, key: &str, message: String| {
            if !ok {
                errors.push((key.to_string(), message));
            }
        };
        check(!self.labels.is_empty(), "labels", "must name at least one entity type".into());
        for (i, label) in self.labels.iter().enumerate() {
            check(
                !label.is_empty() && label != "O" && !label.contains(char::is_whitespace),
                "labels",
                format!("holds `{label}`: an entity type is a non-empty word other than `O`"),
            );
            check(!self.labels[..i].contains(label), "labels", format!("names `{label}` twice"));
        }
        let sections = [("source".to_string(), &self.source), ("target".to_string(), &self.target)].into_iter();
        let sources = self.sources.iter().enumerate().map(|(i, c)| (format!("sources[{i}]"), c));
        for (section, corpus) in sections.chain(sources) {
            corpus_range_errors(&section, corpus, &self.labels, &mut check);
        }
        let max_len = self.tokenize.max_len;
        check(max_len >= 3, "tokenize.max_len", format!("is {max_len}: must be at least 3 (CLS, a subword, SEP)"));
        // The encoder's depth bounds `freeze_layers`; an unreadable config.json is reported
        // by the stages that hash and read it.
        let encoder: Option<Value> =
            fs_err::read_to_string(&self.encoder.config).ok().and_then(|text| serde_json::from_str(&text).ok());
        let encoder_size = |field: &str| encoder.as_ref().and_then(|c| c.get(field)?.as_u64()).map(|n| n as usize);
        let layers = encoder_size("num_hidden_layers");
        if let Some(positions) = encoder_size("max_position_embeddings") {
            check(
                max_len <= positions,
                "tokenize.max_len",
                format!(
                    "is {max_len}: the encoder has {positions} positions (its config.json's max_position_embeddings)"
                ),
            );
        }
        train_range_errors("teacher_ner", &self.teacher_ner, max_len, layers, &mut check);
        train_range_errors("distill", &self.distill, max_len, layers, &mut check);
        self.methods_range_errors(max_len, layers, &mut check);
        let langs: Vec<&str> = std::iter::once(&self.source).chain(&self.sources).map(|c| c.lang.as_str()).collect();
        for (i, lang) in langs.iter().enumerate().skip(1) {
            check(!langs[..i].contains(lang), "sources", format!("names source language `{lang}` twice"));
        }
        check(
            self.method != Method::TslMulti || !self.sources.is_empty(),
            "sources",
            "is empty: method `tsl-multi` needs at least one more labeled source language ([[sources]])".into(),
        );
        let w = self.distill_loss.all_words_weight;
        check(w.is_finite() && w >= 0.0, "distill_loss.all_words_weight", format!("is {w}: must be 0 or more"));
        check(self.eval.batch_size >= 1, "eval.batch_size", "must be at least 1".into());
        check(
            self.eval.selection != Selection::SourceDev || self.method.spec().student().is_none(),
            "eval.selection",
            "is source_dev, but a student learns from target text and is scored on no source dev split while \
             training: use last or target_dev (source_dev selects the recognizer of `method = \"direct\"`)"
                .into(),
        );
        errors
    }

    /// The BIO label list: `O`, then `B-X`, `I-X` for each entity type in config order.
    pub fn bio_labels(&self) -> Vec<String> {
        bio_labels(&self.labels)
    }
}

/// The range checks of one corpus's reading settings, keys under `section`.
fn corpus_range_errors(section: &str, c: &Corpus, labels: &[String], check: &mut impl FnMut(bool, &str, String)) {
    let key = |field: &str| format!("{section}.{field}");
    for (field, column) in [("token_column", c.token_column), ("tag_column", c.tag_column)] {
        check(column != Some(0), &key(field), "is 0: columns count from 1".into());
    }
    check(
        c.token_column.is_none() || c.token_column != c.tag_column,
        &key("tag_column"),
        "is the token's column".into(),
    );
    for (from, to) in &c.tag_map {
        check(
            to == "O" || labels.contains(to),
            &key("tag_map"),
            format!("maps `{from}` to `{to}`, which is not one of the labels ({}) nor `O`", labels.join(", ")),
        );
    }
}
