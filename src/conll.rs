//! Reading CoNLL-format files: token = first field, tag = last field, blank lines
//! and `-DOCSTART-` end a sentence. Tags are validated against the label set and
//! normalised from IOB1 to IOB2. Every complaint names the file and line.

use std::path::Path;

use serde::Serialize;

use crate::config::Encoding;
use crate::error::InputError;

#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    pub tokens: Vec<String>,
    /// IOB2 tags; `None` when the file is read as unlabeled.
    pub tags: Option<Vec<String>>,
    /// 1-based line of the sentence's first token.
    pub line: usize,
}

/// What reading one file found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReadStats {
    pub sentences: usize,
    pub tokens: usize,
    /// conlleval chunks, counted after IOB2 conversion (0 for unlabeled reads).
    pub entities: usize,
    pub docstarts: usize,
    /// Blank-line blocks holding no token (beyond the one after each `-DOCSTART-`).
    pub empty_sentences_skipped: usize,
}

/// How to read the tag column.
pub enum Labels<'a> {
    /// Keep tags, which must be `O` or `B-`/`I-` of one of these entity types.
    Types(&'a [String]),
    /// Ignore everything after the token: the target language's unlabeled data.
    Unlabeled,
}

/// Reads and parses a CoNLL file. A file that cannot be read is an I/O error naming it
/// (there is no line to blame); bad content is an `InputError` naming file and line.
pub fn read_file(path: &Path, encoding: Encoding, labels: Labels) -> anyhow::Result<(Vec<Sentence>, ReadStats)> {
    let bytes = fs_err::read(path)?;
    Ok(parse(path, &bytes, encoding, labels)?)
}

fn err(path: &Path, line: usize, message: String) -> InputError {
    InputError { path: path.to_path_buf(), line, message }
}

/// Parses the bytes of a CoNLL file; `path` is only used in errors.
pub fn parse(
    path: &Path,
    bytes: &[u8],
    encoding: Encoding,
    labels: Labels,
) -> Result<(Vec<Sentence>, ReadStats), InputError> {
    let mut sentences = Vec::new();
    let mut stats = ReadStats::default();
    let mut tokens: Vec<String> = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    let mut start_line = 0;
    let mut after_docstart = false;
    let mut pending_empty = 0;

    // A UTF-8 byte-order mark (editors on Windows write one) is not part of the first token.
    let bytes = match encoding {
        Encoding::Utf8 => bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes),
        Encoding::Latin1 => bytes,
    };
    let mut flush = |tokens: &mut Vec<String>, tags: &mut Vec<String>, start_line: usize, stats: &mut ReadStats| {
        let tags = match labels {
            Labels::Types(_) => {
                let converted = iob1_to_iob2(tags);
                stats.entities += converted.iter().filter(|t| t.starts_with("B-")).count();
                Some(converted)
            }
            Labels::Unlabeled => None,
        };
        stats.sentences += 1;
        stats.tokens += tokens.len();
        sentences.push(Sentence { tokens: std::mem::take(tokens), tags, line: start_line });
    };

    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = decode(raw, encoding).map_err(|message| err(path, line_no, message))?;
        let mut fields = line.split_whitespace();
        let Some(token) = fields.next() else {
            if !tokens.is_empty() {
                flush(&mut tokens, &mut tags, start_line, &mut stats);
                tags.clear();
            } else if !after_docstart {
                // Counted once a token follows, so trailing blank lines are not "sentences".
                pending_empty += 1;
            }
            after_docstart = false;
            continue;
        };
        if token == "-DOCSTART-" {
            pending_empty = 0;
            if !tokens.is_empty() {
                flush(&mut tokens, &mut tags, start_line, &mut stats);
                tags.clear();
            }
            stats.docstarts += 1;
            after_docstart = true;
            continue;
        }
        after_docstart = false;
        stats.empty_sentences_skipped += std::mem::take(&mut pending_empty);
        if let Labels::Types(types) = labels {
            let tag = fields.last().ok_or_else(|| {
                err(path, line_no, format!("expected `TOKEN ... TAG` (at least 2 fields), found only `{token}`"))
            })?;
            check_tag(tag, types).map_err(|message| err(path, line_no, message))?;
            tags.push(tag.to_string());
        }
        if tokens.is_empty() {
            start_line = line_no;
        }
        tokens.push(token.to_string());
    }
    if !tokens.is_empty() {
        flush(&mut tokens, &mut tags, start_line, &mut stats);
    }
    if sentences.is_empty() {
        return Err(err(path, 1, "file holds no sentence".into()));
    }
    Ok((sentences, stats))
}

fn decode(raw: &[u8], encoding: Encoding) -> Result<String, String> {
    match encoding {
        Encoding::Latin1 => Ok(raw.iter().map(|&b| b as char).collect()),
        Encoding::Utf8 => String::from_utf8(raw.to_vec()).map_err(|e| {
            format!(
                "invalid UTF-8 at byte {} of the line; if the file is Latin-1, set `encoding = \"latin-1\"` for this corpus",
                e.utf8_error().valid_up_to() + 1
            )
        }),
    }
}

fn check_tag(tag: &str, types: &[String]) -> Result<(), String> {
    if tag == "O" {
        return Ok(());
    }
    let ok = match tag.split_once('-') {
        Some(("B" | "I", ty)) => types.iter().any(|t| t == ty),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag `{tag}` is not in the label set (O and B-/I- of {}); set `labels` in the config to change it",
            types.join(", ")
        ))
    }
}

/// IOB1 to IOB2: an `I-X` at the start, after `O` or after another type becomes `B-X`.
/// On IOB2 input this changes nothing.
pub fn iob1_to_iob2(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let converted = match tag.strip_prefix("I-") {
            Some(ty) => {
                let continues = out.last().and_then(|prev| prev.get(2..)).is_some_and(|prev_ty| prev_ty == ty);
                if continues {
                    tag.clone()
                } else {
                    format!("B-{ty}")
                }
            }
            None => tag.clone(),
        };
        out.push(converted);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> Vec<String> {
        ["PER", "ORG", "LOC", "MISC"].map(String::from).to_vec()
    }

    fn s(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn iob1_becomes_iob2() {
        assert_eq!(iob1_to_iob2(&s(&["I-PER", "I-PER", "O", "I-LOC"])), s(&["B-PER", "I-PER", "O", "B-LOC"]));
        // A type change and an explicit B- between same-type entities.
        assert_eq!(iob1_to_iob2(&s(&["I-ORG", "I-LOC", "B-LOC", "I-LOC"])), s(&["B-ORG", "B-LOC", "B-LOC", "I-LOC"]));
        // IOB2 input is unchanged.
        let iob2 = s(&["B-PER", "I-PER", "O", "B-MISC", "I-MISC"]);
        assert_eq!(iob1_to_iob2(&iob2), iob2);
    }

    #[test]
    fn docstart_tabs_and_blank_lines_split_sentences() {
        let text = "-DOCSTART- -X- O O\n\nEU\tNNP\tB-ORG\nrejects VBZ O\n\n\nPeter I-PER\nBlackburn I-PER\n";
        let (sents, stats) =
            parse(Path::new("t.txt"), text.as_bytes(), Encoding::Utf8, Labels::Types(&types())).unwrap();
        assert_eq!(sents.len(), 2);
        assert_eq!(sents[0].tokens, s(&["EU", "rejects"]));
        assert_eq!(sents[0].line, 3);
        assert_eq!(sents[1].tags.as_deref(), Some(&s(&["B-PER", "I-PER"])[..]));
        assert_eq!((stats.docstarts, stats.entities, stats.tokens, stats.empty_sentences_skipped), (1, 2, 4, 1));
    }

    #[test]
    fn unlabeled_reading_keeps_no_tags_and_accepts_one_field() {
        let (sents, _) = parse(Path::new("u.txt"), b"Hola\nMadrid B-LOC\n", Encoding::Utf8, Labels::Unlabeled).unwrap();
        assert_eq!(sents[0].tags, None);
        assert_eq!(sents[0].tokens, s(&["Hola", "Madrid"]));
    }

    #[test]
    fn bad_input_names_file_and_line() {
        let t = types();
        let e = parse(Path::new("a.txt"), b"Paris B-LOC\nfoo B-CITY\n", Encoding::Utf8, Labels::Types(&t)).unwrap_err();
        assert_eq!((e.line, e.path.to_str().unwrap()), (2, "a.txt"));
        assert!(e.to_string().starts_with("a.txt:2: tag `B-CITY`"), "{e}");
        let e = parse(Path::new("a.txt"), b"Paris B-LOC\n\nlonely\n", Encoding::Utf8, Labels::Types(&t)).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("at least 2 fields"));
        let e = parse(Path::new("l.txt"), b"Le O\nM\xfcnchen B-LOC\n", Encoding::Utf8, Labels::Types(&t)).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("latin-1"), "{e}");
        let e = parse(Path::new("e.txt"), b"\n\n", Encoding::Utf8, Labels::Types(&t)).unwrap_err();
        assert!(e.message.contains("no sentence"));
    }

    #[test]
    fn a_utf8_byte_order_mark_is_not_part_of_the_first_token() {
        let text = b"\xEF\xBB\xBF-DOCSTART- -X- O O\n\nParis B-LOC\n";
        let (sents, stats) = parse(Path::new("b.txt"), text, Encoding::Utf8, Labels::Types(&types())).unwrap();
        assert_eq!((sents.len(), stats.docstarts), (1, 1));
        assert_eq!(sents[0].tokens, s(&["Paris"]));
        let (sents, _) = parse(Path::new("b.txt"), b"\xEF\xBB\xBFHola\n", Encoding::Utf8, Labels::Unlabeled).unwrap();
        assert_eq!(sents[0].tokens, s(&["Hola"]));
    }

    #[test]
    fn an_unreadable_file_is_named_without_a_line() {
        let e = read_file(Path::new("/nonexistent/x.conll"), Encoding::Utf8, Labels::Unlabeled).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("/nonexistent/x.conll") && !msg.contains(":0:"), "{msg}");
    }

    #[test]
    fn latin1_decodes() {
        let (sents, _) =
            parse(Path::new("l.txt"), b"M\xfcnchen B-LOC\n", Encoding::Latin1, Labels::Types(&types())).unwrap();
        assert_eq!(sents[0].tokens[0], "München");
    }
}
