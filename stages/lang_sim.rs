//! `lang_sim`: multi-source TSL's teacher weights (methods.md, TSL paper 3.2.2). The
//! pretrained encoder (not fine-tuned) pools every source train sentence into a vector; the
//! language-similarity model (`model::lang_sim`) learns to tell the source languages apart
//! from those vectors; each target train sentence the student learns from then weighs the
//! source languages' teachers by the softmax of its scores at temperature = the variance of
//! all scores. Source languages: the config's `source`, then `sources` in order (their
//! tokenized text comes from the variants of `tokenize_source`). Writes
//! `teacher_weights.parquet` (sentence_id, one `weight_<lang>` column per source language,
//! summing to 1) and, when trained, `lang_sim.safetensors`. Target text without tags only.

use polars::prelude::*;
use serde::Deserialize;
use tch::{nn, Device, Kind, Tensor};

use crate::artifacts::{target_train, EncoderFiles, StudentSentences, ENCODER_FILES, STUDENT_SENTENCES};
use crate::config::{Config, MultiSourceConfig, Weighting};
use crate::files;
use crate::method::Method;
use crate::model::lang_sim::{sentence_vectors, sentence_weights, LanguageSimilarity, PREFIX};
use crate::model::params;
use crate::model::tagger::Tagger;
use crate::side::{Side, Split};
use crate::stage::{Stage, StageContext, StageSpec};
use crate::stage_name::StageName;
use crate::summary;
use crate::table;
use crate::train::data::EncodedSet;
use crate::train::rng::Rng;
use crate::variant::Variant;

pub struct LangSim;

#[derive(Deserialize)]
pub struct Params {
    seed: u64,
    encoder: EncoderFiles,
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
        vec![StageName::IngestSource, StageName::TokenizeSource, StageName::TokenizeTarget]
    }
    fn variant_inputs(&self, cfg: &Config) -> Vec<(StageName, Variant)> {
        // Only where the stage runs: a missing `sources` file stops no other method.
        let sources = cfg.sources.iter().filter(|_| cfg.method == Method::TslMulti).map(Variant::source);
        sources.flat_map(|v| [(StageName::IngestSource, v.clone()), (StageName::TokenizeSource, v)]).collect()
    }
    fn reads(&self) -> &'static [&'static str] {
        &["seed", "multi_source", STUDENT_SENTENCES]
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[files::TEACHER_WEIGHTS, files::LANG_SIM]
    }
}

/// One source language: its code (from its sentence table) and its encoded train split.
struct Language {
    lang: String,
    train: EncodedSet,
    dev: Option<EncodedSet>,
}

fn languages(ctx: &StageContext, max: usize) -> anyhow::Result<Vec<Language>> {
    let sentences = files::sentences(Side::Source, Split::Train);
    let mut ingested = vec![ctx.input(StageName::IngestSource, sentences)];
    ingested.extend(ctx.variant_inputs(StageName::IngestSource, sentences));
    let encoded = |split| {
        let mut paths = vec![ctx.input(StageName::TokenizeSource, files::encoded(Side::Source, split))];
        paths.extend(ctx.variant_inputs(StageName::TokenizeSource, files::encoded(Side::Source, split)));
        paths
    };
    let (train, dev) = (encoded(Split::Train), encoded(Split::Dev));
    ingested
        .iter()
        .zip(train.iter().zip(&dev))
        .map(|(sentences, (train, dev))| {
            let df = table::read_columns(sentences, &["lang"])?;
            let lang = df.column("lang")?.str()?.get(0).unwrap_or_default().to_string();
            let dev = dev.exists().then(|| EncodedSet::read(dev)).transpose()?;
            Ok(Language { lang, train: EncodedSet::read(train)?.truncated(max), dev })
        })
        .collect()
}

impl Stage for LangSim {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let device = ctx.device()?;
        let ms = &p.multi_source;
        let languages = languages(ctx, ms.max_sentences)?;
        let target = target_train(ctx, p.distill.max_sentences)?;
        let k = languages.len();
        let weights = if ms.weighting == Weighting::Uniform {
            Tensor::full([target.len() as i64, k as i64], 1.0 / k as f64, (Kind::Float, Device::Cpu))
        } else {
            let encoder = Tagger::pretrained(&p.encoder.config, &p.encoder.weights, 1, 0.0, device, p.seed)?;
            let vectors = |set: &EncodedSet| sentence_vectors(&encoder.bert, set, device);
            let started = std::time::Instant::now();
            let train: Vec<Tensor> = languages.iter().map(|l| vectors(&l.train)).collect();
            let n: usize = languages.iter().map(|l| l.train.len()).sum();
            ctx.log(format!("{n} source sentences pooled in {:.1}s", started.elapsed().as_secs_f64()));
            let model = train_model(ctx, p, &train)?;
            let dev: Vec<Option<Tensor>> = languages.iter().map(|l| l.dev.as_ref().map(vectors)).collect();
            report_accuracy(ctx, &model, &languages, &dev)?;
            let scores = tch::no_grad(|| model.forward(&vectors(&target)));
            let per_sentence = sentence_weights(&scores);
            match ms.weighting {
                Weighting::Corpus => per_sentence.mean_dim(0, true, Kind::Float).expand([target.len() as i64, -1], true),
                _ => per_sentence,
            }
        };
        let mean = Vec::<f32>::try_from(weights.mean_dim(0, false, Kind::Float))?;
        let shown: Vec<String> = languages.iter().zip(&mean).map(|(l, w)| format!("{} {w:.3}", l.lang)).collect();
        ctx.log(format!("mean teacher weights on {} target sentences: {}", target.len(), shown.join(", ")));
        let means: serde_json::Map<_, _> = languages.iter().zip(&mean).map(|(l, &w)| (l.lang.clone(), w.into())).collect();
        ctx.summary.insert(summary::MEAN_TEACHER_WEIGHTS.into(), means.into());

        let mut columns = vec![Column::new("sentence_id".into(), target.sentence_ids.clone())];
        for (i, l) in languages.iter().enumerate() {
            let w = Vec::<f32>::try_from(weights.select(1, i as i64).contiguous())?;
            columns.push(Column::new(format!("weight_{}", l.lang).into(), w));
        }
        let mut df = DataFrame::new(target.len(), columns)?;
        let mut meta = ctx.provenance();
        meta.push(("mtmt.languages".into(), serde_json::to_string(&languages.iter().map(|l| &l.lang).collect::<Vec<_>>())?));
        table::write(&mut df, &ctx.output(files::TEACHER_WEIGHTS), meta)
    }
}

/// Trains the similarity model on the source languages' sentence vectors (`train[k]`: the
/// k-th language's), the embeddings starting at each language's mean vector; saves it.
fn train_model(ctx: &mut StageContext, p: &Params, train: &[Tensor]) -> anyhow::Result<LanguageSimilarity> {
    let ms = &p.multi_source;
    let means = Tensor::stack(&train.iter().map(|t| t.mean_dim(0, false, Kind::Float)).collect::<Vec<_>>(), 0);
    tch::manual_seed(Rng::derived(p.seed, "lang_sim init").next_u64() as i64);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = LanguageSimilarity::new(vs.root() / PREFIX, ms.rank, &means);
    let vectors = Tensor::cat(train, 0);
    let labels: Vec<i64> = train.iter().enumerate().flat_map(|(k, t)| std::iter::repeat_n(k as i64, t.size()[0] as usize)).collect();
    let labels = Tensor::from_slice(&labels);
    let mut opt = params::optimizer(&vs, 0.01, |_| 1.0);
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
    params::save_trained(&vs, &ctx.output(files::LANG_SIM))?;
    Ok(model)
}

/// Logs and records how often the model names the right source language of the sources'
/// dev sentences (where a source has a dev split).
fn report_accuracy(
    ctx: &mut StageContext,
    model: &LanguageSimilarity,
    languages: &[Language],
    dev: &[Option<Tensor>],
) -> anyhow::Result<()> {
    let mut per_lang = serde_json::Map::new();
    for (k, (l, vectors)) in languages.iter().zip(dev).enumerate() {
        let Some(vectors) = vectors else { continue };
        let predicted = tch::no_grad(|| model.forward(vectors).argmax(-1, false));
        let right = predicted.eq(k as i64).to_kind(Kind::Double).mean(Kind::Double).double_value(&[]);
        per_lang.insert(l.lang.clone(), right.into());
    }
    if !per_lang.is_empty() {
        ctx.log(format!("language identification accuracy on source dev: {}", serde_json::Value::from(per_lang.clone())));
        ctx.summary.insert(summary::SOURCE_DEV.into(), per_lang.into());
    }
    Ok(())
}
