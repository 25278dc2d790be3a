//! `evaluate`: decodes the target dev and test splits with the recognizer teacher
//! (direct transfer; for other methods only if `eval.teacher`), a method's own teacher
//! (AdvPicker's and MSD's) and, unless the method is `direct`, the student, keeping each
//! word's top probability; scores them at entity level with conlleval semantics, words
//! lost to truncation counting as missed. Writes the predictions, a metrics JSON and a
//! markdown report. Gold target tags are read here, for scoring only, and, under
//! `eval.selection = "target_dev"` (the papers' protocol, flagged wherever shown), to choose
//! the epoch of the method's model.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Deserialize;
use serde_json::json;
use tch::{Device, Tensor};

use mtmt_methods::{Method, Spec};
use mtmt_ner::eval::conlleval::{self, Scores};
use mtmt_ner::eval::{decode_all, score};
use mtmt_ner::model::tagger::Tagger;
use mtmt_ner::table;
use mtmt_ner::train::batching::BatchPlan;
use mtmt_ner::train::data::EncodedSet;
use mtmt_stage::artifacts::{load_tagger, EncoderFiles, ENCODER_FILES};
use mtmt_stage::files;
use mtmt_stage::settings::{bio_labels, EvalConfig, Selection};
use mtmt_stage::side::{Side, Split};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;

pub struct Evaluate;

#[derive(Deserialize)]
pub struct Params {
    method: Method,
    labels: Vec<String>,
    encoder: EncoderFiles,
    eval: EvalConfig,
    source: Lang,
    target: Lang,
}

/// A side's language, which the report names.
#[derive(Deserialize)]
pub(crate) struct Lang {
    lang: String,
}

impl StageSpec for Evaluate {
    fn name(&self) -> StageName {
        StageName::Evaluate
    }
    fn version(&self) -> u32 {
        3
    }
    fn description(&self) -> &'static str {
        "teacher (direct transfer) and student on target dev/test: entity P/R/F1, predictions, report"
    }
    fn inputs(&self, method: Method) -> Vec<StageName> {
        // The recognizer teacher is the direct-transfer model, scored beside any student.
        let mut inputs = vec![StageName::IngestTarget, StageName::TokenizeTarget, StageName::TeacherNer];
        inputs.extend(method.spec().own_teacher());
        if method.spec().student().is_some() {
            inputs.push(StageName::Distill);
        }
        inputs
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[files::PREDICTIONS, files::METRICS, files::REPORT]
    }
}

impl Stage for Evaluate {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let device = ctx.device()?;
        let labels = bio_labels(&p.labels);
        let has_student = p.method.spec().student().is_some();
        let plan = BatchPlan { batch_size: p.eval.batch_size, max_tokens: None, chunk_batches: 1 };
        // The method's model, the one `eval.selection` chooses an epoch of.
        let selected = if has_student { StageName::Distill } else { StageName::TeacherNer };
        let choice = choose_epoch(ctx, p, selected, &labels, &plan, device)?;
        let model_file =
            |stage: StageName| if stage == selected { choice.file.clone() } else { ctx.input(stage, files::MODEL) };
        let models = models(p, labels.len(), model_file, device)?;
        let mut metrics = serde_json::Map::new();
        let mut predictions = Predictions::default();
        let mut rows: Vec<(String, String, Scores)> = vec![];
        // Label-free health checks on the predicted test tags (`health`).
        let (mut warnings, mut entities) = (Vec::new(), std::collections::BTreeMap::new());
        for split in [Split::Dev, Split::Test] {
            let encoded = ctx.input(StageName::TokenizeTarget, files::encoded(Side::Target, split));
            if !encoded.exists() {
                continue;
            }
            let set = EncodedSet::read(&encoded)?;
            let sentences = table::read(&ctx.input(StageName::IngestTarget, files::sentences(Side::Target, split)))?;
            let split = split.name();
            let words = Words {
                tokens: table::read_str_lists(&sentences, "tokens")?,
                gold: table::read_str_lists(&sentences, "tags")?,
            };
            for (name, model) in &models {
                let probs = model.predict_probs(&set, &plan);
                let predicted = decode_all(&probs, &labels, p.eval.decoder, p.eval.start_constraint);
                let scores = score(&predicted, &set, &labels)?;
                if split == Split::Test.name() {
                    warnings.extend(mtmt_ner::health::predictions(name, "the target test text", &predicted));
                    let chunks = |tags: &Vec<String>| {
                        conlleval::chunks(&tags.iter().map(String::as_str).collect::<Vec<_>>()).len()
                    };
                    entities.insert(*name, predicted.iter().map(chunks).sum::<usize>());
                }
                ctx.log(format!(
                    "{name} on target {split}: F1 {:.2} (P {:.2}, R {:.2})",
                    scores.overall.f1, scores.overall.precision, scores.overall.recall
                ));
                metrics.entry(name.to_string()).or_insert_with(|| json!({}))[split] = serde_json::to_value(&scores)?;
                predictions.push(name, split, &set, &words, &probs, predicted)?;
                rows.push((name.to_string(), split.to_string(), scores));
            }
        }
        anyhow::ensure!(!rows.is_empty(), "the target has neither a dev nor a test split to evaluate");
        if let (Some(&student), Some(&teacher)) = (entities.get("student"), entities.get("teacher")) {
            warnings.extend(mtmt_ner::health::entity_ratio("the target test text", student, teacher));
        }
        for warning in &warnings {
            ctx.warn(warning.clone());
        }
        predictions.write(&ctx.output(files::PREDICTIONS), ctx.provenance())?;
        let setting = json!({
            "method": p.method,
            "source": p.source.lang,
            "target": p.target.lang,
            "decoder": p.eval.decoder,
            "start_constraint": p.eval.start_constraint,
            "bf16": p.eval.bf16,
            "model_selection": p.eval.selection.describe(),
            "selection": choice.record(p.eval.selection, selected),
        });
        let document = json!({"setting": setting, "metrics": metrics});
        mtmt_ner::atomic::write_file(&ctx.output(files::METRICS), serde_json::to_string_pretty(&document)?.as_bytes())?;
        let ingested = mtmt_stage::manifest::Manifest::read(&ctx.input(StageName::IngestTarget, ""))?;
        let mut report = report(&setting, &rows);
        report.push_str(&tag_map_note(&ingested.summary));
        report.push_str(&warnings_section(ctx, &self.inputs(ctx.method), &warnings)?);
        mtmt_ner::atomic::write_file(&ctx.output(files::REPORT), report.as_bytes())?;
        ctx.summary.insert(mtmt_stage::summary::METRICS.into(), serde_json::Value::Object(metrics));
        ctx.summary.insert(mtmt_stage::summary::SELECTION.into(), setting["selection"].clone());
        Ok(())
    }
}

/// The models the report scores, by name: the recognizer teacher (direct transfer; beside
/// a student only with `eval.teacher`), the method's own teacher if any, the student if
/// any; each from `model_file(stage)`.
fn models(
    p: &Params,
    n_labels: usize,
    model_file: impl Fn(StageName) -> PathBuf,
    device: Device,
) -> anyhow::Result<Vec<(&'static str, Tagger)>> {
    let has_student = p.method.spec().student().is_some();
    let mut models = vec![];
    if !has_student || p.eval.teacher {
        models.push(("teacher", load(p, n_labels, &model_file(StageName::TeacherNer), device)?));
    }
    if let Some(own) = p.method.spec().own_teacher() {
        models.push((own.as_str(), load(p, n_labels, &model_file(own), device)?));
    }
    if has_student {
        models.push(("student", load(p, n_labels, &model_file(StageName::Distill), device)?));
    }
    Ok(models)
}

/// A split's words and gold tags, as ingested (before truncation to the encoder's length).
struct Words {
    tokens: Vec<Vec<String>>,
    gold: Vec<Vec<String>>,
}

/// The rows of `predictions.parquet`: per model, split and sentence, the words, gold and
/// predicted tags, and the top probability of each word.
#[derive(Default)]
struct Predictions {
    model: Vec<String>,
    split: Vec<&'static str>,
    sentence_id: Vec<u32>,
    tokens: Vec<Vec<String>>,
    gold: Vec<Vec<String>>,
    predicted: Vec<Vec<String>>,
    confidence: Vec<Vec<f32>>,
}

impl Predictions {
    /// One model's predictions on a split; a word truncated away is predicted `O` with no
    /// confidence (0).
    fn push(
        &mut self,
        model: &str,
        split: &'static str,
        set: &EncodedSet,
        words: &Words,
        probs: &[Tensor],
        predicted: Vec<Vec<String>>,
    ) -> anyhow::Result<()> {
        for (i, sentence) in probs.iter().enumerate() {
            let mut top = Vec::<f32>::try_from(sentence.amax(-1, false))?;
            top.resize(words.tokens[i].len(), 0.0);
            self.confidence.push(top);
        }
        for (i, mut pred) in predicted.into_iter().enumerate() {
            pred.resize(words.tokens[i].len(), "O".into());
            self.model.push(model.to_string());
            self.split.push(split);
            self.sentence_id.push(set.sentence_ids[i]);
            self.tokens.push(words.tokens[i].clone());
            self.gold.push(words.gold[i].clone());
            self.predicted.push(pred);
        }
        Ok(())
    }

    fn write(self, path: &Path, provenance: Vec<(String, String)>) -> anyhow::Result<()> {
        let mut df = DataFrame::new(
            self.model.len(),
            vec![
                Column::new("model".into(), self.model),
                Column::new("split".into(), self.split),
                Column::new("sentence_id".into(), self.sentence_id),
                table::str_lists("tokens", self.tokens.iter().map(Vec::as_slice)),
                table::str_lists("gold", self.gold.iter().map(Vec::as_slice)),
                table::str_lists("predicted", self.predicted.iter().map(Vec::as_slice)),
                table::f32_lists("confidence", self.confidence.iter().map(Vec::as_slice)),
            ],
        )?;
        table::write(&mut df, path, provenance)
    }
}

/// The report's warnings: those of the models it scores (its inputs' manifests) beside
/// its own; empty when there are none.
fn warnings_section(ctx: &StageContext, inputs: &[StageName], own: &[String]) -> anyhow::Result<String> {
    let mut all = Vec::new();
    for &stage in inputs {
        let manifest = mtmt_stage::manifest::Manifest::read(&ctx.input(stage, ""))?;
        all.extend(mtmt_stage::summary::warnings(&manifest.summary).into_iter().map(|w| format!("[{stage}] {w}")));
    }
    all.extend(own.iter().map(|w| format!("[evaluate] {w}")));
    if all.is_empty() {
        return Ok(String::new());
    }
    let mut section = "\n## Warnings (health checks, no target label used)\n\n".to_string();
    section.extend(all.iter().map(|w| format!("- {w}\n")));
    Ok(section)
}

/// A trained tagger for inference, in the precision `eval.bf16` asks for.
fn load(p: &Params, n_labels: usize, file: &std::path::Path, device: tch::Device) -> anyhow::Result<Tagger> {
    let mut tagger = load_tagger(&p.encoder, n_labels, file, device)?;
    tagger.bert.infer_bf16 = p.eval.bf16;
    Ok(tagger)
}

/// The markdown report: one row per (model, split), per-type F1 columns.
fn report(setting: &serde_json::Value, rows: &[(String, String, Scores)]) -> String {
    let types: Vec<String> = rows[0].2.per_type.keys().cloned().collect();
    let mut out = format!(
        "# Evaluation: {} -> {}, method {}\n\nDecoder: {} (start constraint: {}). Model selection: {}{}.\n\n",
        setting["source"],
        setting["target"],
        setting["method"],
        setting["decoder"],
        setting["start_constraint"],
        setting["model_selection"].as_str().unwrap_or_default(),
        setting["selection"]["chosen_epoch"]
            .as_u64()
            .map_or(String::new(), |e| format!(": epoch {e} of {}", setting["selection"]["epochs"]))
    );
    if setting["bf16"].as_bool() == Some(true) {
        out.push_str("Inference in bf16 (`eval.bf16`: the encoder's dense products in bfloat16).\n\n");
    }
    out.push_str(&format!(
        "| model | split | P | R | F1 | {} |\n",
        types.iter().map(|t| format!("F1 {t}")).collect::<Vec<_>>().join(" | ")
    ));
    out.push_str(&format!("|---|---|---|---|---|{}\n", "---|".repeat(types.len())));
    for (model, split, s) in rows {
        let per: Vec<String> =
            types.iter().map(|t| s.per_type.get(t).map_or("-".into(), |x| format!("{:.2}", x.f1))).collect();
        out.push_str(&format!(
            "| {model} | {split} | {:.2} | {:.2} | {:.2} | {} |\n",
            s.overall.precision,
            s.overall.recall,
            s.overall.f1,
            per.join(" | ")
        ));
    }
    out
}

/// What the target's tag map did to the gold entities scored (from ingest's counts);
/// empty without a map.
fn tag_map_note(ingest_summary: &serde_json::Value) -> String {
    let mut out = String::new();
    for split in [Split::Dev, Split::Test] {
        let stats = &ingest_summary[format!("target_{}", split.name())];
        let counts = |field: &str| -> Vec<String> {
            stats[field].as_object().map_or_else(Vec::new, |m| m.iter().map(|(k, n)| format!("{n} {k}")).collect())
        };
        let (mapped, dropped) = (counts("mapped"), counts("dropped"));
        if mapped.is_empty() && dropped.is_empty() {
            continue;
        }
        out.push_str(&format!("\nGold {} entities through `target.tag_map`: ", split.name()));
        if !mapped.is_empty() {
            out.push_str(&format!("mapped {}", mapped.join(", ")));
        }
        if !dropped.is_empty() {
            let sep = if mapped.is_empty() { "" } else { "; " };
            out.push_str(&format!("{sep}dropped (not scored) {}", dropped.join(", ")));
        }
        out.push_str(".\n");
    }
    out
}

/// The epoch of the method's model that `eval.selection` chose, and what chose it.
struct EpochChoice {
    /// Its trained parameters (`files::MODEL` for the last epoch).
    file: std::path::PathBuf,
    /// 1-based; `None` under `last`.
    epoch: Option<usize>,
    epochs: usize,
    /// The F1 of each epoch that chose it (source or target dev); empty under `last`.
    dev_f1: Vec<f64>,
}

impl EpochChoice {
    /// The choice as the metrics and the manifest keep it.
    fn record(&self, policy: Selection, stage: StageName) -> serde_json::Value {
        json!({
            "policy": policy,
            "stage": stage.as_str(),
            "uses_target_labels": policy.uses_target_labels(),
            "epochs": self.epochs,
            "chosen_epoch": self.epoch,
            "dev_f1": self.dev_f1,
        })
    }
}

/// Chooses the epoch of `stage`'s model as `eval.selection` says: the last; the best source
/// dev F1 its training recorded (the curve's `source_dev_f1`); or the best target dev F1,
/// each epoch's checkpoint decoded here. The first of equal scores wins.
fn choose_epoch(
    ctx: &StageContext,
    p: &Params,
    stage: StageName,
    labels: &[String],
    plan: &BatchPlan,
    device: tch::Device,
) -> anyhow::Result<EpochChoice> {
    let last = ctx.input(stage, files::MODEL);
    let manifest = mtmt_stage::manifest::Manifest::read(last.parent().expect("an artifact file"))?;
    let epochs = manifest.summary.get(mtmt_stage::summary::EPOCH_LOSSES).and_then(|v| v.as_array()).map_or(1, Vec::len);
    if p.eval.selection == Selection::Last {
        return Ok(EpochChoice { file: last, epoch: None, epochs, dev_f1: vec![] });
    }
    let mut files: Vec<std::path::PathBuf> =
        (1..epochs).map(|e| ctx.input(stage, &files::epoch_model(e))).take_while(|f| f.exists()).collect();
    anyhow::ensure!(
        files.len() + 1 == epochs,
        "eval.selection: the `{stage}` artifact {} trained {epochs} epochs but keeps the checkpoints of {} (it was \
         built before every epoch's checkpoint was kept): `mtmt-pipe run stage {stage} --force` rebuilds it",
        last.parent().expect("an artifact file").display(),
        files.len() + 1
    );
    files.push(last);
    let dev_f1: Vec<f64> = match p.eval.selection {
        Selection::Last => unreachable!("returned above"),
        Selection::SourceDev => {
            let curve = table::read(&ctx.input(stage, files::CURVE))?;
            let f1: Vec<f64> = curve.column("source_dev_f1")?.f64()?.iter().flatten().collect();
            anyhow::ensure!(
                f1.len() == epochs && f1.iter().all(|x| x.is_finite()),
                "eval.selection = source_dev: `{stage}` recorded source dev F1 for {} of its {epochs} epochs",
                f1.iter().filter(|x| x.is_finite()).count()
            );
            f1
        }
        Selection::TargetDev => {
            let dev = ctx.input(StageName::TokenizeTarget, files::encoded(Side::Target, Split::Dev));
            anyhow::ensure!(dev.exists(), "eval.selection = target_dev: the target has no dev split (`target.dev`)");
            let set = EncodedSet::read(&dev)?;
            let mut f1 = Vec::with_capacity(epochs);
            for (e, file) in files.iter().enumerate() {
                let model = load(p, labels.len(), file, device)?;
                let predicted =
                    decode_all(&model.predict_probs(&set, plan), labels, p.eval.decoder, p.eval.start_constraint);
                f1.push(score(&predicted, &set, labels)?.overall.f1);
                ctx.log(format!(
                    "{stage} epoch {} on target dev (selection, uses target labels): F1 {:.2}",
                    e + 1,
                    f1[e]
                ));
            }
            f1
        }
    };
    let best = (0..epochs).fold(0, |best, e| if dev_f1[e] > dev_f1[best] { e } else { best });
    ctx.log(format!("selected epoch {} of {epochs} of `{stage}` ({})", best + 1, p.eval.selection.describe()));
    Ok(EpochChoice { file: files.swap_remove(best), epoch: Some(best + 1), epochs, dev_f1 })
}
