//! The shape HF `datasets` gives NER sets, as JSON Lines (one object per line) or Parquet
//! (one row per sentence): `tokens`, a list of strings, and `ner_tags`, a list of tag
//! strings or of ids into the dataset's label names (`tag_names` in the config: the
//! dataset's `features["ner_tags"].feature.names`). Other fields are ignored.

use std::io::Cursor;
use std::path::Path;

use polars::prelude::*;
use serde::Deserialize;

use super::{err, Raw, RawFile, Reading};
use crate::error::InputError;

#[derive(Deserialize)]
struct Record {
    tokens: Vec<String>,
    #[serde(default)]
    ner_tags: Option<Vec<serde_json::Value>>,
}

/// A tag as the file gives it.
enum Tag<'a> {
    Name(&'a str),
    Id(i64),
}

pub(super) fn read_jsonl(path: &Path, text: &str, reading: &Reading, labeled: bool) -> Result<RawFile, InputError> {
    let mut file = RawFile::default();
    for (index, line) in text.split('\n').enumerate() {
        let line_no = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(line).map_err(|e| {
            err(
                path,
                line_no,
                format!(
                    "not a JSON object with a `tokens` list ({e}); JSON Lines here is HF datasets' NER shape, \
                     {{\"tokens\": [...], \"ner_tags\": [...]}} per line"
                ),
            )
        })?;
        let tags = match (&record.ner_tags, labeled) {
            (_, false) => Vec::new(),
            (None, true) => return Err(err(path, line_no, "no `ner_tags`, and this file is read with its labels")),
            (Some(values), true) => {
                let mut tags = Vec::with_capacity(values.len());
                for value in values {
                    let tag = match (value.as_str(), value.as_i64()) {
                        (Some(name), _) => Tag::Name(name),
                        (_, Some(id)) => Tag::Id(id),
                        _ => {
                            let message = format!("`ner_tags` holds {value}: expected tag strings or ids");
                            return Err(err(path, line_no, message));
                        }
                    };
                    tags.push(name(path, line_no, tag, reading)?);
                }
                tags
            }
        };
        file.sentences.push(sentence(path, line_no, record.tokens, tags)?);
    }
    Ok(file)
}

pub(super) fn read_parquet(path: &Path, bytes: &[u8], reading: &Reading, labeled: bool) -> Result<RawFile, InputError> {
    let df = ParquetReader::new(Cursor::new(bytes))
        .finish()
        .map_err(|e| err(path, 1, format!("not a readable Parquet file ({e}); leave `format` out to detect it")))?;
    let column = |name: &str| df.column(name).ok().and_then(|c| c.list().ok().cloned());
    let tokens = column("tokens").ok_or_else(|| {
        err(
            path,
            1,
            format!(
                "no `tokens` list column (HF datasets' NER shape: `tokens` and `ner_tags`); it has {}",
                df.get_column_names().iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let tags = if labeled {
        Some(
            column("ner_tags")
                .ok_or_else(|| err(path, 1, "no `ner_tags` list column, and this file is read with its labels"))?,
        )
    } else {
        None
    };
    let mut file = RawFile::default();
    for (row, words) in tokens.amortized_iter().enumerate() {
        let line_no = row + 1;
        let at = |message: String| err(path, line_no, format!("row {line_no}: {message}"));
        let words = words.ok_or_else(|| at("`tokens` is null".into()))?;
        let words: Vec<String> = words
            .as_ref()
            .str()
            .map_err(|e| at(format!("`tokens` is not a list of strings ({e})")))?
            .iter()
            .map(|w| w.unwrap_or_default().to_string())
            .collect();
        let mut names = Vec::new();
        if let Some(tags) = &tags {
            let series = tags.get_as_series(row).ok_or_else(|| at("`ner_tags` is null".into()))?;
            if let Ok(strings) = series.str() {
                for tag in strings.iter() {
                    names.push(name(path, line_no, Tag::Name(tag.unwrap_or_default()), reading)?);
                }
            } else {
                let ids = series
                    .cast(&DataType::Int64)
                    .map_err(|e| at(format!("`ner_tags` is neither strings nor ids ({e})")))?;
                for id in ids.i64().map_err(|e| at(e.to_string()))?.iter() {
                    names.push(name(path, line_no, Tag::Id(id.unwrap_or(-1)), reading)?);
                }
            }
        }
        file.sentences.push(sentence(path, line_no, words, names)?);
    }
    Ok(file)
}

/// A tag by its name, looking ids up in `tag_names`.
fn name(path: &Path, line: usize, tag: Tag, reading: &Reading) -> Result<String, InputError> {
    match tag {
        Tag::Name(name) => Ok(name.to_string()),
        Tag::Id(id) if reading.tag_names.is_empty() => Err(err(
            path,
            line,
            format!(
                "`ner_tags` holds ids ({id}): set `{}.tag_names` to the dataset's tag names in id order \
                 (its `features[\"ner_tags\"].feature.names`)",
                reading.section
            ),
        )),
        Tag::Id(id) => usize::try_from(id).ok().and_then(|i| reading.tag_names.get(i)).cloned().ok_or_else(|| {
            err(path, line, format!("tag id {id} is outside `tag_names` ({} names)", reading.tag_names.len()))
        }),
    }
}

fn sentence(path: &Path, line: usize, tokens: Vec<String>, tags: Vec<String>) -> Result<Raw, InputError> {
    if !tags.is_empty() && tags.len() != tokens.len() {
        return Err(err(path, line, format!("{} tokens but {} tags", tokens.len(), tags.len())));
    }
    if let Some(blank) = tokens.iter().position(|t| t.trim().is_empty()) {
        return Err(err(path, line, format!("token {} is empty", blank + 1)));
    }
    Ok(Raw { lines: vec![line; tokens.len()], tokens, tags })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use polars::prelude::*;

    use crate::corpus::{parse, Format, Labels, Reading};

    fn types() -> Vec<String> {
        ["PER", "ORG", "LOC", "MISC"].map(String::from).to_vec()
    }

    #[test]
    fn json_lines_with_tag_strings_or_ids() {
        let names: Vec<String> = ["O", "B-PER", "I-PER", "B-LOC"].map(String::from).to_vec();
        let reading = Reading { tag_names: &names, section: "target", ..Reading::default() };
        let text = "{\"id\": \"0\", \"tokens\": [\"Ana\", \"en\", \"Lima\"], \"ner_tags\": [1, 0, 3]}\n\n\
                    {\"tokens\": [\"Juan\", \"Pérez\"], \"ner_tags\": [\"B-PER\", \"I-PER\"]}\n";
        let (sents, stats) = parse(Path::new("d.jsonl"), text.as_bytes(), &reading, Labels::Types(&types())).unwrap();
        assert_eq!(stats.format, Some(Format::Jsonl));
        assert_eq!(sents[0].tags.as_deref().unwrap(), ["B-PER", "O", "B-LOC"]);
        assert_eq!((sents[1].line, sents[1].tokens[1].as_str()), (3, "Pérez"));
        let no_names = Reading { section: "target", ..Reading::default() };
        let e = parse(Path::new("d.jsonl"), text.as_bytes(), &no_names, Labels::Types(&types())).unwrap_err();
        assert!(e.message.contains("target.tag_names"), "{e}");
        let e = parse(Path::new("d.jsonl"), b"{\"words\": []}\n", &reading, Labels::Unlabeled).unwrap_err();
        assert!(e.message.contains("`tokens`"), "{e}");
        let mismatched = "{\"tokens\": [\"a\", \"b\"], \"ner_tags\": [\"O\"]}\n";
        let e = parse(Path::new("d.jsonl"), mismatched.as_bytes(), &reading, Labels::Types(&types())).unwrap_err();
        assert!(e.message.contains("2 tokens but 1 tags"), "{e}");
    }

    #[test]
    fn parquet_round_trips_with_string_or_id_tags() {
        let names: Vec<String> = ["O", "B-LOC", "I-LOC"].map(String::from).to_vec();
        let reading = Reading { tag_names: &names, ..Reading::default() };
        let tokens = [vec!["Nueva".to_string(), "York".into()], vec!["Hola".into()]];
        let tags = Series::new("ner_tags".into(), [Series::new("".into(), [1i64, 2]), Series::new("".into(), [0i64])]);
        let mut df = DataFrame::new(
            2,
            vec![crate::table::str_lists("tokens", tokens.iter().map(|t| t.as_slice())), tags.into()],
        )
        .unwrap();
        let mut bytes = Vec::new();
        ParquetWriter::new(&mut bytes).finish(&mut df).unwrap();
        let (sents, stats) = parse(Path::new("d.parquet"), &bytes, &reading, Labels::Types(&types())).unwrap();
        assert_eq!(stats.format, Some(Format::Parquet));
        assert_eq!((sents[0].tokens.clone(), sents[0].tags.clone().unwrap()), (tokens[0].clone(), names[1..].to_vec()));
        assert_eq!((sents[1].line, stats.entities), (2, 1));
        let (sents, _) = parse(Path::new("d.parquet"), &bytes, &reading, Labels::Unlabeled).unwrap();
        assert_eq!(sents[1].tokens, ["Hola"]);
    }
}
