//! Cells an earlier report measured whose artifacts the store no longer holds (a lost or
//! new machine, cells run on another one): `--carry FILE` reads that report's
//! `runs.parquet`; a row stands in for a cell whose evaluate key is the row's, in `sweep
//! report` (its figures) and in `sweep run` (the cell is not run again). The key covers
//! code version, config, data and every input artifact, so a row stands in only for the
//! very computation the cell would run now; any change leaves the cell to be run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use polars::prelude::*;

use super::analysis::{Agreement, PairMix};
use super::report::{CarriedDisagreement, CellResult, CellScores};
use crate::table;

/// How `sweep run` and `sweep status` name a carried cell.
pub const CARRIED: &str = "carried (an earlier report's row has its key)";

/// Prefix of `runs.parquet`'s per-type test F1 columns (`test_f1_LOC`, ...).
pub const TYPE_F1_PREFIX: &str = "test_f1_";

/// What one row of `runs.parquet` says about its cell.
struct Row {
    scores: CellScores,
    agreement: Option<Agreement>,
    pair_mix: Option<PairMix>,
    wall_s: f64,
    threads: Option<String>,
}

/// Earlier reports' rows by evaluate key.
#[derive(Default)]
pub struct Carried {
    rows: BTreeMap<String, Row>,
}

impl Carried {
    /// Reads each of `paths` (`runs.parquet` files); of rows with one key, the first stays
    /// (one key is one computation).
    pub fn read(paths: &[PathBuf]) -> anyhow::Result<Self> {
        let mut carried = Carried::default();
        for path in paths {
            carried.read_one(path)?;
        }
        Ok(carried)
    }

    /// Whether a row has `evaluate_key`.
    pub fn has(&self, evaluate_key: &str) -> bool {
        self.rows.contains_key(evaluate_key)
    }

    /// Reads one `runs.parquet`; the columns a report has always written are required,
    /// later ones (threads, pair mix) are read where present.
    fn read_one(&mut self, path: &Path) -> anyhow::Result<()> {
        let df = table::read(path)?;
        let column_error = |name: &str, e: PolarsError| anyhow!("{}: column `{name}`: {e}", path.display());
        let optional = |name: &str| -> anyhow::Result<Vec<Option<f64>>> {
            match df.column(name) {
                Ok(c) => Ok(c.f64().map_err(|e| column_error(name, e))?.iter().collect()),
                Err(_) => Ok(vec![None; df.height()]),
            }
        };
        let required = |name: &str| -> anyhow::Result<Vec<f64>> {
            let values = df.column(name).and_then(|c| c.f64().cloned()).map_err(|e| column_error(name, e))?;
            anyhow::ensure!(values.null_count() == 0, "{}: column `{name}` has nulls", path.display());
            Ok(values.into_no_null_iter().collect())
        };
        let strings = |name: &str| -> anyhow::Result<Vec<Option<String>>> {
            let values = df.column(name).and_then(|c| c.str().cloned()).map_err(|e| column_error(name, e))?;
            Ok(values.iter().map(|v| v.map(str::to_string)).collect())
        };
        let optional_strings = |name: &str| match df.column(name) {
            Ok(_) => strings(name),
            Err(_) => Ok(vec![None; df.height()]),
        };
        let (precision, recall, f1, wall_s) =
            (required("test_precision")?, required("test_recall")?, required("test_f1")?, required("wall_s")?);
        let (dev_f1, agreement_f1, entities) =
            (optional("dev_f1")?, optional("teacher_agreement_f1")?, optional("teacher_entity_ratio")?);
        let mix = [
            optional("pairs")?,
            optional("pair_words_drawn")?,
            optional("pair_entity_share")?,
            optional("text_entity_share")?,
        ];
        let mut per_type = Vec::new();
        for name in df.get_column_names() {
            if let Some(t) = name.strip_prefix(TYPE_F1_PREFIX) {
                per_type.push((t.to_string(), optional(name)?));
            }
        }
        let keys = strings("evaluate_key")?;
        let threads = optional_strings("threads")?;
        for (i, key) in keys.into_iter().enumerate() {
            let key = key.ok_or_else(|| anyhow!("{}: row {i} has no evaluate_key", path.display()))?;
            let scores = CellScores {
                precision: precision[i],
                recall: recall[i],
                f1: f1[i],
                per_type: per_type.iter().filter_map(|(t, v)| Some((t.clone(), v[i]?))).collect(),
                dev_f1: dev_f1[i],
            };
            let pair_mix = match mix.each_ref().map(|c| c[i]) {
                [Some(pairs), Some(coverage), Some(entity_share_pairs), Some(entity_share_words)] => {
                    Some(PairMix { pairs, coverage, entity_share_pairs, entity_share_words })
                }
                _ => None,
            };
            let agreement = agreement_f1[i].map(|f1| Agreement { f1, entities: entities[i] });
            let row = Row { scores, agreement, pair_mix, wall_s: wall_s[i], threads: threads[i].clone() };
            self.rows.entry(key).or_insert(row);
        }
        Ok(())
    }

    /// Stands the row with `cell`'s evaluate key in for a cell the store has no scores for.
    /// Where the store has scores and the row's test F1 differs, the cell keeps the store's
    /// and records the row's: the key does not cover the libtorch thread count a model
    /// trained with, which changes its floats, so one key can stand for two results.
    pub fn fill(&self, cell: &mut CellResult) {
        let Some(row) = self.rows.get(&cell.evaluate_key) else { return };
        if let Some(scores) = &cell.scores {
            if scores.f1 != row.scores.f1 {
                cell.carried_disagrees = Some(CarriedDisagreement { f1: row.scores.f1, threads: row.threads.clone() });
            }
        } else {
            cell.scores = Some(row.scores.clone());
            cell.teacher_agreement = row.agreement;
            cell.pair_mix = row.pair_mix;
            cell.wall_s = row.wall_s;
            cell.threads.clone_from(&row.threads);
            cell.carried = true;
        }
    }
}
