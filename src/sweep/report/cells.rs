//! Reading a sweep's cells from the store: each finished cell's scores, stages, encoder
//! and figures (`collect`), nothing recomputed.

use super::*;

/// One cell as the store holds it.
pub struct CellResult {
    pub suite: String,
    pub target: String,
    pub method: String,
    pub seed: u64,
    /// The key the cell's `evaluate` artifact has (or would have) under the current code,
    /// config and data: what identifies the cell in `runs.parquet`.
    pub evaluate_key: String,
    /// `None` until the cell's `evaluate` artifact exists (or a carried row stands for it).
    pub scores: Option<CellScores>,
    /// All of the cell's stages as if run alone, shared teachers included.
    pub wall_s: f64,
    /// The libtorch thread counts its stages ran with, as recorded (`Manifest::computed_on`):
    /// `2`, or `1/2` where its stages differ; `None` where no manifest records it.
    pub threads: Option<String>,
    /// The manifests of the cell's stages the store holds, by stage.
    pub stages: BTreeMap<StageName, (PathBuf, Manifest)>,
    /// True where the figures come from an earlier report's row, not from the store.
    pub carried: bool,
    /// An earlier report's row with this cell's evaluate key whose test F1 is not the
    /// store's (`Carried::fill`): one key, two results.
    pub carried_disagrees: Option<CarriedDisagreement>,
    /// The encoder weights file the cell's plan reads, with its digest.
    pub encoder: Option<InputFile>,
    /// A student's label-free agreement with its recognizer teacher (`analysis::teacher_agreement`).
    pub teacher_agreement: Option<Agreement>,
    /// What a student's pair losses saw (`analysis::pair_mix`).
    pub pair_mix: Option<PairMix>,
    /// How the cell's model was chosen among its epochs (target dev: uses target labels).
    pub selection: Selection,
}

impl CellResult {
    pub(super) fn label(&self) -> String {
        super::super::label(&self.target, &self.method, self.seed)
    }

    /// The recognizer teacher evaluated alone (no student was distilled), at its last
    /// epoch: the model the students of its seed learned from. Told from the cell's
    /// stages, not from the name its sweep gave the method.
    pub fn is_teacher_alone(&self) -> bool {
        self.stages.contains_key(&StageName::Evaluate)
            && !self.stages.contains_key(&StageName::Distill)
            && self.selection == Selection::Last
    }
}

/// What an earlier report's row says of a cell the store also holds, where the two differ.
#[derive(Clone, Debug, PartialEq)]
pub struct CarriedDisagreement {
    /// The carried row's test F1 (the store's stands in the report).
    pub f1: f64,
    /// The thread counts the carried row's stages ran with.
    pub threads: Option<String>,
}

/// A finished cell's scores, as the report uses them (entity-level, x100).
#[derive(Clone, Debug, PartialEq)]
pub struct CellScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// F1 per entity type on the test split.
    pub per_type: BTreeMap<String, f64>,
    pub dev_f1: Option<f64>,
}

impl CellScores {
    pub(super) fn new(test: &Scores, dev: Option<&Scores>) -> Self {
        CellScores {
            precision: test.overall.precision,
            recall: test.overall.recall,
            f1: test.overall.f1,
            per_type: test.per_type.iter().map(|(t, s)| (t.clone(), s.f1)).collect(),
            dev_f1: dev.map(|d| d.overall.f1),
        }
    }
}

/// The thread counts `stages` ran with (`CellResult::threads`).
pub(super) fn threads_of(stages: &BTreeMap<StageName, (PathBuf, Manifest)>) -> Option<String> {
    let counts: BTreeSet<i32> =
        stages.values().filter_map(|(_, m)| m.computed_on.as_ref().map(|c| c.threads)).collect();
    (!counts.is_empty()).then(|| counts.iter().map(i32::to_string).collect::<Vec<_>>().join("/"))
}

/// Reads what the store holds for every cell of `sweep`.
pub fn collect(
    sweep: &Sweep,
    store: &Store,
    registry: &[Box<dyn DynStage>],
    extra: &[String],
) -> anyhow::Result<Vec<CellResult>> {
    let mut digests = Digests::new();
    let mut out = Vec::new();
    for cell in sweep.cells(extra)? {
        let plan = Plan::with_digests(&cell.config, registry, &mut digests)?;
        // The cell's own artifacts by stage; its wall time counts its variants' too.
        let (mut stages, mut wall_s, mut encoder) = (BTreeMap::new(), 0.0, None);
        for p in plan.needed() {
            let name = p.name();
            if encoder.is_none() {
                encoder = p.input_files.get(ENCODER_WEIGHTS).cloned().flatten();
            }
            if let ArtifactState::Valid(m) = store.state(name, &p.key, false) {
                wall_s += m.wall_time_s;
                if p.variant.is_none() {
                    stages.insert(name, (store.artifact_dir(name, &p.key), *m));
                }
            }
        }
        let model = if cell.config.config.method == Method::Direct { "teacher" } else { "student" };
        let mut scores = None;
        if let Some((dir, _)) = stages.get(&StageName::Evaluate) {
            let path = dir.join(files::METRICS);
            let text = fs_err::read_to_string(&path)?;
            let doc: serde_json::Value = serde_json::from_str(&text).with_context(|| path.display().to_string())?;
            let split = |s: &str| -> anyhow::Result<Option<Scores>> {
                doc["metrics"][model].get(s).map(|v| serde_json::from_value(v.clone())).transpose().map_err(Into::into)
            };
            if let Some(test) = split("test")? {
                scores = Some(CellScores::new(&test, split("dev")?.as_ref()));
            }
        }
        out.push(CellResult {
            suite: sweep.spec.name.clone(),
            target: cell.target,
            method: cell.method,
            seed: cell.seed,
            evaluate_key: plan.get(StageName::Evaluate).key.clone(),
            scores,
            wall_s,
            threads: threads_of(&stages),
            stages,
            carried: false,
            carried_disagrees: None,
            encoder,
            teacher_agreement: None,
            pair_mix: None,
            selection: cell.config.config.eval.selection,
        });
    }
    Ok(out)
}
