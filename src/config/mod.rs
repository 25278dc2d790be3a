//! The pipeline configuration: the TOML schema of the whole config (its shared sections'
//! types are in `settings`, re-exported here; a method's own sections live in its folder
//! under `method/`), loading (`ResolvedConfig::load`: `--set` and `${VAR}` through `keys`, paths
//! and range checks through `validate`), and the per-stage views that make a stage's cache
//! key depend on exactly the values it reads.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ConfigError, Origin};
use crate::method::advpicker::{AdvPickerConfig, Adversarial};
use crate::method::msd::MsdConfig;
use crate::method::mtmt::{self, ScoreConfig, SimPairsConfig, SimilarityConfig, WeightsConfig};
use crate::method::tsl_multi::MultiSourceConfig;
use crate::method::unitrans::UniTransConfig;
use crate::method::{Method, Spec};
use crate::recipe::Recipe;
use crate::variant::Variant;

mod keys;
#[cfg(test)]
mod tests;
mod validate;

pub use crate::settings::*;
pub use keys::*;

/// The whole configuration of one pipeline: one labeled source language, one
/// unlabeled target language, the encoder and every stage's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Drives every source of randomness.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Entity types; the BIO label set is derived from them.
    pub labels: Vec<String>,
    /// The labeled language the teachers learn from.
    pub source: Corpus,
    /// The language to recognize; its train split is used without labels.
    pub target: Corpus,
    /// More labeled source languages (`method = "tsl-multi"`): each trains a recognizer
    /// teacher of its own, the artifact a pipeline with it as `source` trains.
    #[serde(default)]
    pub sources: Vec<Corpus>,
    #[serde(default)]
    pub encoder: EncoderConfig,
    #[serde(default)]
    pub tokenize: TokenizeConfig,
    /// Training settings taken where neither the file nor a `--set` gives them: `tsl` (the
    /// defaults below) or `mtmt-paper` (the MTMT paper's, `recipe::Recipe`). Read by no
    /// stage: the values it sets are.
    #[serde(default)]
    pub recipe: Recipe,
    /// What the student learns from: `direct` (no student: the recognizer teacher is
    /// the model), `tsl` (recognizer distillation on every word), `mtmt` (both
    /// teachers), `mtst` (MTMT's loss from one multitask teacher).
    #[serde(default)]
    pub method: Method,
    /// The entity-recognizer teacher, trained on the labeled source train split.
    #[serde(default)]
    pub teacher_ner: TrainConfig,
    /// The siamese entity-similarity teacher, trained on source word pairs.
    #[serde(default)]
    pub teacher_sim: TrainConfig,
    /// How source word pairs are built for the similarity teacher.
    #[serde(default)]
    pub sim_pairs: SimPairsConfig,
    /// How the similarity teacher's score t is formed (MTMT).
    #[serde(default)]
    pub similarity: SimilarityConfig,
    /// How unlabeled target pairs are sampled and scored by the teachers.
    #[serde(default)]
    pub score: ScoreConfig,
    /// The teachers' passes over the target train text (`score_tokens`, `score_pairs`).
    #[serde(default)]
    pub scoring: ScoringConfig,
    #[serde(default)]
    pub weights: WeightsConfig,
    /// AdvPicker's adversarial teacher (its NER updates: the papers' 10 epochs, lr 6e-5,
    /// 5% warm-up), trained on the labeled source and the unlabeled target train text.
    #[serde(default)]
    pub teacher_adv: TrainConfig<Adversarial>,
    /// AdvPicker's discriminator, generator and sentence selection.
    #[serde(default)]
    pub advpicker: AdvPickerConfig,
    /// MSD's teacher: the recognizer with heads on intermediate layers.
    #[serde(default)]
    pub teacher_msd: TrainConfig,
    /// MSD's heads and its student's extra losses.
    #[serde(default)]
    pub msd: MsdConfig,
    /// UniTrans's teachers on the translated source: trained fresh (`teacher_trans`) and
    /// the recognizer teacher fine-tuned on it (`teacher_finetune`), with these settings.
    #[serde(default)]
    pub teacher_trans: TrainConfig,
    /// UniTrans's lexicon, translation and student.
    #[serde(default)]
    pub unitrans: UniTransConfig,
    /// Multi-source TSL: how the source languages' teachers are weighted.
    #[serde(default)]
    pub multi_source: MultiSourceConfig,
    /// The student's training (defaults: the papers' student recipe).
    #[serde(default)]
    pub distill: TrainConfig<Student>,
    #[serde(default)]
    pub distill_loss: DistillLossConfig,
    #[serde(default)]
    pub eval: EvalConfig,
    /// Where and how fast to compute; never part of a cache key.
    #[serde(default)]
    pub runtime: RuntimeConfig,
}

fn default_seed() -> u64 {
    13
}
/// The methods' own sections, each checked and resolved by its method's folder: adding a
/// method with a section adds its lines here, beside its field above.
impl Config {
    /// The range checks of the methods' own sections.
    fn methods_range_errors(&self, max_len: usize, layers: Option<usize>, check: &mut impl FnMut(bool, &str, String)) {
        train_range_errors("teacher_adv", &self.teacher_adv, max_len, layers, check);
        train_range_errors("teacher_msd", &self.teacher_msd, max_len, layers, check);
        train_range_errors("teacher_trans", &self.teacher_trans, max_len, layers, check);
        self.unitrans.range_errors(self.method, layers, check);
        self.msd.range_errors(self.method, layers, check);
        self.advpicker.range_errors(check);
        self.multi_source.range_errors(check);
        train_range_errors("teacher_sim", &self.teacher_sim, max_len, layers, check);
        self.sim_pairs.range_errors(check);
        mtmt::range_errors(&self.teacher_sim, &self.similarity, &self.score, self.method, check);
    }

    /// The methods' own paths resolved against the config file's folder.
    fn resolve_methods_paths(&mut self, base: &Path) {
        self.unitrans.resolve_paths(base);
    }
}

/// A loaded configuration: the typed struct plus its JSON form, from which stage
/// views and cache keys are cut.
#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    pub path: PathBuf,
    pub config: Config,
    pub json: Value,
}

impl ResolvedConfig {
    /// Loads `path`, applies `--set KEY=VALUE` overrides, expands `${VAR}`, resolves
    /// paths and checks every value's range; an error names the key and where its value
    /// came from (the file or the `--set`).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        Self::load_with_env(path, overrides, &|var| std::env::var(var).ok())
    }

    /// `load`, reading `${VAR}` from `env` (tests pass their own instead of the process's).
    pub fn load_with_env(
        path: &Path,
        overrides: &[String],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let text = fs_err::read_to_string(path)?;
        let syntax = |e: toml::de::Error| ConfigError::Syntax { path: path.to_path_buf(), message: e.to_string() };
        let parsed: Config = toml::from_str(&text).map_err(syntax)?;
        // Round-trip through the schema so defaults are present and every key is settable.
        let mut json = serde_json::to_value(&parsed).expect("config serializes");
        let mut set_by: Vec<(String, String)> = Vec::new();
        for assignment in overrides {
            let key = apply_override(&mut json, assignment)?;
            // Typed now, so a value of the wrong kind blames this `--set`, not the file.
            if let Err(e) = serde_json::from_value::<Config>(json.clone()) {
                let value = assignment.split_once('=').map_or("", |(_, v)| v).to_string();
                return Err(ConfigError::BadValue { key, value, message: e.to_string() });
            }
            set_by.push((key, assignment.clone()));
        }
        // The recipe's settings, then the method's own defaults, each where neither the
        // file nor a `--set` (nor, for the method's, the recipe) gave the key.
        let written =
            serde_json::to_value(toml::from_str::<toml::Table>(&text).map_err(syntax)?).expect("TOML serializes");
        let recipe: Recipe = serde_json::from_value(json["recipe"].clone()).expect("typed above");
        let method: Method = serde_json::from_value(json["method"].clone()).expect("typed above");
        let mut given: Vec<&str> = Vec::new();
        for assignment in recipe.settings().iter().chain(method.spec().defaults()) {
            let key = assignment.split_once('=').map_or(*assignment, |(k, _)| k);
            if lookup(&written, key).is_none() && !set_by.iter().any(|(set, _)| set == key) && !given.contains(&key) {
                apply_override(&mut json, assignment).expect("recipes and methods' defaults fit the schema");
                given.push(key);
            }
        }
        expand_env(&mut json, "", env)?;
        let mut config: Config = serde_json::from_value(json)
            .map_err(|e| ConfigError::Schema { origin: Origin::File(path.to_path_buf()), message: e.to_string() })?;
        let base = path.parent().unwrap_or(Path::new(""));
        config.resolve_paths(base);
        if let Some((key, message)) = config.range_errors().into_iter().next() {
            // The last `--set` of a key (or of the section holding it) is what set it.
            let origin = set_by
                .iter()
                .rev()
                .find(|(set, _)| key == *set || key.starts_with(&format!("{set}.")))
                .map_or(Origin::File(path.to_path_buf()), |(_, assignment)| Origin::Set(assignment.clone()));
            return Err(ConfigError::OutOfRange { origin, key, message });
        }
        let json = serde_json::to_value(&config).expect("config serializes");
        Ok(Self { path: path.to_path_buf(), config, json })
    }

    /// The sub-config a stage declared it reads, as a nested object holding only those keys.
    /// Settings added after artifacts existed stay out of it at the value that behaves as
    /// before them (`ADDED_LATER`), so those artifacts keep their keys.
    pub fn view(&self, keys: &[impl AsRef<str>]) -> Value {
        let mut view = Value::Object(Map::new());
        for key in keys {
            let key = key.as_ref();
            // Every setting serializes (unset ones as null), so a key that is not found is a
            // stage's misspelling, unless a section above it is unset as a whole: then the
            // view holds that section, unset, as when the section is the key read.
            match lookup(&self.json, key) {
                Some(value) => insert(&mut view, key, value.clone()),
                None => {
                    let unset = key
                        .match_indices('.')
                        .map(|(i, _)| &key[..i])
                        .find(|section| lookup(&self.json, section).is_some_and(Value::is_null));
                    let section = unset.unwrap_or_else(|| panic!("a stage reads `{key}`, which is no config key"));
                    insert(&mut view, section, Value::Null);
                }
            }
        }
        for (key, as_before) in ADDED_LATER.iter().chain(crate::method::added_later()) {
            if lookup(&view, key).is_some_and(|v| as_before.is(v)) {
                remove(&mut view, key);
            }
        }
        view
    }

    /// This config with a variant's values set (paths are resolved already).
    pub fn derive(&self, variant: &Variant) -> Result<Self, ConfigError> {
        let mut json = self.json.clone();
        for (key, value) in &variant.set {
            insert(&mut json, key, value.clone());
        }
        let config = serde_json::from_value(json.clone()).map_err(|e| ConfigError::BadValue {
            key: variant.set.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", "),
            value: variant.label.clone(),
            message: e.to_string(),
        })?;
        Ok(Self { path: self.path.clone(), config, json })
    }

    /// The resolved configuration as TOML (keys without a value are left out).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.config).expect("config serializes to TOML")
    }
}
