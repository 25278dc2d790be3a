use super::*;
use crate::method::mtmt::PairSampling;
use crate::train::optim::Optimizer;

/// The environment the tests' configs see: set here, never in the process, so tests
/// running in parallel cannot race on it.
fn env(var: &str) -> Option<String> {
    (var == "MTMT_TEST_ROOT").then(|| "/data".to_string())
}

fn demo(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    let text = format!(
        "labels = [\"PER\", \"LOC\"]\n{extra}\n[source]\nlang = \"en\"\ntrain = \"en.txt\"\n\
         [target]\nlang = \"es\"\ntrain = \"${{MTMT_TEST_ROOT}}/es.txt\"\n"
    );
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn load(path: &Path, overrides: &[&str]) -> Result<ResolvedConfig, ConfigError> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    ResolvedConfig::load_with_env(path, &overrides, &env)
}

#[test]
fn set_is_typed_by_schema_and_unknown_keys_list_valid_ones() {
    let (_d, path) = demo("");
    let cfg = load(&path, &["tokenize.max_len=64"]).unwrap();
    assert_eq!(cfg.config.tokenize.max_len, 64);
    assert_eq!(cfg.config.target.train, PathBuf::from("/data/es.txt"));
    assert!(cfg.config.source.train.ends_with("en.txt") && cfg.config.source.train.is_absolute() == path.is_absolute());

    let err = load(&path, &["tokenize.max_len=abc"]).unwrap_err();
    assert!(err.to_string().contains("expected an integer"), "{err}");
    let err = load(&path, &["tokenize.maxlen=3"]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("unknown config key `tokenize.maxlen`") && msg.contains("tokenize.max_len"), "{msg}");

    let cfg = load(&path, &["labels=[\"PER\"]", "target.dev=dev.txt"]).unwrap();
    assert_eq!(cfg.config.labels, vec!["PER"]);
    assert!(cfg.config.target.dev.unwrap().ends_with("dev.txt"));
}

#[test]
fn a_bad_set_value_blames_the_set_not_the_file() {
    let (_d, path) = demo("");
    let err = load(&path, &["teacher_ner.epochs=-1"]).unwrap_err().to_string();
    assert_eq!(err, "--set teacher_ner.epochs=-1: expected an integer of 0 or more");
    let err = load(&path, &["method=foo"]).unwrap_err().to_string();
    assert!(err.starts_with("--set method=foo: unknown variant `foo`"), "{err}");
}

#[test]
fn out_of_range_values_name_the_key_and_where_they_came_from() {
    let (_d, path) = demo("");
    for (set, key) in [
        ("teacher_ner.dropout=1.5", "teacher_ner.dropout"),
        ("score.pairs_per_sentence=0", "score.pairs_per_sentence"),
        ("distill.epochs=0", "distill.epochs"),
        ("teacher_sim.batch_size=0", "teacher_sim.batch_size"),
        ("tokenize.max_len=1", "tokenize.max_len"),
        ("teacher_ner.lr=-1", "teacher_ner.lr"),
        ("distill.warmup=-1", "distill.warmup"),
        ("sim_pairs.positive_ratio=2", "sim_pairs.positive_ratio"),
        ("labels=[\"PER\", \"PER\"]", "labels"),
        ("teacher_ner.max_tokens=10", "teacher_ner.max_tokens"),
    ] {
        let err = load(&path, &[set]).unwrap_err().to_string();
        assert!(err.starts_with(&format!("--set {set}: `{key}` ")), "{set}: {err}");
    }
    // From the file, the file is named.
    let (_d, path) = demo("[teacher_ner]\nepochs = 0\n");
    let err = load(&path, &[]).unwrap_err().to_string();
    assert_eq!(err, format!("{}: `teacher_ner.epochs` is 0: must be at least 1", path.display()));
    // A later --set that repairs it is accepted.
    assert_eq!(load(&path, &["teacher_ner.epochs=2"]).unwrap().config.teacher_ner.epochs, 2);
}

#[test]
fn freeze_layers_cannot_exceed_the_encoders_depth() {
    let (dir, path) = demo("");
    std::fs::write(dir.path().join("config.json"), r#"{"num_hidden_layers": 4}"#).unwrap();
    assert!(load(&path, &["encoder.config=config.json", "teacher_ner.freeze_layers=4"]).is_ok());
    let err = load(&path, &["encoder.config=config.json", "teacher_ner.freeze_layers=99"]).unwrap_err();
    assert!(err.to_string().contains("`teacher_ner.freeze_layers` is 99: the encoder has 4 layers"), "{err}");
    // MSD's heads start below the last layer: the default is checked only where MSD runs.
    let err = load(&path, &["encoder.config=config.json", "method=msd"]).unwrap_err();
    assert!(err.to_string().contains("`msd.first_layer` is 4: must lie in [1, 4) (the encoder has 4 layers)"), "{err}");
    assert!(load(&path, &["encoder.config=config.json", "method=msd", "msd.first_layer=2"]).is_ok());
    // A value given out of range is refused under any method.
    let err = load(&path, &["encoder.config=config.json", "msd.first_layer=40"]).unwrap_err();
    assert!(err.to_string().contains("`msd.first_layer` is 40"), "{err}");
}

#[test]
fn missing_env_var_names_key_and_variable() {
    let (_d, path) = demo("");
    let text = std::fs::read_to_string(&path).unwrap().replace("MTMT_TEST_ROOT", "MTMT_UNSET_VAR_FOR_TEST");
    std::fs::write(&path, text).unwrap();
    let err = load(&path, &[]).unwrap_err().to_string();
    assert!(err.contains("target.train") && err.contains("MTMT_UNSET_VAR_FOR_TEST"), "{err}");
}

#[test]
fn views_hold_only_declared_keys() {
    let (_d, path) = demo("seed = 7");
    let cfg = load(&path, &[]).unwrap();
    let view = cfg.view(&["tokenize.max_len", "source.lang", "labels"]);
    assert_eq!(
        view,
        serde_json::json!({"tokenize": {"max_len": 128}, "source": {"lang": "en"}, "labels": ["PER", "LOC"]})
    );
    // Unset settings read as before they existed: out of the view, whatever their type.
    assert_eq!(cfg.view(&["target.tag_map", "target.format", "target.tag_names"]), serde_json::json!({}));
    let mapped = load(&path, &["target.tag_map={ GPE_LOC = \"LOC\" }"]).unwrap();
    assert_eq!(mapped.view(&["target.tag_map"]), serde_json::json!({"target": {"tag_map": {"GPE_LOC": "LOC"}}}));
    let misspelt = std::panic::catch_unwind(|| cfg.view(&["tokenize.maxlen"])).unwrap_err();
    assert!(misspelt.downcast_ref::<String>().is_some_and(|m| m.contains("`tokenize.maxlen`, which is no config key")));
}

#[test]
fn a_methods_defaults_yield_to_the_file_and_to_set() {
    let form = |extra: &str, overrides: &[&str]| {
        let (_d, path) = demo(extra);
        let c = load(&path, overrides).unwrap().config;
        (c.score.sampling, c.distill_loss.all_words)
    };
    assert_eq!(form("", &[]), (PairSampling::Uniform, true), "MTMT's default");
    assert_eq!(form("method = \"mtst\"", &[]), (PairSampling::Balanced, false));
    assert_eq!(form("", &["method=tsl"]), (PairSampling::Balanced, false));
    assert_eq!(form("", &["score.sampling=balanced"]), (PairSampling::Balanced, true));
    assert_eq!(form("[distill_loss]\nall_words = false", &[]), (PairSampling::Uniform, false));
    let paper = ["score.sampling=balanced", "distill_loss.all_words=false"];
    assert_eq!(form("", &paper), (PairSampling::Balanced, false), "the paper's form");
}

#[test]
fn bio_labels_follow_type_order() {
    assert_eq!(bio_labels(&["PER".into(), "ORG".into()]), ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]);
}

#[test]
fn a_recipe_sets_what_the_file_and_the_command_line_leave_open() {
    let (_d, path) = demo("recipe = \"mtmt-paper\"\n[teacher_sim]\nlr = 2e-5\n");
    let c = load(&path, &["distill.epochs=1"]).unwrap().config;
    assert_eq!((c.distill.lr, c.distill.optimizer, c.distill.weight_decay), (1e-6, Optimizer::Adam, 0.0));
    assert_eq!((c.teacher_ner.lr, c.teacher_ner.freeze_layers, c.teacher_ner.freeze_embeddings), (1e-5, 0, false));
    assert_eq!((c.teacher_ner.dropout, c.tokenize.max_len), (0.2, 128));
    // The file's and the `--set`'s values stand.
    assert_eq!((c.teacher_sim.lr, c.distill.epochs), (2e-5, 1));
    // Without a recipe, the defaults (the TSL/UniTrans recipe).
    let (_d, path) = demo("");
    let c = load(&path, &[]).unwrap().config;
    assert_eq!((c.distill.lr, c.distill.optimizer, c.teacher_ner.freeze_layers), (1e-4, Optimizer::AdamW, 3));
}
