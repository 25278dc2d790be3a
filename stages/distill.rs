//! `distill`: the student, a fresh copy of the pretrained encoder with a
//! classification head, trained on unlabeled target text from the teachers' outputs.
//! TSL: match the recognizer's distribution on every word. MTMT: one forward per
//! group of sentences serves all the group's pairs; per pair the loss is
//!   gamma * (alpha1 * NER(a) + alpha2 * NER(b) + beta * BCE(t_student, t_teacher)),
//! with t_student = sigmoid(cos) of the student's own word states, optionally plus the
//! TSL term over every word of the group.

use std::collections::HashMap;

use serde::Deserialize;
use tch::{Kind, Tensor};

use super::fit::fit;
use super::score::{read_token_probs, target_train, StudentSentences};
use super::teacher_ner::{schedule, EncoderFiles, ENCODER_FILES};
use crate::config::{bio_labels, Config, DistillLossConfig, Method, NerLoss, Student, TrainConfig};
use crate::model::heads::similarity;
use crate::model::siamese::bce;
use crate::model::tagger::{Freeze, Tagger};
use crate::stage::{Stage, StageContext};
use crate::table;
use crate::train::data::{prefix_offsets, Batch, EncodedSet};
use crate::train::trainer::{all_batches, group_batches};

pub struct Distill;

#[derive(Deserialize)]
struct Params {
    seed: u64,
    method: Method,
    labels: Vec<String>,
    encoder: EncoderFiles,
    distill: TrainConfig<Student>,
    distill_loss: DistillLossConfig,
}

/// Per-word distillation loss between student logits and teacher probabilities [n, labels] -> [n].
pub fn ner_loss(logits: &Tensor, teacher: &Tensor, loss: NerLoss) -> Tensor {
    match loss {
        // Soft cross-entropy: KL up to the teacher's (constant) entropy.
        NerLoss::Kl => -(teacher * logits.log_softmax(-1, Kind::Float)).sum_dim_intlist(-1, false, Kind::Float),
        NerLoss::Mse => (logits.softmax(-1, Kind::Float) - teacher).square().mean_dim(-1, false, Kind::Float),
        NerLoss::MseSum => (logits.softmax(-1, Kind::Float) - teacher).square().sum_dim_intlist(-1, false, Kind::Float),
    }
}

/// One MTMT pair with its teacher targets and weights, in group-local word indices.
struct PairRow {
    a: usize,
    b: usize,
    t: f32,
    weights: [f32; 4],
}

impl Stage for Distill {
    fn name(&self) -> &'static str {
        "distill"
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "the student, trained on unlabeled target text from the teachers (TSL or MTMT)"
    }
    fn inputs(&self, cfg: &Config) -> Vec<&'static str> {
        if cfg.method.uses_pairs() {
            vec!["tokenize_target", "score_tokens", "score_pairs", "weights"]
        } else {
            vec!["tokenize_target", "score_tokens"]
        }
    }
    fn reads(&self) -> &'static [&'static str] {
        &["seed", "method", "labels", "distill", "distill_loss"]
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["model.safetensors"]
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let p: Params = ctx.params()?;
        anyhow::ensure!(p.method != Method::Direct, "method = \"direct\" has no student");
        let device = ctx.device()?;
        let labels = bio_labels(&p.labels);
        let set = target_train(ctx, &StudentSentences { max_sentences: p.distill.max_sentences })?;
        let by_id = read_token_probs(&ctx.input("score_tokens", "token_probs.parquet"))?;
        let teacher: Vec<Tensor> = set
            .sentence_ids
            .iter()
            .map(|id| {
                let flat = by_id.get(id).map(Vec::as_slice).unwrap_or(&[]);
                Tensor::from_slice(flat).view([-1, labels.len() as i64])
            })
            .collect();
        let d = &p.distill;
        let mut student =
            Tagger::pretrained(&p.encoder.config, &p.encoder.weights, labels.len(), d.dropout, device, p.seed)?;
        student.freeze(Freeze { embeddings: d.freeze_embeddings, layers: d.freeze_layers });
        let mut opt = student.optimizer(d.weight_decay, d.head_lr_scale);
        let schedule = schedule(d);
        let loss_cfg = p.distill_loss.clone();
        let teacher_batch =
            |idx: &[usize]| Tensor::cat(&idx.iter().map(|&i| &teacher[i]).collect::<Vec<_>>(), 0).to_device(device);
        let all_words =
            |logits: &Tensor, idx: &[usize]| ner_loss(logits, &teacher_batch(idx), loss_cfg.ner).mean(Kind::Float);

        match p.method {
            Method::Tsl => {
                let plan = all_batches(&set.lengths(), &schedule, p.seed);
                ctx.log(format!("TSL: {} target sentences on {device:?}", set.len()));
                fit(ctx, &student.vs, &mut opt, &plan, &schedule, p.seed, |_, idx| {
                    let batch = Batch::new(&set, idx, device);
                    Ok((all_words(&student.logits(&batch, true), idx), batch.tokens))
                })?;
            }
            Method::Mtmt | Method::Mtst => {
                let (groups, pairs) = read_groups(ctx, &set)?;
                let plan = group_batches(&groups, d.epochs, p.seed);
                let n_pairs: usize = pairs.iter().map(Vec::len).sum();
                let per_forward = n_pairs as f64 / set.len() as f64;
                ctx.log(format!(
                    "{:?}: {} groups, {n_pairs} pairs, {per_forward:.2} pairs per sentence forward",
                    p.method,
                    groups.len()
                ));
                ctx.summary.insert("pairs_per_sentence_forward".into(), per_forward.into());
                // Groups are disjoint, so a group's first sentence names it.
                let group_of: HashMap<usize, usize> = groups.iter().enumerate().map(|(g, m)| (m[0], g)).collect();
                fit(ctx, &student.vs, &mut opt, &plan, &schedule, p.seed, |_, idx| {
                    let batch = Batch::new(&set, idx, device);
                    let (states, logits) = student.states_and_logits(&batch, true);
                    let rows = &pairs[group_of[&idx[0]]];
                    let teacher_words = teacher_batch(idx);
                    let pick = |f: fn(&PairRow) -> usize| {
                        Tensor::from_slice(&rows.iter().map(|r| f(r) as i64).collect::<Vec<_>>()).to_device(device)
                    };
                    let column = |f: fn(&PairRow) -> f32| {
                        Tensor::from_slice(&rows.iter().map(f).collect::<Vec<_>>()).to_device(device)
                    };
                    let (a, b) = (pick(|r| r.a), pick(|r| r.b));
                    let ner_a = ner_loss(&logits.index_select(0, &a), &teacher_words.index_select(0, &a), loss_cfg.ner);
                    let ner_b = ner_loss(&logits.index_select(0, &b), &teacher_words.index_select(0, &b), loss_cfg.ner);
                    let sim = similarity(&states.index_select(0, &a), &states.index_select(0, &b));
                    let bce = bce(&sim, &column(|r| r.t));
                    let per_pair = column(|r| r.weights[3])
                        * (column(|r| r.weights[0]) * ner_a
                            + column(|r| r.weights[1]) * ner_b
                            + column(|r| r.weights[2]) * bce);
                    let mut loss = per_pair.mean(Kind::Float);
                    if loss_cfg.all_words {
                        loss = loss + all_words(&logits, idx) * loss_cfg.all_words_weight;
                    }
                    Ok((loss, batch.tokens))
                })?;
            }
            Method::Direct => unreachable!("checked above"),
        }
        student.save_trained(&ctx.output("model.safetensors"))
    }
}

/// The pair groups as set indices, and each group's pairs in group-local word indices.
fn read_groups(ctx: &StageContext, set: &EncodedSet) -> anyhow::Result<(Vec<Vec<usize>>, Vec<Vec<PairRow>>)> {
    let index: HashMap<u32, usize> = set.sentence_ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let groups_df = table::read(&ctx.input("score_pairs", "groups.parquet"))?;
    let groups: Vec<Vec<usize>> = table::read_u32_lists(&groups_df, "sentence_ids")?
        .into_iter()
        .map(|ids| ids.iter().map(|id| index[id]).collect())
        .collect();
    // A word's position among its group's words (the order Batch lays them out in).
    let local: Vec<HashMap<u32, usize>> = groups
        .iter()
        .map(|members| {
            let starts = prefix_offsets(members.iter().map(|&i| set.word_starts[i].len()));
            members.iter().map(|&i| set.sentence_ids[i]).zip(starts).collect()
        })
        .collect();
    let df = table::read(&ctx.input("weights", "pseudo_labels.parquet"))?;
    let u32s = |c: &str| -> anyhow::Result<Vec<u32>> { Ok(df.column(c)?.u32()?.into_no_null_iter().collect()) };
    let f32s = |c: &str| -> anyhow::Result<Vec<f32>> { Ok(df.column(c)?.f32()?.into_no_null_iter().collect()) };
    let (group, sa, wa, sb, wb) =
        (u32s("group")?, u32s("sentence_a")?, u32s("word_a")?, u32s("sentence_b")?, u32s("word_b")?);
    let (t, a1, a2, beta, gamma) = (f32s("t")?, f32s("alpha1")?, f32s("alpha2")?, f32s("beta")?, f32s("gamma")?);
    let mut pairs: Vec<Vec<PairRow>> = (0..groups.len()).map(|_| Vec::new()).collect();
    for k in 0..group.len() {
        let g = group[k] as usize;
        pairs[g].push(PairRow {
            a: local[g][&sa[k]] + wa[k] as usize,
            b: local[g][&sb[k]] + wb[k] as usize,
            t: t[k],
            weights: [a1[k], a2[k], beta[k], gamma[k]],
        });
    }
    // Groups without any pair would give an empty loss: leave them out.
    let keep: Vec<usize> = (0..groups.len()).filter(|&g| !pairs[g].is_empty()).collect();
    Ok((keep.iter().map(|&g| groups[g].clone()).collect(), {
        let mut pairs = pairs;
        keep.iter().map(|&g| std::mem::take(&mut pairs[g])).collect()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ner_losses_vanish_when_the_student_matches_the_teacher() {
        let teacher = Tensor::from_slice(&[0.7f32, 0.2, 0.1]).view([1, 3]);
        let matching = teacher.log();
        let off = Tensor::from_slice(&[0.0f32, 3.0, 0.0]).view([1, 3]);
        for loss in [NerLoss::Mse, NerLoss::MseSum] {
            assert!(ner_loss(&matching, &teacher, loss).double_value(&[0]).abs() < 1e-9);
            assert!(ner_loss(&off, &teacher, loss).double_value(&[0]) > 0.1);
        }
        // Soft cross-entropy is minimal (= the teacher's entropy) at the teacher's distribution.
        let entropy = -(&teacher * teacher.log()).sum(Kind::Float).double_value(&[]);
        assert!((ner_loss(&matching, &teacher, NerLoss::Kl).double_value(&[0]) - entropy).abs() < 1e-6);
        assert!(ner_loss(&off, &teacher, NerLoss::Kl).double_value(&[0]) > entropy + 0.1);
        // The summed MSE is the mean one times the number of classes.
        let ratio = ner_loss(&off, &teacher, NerLoss::MseSum).double_value(&[0])
            / ner_loss(&off, &teacher, NerLoss::Mse).double_value(&[0]);
        assert!((ratio - 3.0).abs() < 1e-5);
    }
}
