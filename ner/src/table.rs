//! Parquet I/O for stage tables. Every table a stage writes carries its provenance
//! (stage, key, config) in the file's key-value metadata, so a table opened alone
//! in polars still says where it came from.

use std::fs::File;
use std::path::Path;

use anyhow::anyhow;
use polars::prelude::*;

/// Writes `df` to `path` (atomically) with the given key-value metadata.
pub fn write(df: &mut DataFrame, path: &Path, metadata: Vec<(String, String)>) -> anyhow::Result<()> {
    crate::atomic::write_with(path, |tmp| {
        let file = fs_err::File::create(tmp)?;
        ParquetWriter::new(file)
            .with_compression(ParquetCompression::Zstd(None))
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(metadata)))
            .finish(df)
            .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
        Ok(())
    })
}

/// A Parquet reader on `path`; opening errors name the file.
fn reader(path: &Path) -> anyhow::Result<ParquetReader<File>> {
    Ok(ParquetReader::new(fs_err::File::open(path)?.into_parts().0))
}

/// A `u32` column of a table read from `path`, without nulls; a missing column or
/// another type is an error naming the file.
pub fn u32_column(df: &DataFrame, path: &Path, name: &str) -> anyhow::Result<Vec<u32>> {
    let column = df
        .column(name)
        .and_then(|c| c.u32().cloned())
        .map_err(|e| anyhow!("{}: column `{name}`: {e}", path.display()))?;
    anyhow::ensure!(column.null_count() == 0, "{}: column `{name}` has nulls", path.display());
    Ok(column.into_no_null_iter().collect())
}

pub fn read(path: &Path) -> anyhow::Result<DataFrame> {
    reader(path)?.finish().map_err(|e| anyhow!("reading {}: {e}", path.display()))
}

/// Reads only `columns` of `path`: the other columns (probability lists, mostly) are
/// never decoded.
pub fn read_columns(path: &Path, columns: &[&str]) -> anyhow::Result<DataFrame> {
    reader(path)?
        .with_columns(Some(columns.iter().map(|c| c.to_string()).collect()))
        .finish()
        .map_err(|e| anyhow!("reading {} (columns {}): {e}", path.display(), columns.join(", ")))
}

/// A lazy scan of `path`: a query on it decodes only the columns and row groups it needs.
pub fn scan(path: &Path) -> anyhow::Result<LazyFrame> {
    PlRefPath::try_from_path(path)
        .and_then(|p| LazyFrame::scan_parquet(p, ScanArgsParquet::default()))
        .map_err(|e| anyhow!("opening {}: {e}", path.display()))
}

/// The column names of a Parquet file, from its footer.
pub fn column_names(path: &Path) -> anyhow::Result<Vec<String>> {
    let schema = reader(path)?.schema().map_err(|e| anyhow!("reading {}: {e}", path.display()))?;
    Ok(schema.iter_names().map(|n| n.to_string()).collect())
}

/// The file-level key-value metadata of a Parquet file.
pub fn metadata(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut reader = reader(path)?;
    let meta = reader.get_metadata().map_err(|e| anyhow!("reading {}: {e}", path.display()))?;
    Ok(meta
        .key_value_metadata()
        .iter()
        .flatten()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect())
}

/// A `list[str]` column from rows of strings.
pub fn str_lists<'a>(name: &str, rows: impl ExactSizeIterator<Item = &'a [String]>) -> Column {
    let mut builder = ListStringChunkedBuilder::new(name.into(), rows.len(), rows.len() * 16);
    for row in rows {
        builder.append_values_iter(row.iter().map(String::as_str));
    }
    builder.finish().into_series().into()
}

/// A numeric list column (`list[u32]`, `list[f32]`, ...) from rows of numbers.
fn numeric_lists<'a, T: PolarsNumericType>(name: &str, rows: impl ExactSizeIterator<Item = &'a [T::Native]>) -> Column {
    let mut builder =
        ListPrimitiveChunkedBuilder::<T>::new(name.into(), rows.len(), rows.len() * 16, T::get_static_dtype());
    for row in rows {
        builder.append_slice(row);
    }
    builder.finish().into_series().into()
}

/// A `list[u32]` column from rows of integers.
pub fn u32_lists<'a>(name: &str, rows: impl ExactSizeIterator<Item = &'a [u32]>) -> Column {
    numeric_lists::<UInt32Type>(name, rows)
}

/// A `list[f32]` column from rows of floats.
pub fn f32_lists<'a>(name: &str, rows: impl ExactSizeIterator<Item = &'a [f32]>) -> Column {
    numeric_lists::<Float32Type>(name, rows)
}

/// A `list[f64]` column from rows of floats.
pub fn f64_lists<'a>(name: &str, rows: impl ExactSizeIterator<Item = &'a [f64]>) -> Column {
    numeric_lists::<Float64Type>(name, rows)
}

/// Reads a list column back into rows, converting each row's series with `row`.
fn read_lists<T>(
    df: &DataFrame,
    name: &str,
    row: impl Fn(&Series) -> PolarsResult<Vec<T>>,
) -> anyhow::Result<Vec<Vec<T>>> {
    df.column(name)?
        .list()?
        .series_iter()
        .map(|s| {
            let s = s.ok_or_else(|| anyhow!("null row in column {name}"))?;
            Ok(row(&s)?)
        })
        .collect()
}

/// Reads a `list[str]` column back into rows.
pub fn read_str_lists(df: &DataFrame, name: &str) -> anyhow::Result<Vec<Vec<String>>> {
    read_lists(df, name, |s| Ok(s.str()?.iter().map(|v| v.unwrap_or_default().to_string()).collect()))
}

/// Reads a `list[u32]` column back into rows.
pub fn read_u32_lists(df: &DataFrame, name: &str) -> anyhow::Result<Vec<Vec<u32>>> {
    read_lists(df, name, |s| Ok(s.u32()?.into_no_null_iter().collect()))
}

/// Reads a `list[f32]` column back into rows.
pub fn read_f32_lists(df: &DataFrame, name: &str) -> anyhow::Result<Vec<Vec<f32>>> {
    read_lists(df, name, |s| Ok(s.f32()?.into_no_null_iter().collect()))
}
