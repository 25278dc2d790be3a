//! The tch BERT encoder against HF transformers (a random tiny model, exact
//! hidden states) and the real default encoder's multilingual property.

mod common;

use std::path::Path;
use std::process::Command;

use mtmt_pipe::model::bert::{load_safetensors, BertConfig, BertModel};
use mtmt_pipe::model::Pass;
use tch::{nn, Device, Kind, Tensor};

fn load(dir: &Path) -> (nn::VarStore, BertModel) {
    let config = BertConfig::from_file(&dir.join("config.json")).unwrap();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = BertModel::new(vs.root(), config);
    load_safetensors(&mut vs, &dir.join("model.safetensors"), "").unwrap();
    (vs, model)
}

/// Writes a random tiny model of `family` (tests/parity/tiny_model.py) into a fresh folder,
/// with `vocab` ids (the script's default where `None`) and its reference batch.
fn tiny_model(family: &str, vocab: Option<usize>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let python = common::repo().join(".venv/bin/python");
    let status = Command::new(&python)
        .arg(common::repo().join("tests/parity/tiny_model.py"))
        .arg(dir.path())
        .arg(family)
        .args(vocab.map(|v| v.to_string()))
        .status()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", python.display()));
    assert!(status.success(), "parity script failed for {family}");
    dir
}

/// The `--set` values that put the tiny model in `dir` in place of the default encoder.
fn encoder_sets(dir: &Path) -> Vec<String> {
    vec![
        format!("encoder.weights={}", dir.join("model.safetensors").display()),
        format!("encoder.config={}", dir.join("config.json").display()),
    ]
}

/// Builds a random tiny model of `family` (tests/parity/tiny_model.py) and checks the last
/// hidden states of its reference batch within 1e-4 on real tokens.
fn matches_hf_transformers(family: &str) {
    let dir = tiny_model(family, None);

    let (_vs, model) = load(dir.path());
    let reference: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.path().join("reference.safetensors")).unwrap().into_iter().collect();
    let mask = &reference["attention_mask"];
    let got = tch::no_grad(|| model.last_hidden(&reference["input_ids"], mask, Pass::Infer));
    let want = &reference["last_hidden_state"];
    assert_eq!(got.size(), want.size());
    let real = mask.unsqueeze(-1).to_kind(Kind::Float);
    let max_diff = ((got - want).abs() * &real).max().double_value(&[]);
    assert!(max_diff < 1e-4, "{family}: max |diff| on real tokens = {max_diff}");
}

#[test]
fn matches_hf_transformers_on_a_random_tiny_bert() {
    matches_hf_transformers("bert");
}

#[test]
fn matches_hf_transformers_on_a_random_tiny_xlm_roberta() {
    matches_hf_transformers("xlm-roberta");
}

/// A random tiny model of `family` with `vocab` ids (the tokenizer's) in place of e5-small,
/// with `tokenizer` if given: trained on the demo, tagging its test split, exported as
/// `architecture`, and agreeing with transformers on the exported folder.
fn trains_tags_and_exports(family: &str, vocab: usize, tokenizer: Option<&Path>, architecture: &str) {
    let model = tiny_model(family, Some(vocab));
    let ws = common::Workspace::demo();
    let mut sets = encoder_sets(model.path());
    sets.extend(tokenizer.map(|t| format!("encoder.tokenizer={}", t.display())));
    let with = |args: &[&str]| -> Vec<String> {
        let sets = sets.iter().flat_map(|s| ["--set".to_string(), s.clone()]);
        args.iter().map(|a| a.to_string()).chain(sets).collect()
    };
    let run = |args: &[&str]| {
        let args = with(args);
        let out = ws.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "{args:?}: {}", common::text(&out));
        out
    };
    run(&["run", "stage", "teacher_ner"]);
    let out = run(&["predict", "--model", "teacher_ner", "--input-format", "conll", "--probs", "es/test.txt"]);
    std::fs::write(ws.path().join("ours.jsonl"), &out.stdout).unwrap();
    run(&["export", "teacher_ner", "exported"]);
    common::export_parity(&ws.path().join("exported"), &ws.path().join("ours.jsonl"), architecture);
}

#[test]
fn an_xlm_roberta_checkpoint_trains_tags_and_exports_through_the_same_path() {
    // The default tokenizer (e5's SentencePiece) and its vocabulary.
    trains_tags_and_exports("xlm-roberta", 250037, None, "XLMRobertaForTokenClassification");
}

#[test]
fn an_mbert_layout_with_its_wordpiece_vocab_trains_tags_and_exports() {
    let vocab = common::repo().join("../shared/tokenizers/mbert-cased/vocab.txt");
    let size = std::fs::read_to_string(&vocab).unwrap().lines().count();
    trains_tags_and_exports("bert", size, Some(&vocab), "BertForTokenClassification");
}

#[test]
fn loading_reports_a_missing_tensor_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"{"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16,
        "max_position_embeddings": 10, "type_vocab_size": 2, "vocab_size": 20}"#;
    std::fs::write(dir.path().join("config.json"), config).unwrap();
    let t = Tensor::zeros([20, 8], (Kind::Float, Device::Cpu));
    Tensor::write_safetensors(&[("embeddings.word_embeddings.weight", &t)], dir.path().join("model.safetensors"))
        .unwrap();
    let cfg = BertConfig::from_file(&dir.path().join("config.json")).unwrap();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _model = BertModel::new(vs.root(), cfg);
    let err = load_safetensors(&mut vs, &dir.path().join("model.safetensors"), "").unwrap_err().to_string();
    assert!(err.contains("no tensor `") && !err.contains("word_embeddings"), "{err}");
}

/// Mean-pooled sentence embedding with the "query: " prefix, as e5 is used.
fn embed(model: &BertModel, tokenizer: &tokenizers::Tokenizer, text: &str) -> Tensor {
    let enc = tokenizer.encode(format!("query: {text}"), true).unwrap();
    let ids: Vec<i64> = enc.get_ids().iter().map(|&i| i as i64).collect();
    let ids = Tensor::from_slice(&ids).unsqueeze(0);
    let mask = ids.ones_like();
    let h = tch::no_grad(|| model.last_hidden(&ids, &mask, Pass::Infer));
    h.mean_dim(1, false, Kind::Float).squeeze()
}

#[test]
fn default_encoder_aligns_translations() {
    let dir = common::repo().join("models/multilingual-e5-small");
    assert!(dir.join("model.safetensors").exists(), "run scripts/setup.sh to convert the encoder");
    let (_vs, model) = load(&dir);
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let anchor = embed(&model, &tokenizer, "Angela Merkel visited Paris last week.");
    let cos =
        |text: &str| Tensor::cosine_similarity(&anchor, &embed(&model, &tokenizer, text), 0, 1e-8).double_value(&[]);
    for translation in [
        "Angela Merkel besuchte letzte Woche Paris.",
        "Angela Merkel visitó París la semana pasada.",
        "Angela Merkel bezocht vorige week Parijs.",
    ] {
        let c = cos(translation);
        assert!(c > 0.9, "cos with {translation:?} = {c}");
    }
    let unrelated = cos("The stock market fell sharply on Monday.");
    assert!(unrelated < 0.8, "cos with the unrelated sentence = {unrelated}");
}

/// `bench train` times the stages' own loop, then both PyTorch references on the very same
/// batches and device (`benches/torch_eager.py --device cpu`), on a random tiny model in
/// place of e5-small.
#[test]
fn bench_train_times_ours_beside_both_pytorch_references() {
    let model = tiny_model("bert", Some(250037));
    let ws = common::Workspace::demo();
    let python = common::repo().join(".venv/bin/python").display().to_string();
    let mut args = vec!["bench".to_string(), "train".into(), "--steps".into(), "4".into(), "--python".into(), python];
    args.extend(encoder_sets(model.path()).into_iter().flat_map(|s| ["--set".to_string(), s]));
    let out = ws.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for name in ["mtmt-pipe", "pytorch-eager", "lean-pytorch"] {
        for phase in ["training", "inference"] {
            let line = format!("{name} {phase} tokens/s: ");
            let rate: f64 = out
                .lines()
                .find_map(|l| l.strip_prefix(&line))
                .unwrap_or_else(|| panic!("no `{line}` in:\n{out}"))
                .parse()
                .unwrap();
            assert!(rate > 0.0, "{line}{rate}");
        }
    }
    assert!(out.contains("training ratio (mtmt-pipe / lean-pytorch): "), "{out}");
}

/// `tokenize.label_past_bare_marker`: a word whose first piece is a bare `▁` is labeled at
/// its next piece; the pieces themselves, and every other word's label position, stay.
#[test]
fn a_label_can_sit_past_a_bare_marker() {
    use mtmt_pipe::subword::SubwordTokenizer;
    let tokenizer = |past: bool| SubwordTokenizer::configured(&common::tokenizer(), false, past, false).unwrap();
    let words: Vec<String> = ["Vive", "en", "Aragón"].iter().map(|w| w.to_string()).collect();
    let (first, past) = (tokenizer(false).encode(&words, 128).unwrap(), tokenizer(true).encode(&words, 128).unwrap());
    assert_eq!(first.input_ids, past.input_ids);
    let bare = tokenizer(false).word_ids("\u{2581}").unwrap();
    let at = first.word_starts[2] as usize;
    assert_eq!(first.input_ids[at..at + 1], bare[..], "Aragón starts with a bare marker");
    assert_eq!(past.word_starts[2] as usize, at + 1);
    assert_eq!(first.word_starts[..2], past.word_starts[..2]);
}
