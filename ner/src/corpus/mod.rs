//! Reading a language's files, whatever shape they come in: CoNLL (token and tag columns),
//! CoNLL-U (FORM, and NER from an extra column or MISC's `name=`), plain text (one sentence
//! per line, split into words by `words`), and the HF `datasets` NER shape as JSON Lines
//! or Parquet (`tokens`, `ner_tags` as strings or as ids). The format is detected from
//! each file's content unless the config names it (`sniff`); every reader refuses the
//! misreads that a wrong format produces (a "sentence" of thousands of tokens, a token
//! column of word IDs, a binary file read as text) with the file, the line and the fix.
//!
//! Tags then go through one path (`tags`): BIOES/BILOU and IOB1 become IOB2, the side's
//! `tag_map` renames types onto the model's labels (or drops them to `O`), and a type that
//! is neither a label nor mapped is an error naming it, the file and the line.

mod conll;
mod conllu;
mod hf;
mod sniff;
mod tags;
mod text;
pub mod words;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::InputError;

pub use sniff::{sniff, sniff_file};
pub use text::check_plain_text;

/// A file format of a corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One token per line, whitespace-separated columns, blank lines between sentences.
    Conll,
    /// Universal Dependencies' 10 columns; FORM is the token.
    Conllu,
    /// One sentence per line, words found by `words::split`.
    Text,
    /// One JSON object per line: `{"tokens": [...], "ner_tags": [...]}`.
    Jsonl,
    /// A table with a `tokens` list column and an optional `ner_tags` list column.
    Parquet,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Conll => "conll",
            Format::Conllu => "conllu",
            Format::Text => "text",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        }
    }
}

/// The files of one language. Paths are relative to the config file's folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corpus {
    pub lang: String,
    pub train: PathBuf,
    #[serde(default)]
    pub dev: Option<PathBuf>,
    #[serde(default)]
    pub test: Option<PathBuf>,
    #[serde(default)]
    pub encoding: Encoding,
    /// The language is written without spaces between words (zh, ja, th): its words are
    /// encoded without a bare word-boundary marker, as the encoder saw such text in
    /// pretraining. Off, it stays out of stage keys (made before it existed).
    #[serde(default)]
    pub unspaced: bool,
    /// The files' format: `conll`, `conllu`, `text` (one sentence per line; unlabeled files
    /// only), `jsonl` or `parquet` (HF datasets' `tokens`/`ner_tags`). Left out, each file's
    /// is detected from its content (`corpus::sniff`).
    #[serde(default)]
    pub format: Option<Format>,
    /// CoNLL: the token's column, 1-based (left out: the first).
    #[serde(default)]
    pub token_column: Option<usize>,
    /// CoNLL: the tag's column, 1-based (left out: the last).
    #[serde(default)]
    pub tag_column: Option<usize>,
    /// JSON Lines / Parquet whose `ner_tags` are ids: the tag of each id, in id order.
    #[serde(default)]
    pub tag_names: Vec<String>,
    /// The files' entity types renamed onto `labels` (`GPE_LOC = "LOC"`), or dropped (`"O"`);
    /// applied when the files are read, with the counts in the ingest manifest.
    #[serde(default)]
    pub tag_map: BTreeMap<String, String>,
}

/// Text encodings accepted for CoNLL files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "latin-1")]
    Latin1,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    pub tokens: Vec<String>,
    /// IOB2 tags; `None` when the file is read as unlabeled.
    pub tags: Option<Vec<String>>,
    /// 1-based line of the sentence's first token (the row, for Parquet).
    pub line: usize,
}

/// What reading one file found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReadStats {
    /// The format read (detected or configured).
    pub format: Option<Format>,
    pub sentences: usize,
    pub tokens: usize,
    /// conlleval chunks, counted after IOB2 conversion and the tag map (0 for unlabeled reads).
    pub entities: usize,
    /// Entities per label type, after the tag map.
    pub types: BTreeMap<String, usize>,
    /// Entities whose type the tag map renamed, by `FROM -> TO`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub mapped: BTreeMap<String, usize>,
    /// Entities the tag map dropped (mapped to `O`), by their type in the file.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dropped: BTreeMap<String, usize>,
    pub(crate) docstarts: usize,
    /// Blank-line blocks holding no token (beyond the one after each `-DOCSTART-`).
    pub empty_sentences_skipped: usize,
}

/// How to read the tag column.
#[derive(Clone, Copy)]
pub enum Labels<'a> {
    /// Keep tags, which must be `O` or `B-`/`I-` of one of these entity types (after the map).
    Types(&'a [String]),
    /// Ignore the tags: the target language's unlabeled data.
    Unlabeled,
}

/// How one corpus's files are read: `Corpus`'s reading settings.
#[derive(Debug, Clone, Default)]
pub struct Reading<'a> {
    /// `None`: detected per file.
    pub format: Option<Format>,
    pub encoding: Encoding,
    /// CoNLL: the token's column, 1-based (default the first).
    pub token_column: Option<usize>,
    /// CoNLL: the tag's column, 1-based (default the last).
    pub tag_column: Option<usize>,
    /// JSON Lines / Parquet: the tag of each id in `ner_tags`.
    pub tag_names: &'a [String],
    /// Types renamed onto the labels, or to `O`.
    pub tag_map: Option<&'a BTreeMap<String, String>>,
    /// Plain text: one word per character.
    pub unspaced: bool,
    /// The config section holding these settings (`source`, `target`), named in fixes.
    pub section: &'a str,
    /// Set where the format comes from a command-line flag (`--input-format`), not the config.
    pub flag: Option<&'a str>,
}

impl<'a> Reading<'a> {
    /// The reading settings of `corpus`, found in the config's `section`.
    pub fn of(corpus: &'a Corpus, section: &'a str) -> Self {
        Self {
            format: corpus.format,
            encoding: corpus.encoding,
            token_column: corpus.token_column,
            tag_column: corpus.tag_column,
            tag_names: &corpus.tag_names,
            tag_map: Some(&corpus.tag_map),
            unspaced: corpus.unspaced,
            section,
            flag: None,
        }
    }

    /// How the user says `format`: the config key or the flag.
    fn set_format(&self, format: &str) -> String {
        match self.flag {
            Some(flag) => format!("pass `{flag} {format}`"),
            None => format!("set `{}.format = \"{format}\"`", self.section),
        }
    }
}

/// Reads and parses one file. A file that cannot be read is an I/O error naming it
/// (there is no line to blame); bad content is an `InputError` naming file and line.
pub fn read_file(path: &Path, reading: &Reading, labels: Labels) -> anyhow::Result<(Vec<Sentence>, ReadStats)> {
    let bytes = fs_err::read(path)?;
    Ok(parse(path, &bytes, reading, labels)?)
}

/// One sentence as a reader found it: tags as written in the file, each token's line.
struct Raw {
    tokens: Vec<String>,
    /// Empty when the read is unlabeled.
    tags: Vec<String>,
    lines: Vec<usize>,
}

/// What a reader returns: its sentences and the counts only it can make.
#[derive(Default)]
struct RawFile {
    sentences: Vec<Raw>,
    docstarts: usize,
    empty_sentences_skipped: usize,
}

pub(crate) fn err(path: &Path, line: usize, message: impl Into<String>) -> InputError {
    InputError { path: path.to_path_buf(), line, message: message.into() }
}

/// Parses the bytes of one file; `path` is only used in errors.
pub fn parse(
    path: &Path,
    bytes: &[u8],
    reading: &Reading,
    labels: Labels,
) -> Result<(Vec<Sentence>, ReadStats), InputError> {
    let format = match reading.format {
        Some(format) => format,
        None => sniff(bytes),
    };
    let labeled = matches!(labels, Labels::Types(_));
    let raw = match format {
        Format::Conll => conll::read(path, bytes, reading, labeled)?,
        Format::Conllu => conllu::read(path, &text::decode_all(path, bytes, reading)?, reading, labeled)?,
        Format::Text => text::read(path, bytes, reading, labeled)?,
        Format::Jsonl => hf::read_jsonl(path, &text::decode_all(path, bytes, reading)?, reading, labeled)?,
        Format::Parquet => hf::read_parquet(path, bytes, reading, labeled)?,
    };
    if raw.sentences.is_empty() {
        return Err(err(path, 1, "file holds no sentence"));
    }
    let mut stats = ReadStats {
        format: Some(format),
        docstarts: raw.docstarts,
        empty_sentences_skipped: raw.empty_sentences_skipped,
        ..ReadStats::default()
    };
    let mut sentences = Vec::with_capacity(raw.sentences.len());
    for sentence in raw.sentences {
        let tags = match labels {
            Labels::Types(types) => Some(tags::normalise(path, &sentence, types, reading, &mut stats)?),
            Labels::Unlabeled => None,
        };
        stats.sentences += 1;
        stats.tokens += sentence.tokens.len();
        sentences.push(Sentence { line: sentence.lines[0], tokens: sentence.tokens, tags });
    }
    Ok((sentences, stats))
}
