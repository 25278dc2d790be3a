//! Ingest and tokenization on the real benchmarks under $MTMT_DATA (ignored by a plain
//! `cargo test`, run by `.ci/run`): sentence, token and entity counts must match the data
//! README, and subword alignment must hold on real text.

mod common;

use std::path::PathBuf;

use mtmt_pipe::corpus::{read_file, Format, Labels, Reading};
use mtmt_pipe::subword::SubwordTokenizer;

/// The benchmark folder. The tests that read it are `#[ignore]`d with their reason, so a
/// plain `cargo test` shows them as ignored; `.ci/run` includes them (`-- --include-ignored`),
/// and a run that includes them without the folder fails here, naming the fix.
fn data_root() -> PathBuf {
    let root = std::env::var("MTMT_DATA").unwrap_or_else(|_| {
        panic!("MTMT_DATA is not set: this test reads the benchmark folder (`MTMT_DATA=$PWD/../shared/data`)")
    });
    PathBuf::from(root)
}

fn types(split: &str) -> Vec<String> {
    let t: &[&str] = if split.starts_with("wikiann") { &["PER", "ORG", "LOC"] } else { &["PER", "ORG", "LOC", "MISC"] };
    t.iter().map(|s| s.to_string()).collect()
}

/// (file, sentences, tokens, entities) from ../shared/data/README.md's summary table.
const COUNTS: &[(&str, usize, usize, usize)] = &[
    ("conll2003/en/train", 14041, 203621, 23499),
    ("conll2003/en/dev", 3250, 51362, 5942),
    ("conll2003/en/test", 3453, 46435, 5648),
    ("conll2003/de/train", 12152, 206931, 11851),
    ("conll2003/de/dev", 2867, 51444, 4833),
    ("conll2003/de/test", 3005, 51943, 3673),
    ("conll2002/es/train", 8323, 264715, 18798),
    ("conll2002/es/dev", 1915, 52923, 4352),
    ("conll2002/es/test", 1517, 51533, 3559),
    ("conll2002/nl/train", 15806, 202644, 13344),
    ("conll2002/nl/dev", 2895, 37687, 2616),
    ("conll2002/nl/test", 5195, 68875, 3941),
    ("wikiann/en/train", 20000, 160394, 27931),
    ("wikiann/en/dev", 10000, 80536, 14146),
    ("wikiann/en/test", 10000, 80326, 13958),
    ("wikiann/ar/train", 20000, 129184, 22501),
    ("wikiann/ar/dev", 10000, 64291, 11267),
    ("wikiann/ar/test", 10000, 64347, 11259),
    ("wikiann/hi/train", 5000, 29443, 6124),
    ("wikiann/hi/dev", 1000, 5808, 1226),
    ("wikiann/hi/test", 1000, 6005, 1228),
    ("wikiann/zh/train", 20000, 420054, 25031),
    ("wikiann/zh/dev", 10000, 213682, 12493),
    ("wikiann/zh/test", 10000, 207505, 12532),
];

#[test]
#[ignore = "needs MTMT_DATA (the benchmark folder)"]
fn ingest_reproduces_the_readme_counts() {
    let root = data_root();
    for &(split, sentences, tokens, entities) in COUNTS {
        let path = root.join(format!("{split}.txt"));
        let (sents, stats) = read_file(&path, &Reading::default(), Labels::Types(&types(split))).unwrap();
        assert_eq!(
            (stats.sentences, stats.tokens, stats.entities),
            (sentences, tokens, entities),
            "{split}: (sentences, tokens, entities)"
        );
        assert_eq!((sents.len(), stats.format), (sentences, Some(Format::Conll)), "{split}: detected as CoNLL");
        // IOB2 after conversion: no entity starts with I-.
        for s in &sents {
            let tags = s.tags.as_ref().unwrap();
            for (i, t) in tags.iter().enumerate() {
                if let Some(ty) = t.strip_prefix("I-") {
                    assert!(i > 0 && tags[i - 1].ends_with(ty), "{split}:{}: I- without its entity", s.line);
                }
            }
        }
    }
}

/// Every kept word has exactly one first subword, in order, inside CLS..SEP; the
/// kept and truncated words add up to the sentence; nothing exceeds max_len.
fn check_alignment(tokenizer: &SubwordTokenizer, sentences: &[Vec<String>], max_len: usize) -> (usize, usize) {
    let (mut truncated_sentences, mut truncated_words) = (0, 0);
    for words in sentences {
        let e = tokenizer.encode(words, max_len).unwrap();
        assert!(e.input_ids.len() <= max_len);
        assert_eq!(e.input_ids[0], tokenizer.cls);
        assert_eq!(*e.input_ids.last().unwrap(), tokenizer.sep);
        assert_eq!(e.word_starts.len() + e.truncated_words as usize, words.len());
        let mut ends = e.word_starts.iter().skip(1).map(|&s| s as usize).collect::<Vec<_>>();
        ends.push(e.input_ids.len() - 1);
        for (w, (&start, end)) in e.word_starts.iter().zip(ends).enumerate() {
            let start = start as usize;
            assert!(start >= 1 && start < end, "word {w} has no subword of its own");
            assert_eq!(e.input_ids[start..end], tokenizer.word_ids(&words[w]).unwrap()[..], "word {w}'s subwords");
        }
        if e.truncated_words > 0 {
            truncated_sentences += 1;
            truncated_words += e.truncated_words as usize;
        }
    }
    (truncated_sentences, truncated_words)
}

/// NorNE's Bokmål files (CoNLL-U plus an NER column, NorNE's eight types) read as a user
/// of a finer tag set reads them: detected, through a map onto CoNLL's four types, the
/// README's per-type counts found in the mapped and dropped entities.
#[test]
#[ignore = "needs MTMT_DATA (the benchmark folder)"]
fn norne_reads_as_conllu_through_a_tag_map() {
    let root = data_root();
    let map: std::collections::BTreeMap<String, String> =
        [("GPE_LOC", "LOC"), ("GPE_ORG", "ORG"), ("PROD", "MISC"), ("EVT", "MISC"), ("DRV", "O")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    let reading = Reading { tag_map: Some(&map), section: "target", ..Reading::default() };
    // The data README's counts: sentences, tokens, then PER ORG GPE_LOC GPE_ORG LOC PROD DRV EVT.
    for (split, sentences, tokens, [per, org, gpe_loc, gpe_org, loc, prod, drv, evt]) in [
        ("dev", 2410, 36369, [611, 404, 259, 55, 109, 162, 79, 9]),
        ("test", 1939, 29966, [564, 285, 257, 50, 103, 71, 48, 5]),
    ] {
        let path = root.join(format!("norne/nob/{split}.txt"));
        let (sents, stats) = read_file(&path, &reading, Labels::Types(&types(split))).unwrap();
        assert_eq!((stats.format, sents.len(), stats.tokens), (Some(Format::Conllu), sentences, tokens), "{split}");
        if split == "dev" {
            assert_eq!(sents[0].tokens[..3], ["Dommer", "Finn", "Eilertsen"][..], "FORM is the token");
        }
        let n = |key: &str| stats.mapped.get(key).copied().unwrap_or(0);
        assert_eq!(
            (n("GPE_LOC -> LOC"), n("GPE_ORG -> ORG"), n("PROD -> MISC"), n("EVT -> MISC")),
            (gpe_loc, gpe_org, prod, evt)
        );
        assert_eq!(stats.dropped["DRV"], drv);
        let kept = |t: &str| stats.types.get(t).copied().unwrap_or(0);
        assert_eq!(
            (kept("PER"), kept("ORG"), kept("LOC"), kept("MISC")),
            (per, org + gpe_org, loc + gpe_loc, prod + evt),
            "{split}: entities after the map"
        );
        // Without the map, the first finer type is refused at its line.
        let e = read_file(&path, &Reading { section: "target", ..Reading::default() }, Labels::Types(&types(split)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("target.tag_map") && e.contains(&path.display().to_string()), "{e}");
    }
}

#[test]
#[ignore = "needs MTMT_DATA (the benchmark folder)"]
fn subword_alignment_holds_on_real_text() {
    let root = data_root();
    let e5 = SubwordTokenizer::load(&common::tokenizer(), false).unwrap();
    let mbert_dir = common::repo().join("../shared/tokenizers/mbert-cased");
    let wordpiece = SubwordTokenizer::load(&mbert_dir.join("vocab.txt"), false).unwrap();
    for split in ["conll2002/es/test", "wikiann/zh/dev", "wikiann/ar/dev"] {
        let (sents, _) = read_file(&root.join(format!("{split}.txt")), &Reading::default(), Labels::Unlabeled).unwrap();
        let words: Vec<Vec<String>> = sents.into_iter().take(2000).map(|s| s.tokens).collect();
        check_alignment(&e5, &words, 128);
        check_alignment(&wordpiece, &words, 128);
        // A short max_len forces truncation, and the counts still add up.
        let (cut_sentences, cut_words) = check_alignment(&e5, &words, 16);
        assert!(cut_sentences > 0 && cut_words >= cut_sentences, "{split}: truncation was exercised");
    }
}

#[test]
#[ignore = "needs MTMT_DATA (the benchmark folder)"]
fn wordpiece_vocab_txt_matches_its_tokenizer_json() {
    let root = data_root();
    let mbert_dir = common::repo().join("../shared/tokenizers/mbert-cased");
    let from_vocab = SubwordTokenizer::load(&mbert_dir.join("vocab.txt"), false).unwrap();
    let from_json = SubwordTokenizer::load(&mbert_dir.join("tokenizer.json"), false).unwrap();
    assert_eq!((from_vocab.cls, from_vocab.sep, from_vocab.pad, from_vocab.unk), (101, 102, 0, 100));
    let (sents, _) = read_file(&root.join("conll2003/de/test.txt"), &Reading::default(), Labels::Unlabeled).unwrap();
    for word in sents.iter().take(500).flat_map(|s| &s.tokens) {
        assert_eq!(from_vocab.word_ids(word).unwrap(), from_json.word_ids(word).unwrap(), "{word}");
    }
}

#[test]
fn e5_tokenizer_splits_words_into_known_pieces() {
    let tok = SubwordTokenizer::load(&common::tokenizer(), false).unwrap();
    assert_eq!((tok.cls, tok.pad, tok.sep, tok.unk), (0, 1, 2, 3));
    let ids = tok.word_ids("Merkel").unwrap();
    assert!(!ids.is_empty() && !ids.contains(&tok.unk));
}

#[test]
fn a_word_without_subwords_gets_the_unknown_id() {
    // BERT's normalizer deletes format characters, so a lone zero-width space
    // (present in WikiANN zh/hi) leaves WordPiece nothing to encode.
    let vocab = common::repo().join("../shared/tokenizers/mbert-cased/vocab.txt");
    let tok = SubwordTokenizer::load(&vocab, false).unwrap();
    assert_eq!(tok.word_ids("\u{200b}").unwrap(), vec![tok.unk]);
    let e = tok.encode(&["Paris".into(), "\u{200b}".into()], 128).unwrap();
    assert_eq!(e.word_starts.len(), 2);
    assert_eq!(e.input_ids[e.word_starts[1] as usize], tok.unk);
}

#[test]
#[ignore = "needs MTMT_DATA (the benchmark folder)"]
fn benchmark_config_ingests_and_tokenizes_through_the_cli() {
    data_root();
    let ws = common::Workspace::demo();
    let config = common::repo().join("pipelines/wikiann-hi.toml");
    let out = ws.ok(&["run", "stage", "tokenize_target", "--config", config.to_str().unwrap()]);
    assert!(out.contains("ran 2 stage(s): ingest_target, tokenize_target"), "{out}");
    let out = ws.ok(&["inspect", "encoded_target_test", "--config", config.to_str().unwrap(), "--schema"]);
    assert!(out.contains("shape: (1000, 6)") && out.contains("label_ids"), "{out}");
}

#[test]
#[ignore = "needs MTMT_DATA (the benchmark folder)"]
fn unspaced_words_lose_the_boundary_marker_and_alignment_holds() {
    let root = data_root();
    let spaced = SubwordTokenizer::load(&common::tokenizer(), false).unwrap();
    let unspaced = SubwordTokenizer::load(&common::tokenizer(), false).unwrap().unspaced(true);
    let (sents, _) = read_file(&root.join("wikiann/zh/dev.txt"), &Reading::default(), Labels::Unlabeled).unwrap();
    let words: Vec<Vec<String>> = sents.into_iter().take(2000).map(|s| s.tokens).collect();
    check_alignment(&unspaced, &words, 128);
    let bare = spaced.word_ids("\u{2581}").unwrap();
    let (mut bare_before, mut bare_after, mut shorter) = (0, 0, 0);
    for word in words.iter().flatten() {
        let (before, after) = (spaced.word_ids(word).unwrap(), unspaced.word_ids(word).unwrap());
        bare_before += usize::from(before.len() > 1 && before[..1] == bare[..]);
        bare_after += usize::from(after.len() > 1 && after[..1] == bare[..]);
        shorter += usize::from(after.len() < before.len());
        assert!(
            after.len() <= before.len() && after.contains(&spaced.unk) == before.contains(&spaced.unk),
            "{word}: {before:?} -> {after:?}"
        );
    }
    assert!(bare_before > 1000 && bare_after == 0 && shorter == bare_before, "{bare_before} {bare_after} {shorter}");
    // WordPiece vocabularies have no marker: unspaced changes nothing.
    let vocab = common::repo().join("../shared/tokenizers/mbert-cased/vocab.txt");
    let wordpiece = SubwordTokenizer::load(&vocab, false).unwrap();
    let wordpiece_unspaced = SubwordTokenizer::load(&vocab, false).unwrap().unspaced(true);
    for word in words.iter().flatten().take(3000) {
        assert_eq!(wordpiece.word_ids(word).unwrap(), wordpiece_unspaced.word_ids(word).unwrap(), "{word}");
    }
}

/// Every shipped sweep file plans on the real data: its targets' configs resolve under
/// $MTMT_DATA, every method's overrides name real config keys, and nothing runs.
#[test]
#[ignore = "needs MTMT_DATA (the benchmark folder)"]
fn shipped_sweeps_plan_on_the_real_data() {
    data_root();
    let ws = common::Workspace::demo();
    let mut planned = 0;
    for entry in std::fs::read_dir(common::repo().join("sweeps")).unwrap() {
        let path = entry.unwrap().path();
        let out = ws.ok(&["sweep", "run", path.to_str().unwrap(), "--seed", "13", "--dry-run"]);
        assert!(out.contains(" cells, 0 complete;"), "{}: {out}", path.display());
        planned += 1;
    }
    assert!(planned >= 5, "{planned} sweep files");
    assert!(!ws.store().join("evaluate").exists(), "a dry run wrote artifacts");
}

/// The results in docs/ stay reachable: every finished cell of each report's `runs.parquet`,
/// planned again from its sweep file on the real data, gets the `evaluate` key recorded
/// beside its F1 (and so every upstream key is unchanged: each enters the next one). A
/// change that moved a key would orphan those artifacts and the numbers built on them, and
/// `--carry` could no longer stand those rows in for their cells.
#[test]
#[ignore = "needs MTMT_DATA (the benchmark folder)"]
fn the_cells_behind_docs_results_keep_their_keys() {
    use mtmt_pipe::engine::{Digests, Plan};
    use mtmt_pipe::stage_name::StageName;
    data_root();
    let registry = mtmt_pipe::stages::registry();
    let mut digests = Digests::new();
    let sweeps: Vec<_> = std::fs::read_dir(common::repo().join("sweeps"))
        .unwrap()
        .map(|entry| mtmt_pipe::sweep::Sweep::load(&entry.unwrap().path()).unwrap())
        .collect();
    for report in [
        "docs/runs.parquet",
        "docs/baselines/runs.parquet",
        "docs/speed-options/runs.parquet",
        "docs/papers-budget/runs.parquet",
    ] {
        let runs = mtmt_pipe::table::read(&common::repo().join(report)).unwrap();
        let column = |name: &str| -> Vec<String> {
            let c = runs.column(name).unwrap().cast(&polars::prelude::DataType::String).unwrap();
            c.str().unwrap().iter().map(|v| v.unwrap_or_default().to_string()).collect()
        };
        let (suites, targets, methods, seeds, keys) =
            (column("suite"), column("target"), column("method"), column("seed"), column("evaluate_key"));
        let mut checked = 0;
        for sweep in &sweeps {
            for cell in sweep.cells(&[]).unwrap() {
                let row = (0..runs.height()).find(|&i| {
                    suites[i] == sweep.spec.name
                        && targets[i] == cell.target
                        && methods[i] == cell.method
                        && seeds[i] == cell.seed.to_string()
                });
                let Some(row) = row else { continue };
                let plan = Plan::with_digests(&cell.config, &registry, &mut digests).unwrap();
                assert_eq!(
                    plan.get(StageName::Evaluate).key,
                    keys[row],
                    "{report}: {} {}",
                    sweep.spec.name,
                    cell.label()
                );
                checked += 1;
            }
        }
        assert_eq!(checked, runs.height(), "every row of {report} belongs to a shipped sweep cell");
        // `--carry` reads each of these reports, old columns and all.
        let carried = mtmt_pipe::sweep::carried::Carried::read(&[common::repo().join(report)]).unwrap();
        assert!(keys.iter().all(|k| carried.has(k)), "{report}");
    }
}
