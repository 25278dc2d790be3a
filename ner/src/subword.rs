//! Subword encoding of pre-split words with the encoder's tokenizer (a HF
//! `tokenizer.json`, or a WordPiece `vocab.txt`): each word is encoded on its own
//! and its label sits on its first subword. Words of unspaced scripts can be encoded
//! as the continuation of running text, without a SentencePiece word-boundary marker.

use std::path::Path;

use anyhow::{anyhow, Context};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::Tokenizer;

/// SentencePiece's word-boundary marker.
const MARKER: char = '\u{2581}';

pub struct SubwordTokenizer {
    tokenizer: Tokenizer,
    /// Encode words without a leading boundary marker (see `unspaced`).
    unspaced: bool,
    /// `tokenize.label_past_bare_marker`.
    label_past_bare_marker: bool,
    pub cls: u32,
    pub sep: u32,
    pub pad: u32,
    pub unk: u32,
}

/// One sentence as the encoder sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedSentence {
    /// CLS, the subwords of the kept words, SEP.
    pub input_ids: Vec<u32>,
    /// Position in `input_ids` of each kept word's first subword.
    pub word_starts: Vec<u32>,
    /// Words dropped because the sentence exceeded `max_len` subwords.
    pub truncated_words: u32,
}

impl SubwordTokenizer {
    /// Loads a `tokenizer.json`, or builds a BERT WordPiece tokenizer from a `vocab.txt`.
    pub fn load(path: &Path, lowercase: bool) -> anyhow::Result<Self> {
        let tokenizer = if path.extension().is_some_and(|e| e == "txt") {
            let model = WordPiece::from_file(&path.to_string_lossy())
                .unk_token("[UNK]".into())
                .build()
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            let mut tokenizer = Tokenizer::new(model);
            tokenizer.with_normalizer(Some(BertNormalizer::new(true, true, Some(lowercase), lowercase)));
            tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
            tokenizer
        } else {
            Tokenizer::from_file(path).map_err(|e| anyhow!("{}: {e}", path.display()))?
        };
        let find = |candidates: &[&str]| {
            candidates
                .iter()
                .find_map(|c| tokenizer.token_to_id(c))
                .ok_or_else(|| anyhow!("{}: vocabulary has none of {candidates:?}", path.display()))
        };
        Ok(Self {
            cls: find(&["<s>", "[CLS]"])?,
            sep: find(&["</s>", "[SEP]"])?,
            pad: find(&["<pad>", "[PAD]"])?,
            unk: find(&["<unk>", "[UNK]"])?,
            tokenizer,
            unspaced: false,
            label_past_bare_marker: false,
        })
    }

    /// The tokenizer the `tokenize` settings describe (`lowercase`,
    /// `label_past_bare_marker`), for a language written with spaces or without (`unspaced`).
    pub fn configured(
        path: &Path,
        lowercase: bool,
        label_past_bare_marker: bool,
        unspaced: bool,
    ) -> anyhow::Result<Self> {
        let mut tokenizer = Self::load(path, lowercase)?.unspaced(unspaced);
        tokenizer.label_past_bare_marker = label_past_bare_marker;
        Ok(tokenizer)
    }

    /// Words of a script written without spaces (zh, ja, th) come one character or word
    /// per CoNLL line; encoded alone, each would start a new `▁` word, often as a bare
    /// `▁` piece followed by the character, which the encoder rarely saw in such text.
    /// Unspaced, a word's first piece loses its marker (the bare marker is dropped,
    /// `▁X` becomes `X` where the vocabulary has it), as inside running text.
    /// WordPiece vocabularies have no marker, so this changes nothing for them.
    pub fn unspaced(mut self, unspaced: bool) -> Self {
        self.unspaced = unspaced;
        self
    }

    /// The subword ids of one word; the unknown id if the tokenizer yields none.
    pub fn word_ids(&self, word: &str) -> anyhow::Result<Vec<u32>> {
        let encoding = self.tokenizer.encode(word, false).map_err(|e| anyhow!("{e}")).context("encoding a word")?;
        let mut ids = encoding.get_ids().to_vec();
        if self.unspaced {
            self.drop_leading_marker(&mut ids);
        }
        Ok(if ids.is_empty() { vec![self.unk] } else { ids })
    }

    fn drop_leading_marker(&self, ids: &mut Vec<u32>) {
        let Some(first) = ids.first().and_then(|&id| self.tokenizer.id_to_token(id)) else { return };
        let Some(rest) = first.strip_prefix(MARKER) else { return };
        if rest.is_empty() {
            if ids.len() > 1 {
                ids.remove(0);
            }
        } else if let Some(id) = self.tokenizer.token_to_id(rest) {
            ids[0] = id;
        }
    }

    /// Encodes a sentence of words, keeping whole words while CLS + subwords + SEP fit in `max_len`.
    pub fn encode(&self, words: &[String], max_len: usize) -> anyhow::Result<EncodedSentence> {
        let budget = max_len.saturating_sub(2);
        let mut input_ids = vec![self.cls];
        let mut word_starts = Vec::with_capacity(words.len());
        for (kept, word) in words.iter().enumerate() {
            let ids = self.word_ids(word)?;
            if input_ids.len() - 1 + ids.len() > budget {
                input_ids.push(self.sep);
                return Ok(EncodedSentence { input_ids, word_starts, truncated_words: (words.len() - kept) as u32 });
            }
            // A bare marker carries no characters: the label goes on the next piece if asked.
            let past_marker = self.label_past_bare_marker
                && ids.len() > 1
                && self.tokenizer.id_to_token(ids[0]).is_some_and(|t| t.strip_prefix(MARKER) == Some(""));
            word_starts.push((input_ids.len() + usize::from(past_marker)) as u32);
            input_ids.extend(ids);
        }
        input_ids.push(self.sep);
        Ok(EncodedSentence { input_ids, word_starts, truncated_words: 0 })
    }
}
