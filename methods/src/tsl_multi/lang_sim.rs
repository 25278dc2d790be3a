//! `lang_sim`: multi-source TSL's teacher weights (methods.md, TSL paper 3.2.2). The
//! language-similarity model (`similarity_model`) learns to tell the source languages apart
//! from their sentences' pooled vectors (`pool_source`); each target train sentence the
//! student learns from (`pool_target`) then weighs the source languages' teachers by the
//! softmax of its scores at temperature = the variance of all scores. Source languages: the
//! config's `source`, then `sources` in order (the variants of `pool_source`). Writes
//! `teacher_weights.parquet` (sentence_id, one `weight_<lang>` column per source language,
//! summing to 1) and, when trained, `lang_sim.safetensors`. Target text without tags only.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use polars::prelude::*;
use serde::Deserialize;
use tch::{nn, Device, Kind, Tensor};

use super::similarity_model::{sentence_weights, LanguageSimilarity, PREFIX};
use super::{MultiSourceConfig, Weighting};
use crate::{Method, Spec};
use mtmt_ner::model::params;
use mtmt_ner::table;
use mtmt_ner::train::data::EncodedSet;
use mtmt_ner::train::optim::{Decay, Optimizer};
use mtmt_ner::train::rng::Rng;
use mtmt_stage::artifacts::StudentSentences;
use mtmt_stage::files;
use mtmt_stage::settings::{ConfigValues, Corpus};
use mtmt_stage::side::{Side, Split};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;
use mtmt_stage::summary;
use mtmt_stage::variant::Variant;

pub struct LangSim;

#[derive(Deserialize)]
pub struct Params {
    seed: u64,
    multi_source: MultiSourceConfig,
    distill: StudentSentences,
}

impl StageSpec for LangSim {
    fn name(&self) -> StageName {
        StageName::LangSim
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "multi-source TSL: per target sentence, the weight of each source language's teacher"
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        vec![StageName::IngestSource, StageName::PoolSource, StageName::TokenizeTarget, StageName::PoolTarget]
    }
    fn variant_inputs(&self, cfg: ConfigValues) -> Vec<(StageName, Variant)> {
        // Only where a method merges with these weights: a missing `sources` file stops no
        // other method.
        let needed = cfg.get::<Method>("method").spec().merge_inputs().contains(&StageName::LangSim);
        let sources = cfg.get::<Vec<Corpus>>("sources");
        let sources = sources.iter().filter(|_| needed).map(Variant::source);
        sources.flat_map(|v| [(StageName::IngestSource, v.clone()), (StageName::PoolSource, v)]).collect()
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[super::TEACHER_WEIGHTS, super::LANG_SIM]
    }
}

/// One source language: its code (from its sentence table) and its sentences' vectors.
struct Language {
    lang: String,
    train: Tensor,
    dev: Option<Tensor>,
}

/// The pooled vectors of `file` (`pool_*`'s `vectors.safetensors`) by split name.
fn vectors(file: &Path) -> anyhow::Result<HashMap<String, Tensor>> {
    let tensors = Tensor::read_safetensors(file).with_context(|| format!("reading {}", file.display()))?;
    Ok(tensors.into_iter().collect())
}

/// The source languages in teacher order, their train vectors cut to the first `max` (0 = all).
fn languages(ctx: &StageContext, max: usize) -> anyhow::Result<Vec<Language>> {
    let sentences = files::sentences(Side::Source, Split::Train);
    let mut ingested = vec![ctx.input(StageName::IngestSource, sentences)];
    ingested.extend(ctx.variant_inputs(StageName::IngestSource, sentences));
    let mut pooled = vec![ctx.input(StageName::PoolSource, super::VECTORS)];
    pooled.extend(ctx.variant_inputs(StageName::PoolSource, super::VECTORS));
    ingested
        .iter()
        .zip(&pooled)
        .map(|(sentences, pooled)| {
            let df = table::read_columns(sentences, &["lang"])?;
            let lang = df.column("lang")?.str()?.get(0).unwrap_or_default().to_string();
            let mut v = vectors(pooled)?;
            let train =
                v.remove(Split::Train.name()).with_context(|| format!("{}: no train vectors", pooled.display()))?;
            let n = train.size()[0];
            let train = if max > 0 { train.narrow(0, 0, n.min(max as i64)) } else { train };
            Ok(Language { lang, train, dev: v.remove(Split::Dev.name()) })
        })
        .collect()
}

impl Stage for LangSim {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let ms = &p.multi_source;
        let languages = languages(ctx, ms.max_sentences)?;
        // The student's sentences: the first `distill.max_sentences` of the target train text,
        // the order of its encoded table and of these vectors.
        let encoded = ctx.input(StageName::TokenizeTarget, files::encoded(Side::Target, Split::Train));
        let target_ids = EncodedSet::read(&encoded)?.truncated(p.distill.max_sentences).sentence_ids;
        let n = target_ids.len() as i64;
        let k = languages.len();
        let weights = if ms.weighting == Weighting::Uniform {
            Tensor::full([n, k as i64], 1.0 / k as f64, (Kind::Float, Device::Cpu))
        } else {
            let target = &vectors(&ctx.input(StageName::PoolTarget, super::VECTORS))?[Split::Train.name()];
            let model = train_model(ctx, p, &languages)?;
            report_accuracy(ctx, &model, &languages)?;
            let scores = tch::no_grad(|| model.forward(&target.narrow(0, 0, n)));
            let per_sentence = sentence_weights(&scores);
            match ms.weighting {
                Weighting::Corpus => per_sentence.mean_dim(0, true, Kind::Float).expand([n, -1], true),
                _ => per_sentence,
            }
        };
        let mean = Vec::<f32>::try_from(weights.mean_dim(0, false, Kind::Float))?;
        let shown: Vec<String> = languages.iter().zip(&mean).map(|(l, w)| format!("{} {w:.3}", l.lang)).collect();
        ctx.log(format!("mean teacher weights on {} target sentences: {}", n, shown.join(", ")));
        let means: serde_json::Map<_, _> =
            languages.iter().zip(&mean).map(|(l, &w)| (l.lang.clone(), w.into())).collect();
        ctx.summary.insert(summary::MEAN_TEACHER_WEIGHTS.into(), means.into());

        let mut columns = vec![Column::new("sentence_id".into(), target_ids)];
        for (i, l) in languages.iter().enumerate() {
            let w = Vec::<f32>::try_from(weights.select(1, i as i64).contiguous())?;
            columns.push(Column::new(format!("weight_{}", l.lang).into(), w));
        }
        let mut df = DataFrame::new(n as usize, columns)?;
        let mut meta = ctx.provenance();
        meta.push((
            "mtmt.languages".into(),
            serde_json::to_string(&languages.iter().map(|l| &l.lang).collect::<Vec<_>>())?,
        ));
        table::write(&mut df, &ctx.output(super::TEACHER_WEIGHTS), meta)
    }
}

/// Trains the similarity model to name each source language's train vectors, the
/// embeddings starting at each language's mean vector; saves it.
fn train_model(ctx: &mut StageContext, p: &Params, languages: &[Language]) -> anyhow::Result<LanguageSimilarity> {
    let train: Vec<&Tensor> = languages.iter().map(|l| &l.train).collect();
    let ms = &p.multi_source;
    let means = Tensor::stack(&train.iter().map(|t| t.mean_dim(0, false, Kind::Float)).collect::<Vec<_>>(), 0);
    tch::manual_seed(Rng::derived(p.seed, "lang_sim init").next_u64() as i64);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = LanguageSimilarity::new(vs.root() / PREFIX, ms.rank, &means);
    let vectors = Tensor::cat(&train, 0);
    let labels: Vec<i64> =
        train.iter().enumerate().flat_map(|(k, t)| std::iter::repeat_n(k as i64, t.size()[0] as usize)).collect();
    let labels = Tensor::from_slice(&labels);
    let mut opt = params::optimizer(&vs, Decay { rate: 0.01, optimizer: Optimizer::AdamW }, |_| 1.0);
    let mut losses = Vec::with_capacity(ms.epochs);
    for epoch in 0..ms.epochs {
        let mut order: Vec<i64> = (0..labels.size()[0]).collect();
        Rng::derived(p.seed, &format!("lang_sim epoch {epoch}")).shuffle(&mut order);
        let (mut total, mut steps) = (0.0, 0);
        for batch in order.chunks(ms.batch_size) {
            let rows = Tensor::from_slice(batch);
            let scores = model.forward(&vectors.index_select(0, &rows));
            let loss = scores.cross_entropy_for_logits(&labels.index_select(0, &rows))
                + model.orthogonality() * ms.orthogonality;
            opt.zero_grad();
            loss.backward();
            opt.step(ms.lr);
            total += loss.double_value(&[]);
            steps += 1;
        }
        losses.push(total / steps as f64);
    }
    ctx.log(format!("language identification: {} epochs, mean loss per epoch {losses:.4?}", ms.epochs));
    ctx.summary.insert(summary::EPOCH_LOSSES.into(), losses.into());
    params::save_trained(&vs, &ctx.output(super::LANG_SIM))?;
    Ok(model)
}

/// Logs and records how often the model names the right source language of the sources'
/// dev sentences (where a source has a dev split).
fn report_accuracy(ctx: &mut StageContext, model: &LanguageSimilarity, languages: &[Language]) -> anyhow::Result<()> {
    let mut per_lang = serde_json::Map::new();
    for (k, l) in languages.iter().enumerate() {
        let Some(vectors) = &l.dev else { continue };
        let predicted = tch::no_grad(|| model.forward(vectors).argmax(-1, false));
        let right = predicted.eq(k as i64).to_kind(Kind::Double).mean(Kind::Double).double_value(&[]);
        per_lang.insert(l.lang.clone(), right.into());
    }
    if !per_lang.is_empty() {
        ctx.log(format!(
            "language identification accuracy on source dev: {}",
            serde_json::Value::from(per_lang.clone())
        ));
        ctx.summary.insert(summary::SOURCE_DEV.into(), per_lang.into());
    }
    Ok(())
}
