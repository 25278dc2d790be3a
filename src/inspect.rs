//! `inspect`: opens a Parquet artifact (by stage output name or path) with polars
//! and shows its shape, provenance, schema and rows, optionally filtered with a
//! SQL condition, sorted, and narrowed to chosen columns. `pseudo_labels` by name gains
//! its pairs' two words (`token_a`, `token_b`).

use std::path::{Path, PathBuf};

use polars::prelude::*;
use polars::sql::SQLContext;

use crate::cli::InspectArgs;
use crate::config::ResolvedConfig;
use crate::engine::Plan;
use crate::error::{ConfigError, StoreError};
use crate::files;
use crate::side::{Side, Split};
use crate::stage::DynStage;
use crate::stage_name::StageName;
use crate::store::{ArtifactState, Store};
use crate::table;

pub fn inspect(
    args: &InspectArgs,
    store: &Store,
    stages: &[Box<dyn DynStage>],
    load: impl Fn() -> Result<ResolvedConfig, ConfigError>,
) -> anyhow::Result<()> {
    let (path, sentences) = resolve(&args.name_or_path, store, stages, load)?;
    let mut frame = table::scan(&path)?;
    if let Some(sentences) = sentences.filter(|s| s.exists()) {
        frame = with_words(frame, &sentences)?;
    }
    // Named columns are checked against the file's own schema before any query is built:
    // polars would report a missing one inside its plan, the cause repeated per level.
    let schema = frame.collect_schema().map_err(|e| {
        anyhow::anyhow!("{} is not a Parquet table ({e}): `inspect` reads the pipeline's tables", path.display())
    })?;
    if let Some(missing) = args.sort.iter().chain(&args.columns).find(|c| !schema.contains(c.as_str())) {
        let known: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
        anyhow::bail!("{} has no column `{missing}`; its columns: {}", path.display(), known.join(", "));
    }
    // What can fail past the check above is the filter (a column it names, a type): polars
    // wraps that cause in its plan at each level, so only the innermost is shown.
    let query_error = |e: PolarsError| match &args.filter {
        Some(condition) => anyhow::anyhow!("{}: --filter `{condition}`: {}", path.display(), root_cause(&e)),
        None => anyhow::anyhow!("{}: {}", path.display(), root_cause(&e)),
    };
    if let Some(condition) = &args.filter {
        let mut sql = SQLContext::new();
        sql.register("t", frame);
        frame = sql.execute(&format!("SELECT * FROM t WHERE {condition}")).map_err(query_error)?;
    }
    if let Some(column) = &args.sort {
        frame = frame.sort([column.as_str()], SortMultipleOptions::default().with_order_descending(args.desc));
    }
    if !args.columns.is_empty() {
        frame = frame.select(args.columns.iter().map(|c| col(c.as_str())).collect::<Vec<_>>());
        // polars elides middle columns of wide tables; columns asked for by name are all shown.
        default_env("POLARS_FMT_MAX_COLS", &args.columns.len().to_string());
    }
    let df = frame.collect().map_err(query_error)?;
    println!("{}", path.display());
    let metadata = table::metadata(&path)?;
    for (key, value) in &metadata {
        // Arrow's own copy of the schema is base64; the columns are listed below.
        if (args.schema && key != "ARROW:schema") || key == "mtmt.stage" || key == "mtmt.key" {
            println!("{key}: {value}");
        }
    }
    println!("shape: ({}, {})", df.height(), df.width());
    if args.schema {
        for (name, dtype) in df.schema().iter() {
            println!("  {name}: {dtype}");
        }
    }
    // The shape line above counts every row; polars' own would repeat it or count the shown ones.
    default_env("POLARS_FMT_TABLE_HIDE_DATAFRAME_SHAPE_INFORMATION", "1");
    // polars shows 10 rows of any frame unless told otherwise; --head is the user's number.
    default_env("POLARS_FMT_MAX_ROWS", &args.head.to_string());
    if args.head < df.height() {
        println!("first {} rows:", args.head);
    }
    println!("{}", df.head(Some(args.head)));
    Ok(())
}

/// The innermost error of a polars error chain, without the query plan polars appends to
/// it after a blank line ("Resolved plan until failure: ...").
fn root_cause(err: &PolarsError) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    text.split("\n\n").next().unwrap_or_default().trim_end().to_string()
}

/// Sets a polars display option for this process unless the user has set it.
fn default_env(name: &str, value: &str) {
    if std::env::var_os(name).is_none() {
        std::env::set_var(name, value);
    }
}

/// The pseudo-label table with the two words of each pair (`token_a`, `token_b`) from the
/// target train sentences, so that a filter or a row reads as a pair of words.
fn with_words(frame: LazyFrame, sentences: &Path) -> anyhow::Result<LazyFrame> {
    let table = table::read_columns(sentences, &["sentence_id", "tokens"])?;
    let ids = table::u32_column(&table, sentences, "sentence_id")?;
    let tokens = table::read_str_lists(&table, "tokens")?;
    let by_id: std::collections::HashMap<u32, &Vec<String>> = ids.into_iter().zip(&tokens).collect();
    let mut df = frame.collect()?;
    for side in ["a", "b"] {
        let (sentence, word) =
            (df.column(&format!("sentence_{side}"))?.u32()?, df.column(&format!("word_{side}"))?.u32()?);
        let words: Vec<Option<String>> =
            sentence.iter().zip(word.iter()).map(|(s, w)| Some(by_id.get(&s?)?.get(w? as usize)?.clone())).collect();
        df.with_column(Column::new(format!("token_{side}").into(), words))?;
    }
    Ok(df.lazy())
}

/// A path to an existing Parquet file, or the current artifact holding `<name>.parquet`;
/// for `pseudo_labels` by name, also the target train sentences its pairs point into.
fn resolve(
    name: &str,
    store: &Store,
    stages: &[Box<dyn DynStage>],
    load: impl Fn() -> Result<ResolvedConfig, ConfigError>,
) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    let as_path = PathBuf::from(name);
    if as_path.is_file() {
        return Ok((as_path, None));
    }
    let file = format!("{}.parquet", name.trim_end_matches(".parquet"));
    let Some(stage) = stages.iter().find(|s| s.outputs().contains(&file.as_str())) else {
        let known = stages
            .iter()
            .flat_map(|s| s.outputs())
            .filter_map(|o| o.strip_suffix(".parquet"))
            .map(String::from)
            .collect();
        return Err(StoreError::UnknownOutput { name: name.into(), known }.into());
    };
    let cfg = load()?;
    let plan = Plan::new(&cfg, stages)?;
    let planned = plan.get(stage.name());
    let not_built = || StoreError::NotBuilt { name: name.into(), stage: stage.name() };
    match store.state(stage.name(), &planned.key, false) {
        ArtifactState::Valid(m) if m.files.contains_key(&file) => {
            let sentences = (file == files::PSEUDO_LABELS).then(|| {
                let ingest = StageName::IngestTarget;
                store.artifact_dir(ingest, &plan.get(ingest).key).join(files::sentences(Side::Target, Split::Train))
            });
            Ok((store.artifact_dir(stage.name(), &planned.key).join(file), sentences))
        }
        _ => Err(not_built().into()),
    }
}
