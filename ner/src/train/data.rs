//! Encoded sentences in memory and their conversion into padded tensor batches.

use std::path::Path;

use polars::prelude::{Column, DataFrame};
use rayon::prelude::*;
use tch::{Device, Tensor};

use super::batching::{sorted_batches, BatchPlan};
use crate::subword::{EncodedSentence, SubwordTokenizer};
use crate::table;

/// Parquet metadata key under which `tokenize` records the tokenizer's padding id.
pub(crate) const PAD_ID_KEY: &str = "mtmt.pad_id";

/// Sentences to encode: their ids, words and (where labeled) IOB2 tags, and the file
/// they were read from, which errors name.
pub struct Words<'a> {
    pub ids: Vec<u32>,
    pub tokens: &'a [Vec<String>],
    pub tags: Option<&'a [Vec<String>]>,
    pub origin: &'a Path,
}

/// One `encoded_<side>_<split>` table.
pub struct EncodedSet {
    /// The tokenizer's padding id.
    pub pad_id: u32,
    pub sentence_ids: Vec<u32>,
    pub input_ids: Vec<Vec<u32>>,
    pub word_starts: Vec<Vec<u32>>,
    /// Per word of the sentence (truncated words included), where labeled.
    pub labels: Option<Vec<Vec<u32>>>,
    pub n_words: Vec<u32>,
    /// Words per sentence dropped by truncation.
    pub truncated_words: Vec<u32>,
}

impl EncodedSet {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let df = table::read(path)?;
        let u32s = |name: &str| table::u32_column(&df, path, name);
        let labels = match df.column("label_ids") {
            Ok(_) => Some(table::read_u32_lists(&df, "label_ids")?),
            Err(_) => None,
        };
        let pad_id = table::metadata(path)?
            .into_iter()
            .find(|(k, _)| k == PAD_ID_KEY)
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("{}: no {PAD_ID_KEY} in its metadata", path.display()))?;
        Ok(Self {
            pad_id,
            sentence_ids: u32s("sentence_id")?,
            input_ids: table::read_u32_lists(&df, "input_ids")?,
            word_starts: table::read_u32_lists(&df, "word_starts")?,
            n_words: u32s("n_words")?,
            truncated_words: u32s("truncated_words")?,
            labels,
        })
    }

    /// The sentences at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        fn pick<T: Clone>(v: &[T], indices: &[usize]) -> Vec<T> {
            indices.iter().map(|&i| v[i].clone()).collect()
        }
        Self {
            pad_id: self.pad_id,
            sentence_ids: pick(&self.sentence_ids, indices),
            input_ids: pick(&self.input_ids, indices),
            word_starts: pick(&self.word_starts, indices),
            labels: self.labels.as_ref().map(|l| pick(l, indices)),
            n_words: pick(&self.n_words, indices),
            truncated_words: pick(&self.truncated_words, indices),
        }
    }

    /// Keeps the first `max` sentences (0 = all).
    pub fn truncated(mut self, max: usize) -> Self {
        if max > 0 && max < self.len() {
            self.sentence_ids.truncate(max);
            self.input_ids.truncate(max);
            self.word_starts.truncate(max);
            self.n_words.truncate(max);
            self.truncated_words.truncate(max);
            if let Some(l) = self.labels.as_mut() {
                l.truncate(max);
            }
        }
        self
    }

    /// Encodes sentences of words (and their IOB2 tags, where labeled) with `tokenizer`,
    /// in parallel; `tick` is called once per sentence.
    pub fn encode(
        tokenizer: &SubwordTokenizer,
        words: Words,
        labels: &[String],
        max_len: usize,
        tick: impl Fn() + Sync,
    ) -> anyhow::Result<Self> {
        let Words { ids: sentence_ids, tokens: words, tags, origin } = words;
        let encoded: Vec<EncodedSentence> = words
            .par_iter()
            .map(|w| {
                let e = tokenizer.encode(w, max_len);
                tick();
                e
            })
            .collect::<anyhow::Result<_>>()?;
        let labels = tags
            .map(|tags| {
                tags.iter()
                    .enumerate()
                    .map(|(row, tags)| {
                        tags.iter()
                            .map(|t| {
                                let id = labels.iter().position(|l| l == t).ok_or_else(|| {
                                    anyhow::anyhow!(
                                        "{}: row {row} (sentence {}): tag `{t}` is not in the label set {labels:?}",
                                        origin.display(),
                                        sentence_ids[row]
                                    )
                                })?;
                                Ok(id as u32)
                            })
                            .collect::<anyhow::Result<Vec<u32>>>()
                    })
                    .collect::<anyhow::Result<Vec<_>>>()
            })
            .transpose()?;
        Ok(Self {
            pad_id: tokenizer.pad,
            sentence_ids,
            n_words: words.iter().map(|w| w.len() as u32).collect(),
            truncated_words: encoded.iter().map(|e| e.truncated_words).collect(),
            word_starts: encoded.iter().map(|e| e.word_starts.clone()).collect(),
            input_ids: encoded.into_iter().map(|e| e.input_ids).collect(),
            labels,
        })
    }

    /// Writes the set as an `encoded` table, recording the padding id in the metadata.
    pub fn write(&self, path: &Path, mut metadata: Vec<(String, String)>) -> anyhow::Result<()> {
        let mut columns = vec![
            Column::new("sentence_id".into(), self.sentence_ids.clone()),
            table::u32_lists("input_ids", self.input_ids.iter().map(Vec::as_slice)),
            table::u32_lists("word_starts", self.word_starts.iter().map(Vec::as_slice)),
            Column::new("n_words".into(), self.n_words.clone()),
            Column::new("truncated_words".into(), self.truncated_words.clone()),
        ];
        if let Some(labels) = &self.labels {
            columns.push(table::u32_lists("label_ids", labels.iter().map(Vec::as_slice)));
        }
        let mut df = DataFrame::new(self.len(), columns)?;
        metadata.push((PAD_ID_KEY.into(), self.pad_id.to_string()));
        table::write(&mut df, path, metadata)
    }

    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }

    /// Subword lengths, for bucketing.
    pub fn lengths(&self) -> Vec<usize> {
        self.input_ids.iter().map(Vec::len).collect()
    }

    /// Subwords in the whole set.
    pub fn tokens(&self) -> usize {
        self.input_ids.iter().map(Vec::len).sum()
    }
}

/// A padded batch and the positions of its words' first subwords.
pub struct Batch {
    /// [batch, len] int64, padded with the tokenizer's pad id.
    pub input_ids: Tensor,
    /// [batch, len] int64, 1 on real tokens.
    pub attention_mask: Tensor,
    /// [words]: batch row and column of each kept word's first subword.
    pub word_rows: Tensor,
    pub word_cols: Tensor,
    /// [words] label ids, where labeled.
    pub labels: Option<Tensor>,
    /// Kept words per sentence, in batch order.
    pub words_per_sentence: Vec<usize>,
    /// Real subwords in the batch.
    pub tokens: usize,
}

impl Batch {
    pub fn new(set: &EncodedSet, indices: &[usize], device: Device) -> Self {
        let pad_id = set.pad_id;
        let len = indices.iter().map(|&i| set.input_ids[i].len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(indices.len() * len);
        let mut mask = Vec::with_capacity(indices.len() * len);
        let (mut rows, mut cols, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        let mut words_per_sentence = Vec::with_capacity(indices.len());
        let mut tokens = 0;
        for (row, &i) in indices.iter().enumerate() {
            let sentence = &set.input_ids[i];
            tokens += sentence.len();
            ids.extend(sentence.iter().map(|&t| t as i64));
            ids.extend(std::iter::repeat_n(pad_id as i64, len - sentence.len()));
            mask.extend(std::iter::repeat_n(1i64, sentence.len()));
            mask.extend(std::iter::repeat_n(0i64, len - sentence.len()));
            let starts = &set.word_starts[i];
            words_per_sentence.push(starts.len());
            for (w, &col) in starts.iter().enumerate() {
                rows.push(row as i64);
                cols.push(col as i64);
                if let Some(l) = &set.labels {
                    labels.push(l[i][w] as i64);
                }
            }
        }
        let shape = [indices.len() as i64, len as i64];
        let to = |v: &[i64]| Tensor::from_slice(v).to_device(device);
        Self {
            input_ids: to(&ids).view(shape),
            attention_mask: to(&mask).view(shape),
            word_rows: to(&rows),
            word_cols: to(&cols),
            labels: set.labels.as_ref().map(|_| to(&labels)),
            words_per_sentence,
            tokens,
        }
    }
}

/// Start of each item's rows when items of the given sizes are laid end to end.
pub fn prefix_offsets(sizes: impl IntoIterator<Item = usize>) -> Vec<usize> {
    sizes
        .into_iter()
        .scan(0, |acc, n| {
            let start = *acc;
            *acc += n;
            Some(start)
        })
        .collect()
}

/// Runs `per_word` (a batch -> one row per kept word) over the whole set without
/// gradients, in length-sorted batches, and returns each sentence's rows in set order.
pub fn per_sentence(
    set: &EncodedSet,
    plan: &BatchPlan,
    device: Device,
    per_word: impl Fn(&Batch) -> Tensor,
) -> Vec<Tensor> {
    let _guard = tch::no_grad_guard();
    let mut out: Vec<Option<Tensor>> = (0..set.len()).map(|_| None).collect();
    for indices in sorted_batches(&set.lengths(), plan) {
        let batch = Batch::new(set, &indices, device);
        let rows = per_word(&batch);
        let starts = prefix_offsets(batch.words_per_sentence.iter().copied());
        for ((&i, &words), start) in indices.iter().zip(&batch.words_per_sentence).zip(starts) {
            out[i] = Some(rows.narrow(0, start as i64, words as i64));
        }
    }
    out.into_iter().map(|t| t.expect("every sentence is in one batch")).collect()
}
