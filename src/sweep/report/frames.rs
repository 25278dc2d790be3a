//! The report's Parquet tables: `runs.parquet` (a row per finished cell) and
//! `results.parquet` (a row per suite, target and method).

use super::*;
// Ours, not polars' `mean` from its prelude.
use super::stats::mean;

/// One row per finished cell; `carried::Carried` reads these columns back.
pub(super) fn runs_frame(cells: &[CellResult]) -> PolarsResult<DataFrame> {
    let done: Vec<(&CellResult, &CellScores)> = cells.iter().filter_map(|c| Some((c, c.scores.as_ref()?))).collect();
    let types: BTreeSet<&String> = done.iter().flat_map(|(_, s)| s.per_type.keys()).collect();
    let text = |name: &str, f: fn(&CellResult) -> &str| {
        Column::new(name.into(), done.iter().map(|(c, _)| f(c)).collect::<Vec<_>>())
    };
    let nums = |name: &str, f: &dyn Fn(&CellResult, &CellScores) -> Option<f64>| {
        Column::new(name.into(), done.iter().map(|(c, s)| f(c, s)).collect::<Vec<_>>())
    };
    let mut columns = vec![
        text("suite", |c| &c.suite),
        text("target", |c| &c.target),
        text("method", |c| &c.method),
        Column::new("seed".into(), done.iter().map(|(c, _)| c.seed).collect::<Vec<_>>()),
        Column::new("test_precision".into(), done.iter().map(|(_, s)| s.precision).collect::<Vec<_>>()),
        Column::new("test_recall".into(), done.iter().map(|(_, s)| s.recall).collect::<Vec<_>>()),
        Column::new("test_f1".into(), done.iter().map(|(_, s)| s.f1).collect::<Vec<_>>()),
    ];
    for t in types {
        columns
            .push(nums(&format!("{}{t}", super::super::carried::TYPE_F1_PREFIX), &|_, s| s.per_type.get(t).copied()));
    }
    columns.extend([
        nums("dev_f1", &|_, s| s.dev_f1),
        nums("teacher_agreement_f1", &|c, _| c.teacher_agreement.map(|a| a.f1)),
        nums("teacher_entity_ratio", &|c, _| c.teacher_agreement.and_then(|a| a.entities)),
        nums("pairs", &|c, _| c.pair_mix.map(|m| m.pairs)),
        nums("pair_words_drawn", &|c, _| c.pair_mix.map(|m| m.coverage)),
        nums("pair_entity_share", &|c, _| c.pair_mix.map(|m| m.entity_share_pairs)),
        nums("text_entity_share", &|c, _| c.pair_mix.map(|m| m.entity_share_words)),
        Column::new("wall_s".into(), done.iter().map(|(c, _)| c.wall_s).collect::<Vec<_>>()),
        Column::new("threads".into(), done.iter().map(|(c, _)| c.threads.clone()).collect::<Vec<_>>()),
        text("evaluate_key", |c| &c.evaluate_key),
        Column::new(
            "selection".into(),
            done.iter()
                .map(|(c, _)| serde_json::to_value(c.selection).ok()?.as_str().map(String::from))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "source".into(),
            done.iter().map(|(c, _)| if c.carried { "carried" } else { "store" }).collect::<Vec<_>>(),
        ),
    ]);
    DataFrame::new(done.len(), columns)
}

pub(super) fn results_frame(rows: &[Aggregate], encoder: &str) -> PolarsResult<DataFrame> {
    let types: BTreeSet<&String> = rows.iter().flat_map(|r| r.per_type.keys()).collect();
    let strs = |name: &str, f: &dyn Fn(&Aggregate) -> String| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<String>>())
    };
    let nums = |name: &str, f: &dyn Fn(&Aggregate) -> Option<f64>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<Option<f64>>>())
    };
    let mut columns = vec![
        strs("suite", &|r| r.suite.clone()),
        strs("target", &|r| r.target.clone()),
        strs("method", &|r| r.method.clone()),
        Column::new("seeds".into(), rows.iter().map(|r| r.seeds.len() as u32).collect::<Vec<_>>()),
        nums("f1_mean", &|r| Some(r.f1_mean_std().0)),
        nums("f1_std", &|r| Some(r.f1_mean_std().1)),
        nums("precision_mean", &|r| Some(r.precision)),
        nums("recall_mean", &|r| Some(r.recall)),
    ];
    for t in types {
        columns.push(nums(&format!("f1_{t}_mean"), &|r| r.per_type.get(t).copied()));
    }
    columns.extend([
        nums("dev_f1_mean", &|r| r.dev_f1),
        table::f64_lists("f1_by_seed", rows.iter().map(|r| r.f1.as_slice())),
        nums("cell_wall_s_mean", &|r| Some(r.wall_s)),
        nums("paper_f1", &|r| r.paper),
        nums("teacher_agreement_f1_mean", &|r| mean(&r.agreements(|a| Some(a.f1)))),
        nums("teacher_entity_ratio_mean", &|r| mean(&r.agreements(|a| a.entities))),
        strs("encoder", &|_| encoder.to_string()),
        strs("model_selection", &|r| r.selection.describe().to_string()),
        Column::new(
            "uses_target_labels".into(),
            rows.iter().map(|r| r.selection.uses_target_labels()).collect::<Vec<_>>(),
        ),
    ]);
    DataFrame::new(rows.len(), columns)
}
