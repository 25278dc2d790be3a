//! `score_tokens`: the method's recognizer teacher reads the unlabeled target train text,
//! once per sentence, and keeps every word's label distribution (`token_probs`): what a
//! student learns from, and how MTMT's pairs are balanced. Where the method has several
//! recognizers (its variants: AdvPicker's seed teachers), each reads the text and the
//! method merges their distributions.

use polars::prelude::*;
use serde::Deserialize;
use tch::Tensor;

use mtmt_methods::{Method, Spec};
use mtmt_ner::table;
use mtmt_stage::artifacts::{load_tagger, target_train, EncoderFiles, StudentSentences, ENCODER_FILES, INFERENCE};
use mtmt_stage::files;
use mtmt_stage::settings::{bio_labels, ConfigValues, ScoringConfig};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;
use mtmt_stage::summary;
use mtmt_stage::variant::Variant;

pub struct ScoreTokens;

#[derive(Deserialize)]
pub struct Params {
    labels: Vec<String>,
    encoder: EncoderFiles,
    distill: StudentSentences,
    /// Out of the view when off (`config::ADDED_LATER`).
    #[serde(default)]
    scoring: ScoringConfig,
}

impl StageSpec for ScoreTokens {
    fn name(&self) -> StageName {
        StageName::ScoreTokens
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "recognizer teacher's label distribution for every target train word"
    }
    fn inputs(&self, method: Method) -> Vec<StageName> {
        let spec = method.spec();
        [StageName::TokenizeTarget, spec.recognizer()]
            .into_iter()
            .chain(spec.merge_inputs().iter().copied())
            .chain(spec.voters().iter().copied())
            .collect()
    }
    fn variant_inputs(&self, cfg: ConfigValues) -> Vec<(StageName, Variant)> {
        let spec = cfg.get::<Method>("method").spec();
        spec.recognizer_variants(cfg).into_iter().map(|v| (spec.recognizer(), v)).collect()
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[files::TOKEN_PROBS]
    }
}

/// Per sentence, whether each word's top label under `probs` is also its top label under
/// every voter's distributions (`votes[v][sentence]`, words x labels).
pub fn agreement(probs: &[Tensor], votes: &[Vec<Tensor>]) -> Vec<Tensor> {
    probs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let top = p.argmax(-1, false);
            votes.iter().fold(top.ones_like().to_kind(tch::Kind::Bool), |all, v| {
                all.logical_and(&top.eq_tensor(&v[i].argmax(-1, false)))
            })
        })
        .collect()
}

impl Stage for ScoreTokens {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let device = ctx.device()?;
        let labels = bio_labels(&p.labels);
        let set = target_train(ctx, p.distill.max_sentences)?;
        let spec = ctx.method.spec();
        let recognizer = spec.recognizer();
        let mut models = vec![ctx.input(recognizer, files::MODEL)];
        models.extend(ctx.variant_inputs(recognizer, files::MODEL));
        let scored = |model: &std::path::Path| -> anyhow::Result<Vec<Tensor>> {
            let mut tagger = load_tagger(&p.encoder, labels.len(), model, device)?;
            tagger.bert.infer_bf16 = p.scoring.bf16;
            Ok(tagger.predict_probs(&set, &INFERENCE))
        };
        let started = std::time::Instant::now();
        let per_teacher = models.iter().map(|m| scored(m)).collect::<anyhow::Result<Vec<_>>>()?;
        let rate = (set.len() * models.len()) as f64 / started.elapsed().as_secs_f64();
        ctx.log(format!("{} sentences scored by {} teacher(s) ({rate:.0} sentences/s)", set.len(), models.len()));
        let probs = spec.merge_recognizers(per_teacher, &set.sentence_ids, ctx)?;
        let votes =
            spec.voters().iter().map(|&v| scored(&ctx.input(v, files::MODEL))).collect::<anyhow::Result<Vec<_>>>()?;
        let agree = (!votes.is_empty()).then(|| agreement(&probs, &votes));
        ctx.summary.insert(summary::SENTENCES_PER_S.into(), rate.into());

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
        if let Some(warning) =
            mtmt_ner::health::predictions("the recognizer teacher", "the target train text", &[&label[..]])
        {
            ctx.warn(warning);
        }
        let mut columns = vec![
            Column::new("sentence_id".into(), sentence),
            Column::new("word".into(), word),
            table::f32_lists("probs", rows.iter().map(Vec::as_slice)),
            Column::new("label".into(), label),
            Column::new("max_prob".into(), max_prob),
        ];
        if let Some(agree) = agree {
            let flags: Vec<bool> = agree.iter().flat_map(|a| Vec::<bool>::try_from(a).expect("bool flags")).collect();
            let share = flags.iter().filter(|&&a| a).count() as f64 / flags.len().max(1) as f64;
            ctx.log(format!("all {} teachers agree on {:.1}% of the words", spec.voters().len() + 1, 100.0 * share));
            ctx.summary.insert(summary::AGREEMENT.into(), share.into());
            columns.push(Column::new("agree".into(), flags));
        }
        let mut df = DataFrame::new(columns[0].len(), columns)?;
        let mut meta = ctx.provenance();
        meta.push(("mtmt.labels".into(), serde_json::to_string(&labels)?));
        table::write(&mut df, &ctx.output(files::TOKEN_PROBS), meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_agrees_only_when_every_voter_has_the_same_top_label() {
        let probs = |rows: &[[f32; 3]]| Tensor::from_slice(&rows.concat()).view([rows.len() as i64, 3]);
        let primary = [probs(&[[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])];
        let src = vec![probs(&[[0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.5, 0.2, 0.3]])];
        let trans = vec![probs(&[[0.5, 0.4, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])];
        let flags = agreement(&primary, &[src, trans]);
        assert_eq!(Vec::<bool>::try_from(&flags[0]).unwrap(), [true, false, false]);
        assert_eq!(Vec::<bool>::try_from(&agreement(&primary, &[])[0]).unwrap(), [true; 3]);
    }
}
