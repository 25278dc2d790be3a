//! The artifact keys of the shipped demo config (`pipeline.toml`) under every method,
//! as the stores built so far have them. A key that changes orphans every artifact built
//! before it, in users' stores and behind docs/results.md, so it must change on purpose:
//! bump the stage's version and update this list in the same commit. A key is made of
//! the stage's name and version, the config values it reads, its input files' content
//! and its inputs' keys (`engine::KeyMaterial`); refactoring changes none of them.

mod common;

use std::process::Command;

/// A run's (stage, key) pairs.
type Keys = &'static [(&'static str, &'static str)];

/// (the `--set`s, [(stage, key)]) in the order `status` lists the stages `run all` needs;
/// a variant's stage as `stage@variant`. MTMT's defaults leave the paper's form, whose
/// keys the stores hold under the two settings that restore it.
const EXPECTED: &[(&[&str], Keys)] = &[
    (
        &["method=direct"],
        &[
            ("ingest_source", "069be5eb041931aee04ee8f4"),
            ("ingest_target", "60705254dbab9b3edd2a38f4"),
            ("tokenize_source", "02aa5671dd5f4376d1d999a5"),
            ("tokenize_target", "c2b8469233819110f8a65ad7"),
            ("teacher_ner", "284ebf3512d84f67cadcda3b"),
            ("evaluate", "1df53537753521b0b0c505f5"),
        ],
    ),
    (
        &["method=tsl"],
        &[
            ("ingest_source", "069be5eb041931aee04ee8f4"),
            ("ingest_target", "60705254dbab9b3edd2a38f4"),
            ("tokenize_source", "02aa5671dd5f4376d1d999a5"),
            ("tokenize_target", "c2b8469233819110f8a65ad7"),
            ("teacher_ner", "284ebf3512d84f67cadcda3b"),
            ("score_tokens", "274fd03486bda339735e5662"),
            ("distill", "e5278ccbf748d943e0b66c0f"),
            ("evaluate", "59eee39f7a4395d494f937b7"),
        ],
    ),
    (
        &["method=mtmt", "score.sampling=balanced", "distill_loss.all_words=false"],
        &[
            ("ingest_source", "069be5eb041931aee04ee8f4"),
            ("ingest_target", "60705254dbab9b3edd2a38f4"),
            ("tokenize_source", "02aa5671dd5f4376d1d999a5"),
            ("tokenize_target", "c2b8469233819110f8a65ad7"),
            ("teacher_ner", "284ebf3512d84f67cadcda3b"),
            ("teacher_sim", "db75f8096f530855fc9617fb"),
            ("score_tokens", "274fd03486bda339735e5662"),
            ("score_pairs", "7cc56637bb23cee39eb8ea5e"),
            ("weights", "1caab5b0e04467cfc2e447ff"),
            ("distill", "b10483022e26b47bf62079d3"),
            ("evaluate", "4749c59b11261b8891aa7b17"),
        ],
    ),
    (
        &["method=mtmt"],
        &[
            ("ingest_source", "069be5eb041931aee04ee8f4"),
            ("ingest_target", "60705254dbab9b3edd2a38f4"),
            ("tokenize_source", "02aa5671dd5f4376d1d999a5"),
            ("tokenize_target", "c2b8469233819110f8a65ad7"),
            ("teacher_ner", "284ebf3512d84f67cadcda3b"),
            ("teacher_sim", "db75f8096f530855fc9617fb"),
            ("score_tokens", "274fd03486bda339735e5662"),
            ("score_pairs", "2d491b8024e7bdd0f2c98d86"),
            ("weights", "1ed675b03b1594b312d6e8aa"),
            ("distill", "86361401ecbff0a07d6940b8"),
            ("evaluate", "61ac2981b1a41cc126562092"),
        ],
    ),
    (
        &["method=mtst"],
        &[
            ("ingest_source", "069be5eb041931aee04ee8f4"),
            ("ingest_target", "60705254dbab9b3edd2a38f4"),
            ("tokenize_source", "02aa5671dd5f4376d1d999a5"),
            ("tokenize_target", "c2b8469233819110f8a65ad7"),
            ("teacher_ner", "284ebf3512d84f67cadcda3b"),
            ("teacher_mt", "53fdc8a51614fe96985bd7e3"),
            ("score_tokens", "af2522c8dff43bb57c578103"),
            ("score_pairs", "97d38bd1b7d9ac686d1ea813"),
            ("weights", "3fcf8bbd87420113f839ba2f"),
            ("distill", "52d315173a3eca6b648a0ef2"),
            ("evaluate", "398fa96208963c4267268719"),
        ],
    ),
    (
        &["method=advpicker"],
        &[
            ("ingest_source", "069be5eb041931aee04ee8f4"),
            ("ingest_target", "60705254dbab9b3edd2a38f4"),
            ("tokenize_source", "02aa5671dd5f4376d1d999a5"),
            ("tokenize_target", "c2b8469233819110f8a65ad7"),
            ("teacher_ner", "284ebf3512d84f67cadcda3b"),
            ("teacher_adv", "bf44dd58ec3fde7e2826f6ad"),
            ("score_tokens", "990a348c054ec1d0135a12a4"),
            ("select", "ef59d273f2753ee9d296f8dd"),
            ("distill", "d0e35d6a4a94f60dcc365866"),
            ("evaluate", "741addd2fc3ad9415f77fe9b"),
        ],
    ),
    (
        &["method=msd"],
        &[
            ("ingest_source", "069be5eb041931aee04ee8f4"),
            ("ingest_target", "60705254dbab9b3edd2a38f4"),
            ("tokenize_source", "02aa5671dd5f4376d1d999a5"),
            ("tokenize_target", "c2b8469233819110f8a65ad7"),
            ("teacher_ner", "284ebf3512d84f67cadcda3b"),
            ("teacher_msd", "106b9896793d3c95d7ab57a6"),
            ("score_tokens", "039da55d92fcc53efd6c064e"),
            ("distill", "c848c143a54d6ab23d4135c8"),
            ("evaluate", "f838d1eda3ad18cead2f3ef3"),
        ],
    ),
    (
        &["method=tsl-multi"],
        &[
            ("ingest_source", "069be5eb041931aee04ee8f4"),
            ("ingest_target", "60705254dbab9b3edd2a38f4"),
            ("tokenize_source", "02aa5671dd5f4376d1d999a5"),
            ("tokenize_target", "c2b8469233819110f8a65ad7"),
            ("teacher_ner", "284ebf3512d84f67cadcda3b"),
            ("pool_source", "6f0b04fb8b6305b64df46fc8"),
            ("pool_target", "268fdbbd042483376ffe745e"),
            ("ingest_source@source=de", "c2f3be0fa5a9c5073c1f2412"),
            ("tokenize_source@source=de", "8d1f57336229954430ded4e2"),
            ("pool_source@source=de", "0922313df96c00dbf8725807"),
            ("ingest_source@source=nl", "d18f6a31a47cae9419fa55bd"),
            ("tokenize_source@source=nl", "77769df54d6cfed8d868710d"),
            ("pool_source@source=nl", "b7a9b6708c9e410332791d53"),
            ("lang_sim", "937c9d748c68d3b97615cb9e"),
            ("teacher_ner@source=de", "aa0e9c549b2d260c166b020a"),
            ("teacher_ner@source=nl", "e563ef4885dea8efff8efbb7"),
            ("score_tokens", "dad9bb16c7006420920e25fe"),
            ("distill", "827b5261d5b273aecb92dd22"),
            ("evaluate", "7e5d05a14dbc1422e353ff8f"),
        ],
    ),
    (
        &["method=unitrans"],
        &[
            ("ingest_source", "069be5eb041931aee04ee8f4"),
            ("ingest_target", "60705254dbab9b3edd2a38f4"),
            ("tokenize_source", "02aa5671dd5f4376d1d999a5"),
            ("tokenize_target", "c2b8469233819110f8a65ad7"),
            ("teacher_ner", "284ebf3512d84f67cadcda3b"),
            ("lexicon", "983f6bcbbbf8ff8e7aee2ca1"),
            ("translate", "3aa206c315b5b0ee4fc9a1f4"),
            ("teacher_trans", "f077e74796f7626371d4d995"),
            ("teacher_finetune", "878a35a68bc79851cf904821"),
            ("score_tokens", "0142b41ef0861756b639235c"),
            ("distill", "1d7bc81e0cde7ad9a0cb2048"),
            ("evaluate", "30129afb1d94f9e1a4bc55f1"),
        ],
    ),
];

/// The (stage, key) pairs `status` lists for the demo config with these `--set`s.
fn keys(sets: &[&str]) -> Vec<(String, String)> {
    let store = tempfile::tempdir().unwrap();
    let out = Command::new(common::BIN)
        .current_dir(common::repo())
        .env_remove("MTMT_CONFIG")
        .env_remove("MTMT_STORE")
        .args(["status", "--json", "--store", store.path().to_str().unwrap()])
        .args(sets.iter().flat_map(|set| ["--set", set]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    status
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let stage = s["stage"].as_str().unwrap();
            let name = s["variant"].as_str().map_or_else(|| stage.to_string(), |v| format!("{stage}@{v}"));
            (name, s["key"].as_str().unwrap().to_string())
        })
        .collect()
}

/// The stages whose keys `set` changes under `method` (the demo config otherwise).
fn changed(method: &str, set: &str) -> Vec<String> {
    let method = format!("method={method}");
    let (before, after) = (keys(&[&method]), keys(&[&method, set]));
    assert_eq!(before.len(), after.len());
    before.iter().zip(&after).filter(|(b, a)| b.1 != a.1).map(|(b, _)| b.0.clone()).collect()
}

#[test]
fn demo_keys_are_those_of_the_stores_already_built() {
    for (sets, expected) in EXPECTED {
        let expected: Vec<(String, String)> = expected.iter().map(|(s, k)| (s.to_string(), k.to_string())).collect();
        assert_eq!(keys(sets), expected, "{sets:?}: a key changed (see this file's header)");
    }
}

#[test]
fn bf16_inference_keys_the_stages_that_run_it_and_what_reads_them() {
    // The teachers' scoring passes, and the stages downstream of them; no teacher retrains.
    assert_eq!(changed("mtmt", "scoring.bf16=true"), ["score_tokens", "score_pairs", "weights", "distill", "evaluate"]);
    // Evaluation alone reruns nothing else.
    assert_eq!(changed("mtmt", "eval.bf16=true"), ["evaluate"]);
    // Off is the default, said or not.
    assert!(changed("mtmt", "scoring.bf16=false").is_empty());
}

#[test]
fn parallel_dropout_keys_the_model_it_trains_and_what_reads_it() {
    // The recognizer teacher and everything built from it (score_pairs samples its pairs from
    // the recognizer's entities); not the similarity teacher.
    assert_eq!(
        changed("mtmt", "teacher_ner.parallel_dropout=true"),
        ["teacher_ner", "score_tokens", "score_pairs", "weights", "distill", "evaluate"]
    );
    assert_eq!(
        changed("mtmt", "teacher_sim.parallel_dropout=true"),
        ["teacher_sim", "score_pairs", "weights", "distill", "evaluate"]
    );
    assert_eq!(changed("mtmt", "distill.parallel_dropout=true"), ["distill", "evaluate"]);
    // A method's own teacher's section.
    assert!(changed("msd", "teacher_msd.parallel_dropout=true").contains(&"teacher_msd".to_string()));
    // Off is the default, said or not.
    assert!(changed("mtmt", "teacher_ner.parallel_dropout=false").is_empty());
}
