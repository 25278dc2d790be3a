//! A trained model named on the command line (`predict --model`, `export`): a stage of the
//! current config that trains one (`distill`, `teacher_ner`, ...) or an artifact key; and
//! the check that an artifact a command reads is built.

use std::path::PathBuf;

use crate::engine::Plan;
use crate::files;
use crate::manifest::Manifest;
use crate::stage_name::StageName;
use crate::store::{ArtifactState, Store};

/// A published model artifact.
pub struct Trained {
    pub stage: StageName,
    pub key: String,
    /// Its `model.safetensors`.
    pub weights: PathBuf,
    pub manifest: Manifest,
}

/// The model artifact `model` names under the current config's `plan`; an error says how
/// to build it when it is not built.
pub fn resolve(model: &str, plan: &Plan, store: &Store) -> anyhow::Result<Trained> {
    let writes_model = |s: StageName| plan.get(s).stage.outputs().contains(&files::MODEL);
    let (stage, key) = if let Some(stage) = StageName::parse(model) {
        anyhow::ensure!(writes_model(stage), "stage `{stage}` writes no model");
        (stage, plan.get(stage).key.clone())
    } else {
        let found = store.artifacts()?.into_iter().find(|(stage, key, _)| key == model && writes_model(*stage));
        let Some((stage, key, _)) = found else {
            anyhow::bail!(
                "`{model}` is neither a stage that writes a model (distill, teacher_ner, ...) nor the key of a model artifact in the store"
            );
        };
        (stage, key)
    };
    let manifest = built(stage, &key, store)?;
    Ok(Trained { stage, weights: store.artifact_dir(stage, &key).join(files::MODEL), key, manifest })
}

/// The manifest of the published artifact (stage, key) a command reads; an error says how
/// to build it, or that it is corrupt.
pub fn built(stage: StageName, key: &str, store: &Store) -> anyhow::Result<Manifest> {
    match store.state(stage, key, false) {
        ArtifactState::Valid(manifest) => Ok(*manifest),
        ArtifactState::Missing => {
            anyhow::bail!("`{stage}` is not built for the current config: run `mtmt-pipe run stage {stage}` first")
        }
        ArtifactState::Corrupt(why) => {
            anyhow::bail!("artifact {stage}/{key} is corrupt ({why}): `mtmt-pipe run` rebuilds it")
        }
    }
}
