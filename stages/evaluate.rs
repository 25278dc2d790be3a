//! `evaluate`: decodes the target dev and test splits with the recognizer teacher
//! (direct transfer; for other methods only if `eval.teacher`), a method's own teacher
//! (AdvPicker's and MSD's) and, unless the method is `direct`, the student, keeping each
//! word's top probability; scores them at entity level with conlleval semantics, words
//! lost to truncation counting as missed. Writes the predictions, a metrics JSON and a
//! markdown report. Gold target tags are read here, for scoring only.

use polars::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::artifacts::{load_tagger, EncoderFiles, ENCODER_FILES};
use crate::config::{bio_labels, EvalConfig};
use crate::eval::conlleval::Scores;
use crate::eval::{decode_all, score, MODEL_SELECTION};
use crate::files;
use crate::method::Method;
use crate::model::tagger::Tagger;
use crate::side::{Side, Split};
use crate::stage::{Stage, StageContext, StageSpec};
use crate::stage_name::StageName;
use crate::table;
use crate::train::batching::BatchPlan;
use crate::train::data::EncodedSet;

pub struct Evaluate;

#[derive(Deserialize)]
pub struct Params {
    method: Method,
    labels: Vec<String>,
    encoder: EncoderFiles,
    eval: EvalConfig,
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
    fn reads(&self) -> &'static [&'static str] {
        &["method", "labels", "eval", "source.lang", "target.lang"]
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
        let mut models: Vec<(&str, Tagger)> = vec![];
        if !has_student || p.eval.teacher {
            let teacher = ctx.input(StageName::TeacherNer, files::MODEL);
            models.push(("teacher", load_tagger(&p.encoder, labels.len(), &teacher, device)?));
        }
        if let Some(own) = p.method.spec().own_teacher() {
            let teacher = ctx.input(own, files::MODEL);
            models.push((own.as_str(), load_tagger(&p.encoder, labels.len(), &teacher, device)?));
        }
        if has_student {
            let student = ctx.input(StageName::Distill, files::MODEL);
            models.push(("student", load_tagger(&p.encoder, labels.len(), &student, device)?));
        }
        let plan = BatchPlan { batch_size: p.eval.batch_size, max_tokens: None, chunk_batches: 1 };
        let mut metrics = serde_json::Map::new();
        let (mut model_col, mut split_col, mut id_col) = (vec![], vec![], vec![]);
        let (mut tokens_col, mut gold_col, mut pred_col, mut confidence_col) = (vec![], vec![], vec![], vec![]);
        let mut rows: Vec<(String, String, Scores)> = vec![];
        for split in [Split::Dev, Split::Test] {
            let encoded = ctx.input(StageName::TokenizeTarget, files::encoded(Side::Target, split));
            if !encoded.exists() {
                continue;
            }
            let set = EncodedSet::read(&encoded)?;
            let sentences = table::read(&ctx.input(StageName::IngestTarget, files::sentences(Side::Target, split)))?;
            let split = split.name();
            let tokens = table::read_str_lists(&sentences, "tokens")?;
            let gold = table::read_str_lists(&sentences, "tags")?;
            for (name, model) in &models {
                let probs = model.predict_probs(&set, &plan);
                let predicted = decode_all(&probs, &labels, p.eval.decoder, p.eval.start_constraint);
                for (i, sentence) in probs.iter().enumerate() {
                    let mut top = Vec::<f32>::try_from(sentence.amax(-1, false))?;
                    top.resize(tokens[i].len(), 0.0); // truncated words: no confidence
                    confidence_col.push(top);
                }
                let scores = score(&predicted, &set, &labels)?;
                ctx.log(format!(
                    "{name} on target {split}: F1 {:.2} (P {:.2}, R {:.2})",
                    scores.overall.f1, scores.overall.precision, scores.overall.recall
                ));
                metrics.entry(name.to_string()).or_insert_with(|| json!({}))[split] = serde_json::to_value(&scores)?;
                for (i, pred) in predicted.into_iter().enumerate() {
                    let mut pred = pred;
                    pred.resize(tokens[i].len(), "O".into()); // truncated words: predicted O
                    model_col.push(name.to_string());
                    split_col.push(split);
                    id_col.push(set.sentence_ids[i]);
                    tokens_col.push(tokens[i].clone());
                    gold_col.push(gold[i].clone());
                    pred_col.push(pred);
                }
                rows.push((name.to_string(), split.to_string(), scores));
            }
        }
        anyhow::ensure!(!rows.is_empty(), "the target has neither a dev nor a test split to evaluate");
        let mut df = DataFrame::new(
            model_col.len(),
            vec![
                Column::new("model".into(), model_col),
                Column::new("split".into(), split_col),
                Column::new("sentence_id".into(), id_col),
                table::str_lists("tokens", tokens_col.iter().map(Vec::as_slice)),
                table::str_lists("gold", gold_col.iter().map(Vec::as_slice)),
                table::str_lists("predicted", pred_col.iter().map(Vec::as_slice)),
                table::f32_lists("confidence", confidence_col.iter().map(Vec::as_slice)),
            ],
        )?;
        table::write(&mut df, &ctx.output(files::PREDICTIONS), ctx.provenance())?;
        let view = &ctx.view;
        let setting = json!({
            "method": p.method,
            "source": view["source"]["lang"],
            "target": view["target"]["lang"],
            "decoder": p.eval.decoder,
            "start_constraint": p.eval.start_constraint,
            "model_selection": MODEL_SELECTION,
        });
        let document = json!({"setting": setting, "metrics": metrics});
        crate::atomic::write_file(&ctx.output(files::METRICS), serde_json::to_string_pretty(&document)?.as_bytes())?;
        crate::atomic::write_file(&ctx.output(files::REPORT), report(&setting, &rows).as_bytes())?;
        ctx.summary.insert(crate::summary::METRICS.into(), serde_json::Value::Object(metrics));
        Ok(())
    }
}

/// The markdown report: one row per (model, split), per-type F1 columns.
fn report(setting: &serde_json::Value, rows: &[(String, String, Scores)]) -> String {
    let types: Vec<String> = rows[0].2.per_type.keys().cloned().collect();
    let mut out = format!(
        "# Evaluation: {} -> {}, method {}\n\nDecoder: {} (start constraint: {}). Model selection: {}.\n\n",
        setting["source"],
        setting["target"],
        setting["method"],
        setting["decoder"],
        setting["start_constraint"],
        MODEL_SELECTION
    );
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
