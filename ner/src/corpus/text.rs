//! Plain text, one sentence per line, split into words by `words::split`; and the
//! decoding every text format shares (encodings, byte-order mark, the refusal of a
//! Parquet or JSON file given to a text reader).

use std::path::Path;

use super::tags::looks_like_tag;
use super::{err, words, Raw, RawFile, Reading};
use crate::corpus::Encoding;
use crate::error::InputError;

pub(super) fn read(path: &Path, bytes: &[u8], reading: &Reading, labeled: bool) -> Result<RawFile, InputError> {
    refuse_other_formats(path, bytes, "text", reading)?;
    if labeled {
        return Err(err(
            path,
            1,
            "plain text holds no tags, and this file is read with its labels (a source file, or a target \
             dev/test file): give it as CoNLL, CoNLL-U, JSON Lines or Parquet",
        ));
    }
    let text = decode_all(path, bytes, reading)?;
    refuse_conll(path, &text, reading)?;
    let mut file = RawFile::default();
    for (index, line) in text.lines().enumerate() {
        let words = words::split(line, reading.unspaced);
        if words.is_empty() {
            continue;
        }
        let lines = vec![index + 1; words.len()];
        file.sentences.push(Raw { tokens: words.into_iter().map(|w| w.0).collect(), tags: Vec::new(), lines });
    }
    Ok(file)
}

/// Lines that end in tags (`EU NNP B-ORG`) are CoNLL, not sentences.
fn refuse_conll(path: &Path, text: &str, reading: &Reading) -> Result<(), InputError> {
    let lines: Vec<(usize, &str)> =
        text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).take(200).map(|(i, l)| (i + 1, l)).collect();
    let tagged: Vec<usize> = lines
        .iter()
        .filter(|(_, l)| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            fields.len() >= 2 && looks_like_tag(fields[fields.len() - 1])
        })
        .map(|(n, _)| *n)
        .collect();
    if tagged.len() >= 2 && tagged.len() * 10 >= lines.len() * 9 {
        return Err(err(
            path,
            tagged[0],
            format!(
                "{} of the first {} lines end in a tag (`{}`): a CoNLL file, one token per line, read as plain \
                 text; {}",
                tagged.len(),
                lines.len(),
                lines[0].1.split_whitespace().last().unwrap_or_default(),
                reading.set_format("conll")
            ),
        ));
    }
    Ok(())
}

/// Checks made before plain text is read by a caller that keeps its own lines (`predict`,
/// which answers blank lines too): not Parquet, JSON or CoNLL.
pub fn check_plain_text(path: &Path, bytes: &[u8], reading: &Reading) -> Result<(), InputError> {
    refuse_other_formats(path, bytes, "text", reading)?;
    refuse_conll(path, &decode_all(path, bytes, reading)?, reading)
}

/// A Parquet or JSON file given to a reader of `reading_as` text is named as such.
pub(super) fn refuse_other_formats(
    path: &Path,
    bytes: &[u8],
    reading_as: &str,
    reading: &Reading,
) -> Result<(), InputError> {
    let found = if bytes.starts_with(b"PAR1") {
        Some(("a Parquet file", "parquet"))
    } else if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        Some(("JSON", "jsonl"))
    } else {
        None
    };
    match found {
        Some((what, format)) => Err(err(
            path,
            1,
            format!(
                "this is {what}, not `{reading_as}`: {} (or leave the format out: it is detected)",
                reading.set_format(format)
            ),
        )),
        None => Ok(()),
    }
}

/// A UTF-8 byte-order mark (editors on Windows write one) is not part of the first token.
pub(super) fn strip_bom(bytes: &[u8], encoding: Encoding) -> &[u8] {
    match encoding {
        Encoding::Utf8 => bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes),
        Encoding::Latin1 => bytes,
    }
}

/// One line's bytes (its `\r` dropped) as text.
pub(super) fn decode_line(path: &Path, line_no: usize, raw: &[u8], encoding: Encoding) -> Result<String, InputError> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    match encoding {
        Encoding::Latin1 => Ok(raw.iter().map(|&b| b as char).collect()),
        Encoding::Utf8 => String::from_utf8(raw.to_vec()).map_err(|e| {
            err(
                path,
                line_no,
                format!(
                    "invalid UTF-8 at byte {} of the line; if the file is Latin-1, set `encoding = \"latin-1\"` for this corpus",
                    e.utf8_error().valid_up_to() + 1
                ),
            )
        }),
    }
}

/// The whole file as text, line endings normalised to `\n`; a bad byte names its line.
pub(super) fn decode_all(path: &Path, bytes: &[u8], reading: &Reading) -> Result<String, InputError> {
    let bytes = strip_bom(bytes, reading.encoding);
    let mut text = String::with_capacity(bytes.len());
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        if index > 0 {
            text.push('\n');
        }
        text.push_str(&decode_line(path, index + 1, raw, reading.encoding)?);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::corpus::{parse, Format, Labels, Reading};

    #[test]
    fn one_sentence_per_line_split_into_words() {
        let reading = Reading { format: Some(Format::Text), section: "target", ..Reading::default() };
        let text = "El Gobierno, en \"Telefónica\" (España).\n\n  Hola Madrid  \r\n";
        let (sents, stats) = parse(Path::new("t.txt"), text.as_bytes(), &reading, Labels::Unlabeled).unwrap();
        assert_eq!(sents.len(), 2);
        assert_eq!(sents[0].tokens, ["El", "Gobierno", ",", "en", "\"", "Telefónica", "\"", "(", "España", ")", "."]);
        assert_eq!((sents[1].tokens.clone(), sents[1].line), (vec!["Hola".to_string(), "Madrid".into()], 3));
        assert_eq!((stats.sentences, stats.tokens, stats.format), (2, 13, Some(Format::Text)));
        let unspaced = Reading { unspaced: true, ..reading.clone() };
        let (sents, _) = parse(Path::new("z.txt"), "北京大学".as_bytes(), &unspaced, Labels::Unlabeled).unwrap();
        assert_eq!(sents[0].tokens.len(), 4);
    }

    #[test]
    fn conll_read_as_text_and_labeled_text_are_refused() {
        let reading = Reading { format: Some(Format::Text), section: "target", ..Reading::default() };
        let conll = "EU NNP B-ORG\nrejects VBZ O\n\nPeter NNP B-PER\n";
        let e = parse(Path::new("c.txt"), conll.as_bytes(), &reading, Labels::Unlabeled).unwrap_err();
        assert!(e.message.contains("target.format = \"conll\""), "{e}");
        let types = vec!["PER".to_string()];
        let e = parse(Path::new("t.txt"), b"Hola Madrid\n", &reading, Labels::Types(&types)).unwrap_err();
        assert!(e.message.contains("no tags"), "{e}");
    }
}
