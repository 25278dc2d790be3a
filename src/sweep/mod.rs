//! Sweeps: a grid of targets x methods x seeds, each cell an ordinary pipeline run on the
//! shared store. This module reads the sweep file and enumerates its cells; `run` executes
//! them, `report` aggregates what the store holds into tables and a plot, and `carried`
//! stands an earlier report's rows in for cells the store no longer holds.

pub mod analysis;
pub mod carried;
pub mod plot;
pub mod report;
pub mod run;
pub mod schedule;
pub mod slurm;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::ResolvedConfig;
use crate::error::SweepError;

/// A sweep file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Short name: the suite column of the results and the plot's file name.
    pub name: String,
    /// One line for the results' caption.
    #[serde(default)]
    pub title: String,
    pub seeds: Vec<u64>,
    /// `KEY=VALUE` overrides applied to every cell: the sweep's recipe.
    #[serde(default)]
    pub set: Vec<String>,
    pub target: Vec<TargetSpec>,
    pub method: Vec<MethodEntry>,
    /// Published F1 to print beside ours: method name -> target name -> F1.
    #[serde(default)]
    pub paper: BTreeMap<String, BTreeMap<String, f64>>,
    /// Pairs of methods `[a, b]` to compare seed by seed on every target where both ran.
    #[serde(default)]
    pub compare: Vec<[String; 2]>,
    /// Where the `paper` numbers come from.
    #[serde(default)]
    pub paper_source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    pub name: String,
    /// Pipeline config, relative to the sweep file.
    pub config: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodEntry {
    pub name: String,
    /// Overrides on top of the sweep's `set`, e.g. `method=mtmt`.
    pub set: Vec<String>,
    /// Only these targets (all when empty): ablations on a subset.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Only these seeds (the sweep's when empty).
    #[serde(default)]
    pub seeds: Vec<u64>,
}

/// One (target, method, seed) of a sweep with its resolved pipeline config.
pub struct Cell {
    pub target: String,
    pub method: String,
    pub seed: u64,
    pub config: ResolvedConfig,
}

impl Cell {
    pub fn label(&self) -> String {
        label(&self.target, &self.method, self.seed)
    }
}

/// How the tool names a cell to people: `es / mtmt / seed 13`.
pub fn label(target: &str, method: &str, seed: u64) -> String {
    format!("{target} / {method} / seed {seed}")
}

/// A loaded sweep file.
pub struct Sweep {
    pub path: PathBuf,
    pub spec: SweepSpec,
}

/// What a sweep method's name holds where its model is selected on target dev F1
/// (`eval.selection = "target_dev"`: uses target labels).
pub const TARGET_DEV_MARK: &str = "target-dev";

impl Sweep {
    pub fn load(path: &Path) -> Result<Self, SweepError> {
        let text = fs_err::read_to_string(path)?;
        let spec: SweepSpec =
            toml::from_str(&text).map_err(|e| SweepError::Syntax { path: path.into(), message: e.to_string() })?;
        let bad = |message: String| SweepError::Syntax { path: path.into(), message };
        if spec.seeds.is_empty() || spec.target.is_empty() || spec.method.is_empty() {
            return Err(bad("a sweep needs at least one seed, one [[target]] and one [[method]]".into()));
        }
        // The name makes folders under the store (logs, cell records): one plain component.
        let plain = |name: &str| {
            !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\']) && !name.starts_with('-')
        };
        if !plain(&spec.name) {
            return Err(bad(format!(
                "name `{}` is not a plain folder name (no `/`, `\\`, `..` or leading `-`): it names the sweep's folders in the store",
                spec.name
            )));
        }
        for pair in &spec.compare {
            if let Some(m) = pair.iter().find(|m| !spec.method.iter().any(|x| &x.name == *m)) {
                return Err(bad(format!("compare names method `{m}`, which has no [[method]]")));
            }
        }
        for m in &spec.method {
            if let Some(t) = m.targets.iter().find(|t| !spec.target.iter().any(|x| &x.name == *t)) {
                return Err(bad(format!("method `{}` names target `{t}`, which has no [[target]]", m.name)));
            }
        }
        Ok(Self { path: path.into(), spec })
    }

    /// Every cell in run order: seed by seed, then target by target, then method
    /// (teachers are trained once per seed and shared by the seed's cells). `extra`
    /// overrides (the command line's `--set`) come last. A method selected on target dev
    /// must carry `TARGET_DEV_MARK` in its name, so that its figures are marked wherever shown.
    pub fn cells(&self, extra: &[String]) -> Result<Vec<Cell>, SweepError> {
        let base = self.path.parent().unwrap_or(Path::new(""));
        let mut cells = Vec::new();
        // Seeds outermost: a sweep stopped part-way leaves every target and method done for
        // its first seeds, a complete table, rather than some targets with none.
        for &seed in &self.spec.seeds {
            for target in &self.spec.target {
                let config_path = base.join(&target.config);
                for method in &self.spec.method {
                    let included = (method.targets.is_empty() || method.targets.contains(&target.name))
                        && (method.seeds.is_empty() || method.seeds.contains(&seed));
                    if !included {
                        continue;
                    }
                    let mut overrides = self.spec.set.clone();
                    overrides.extend(method.set.iter().cloned());
                    overrides.push(format!("seed={seed}"));
                    overrides.extend(extra.iter().cloned());
                    let config = ResolvedConfig::load(&config_path, &overrides)
                        .map_err(|source| SweepError::Cell { cell: label(&target.name, &method.name, seed), source })?;
                    if config.config.eval.selection.uses_target_labels() && !method.name.contains(TARGET_DEV_MARK) {
                        let (path, method) = (self.path.clone(), method.name.clone());
                        return Err(SweepError::UnmarkedTargetDev { path, method, mark: TARGET_DEV_MARK });
                    }
                    cells.push(Cell { target: target.name.clone(), method: method.name.clone(), seed, config });
                }
            }
        }
        Ok(cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(methods: &str) -> (tempfile::TempDir, Sweep) {
        let dir = tempfile::tempdir().unwrap();
        for lang in ["es", "nl"] {
            let config = format!(
                "labels = [\"PER\"]\n[source]\nlang = \"en\"\ntrain = \"en.txt\"\n[target]\nlang = \"{lang}\"\ntrain = \"{lang}.txt\"\n"
            );
            std::fs::write(dir.path().join(format!("{lang}.toml")), config).unwrap();
        }
        let text = format!(
            "name = \"t\"\nseeds = [1, 2]\nset = [\"distill.epochs=2\"]\n\
             [[target]]\nname = \"es\"\nconfig = \"es.toml\"\n[[target]]\nname = \"nl\"\nconfig = \"nl.toml\"\n{methods}"
        );
        let path = dir.path().join("sweep.toml");
        std::fs::write(&path, text).unwrap();
        let loaded = Sweep::load(&path);
        (dir, loaded.unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn cells_run_seed_then_target_then_method_with_overrides_in_order() {
        let (_d, s) = sweep(
            "[[method]]\nname = \"tsl\"\nset = [\"method=tsl\"]\n\
             [[method]]\nname = \"abl\"\nset = [\"method=mtmt\", \"distill.epochs=3\"]\ntargets = [\"nl\"]\nseeds = [2]\n",
        );
        let cells = s.cells(&["distill.lr=0.5".into()]).unwrap();
        let labels: Vec<String> = cells.iter().map(Cell::label).collect();
        assert_eq!(
            labels,
            ["es / tsl / seed 1", "nl / tsl / seed 1", "es / tsl / seed 2", "nl / tsl / seed 2", "nl / abl / seed 2"]
        );
        let abl = &cells[4].config.config;
        // The method's set wins over the sweep's, the command line over both.
        assert_eq!((abl.distill.epochs, abl.distill.lr, abl.seed), (3, 0.5, 2));
        assert_eq!(cells[0].config.config.distill.epochs, 2);
        assert_eq!(cells[1].config.config.target.lang, "nl");
    }

    #[test]
    fn a_method_naming_an_unknown_target_is_refused_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "name = \"t\"\nseeds = [1]\n[[target]]\nname = \"es\"\nconfig = \"es.toml\"\n\
             [[method]]\nname = \"m\"\nset = []\ntargets = [\"de\"]\n",
        )
        .unwrap();
        let err = Sweep::load(&path).err().unwrap().to_string();
        assert!(err.contains("s.toml") && err.contains("target `de`"), "{err}");
    }

    #[test]
    fn a_target_dev_method_must_say_so_and_names_stay_inside_the_store() {
        let (_d, s) = sweep("[[method]]\nname = \"tsl\"\nset = [\"method=tsl\", \"eval.selection=target_dev\"]\n");
        let err = s.cells(&[]).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("uses target labels") && err.contains("`tsl (target-dev)`"), "{err}");
        let (_d, s) =
            sweep("[[method]]\nname = \"tsl-target-dev\"\nset = [\"method=tsl\", \"eval.selection=target_dev\"]\n");
        assert_eq!(s.cells(&[]).unwrap().len(), 4);
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| {
            let path = dir.path().join("s.toml");
            std::fs::write(&path, text).unwrap();
            Sweep::load(&path).map(|_| ()).unwrap_err().to_string()
        };
        let body =
            "seeds = [1]\n[[target]]\nname = \"es\"\nconfig = \"es.toml\"\n[[method]]\nname = \"tsl\"\nset = []\n";
        for name in ["../up", "/abs", ".."] {
            let err = write(&format!("name = \"{name}\"\n{body}"));
            assert!(err.contains("not a plain folder name"), "{name}: {err}");
        }
        let err = write(&format!("name = \"t\"\ncompare = [[\"tsl\", \"mtmt\"]]\n{body}"));
        assert!(err.contains("compare names method `mtmt`"), "{err}");
    }
}
