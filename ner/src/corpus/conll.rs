//! CoNLL files: one token per line in whitespace-separated columns (the token first and
//! the tag last unless `token_column`/`tag_column` say otherwise), blank lines and
//! `-DOCSTART-` ending a sentence. What another format looks like when read this way is
//! refused: lines of varying field counts (plain text), a "sentence" of thousands of
//! tokens (no blank lines), a token column counting 1, 2, 3 (CoNLL-U's IDs).

use std::path::Path;

use super::{err, text, Raw, RawFile, Reading};
use crate::error::InputError;

/// More tokens than any sentence of a real corpus holds (CoNLL-2002 es has one of 1,238):
/// a file without blank lines.
const MAX_SENTENCE: usize = 5000;

pub(super) fn read(path: &Path, bytes: &[u8], reading: &Reading, labeled: bool) -> Result<RawFile, InputError> {
    text::refuse_other_formats(path, bytes, "conll", reading)?;
    let bytes = text::strip_bom(bytes, reading.encoding);
    let mut file = RawFile::default();
    let mut current = Raw { tokens: Vec::new(), tags: Vec::new(), lines: Vec::new() };
    let mut after_docstart = false;
    let mut pending_empty = 0;
    // The field count of the first token line: CoNLL's columns are fixed.
    let mut columns: Option<(usize, usize)> = None;

    let flush = |current: &mut Raw, file: &mut RawFile| flush(path, reading, current, file);

    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let line = text::decode_line(path, line_no, raw, reading.encoding)?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            if !current.tokens.is_empty() {
                flush(&mut current, &mut file)?;
            } else if !after_docstart {
                // Counted once a token follows, so trailing blank lines are not "sentences".
                pending_empty += 1;
            }
            after_docstart = false;
            continue;
        }
        if fields[0] == "-DOCSTART-" {
            pending_empty = 0;
            if !current.tokens.is_empty() {
                flush(&mut current, &mut file)?;
            }
            file.docstarts += 1;
            after_docstart = true;
            continue;
        }
        after_docstart = false;
        file.empty_sentences_skipped += std::mem::take(&mut pending_empty);
        check_columns(path, reading, &mut columns, fields.len(), line_no)?;
        let (token, tag) = token_and_tag(path, reading, &fields, line_no, labeled)?;
        current.tags.extend(tag);
        current.tokens.push(token);
        current.lines.push(line_no);
    }
    if !current.tokens.is_empty() {
        flush(&mut current, &mut file)?;
    }
    refuse_word_ids(path, &file, reading)?;
    Ok(file)
}

/// Ends the sentence being read: refused past `MAX_SENTENCE` tokens (a file of one
/// sentence per line read as CoNLL), else added to the file.
fn flush(path: &Path, reading: &Reading, current: &mut Raw, file: &mut RawFile) -> Result<(), InputError> {
    if current.tokens.len() > MAX_SENTENCE {
        return Err(err(
            path,
            current.lines[0],
            format!(
                "a sentence of {} tokens (lines {}-{}): in CoNLL a blank line ends each sentence. \
                 A file of one sentence per line is plain text: {}",
                current.tokens.len(),
                current.lines[0],
                current.lines[current.lines.len() - 1],
                reading.set_format("text")
            ),
        ));
    }
    let empty = Raw { tokens: Vec::new(), tags: Vec::new(), lines: Vec::new() };
    file.sentences.push(std::mem::replace(current, empty));
    Ok(())
}

/// CoNLL's columns are fixed: every token line has the field count of the first one
/// (`columns`: that count and its line).
fn check_columns(
    path: &Path,
    reading: &Reading,
    columns: &mut Option<(usize, usize)>,
    n_fields: usize,
    line_no: usize,
) -> Result<(), InputError> {
    match *columns {
        None => *columns = Some((n_fields, line_no)),
        Some((n, first)) if n != n_fields => {
            return Err(err(
                path,
                line_no,
                format!(
                    "{n_fields} fields where line {first} has {n}: CoNLL holds one token per line in fixed columns. \
                     A file of one sentence per line is plain text: {}",
                    reading.set_format("text")
                ),
            ))
        }
        Some(_) => {}
    }
    Ok(())
}

/// A token line's token (`token_column`, else the first field) and, where `labeled`, its
/// tag (`tag_column`, else the last field).
fn token_and_tag(
    path: &Path,
    reading: &Reading,
    fields: &[&str],
    line_no: usize,
    labeled: bool,
) -> Result<(String, Option<String>), InputError> {
    let token_at = reading.token_column.unwrap_or(1) - 1;
    let token = *fields.get(token_at).ok_or_else(|| {
        err(
            path,
            line_no,
            format!("no column {} for the token (`token_column`): the line has {}", token_at + 1, fields.len()),
        )
    })?;
    if !labeled {
        return Ok((token.to_string(), None));
    }
    let tag = match reading.tag_column {
        Some(column) => fields.get(column - 1).copied(),
        None if fields.len() >= 2 => fields.last().copied(),
        None => None,
    };
    let tag = tag.ok_or_else(|| {
        err(path, line_no, format!("expected `TOKEN ... TAG` (at least 2 fields), found only `{}`", fields.join(" ")))
    })?;
    Ok((token.to_string(), Some(tag.to_string())))
}

/// A token column that counts 1, 2, 3 in every sentence holds CoNLL-U's word IDs.
fn refuse_word_ids(path: &Path, file: &RawFile, reading: &Reading) -> Result<(), InputError> {
    let first = file.sentences.iter().take(50);
    let counting = |s: &Raw| s.tokens.iter().enumerate().all(|(i, t)| t.parse::<usize>() == Ok(i + 1));
    let tokens: usize = file.sentences.iter().take(50).map(|s| s.tokens.len()).sum();
    if tokens >= 3 && first.clone().all(counting) {
        return Err(err(
            path,
            file.sentences[0].lines[0],
            format!(
                "the token column holds 1, 2, 3, ... in every sentence: word IDs, as CoNLL-U's first column. \
                 For CoNLL-U (its FORM is the token), {}; for CoNLL, set `{}.token_column`",
                reading.set_format("conllu"),
                reading.section
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::corpus::Encoding;
    use crate::corpus::{parse, Format, Labels, Reading};

    fn types() -> Vec<String> {
        ["PER", "ORG", "LOC", "MISC"].map(String::from).to_vec()
    }

    fn s(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|t| t.to_string()).collect()
    }

    fn conll() -> Reading<'static> {
        Reading { format: Some(Format::Conll), section: "source", ..Reading::default() }
    }

    #[test]
    fn docstart_tabs_and_blank_lines_split_sentences() {
        let text = "-DOCSTART- -X- O O\n\nEU\tNNP\tB-ORG\nrejects VBZ O\n\n\nPeter NNP I-PER\nBlackburn NNP I-PER\n";
        let (sents, stats) = parse(Path::new("t.txt"), text.as_bytes(), &conll(), Labels::Types(&types())).unwrap();
        assert_eq!(sents.len(), 2);
        assert_eq!(sents[0].tokens, s(&["EU", "rejects"]));
        assert_eq!(sents[0].line, 3);
        assert_eq!(sents[1].tags.as_deref(), Some(&s(&["B-PER", "I-PER"])[..]));
        assert_eq!((stats.docstarts, stats.entities, stats.tokens, stats.empty_sentences_skipped), (1, 2, 4, 1));
    }

    #[test]
    fn unlabeled_reading_keeps_no_tags_and_accepts_one_field() {
        let (sents, _) = parse(Path::new("u.txt"), b"Hola\nMadrid\n", &conll(), Labels::Unlabeled).unwrap();
        assert_eq!(sents[0].tags, None);
        assert_eq!(sents[0].tokens, s(&["Hola", "Madrid"]));
    }

    #[test]
    fn columns_are_selectable() {
        let reading = Reading { token_column: Some(2), tag_column: Some(3), ..conll() };
        let (sents, _) =
            parse(Path::new("c.txt"), b"1 Oslo B-LOC NOUN\n2 er O VERB\n", &reading, Labels::Types(&types())).unwrap();
        assert_eq!((sents[0].tokens.clone(), sents[0].tags.clone().unwrap()), (s(&["Oslo", "er"]), s(&["B-LOC", "O"])));
    }

    #[test]
    fn bad_input_names_file_and_line() {
        let t = types();
        let e = parse(Path::new("a.txt"), b"Paris B-LOC\nfoo B-CITY\n", &conll(), Labels::Types(&t)).unwrap_err();
        assert_eq!((e.line, e.path.to_str().unwrap()), (2, "a.txt"));
        assert!(e.to_string().starts_with("a.txt:2: tag `B-CITY`"), "{e}");
        let e = parse(Path::new("a.txt"), b"Paris\n\nlonely\n", &conll(), Labels::Types(&t)).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("at least 2 fields"));
        let e = parse(Path::new("l.txt"), b"Le O\nM\xfcnchen B-LOC\n", &conll(), Labels::Types(&t)).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("latin-1"), "{e}");
        let e = parse(Path::new("e.txt"), b"\n\n", &conll(), Labels::Types(&t)).unwrap_err();
        assert!(e.message.contains("no sentence"));
    }

    #[test]
    fn other_formats_read_as_conll_are_refused_with_the_fix() {
        let plain = "El Gobierno de España anunció ayer\nLa reunión fue en Madrid con Telefónica\nHola\n";
        let e = parse(Path::new("p.txt"), plain.as_bytes(), &conll(), Labels::Unlabeled).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("format = \"text\""), "{e}");
        let long = "palabra\n".repeat(6000);
        let e = parse(Path::new("p.txt"), long.as_bytes(), &conll(), Labels::Unlabeled).unwrap_err();
        assert!(e.message.contains("6000 tokens") && e.message.contains("format = \"text\""), "{e}");
        let ids = "1\tDommer\tdommer\n2\tFinn\tFinn\n\n1\tHei\thei\n";
        let e = parse(Path::new("u.conllu"), ids.as_bytes(), &conll(), Labels::Unlabeled).unwrap_err();
        assert!(e.message.contains("format = \"conllu\""), "{e}");
        let e = parse(Path::new("d.parquet"), b"PAR1\x15\x04", &conll(), Labels::Unlabeled).unwrap_err();
        assert!(e.message.contains("Parquet") && e.message.contains("format = \"parquet\""), "{e}");
        let e = parse(Path::new("d.jsonl"), b"{\"tokens\": [\"a\"]}\n", &conll(), Labels::Unlabeled).unwrap_err();
        assert!(e.message.contains("format = \"jsonl\""), "{e}");
    }

    #[test]
    fn a_utf8_byte_order_mark_is_not_part_of_the_first_token() {
        let text = b"\xEF\xBB\xBF-DOCSTART- -X- O O\n\nParis B-LOC\n";
        let (sents, stats) = parse(Path::new("b.txt"), text, &conll(), Labels::Types(&types())).unwrap();
        assert_eq!((sents.len(), stats.docstarts), (1, 1));
        assert_eq!(sents[0].tokens, s(&["Paris"]));
        let (sents, _) = parse(Path::new("b.txt"), b"\xEF\xBB\xBFHola\n", &conll(), Labels::Unlabeled).unwrap();
        assert_eq!(sents[0].tokens, s(&["Hola"]));
    }

    #[test]
    fn an_unreadable_file_is_named_without_a_line() {
        let e = crate::corpus::read_file(Path::new("/nonexistent/x.conll"), &conll(), Labels::Unlabeled).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("/nonexistent/x.conll") && !msg.contains(":0:"), "{msg}");
    }

    #[test]
    fn latin1_decodes() {
        let reading = Reading { encoding: Encoding::Latin1, ..conll() };
        let (sents, _) = parse(Path::new("l.txt"), b"M\xfcnchen B-LOC\n", &reading, Labels::Types(&types())).unwrap();
        assert_eq!(sents[0].tokens[0], "München");
    }
}
