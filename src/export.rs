//! `mtmt-pipe export MODEL OUT/`: a trained model as a folder that transformers loads with
//! `AutoModelForTokenClassification.from_pretrained(OUT)` and
//! `AutoTokenizer.from_pretrained(OUT)`: `config.json` (the encoder's, as
//! `BertForTokenClassification` or, for an XLM-R encoder, `XLMRobertaForTokenClassification`,
//! with the real `id2label` / `label2id`), every weight
//! (the frozen ones included) in `model.safetensors` under HF names, the tokenizer files,
//! and a model card (`README.md`: how it was trained, the test F1 where `evaluate` ran).
//! Built in a temporary sibling folder and renamed into place; an existing OUT is refused.

use std::path::Path;

use serde_json::{json, Value};
use tch::Tensor;

use crate::artifacts::{load_tagger, EncoderFiles};
use crate::config::{bio_labels, ResolvedConfig};
use crate::engine::Plan;
use crate::files;
use crate::stage::DynStage;
use crate::stage_name::StageName;
use crate::store::{ArtifactState, Store};
use crate::trained::{resolve, Trained};

/// Exports `model` (a stage of the config or an artifact key) into the new folder `out`.
pub fn export(
    model: &str,
    out: &Path,
    cfg: &ResolvedConfig,
    store: &Store,
    stages: &[Box<dyn DynStage>],
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !out.exists() || fs_err::read_dir(out)?.next().is_none(),
        "{}: exists and is not empty; export into a new folder",
        out.display()
    );
    let plan = Plan::new(cfg, stages)?;
    let trained = resolve(model, &plan, store)?;
    let c = &cfg.config;
    let labels = bio_labels(&c.labels);
    let tagger = load_tagger(&EncoderFiles::of(&c.encoder), labels.len(), &trained.weights, tch::Device::Cpu)?;

    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    crate::atomic::create_dir_all(parent)?;
    let staging = tempfile::Builder::new().prefix(".export.").tempdir_in(parent)?;
    let dir = staging.path();

    // Every variable, the pretrained frozen ones included, sorted by name, under the
    // family's prefix (`bert.` or `roberta.`).
    let (architecture, prefix) = match tagger.bert.config.model_type.as_str() {
        "xlm-roberta" => ("XLMRobertaForTokenClassification", "roberta."),
        "roberta" => ("RobertaForTokenClassification", "roberta."),
        _ => ("BertForTokenClassification", "bert."),
    };
    let rename = |name: String| name.strip_prefix("bert.").map_or(name.clone(), |rest| format!("{prefix}{rest}"));
    let mut vars: Vec<(String, Tensor)> = tagger.vs.variables().into_iter().map(|(n, t)| (rename(n), t)).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let refs: Vec<(&str, &Tensor)> = vars.iter().map(|(n, t)| (n.as_str(), t)).collect();
    Tensor::write_safetensors(&refs, dir.join("model.safetensors"))?;

    let mut config: Value = serde_json::from_str(&fs_err::read_to_string(&c.encoder.config)?)?;
    config["architectures"] = json!([architecture]);
    config["id2label"] = labels.iter().enumerate().map(|(i, l)| (i.to_string(), json!(l))).collect();
    config["label2id"] = labels.iter().enumerate().map(|(i, l)| (l.clone(), json!(i))).collect();
    fs_err::write(dir.join("config.json"), serde_json::to_string_pretty(&config)?)?;

    write_tokenizer(&c.encoder.tokenizer, c.tokenize.lowercase, c.tokenize.max_len, dir)?;
    fs_err::write(dir.join("README.md"), model_card(&trained, cfg, &plan, store, &labels)?)?;

    let staged = staging.keep();
    fs_err::rename(&staged, out).or_else(|_| {
        // `out` may exist empty: replace it.
        fs_err::remove_dir(out)?;
        fs_err::rename(&staged, out)
    })?;
    crate::info!("exported {}/{} to {}", trained.stage, trained.key, out.display());
    Ok(())
}

/// The tokenizer as transformers loads it: a `tokenizer.json` with a config that keeps its
/// pipeline as it is (a fast tokenizer of no particular family), or a WordPiece `vocab.txt`
/// as `BertTokenizer`.
fn write_tokenizer(tokenizer: &Path, lowercase: bool, max_len: usize, dir: &Path) -> anyhow::Result<()> {
    let is_vocab = tokenizer.extension().is_some_and(|e| e == "txt");
    let config = if is_vocab {
        fs_err::copy(tokenizer, dir.join("vocab.txt"))?;
        json!({"tokenizer_class": "BertTokenizer", "do_lower_case": lowercase, "model_max_length": max_len})
    } else {
        fs_err::copy(tokenizer, dir.join("tokenizer.json"))?;
        let text = fs_err::read_to_string(tokenizer)?;
        let t: Value = serde_json::from_str(&text)?;
        // The special tokens the tokenizer itself declares, by their usual roles.
        let added: Vec<&str> =
            t["added_tokens"].as_array().into_iter().flatten().filter_map(|a| a["content"].as_str()).collect();
        let pick = |candidates: &[&'static str]| candidates.iter().find(|c| added.contains(c)).map(|c| json!(c));
        let mut config = json!({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_len});
        for (role, candidates) in [
            ("bos_token", &["<s>", "[CLS]"][..]),
            ("eos_token", &["</s>", "[SEP]"][..]),
            ("cls_token", &["<s>", "[CLS]"][..]),
            ("sep_token", &["</s>", "[SEP]"][..]),
            ("unk_token", &["<unk>", "[UNK]"][..]),
            ("pad_token", &["<pad>", "[PAD]"][..]),
            ("mask_token", &["<mask>", "[MASK]"][..]),
        ] {
            if let Some(token) = pick(candidates) {
                config[role] = token;
            }
        }
        config
    };
    fs_err::write(dir.join("tokenizer_config.json"), serde_json::to_string_pretty(&config)?)?;
    Ok(())
}

/// How the model was made, from its manifest and the config, with its target test F1 when
/// the config's `evaluate` artifact scored it.
fn model_card(
    trained: &Trained,
    cfg: &ResolvedConfig,
    plan: &Plan,
    store: &Store,
    labels: &[String],
) -> anyhow::Result<String> {
    let c = &cfg.config;
    let own = plan.get(trained.stage).key == trained.key;
    let role = match trained.stage {
        StageName::Distill => "student".to_string(),
        StageName::TeacherNer => "teacher".to_string(),
        other => other.as_str().to_string(),
    };
    let evaluate = &plan.get(StageName::Evaluate).key;
    // The exported model is the last epoch's; under another `eval.selection` the config's
    // evaluation scored a chosen epoch (under target_dev, with target labels), not this model.
    let last = c.eval.selection == crate::config::Selection::Last;
    let f1 = match store.state(StageName::Evaluate, evaluate, false) {
        ArtifactState::Valid(_) if own && last => {
            let path = store.artifact_dir(StageName::Evaluate, evaluate).join(files::METRICS);
            let doc: Value = serde_json::from_str(&fs_err::read_to_string(path)?)?;
            doc["metrics"][&role]["test"]["overall"]["f1"].as_f64()
        }
        _ => None,
    };
    let score = f1.map_or_else(
        || {
            let why = if last {
                "not evaluated with this config (`mtmt-pipe run all` scores it on the target test split)"
            } else {
                "not shown: this config's `eval.selection` scores a chosen epoch, and this model is the last epoch's \
                 (`--set eval.selection=last` and `mtmt-pipe run all` score it)"
            };
            why.to_string()
        },
        |f1| format!("{f1:.2} entity F1 on the target test split (conlleval, Viterbi decoding)"),
    );
    Ok(format!(
        "# NER model ({lang}), trained by mtmt-pipe\n\n\
         - Method: `{method:?}`; this model is the {role} (`{stage}` artifact `{key}`).\n\
         - Languages: labeled source `{source}`, target `{lang}` (its train text used without labels).\n\
         - Encoder: `{encoder}`.\n\
         - Labels: {labels}.\n\
         - Test: {score}.\n\
         - Model selection: the last checkpoint; no target-language label was used to train or select it.\n\n\
         ```python\n\
         from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline\n\
         ner = pipeline(\"ner\", model=AutoModelForTokenClassification.from_pretrained(\"OUT\"),\n\
         \x20              tokenizer=AutoTokenizer.from_pretrained(\"OUT\"), aggregation_strategy=\"first\")\n\
         ```\n\n\
         The settings the model was trained with (the artifact's manifest):\n\n```json\n{settings}\n```\n",
        lang = c.target.lang,
        method = c.method,
        stage = trained.stage,
        key = trained.key,
        source = c.source.lang,
        encoder = c.encoder.weights.display(),
        labels = labels.join(", "),
        settings = serde_json::to_string_pretty(&trained.manifest.config)?,
    ))
}
