//! `score_pairs` (methods that learn from pairs): groups the target train sentences
//! by length (a group is one student batch), samples word pairs inside each group
//! without gold labels (uniformly, or balanced by the recognizer's predicted types),
//! runs the method's pair scorer (the similarity teacher) once per sentence, and
//! computes t for all pairs with vector operations (calibrated where the teacher fitted a
//! calibration: `similarity.calibrated`; the table's metadata records it).

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::*;
use serde::Deserialize;
use tch::{Device, Kind, Tensor};

use super::calibration::Calibration;
use super::pairs::{balanced, class_of, uniform, Balance, Pair};
use super::siamese::Siamese;
use super::{PairSampling, SameClass, ScoreConfig, SimilarityConfig};
use crate::{Method, Spec};
use mtmt_ner::model::heads::cosine;
use mtmt_ner::model::Pass;
use mtmt_ner::table;
use mtmt_ner::train::batching::{epoch_batches, BatchPlan};
use mtmt_ner::train::data::{per_sentence, prefix_offsets, EncodedSet};
use mtmt_ner::train::rng::Rng;
use mtmt_stage::artifacts::{target_train, EncoderFiles, StudentSentences, ENCODER_FILES, INFERENCE};
use mtmt_stage::files;
use mtmt_stage::settings::{bio_labels, ScoringConfig};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;
use mtmt_stage::summary;

pub struct ScorePairs;

#[derive(Deserialize)]
pub struct Params {
    seed: u64,
    labels: Vec<String>,
    encoder: EncoderFiles,
    score: ScoreConfig,
    distill: StudentSentences,
    /// Out of the view when off (`config::ADDED_LATER`).
    #[serde(default)]
    similarity: SimilarityConfig,
    /// Out of the view when off (`config::ADDED_LATER`).
    #[serde(default)]
    scoring: ScoringConfig,
}

/// The teacher that scores pairs. A method without pairs never runs this stage; its key
/// is still planned (with the similarity teacher), as every stage's is.
fn pair_scorer(method: Method) -> StageName {
    method.spec().pair_scorer().unwrap_or(StageName::TeacherSim)
}

impl StageSpec for ScorePairs {
    fn name(&self) -> StageName {
        StageName::ScorePairs
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "target word pairs in sentence groups, sampled without gold labels, scored by the similarity teacher"
    }
    fn inputs(&self, method: Method) -> Vec<StageName> {
        vec![StageName::TokenizeTarget, StageName::ScoreTokens, pair_scorer(method)]
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[super::PAIRS, super::GROUPS]
    }
}

impl Stage for ScorePairs {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let device = ctx.device()?;
        let labels = bio_labels(&p.labels);
        let set = target_train(ctx, p.distill.max_sentences)?;

        // The similarity teacher's vector for every target word, one forward per sentence.
        let mut sim = Siamese::pretrained(&p.encoder.config, &p.encoder.weights, device)?;
        sim.bert.infer_bf16 = p.scoring.bf16;
        sim.load_trained(&ctx.input(pair_scorer(ctx.method), files::MODEL))?;
        let started = std::time::Instant::now();
        let states = per_sentence(&set, &INFERENCE, device, |batch| sim.word_states(batch, Pass::Infer));
        let sentences_per_s = set.len() as f64 / started.elapsed().as_secs_f64();
        let offsets = prefix_offsets(states.iter().map(|s| s.size()[0] as usize));
        let all_states = Tensor::cat(&states, 0);

        // Groups of similar length, then pairs inside each group.
        let plan = BatchPlan { batch_size: p.score.group_size, max_tokens: None, chunk_batches: 50 };
        let groups = epoch_batches(&set.lengths(), &plan, &mut Rng::derived(p.seed, "pair groups"));
        let token_probs = ctx.input(StageName::ScoreTokens, files::TOKEN_PROBS);
        let predicted = predicted_classes(&token_probs, &labels)?;
        let started = std::time::Instant::now();
        let (mut group_col, mut sa, mut wa, mut sb, mut wb, mut ia, mut ib) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for (g, idx) in groups.iter().enumerate() {
            for pair in group_pairs(p, &set, g, idx, &predicted, &token_probs)? {
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
        let calibration = calibration(p, ctx)?;
        let t = tch::no_grad(|| {
            let pick = |i: &[i64]| all_states.index_select(0, &Tensor::from_slice(i).to_device(all_states.device()));
            calibration.apply(&cosine(&pick(&ia), &pick(&ib))).to_kind(Kind::Float).to_device(Device::Cpu)
        });
        let t = Vec::<f32>::try_from(t)?;
        let pairs_per_s = t.len() as f64 / started.elapsed().as_secs_f64();
        ctx.log(format!(
            "{} groups, {} pairs; similarity teacher {sentences_per_s:.0} sentences/s, pairs scored at {pairs_per_s:.0}/s",
            groups.len(),
            t.len()
        ));
        ctx.summary.insert(summary::PAIRS.into(), t.len().into());
        ctx.summary.insert(summary::GROUPS.into(), groups.len().into());
        ctx.summary.insert(summary::SENTENCES_PER_S.into(), sentences_per_s.into());
        ctx.summary.insert(summary::PAIRS_PER_S.into(), pairs_per_s.into());

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
        let mut meta = ctx.provenance();
        if p.similarity.calibrated {
            meta.push(calibration.metadata());
        }
        table::write(&mut pairs, &ctx.output(super::PAIRS), meta)?;
        write_groups(ctx, &set, &groups)
    }
}

/// The pairs of group `g` (sentences `idx` of `set`): `score.pairs_per_sentence` per
/// sentence, drawn uniformly over its words or balanced over the recognizer's predicted
/// classes (`predicted`, read from `token_probs`), from the group's own random stream.
fn group_pairs(
    p: &Params,
    set: &EncodedSet,
    g: usize,
    idx: &[usize],
    predicted: &HashMap<u32, Vec<u32>>,
    token_probs: &Path,
) -> anyhow::Result<Vec<Pair>> {
    let mut rng = Rng::derived(p.seed, &format!("target pairs {g}"));
    let n = p.score.pairs_per_sentence * idx.len();
    Ok(match p.score.sampling {
        PairSampling::Uniform => {
            uniform(&idx.iter().map(|&i| set.word_starts[i].len()).collect::<Vec<_>>(), n, &mut rng)
        }
        PairSampling::Balanced => {
            let classes = idx
                .iter()
                .map(|&i| {
                    let id = set.sentence_ids[i];
                    // A sentence without a kept word has no row in `token_probs`.
                    let classes = predicted.get(&id).cloned().unwrap_or_default();
                    anyhow::ensure!(
                        classes.len() == set.word_starts[i].len(),
                        "{}: sentence {id} has {} words, the target text {}",
                        token_probs.display(),
                        classes.len(),
                        set.word_starts[i].len()
                    );
                    Ok(classes)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            balanced(&classes, n, Balance { positive_ratio: 0.5, o_anchor_ratio: 0.2 }, &mut rng)
        }
    })
}

/// The similarity teacher's calibration where `similarity.calibrated`, else the identity.
fn calibration(p: &Params, ctx: &StageContext) -> anyhow::Result<Calibration> {
    if !p.similarity.calibrated {
        return Ok(Calibration::IDENTITY);
    }
    let path = ctx.input(pair_scorer(ctx.method), super::CALIBRATION);
    serde_json::from_str(&fs_err::read_to_string(&path)?)
        .map_err(|e| anyhow::anyhow!("{}: not a calibration: {e}", path.display()))
}

/// `groups.parquet`: each group's sentence ids (one student batch each).
fn write_groups(ctx: &StageContext, set: &EncodedSet, groups: &[Vec<usize>]) -> anyhow::Result<()> {
    let members: Vec<Vec<u32>> = groups.iter().map(|idx| idx.iter().map(|&i| set.sentence_ids[i]).collect()).collect();
    let mut groups_df = DataFrame::new(
        members.len(),
        vec![
            Column::new("group".into(), (0..members.len() as u32).collect::<Vec<_>>()),
            table::u32_lists("sentence_ids", members.iter().map(Vec::as_slice)),
        ],
    )?;
    table::write(&mut groups_df, &ctx.output(super::GROUPS), ctx.provenance())
}

/// The recognizer teacher's predicted entity type of every word (`token_probs`), per
/// sentence id; a label outside `labels` is an error naming the file and row.
fn predicted_classes(path: &Path, labels: &[String]) -> anyhow::Result<HashMap<u32, Vec<u32>>> {
    let df = table::read_columns(path, &["sentence_id", "label"])?;
    let sentences: Vec<u32> = table::u32_column(&df, path, "sentence_id")?;
    let predicted = df.column("label")?.str()?.clone();
    let mut out: HashMap<u32, Vec<u32>> = HashMap::new();
    for (row, (s, label)) in sentences.into_iter().zip(predicted.iter()).enumerate() {
        let id = labels.iter().position(|l| Some(l.as_str()) == label).ok_or_else(|| {
            anyhow::anyhow!("{}: row {row}: label {label:?} is not one of {labels:?}", path.display())
        })?;
        out.entry(s).or_default().push(class_of(id as u32, SameClass::Type));
    }
    Ok(out)
}
