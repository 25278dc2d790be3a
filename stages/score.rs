//! `score_tokens` and `score_pairs`: the teachers read the unlabeled target text.
//! `score_tokens` runs the recognizer once per sentence and keeps every word's label
//! distribution. `score_pairs` groups the sentences (a group is one student batch),
//! samples word pairs inside each group without gold labels (uniformly, or balanced
//! by the recognizer's predicted types), runs the similarity teacher once per
//! sentence, and computes t for all pairs with vector operations.

use std::collections::HashMap;

use polars::prelude::*;
use serde::Deserialize;
use tch::{Device, Kind, Tensor};

use super::teacher_ner::{EncoderFiles, ENCODER_FILES};
use super::teacher_sim::class_of;
use crate::config::{bio_labels, Config, Method, PairSampling, SameClass, ScoreConfig};
use crate::model::heads::similarity;
use crate::model::siamese::Siamese;
use crate::model::tagger::Tagger;
use crate::pairs::{balanced, uniform, Balance};
use crate::stage::{Stage, StageContext};
use crate::table;
use crate::train::batching::{epoch_batches, BatchPlan};
use crate::train::data::{per_sentence, prefix_offsets, EncodedSet};
use crate::train::rng::Rng;

/// Sentences per inference batch (the result does not depend on it).
const INFERENCE_BATCH: usize = 64;

fn inference_plan() -> BatchPlan {
    BatchPlan { batch_size: INFERENCE_BATCH, max_tokens: None, chunk_batches: 1 }
}

/// The config key bounding the target train sentences the student learns from, and so
/// the ones the teachers need to score.
pub const STUDENT_SENTENCES: &str = "distill.max_sentences";

/// The `distill` part of the config this stage reads.
#[derive(Deserialize)]
pub struct StudentSentences {
    /// First this many target train sentences; 0 = all.
    pub max_sentences: usize,
}

/// The target train sentences the student learns from.
pub fn target_train(ctx: &StageContext, subset: &StudentSentences) -> anyhow::Result<EncodedSet> {
    Ok(EncodedSet::read(&ctx.input("tokenize_target", "encoded_target_train.parquet"))?.truncated(subset.max_sentences))
}

pub struct ScoreTokens;

#[derive(Deserialize)]
struct TokenParams {
    labels: Vec<String>,
    encoder: EncoderFiles,
    distill: StudentSentences,
}

impl Stage for ScoreTokens {
    fn name(&self) -> &'static str {
        "score_tokens"
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "recognizer teacher's label distribution for every target train word"
    }
    fn inputs(&self, cfg: &Config) -> Vec<&'static str> {
        vec!["tokenize_target", cfg.method.recognizer()]
    }
    fn reads(&self) -> &'static [&'static str] {
        &["labels", STUDENT_SENTENCES]
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["token_probs.parquet"]
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let p: TokenParams = ctx.params()?;
        let device = ctx.device()?;
        let labels = bio_labels(&p.labels);
        let set = target_train(ctx, &p.distill)?;
        let source = if ctx.has_input("teacher_mt") { "teacher_mt" } else { "teacher_ner" };
        let teacher = load_teacher(&p.encoder, labels.len(), &ctx.input(source, "model.safetensors"), device)?;
        let started = std::time::Instant::now();
        let probs = teacher.predict_probs(&set, &inference_plan());
        let rate = set.len() as f64 / started.elapsed().as_secs_f64();
        ctx.log(format!("{} sentences scored ({rate:.0} sentences/s)", set.len()));
        ctx.summary.insert("sentences_per_s".into(), rate.into());

        let (mut sentence, mut word, mut label, mut max_prob, mut rows) = (vec![], vec![], vec![], vec![], vec![]);
        for (i, p) in probs.iter().enumerate() {
            let words = p.size()[0] as usize;
            let flat = Vec::<f32>::try_from(p.flatten(0, -1))?;
            for (w, row) in flat.chunks_exact(labels.len()).enumerate().take(words) {
                let (best, &top) = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("labels");
                sentence.push(set.sentence_ids[i]);
                word.push(w as u32);
                label.push(labels[best].clone());
                max_prob.push(top);
                rows.push(row.to_vec());
            }
        }
        let mut df = DataFrame::new(
            sentence.len(),
            vec![
                Column::new("sentence_id".into(), sentence),
                Column::new("word".into(), word),
                table::f32_lists("probs", rows.iter().map(Vec::as_slice)),
                Column::new("label".into(), label),
                Column::new("max_prob".into(), max_prob),
            ],
        )?;
        let mut meta = ctx.provenance();
        meta.push(("mtmt.labels".into(), serde_json::to_string(&labels)?));
        table::write(&mut df, &ctx.output("token_probs.parquet"), meta)
    }
}

/// The recognizer teacher: pretrained encoder plus what `teacher_ner` trained.
pub fn load_teacher(
    encoder: &EncoderFiles,
    n_labels: usize,
    trained: &std::path::Path,
    device: Device,
) -> anyhow::Result<Tagger> {
    let mut tagger = Tagger::pretrained(&encoder.config, &encoder.weights, n_labels, 0.0, device, 0)?;
    tagger.load_trained(trained)?;
    Ok(tagger)
}

/// The recognizer teacher's distributions, per sentence id: [words x labels] row-major.
pub fn read_token_probs(path: &std::path::Path) -> anyhow::Result<HashMap<u32, Vec<f32>>> {
    let df = table::read(path)?;
    let sentences: Vec<u32> = df.column("sentence_id")?.u32()?.into_no_null_iter().collect();
    let probs = table::read_f32_lists(&df, "probs")?;
    let mut out: HashMap<u32, Vec<f32>> = HashMap::new();
    // Rows are in (sentence, word) order.
    for (s, p) in sentences.into_iter().zip(probs) {
        out.entry(s).or_default().extend(p);
    }
    Ok(out)
}

pub struct ScorePairs;

#[derive(Deserialize)]
struct PairParams {
    seed: u64,
    labels: Vec<String>,
    encoder: EncoderFiles,
    score: ScoreConfig,
    distill: StudentSentences,
}

impl Stage for ScorePairs {
    fn name(&self) -> &'static str {
        "score_pairs"
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "target word pairs in sentence groups, sampled without gold labels, scored by the similarity teacher"
    }
    fn inputs(&self, cfg: &Config) -> Vec<&'static str> {
        let evaluator = if cfg.method == Method::Mtst { "teacher_mt" } else { "teacher_sim" };
        vec!["tokenize_target", "score_tokens", evaluator]
    }
    fn reads(&self) -> &'static [&'static str] {
        &["seed", "labels", "score", STUDENT_SENTENCES]
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["pairs.parquet", "groups.parquet"]
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let p: PairParams = ctx.params()?;
        let device = ctx.device()?;
        let labels = bio_labels(&p.labels);
        let set = target_train(ctx, &p.distill)?;

        // The similarity teacher's vector for every target word, one forward per sentence.
        let sim = Siamese::pretrained(&p.encoder.config, &p.encoder.weights, device)?;
        let evaluator = if ctx.has_input("teacher_mt") { "teacher_mt" } else { "teacher_sim" };
        sim.load_trained(&ctx.input(evaluator, "model.safetensors"))?;
        let started = std::time::Instant::now();
        let states = per_sentence(&set, &inference_plan(), device, |batch| sim.word_states(batch, false));
        let sentences_per_s = set.len() as f64 / started.elapsed().as_secs_f64();
        let offsets = prefix_offsets(states.iter().map(|s| s.size()[0] as usize));
        let all_states = Tensor::cat(&states, 0);

        // Groups of similar length, then pairs inside each group.
        let plan = BatchPlan { batch_size: p.score.group_size, max_tokens: None, chunk_batches: 50 };
        let groups = epoch_batches(&set.lengths(), &plan, &mut Rng::derived(p.seed, "pair groups"));
        let predicted = predicted_classes(&ctx.input("score_tokens", "token_probs.parquet"), &labels)?;
        let started = std::time::Instant::now();
        let (mut group_col, mut sa, mut wa, mut sb, mut wb, mut ia, mut ib) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for (g, idx) in groups.iter().enumerate() {
            let mut rng = Rng::derived(p.seed, &format!("target pairs {g}"));
            let n = p.score.pairs_per_sentence * idx.len();
            let pairs = match p.score.sampling {
                PairSampling::Uniform => {
                    uniform(&idx.iter().map(|&i| set.word_starts[i].len()).collect::<Vec<_>>(), n, &mut rng)
                }
                PairSampling::Balanced => {
                    let classes: Vec<Vec<u32>> = idx.iter().map(|&i| predicted[&set.sentence_ids[i]].clone()).collect();
                    balanced(&classes, n, Balance { positive_ratio: 0.5, o_anchor_ratio: 0.2 }, &mut rng)
                }
            };
            for pair in pairs {
                let (a, b) = (idx[pair.a.row], idx[pair.b.row]);
                group_col.push(g as u32);
                sa.push(set.sentence_ids[a]);
                wa.push(pair.a.word as u32);
                sb.push(set.sentence_ids[b]);
                wb.push(pair.b.word as u32);
                ia.push((offsets[a] + pair.a.word) as i64);
                ib.push((offsets[b] + pair.b.word) as i64);
            }
        }
        let t = tch::no_grad(|| {
            let pick = |i: &[i64]| all_states.index_select(0, &Tensor::from_slice(i).to_device(all_states.device()));
            similarity(&pick(&ia), &pick(&ib)).to_kind(Kind::Float).to_device(Device::Cpu)
        });
        let t = Vec::<f32>::try_from(t)?;
        let pairs_per_s = t.len() as f64 / started.elapsed().as_secs_f64();
        ctx.log(format!(
            "{} groups, {} pairs; similarity teacher {sentences_per_s:.0} sentences/s, pairs scored at {pairs_per_s:.0}/s",
            groups.len(),
            t.len()
        ));
        ctx.summary.insert("pairs".into(), t.len().into());
        ctx.summary.insert("groups".into(), groups.len().into());
        ctx.summary.insert("sentences_per_s".into(), sentences_per_s.into());
        ctx.summary.insert("pairs_per_s".into(), pairs_per_s.into());

        let n = t.len();
        let mut pairs = DataFrame::new(
            n,
            vec![
                Column::new("pair_id".into(), (0..n as u32).collect::<Vec<_>>()),
                Column::new("group".into(), group_col),
                Column::new("sentence_a".into(), sa),
                Column::new("word_a".into(), wa),
                Column::new("sentence_b".into(), sb),
                Column::new("word_b".into(), wb),
                Column::new("t".into(), t),
            ],
        )?;
        table::write(&mut pairs, &ctx.output("pairs.parquet"), ctx.provenance())?;
        let members: Vec<Vec<u32>> =
            groups.iter().map(|idx| idx.iter().map(|&i| set.sentence_ids[i]).collect()).collect();
        let mut groups_df = DataFrame::new(
            members.len(),
            vec![
                Column::new("group".into(), (0..members.len() as u32).collect::<Vec<_>>()),
                table::u32_lists("sentence_ids", members.iter().map(Vec::as_slice)),
            ],
        )?;
        table::write(&mut groups_df, &ctx.output("groups.parquet"), ctx.provenance())
    }
}

/// The recognizer teacher's predicted entity type of every word, per sentence id.
fn predicted_classes(path: &std::path::Path, labels: &[String]) -> anyhow::Result<HashMap<u32, Vec<u32>>> {
    let df = table::read(path)?;
    let sentences: Vec<u32> = df.column("sentence_id")?.u32()?.into_no_null_iter().collect();
    let predicted = df.column("label")?.str()?.clone();
    let mut out: HashMap<u32, Vec<u32>> = HashMap::new();
    for (s, label) in sentences.into_iter().zip(predicted.iter()) {
        let id = labels.iter().position(|l| Some(l.as_str()) == label).unwrap_or(0) as u32;
        out.entry(s).or_default().push(class_of(id, SameClass::Type));
    }
    Ok(out)
}
