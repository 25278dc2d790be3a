//! A file's format from its content: Parquet's magic bytes, a JSON object on the first
//! line, CoNLL-U's 10 columns led by a word ID, CoNLL's fixed columns ending in a tag (or
//! one token per line between blank lines); anything else is plain text, one sentence
//! per line. The readers then refuse what the guess got wrong, so a wrong guess is an
//! error with its fix, not a silent misread.

use std::io::Read;
use std::path::Path;

use super::tags::looks_like_tag;
use super::Format;

/// Bytes looked at: enough lines for a verdict, and what `sniff_file` reads, so that a
/// file's detected format is the same from its head as from the whole of it.
const SAMPLE: usize = 64 << 10;

/// The format of a file from its first bytes; `None` if it cannot be read (the reader
/// reports that).
pub fn sniff_file(path: &Path) -> Option<Format> {
    let mut head = Vec::with_capacity(SAMPLE);
    fs_err::File::open(path).ok()?.take(SAMPLE as u64).read_to_end(&mut head).ok()?;
    Some(sniff(&head))
}

pub fn sniff(bytes: &[u8]) -> Format {
    let bytes = &bytes[..bytes.len().min(SAMPLE)];
    if bytes.starts_with(b"PAR1") {
        return Format::Parquet;
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Format::Jsonl;
    }
    // Bytes that are not UTF-8 (Latin-1) still split into fields the same way.
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if bytes.len() == SAMPLE && lines.len() > 1 {
        lines.pop(); // cut short by the sample
    }
    let content: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with("-DOCSTART-"))
        .collect();
    if content.is_empty() {
        return Format::Text; // nothing to read, whichever reader: each says so
    }
    let share = |test: &dyn Fn(&str) -> bool| content.iter().filter(|l| test(l)).count() * 10 >= content.len() * 9;
    let conllu_line = |l: &str| {
        let fields: Vec<&str> = if l.contains('\t') { l.split('\t').collect() } else { l.split_whitespace().collect() };
        fields.len() >= 10 && fields[0].split(['-', '.']).all(|p| p.parse::<usize>().is_ok())
    };
    if share(&conllu_line) {
        return Format::Conllu;
    }
    let tagged = |l: &str| {
        let fields: Vec<&str> = l.split_whitespace().collect();
        fields.len() >= 2 && looks_like_tag(fields[fields.len() - 1])
    };
    if share(&tagged) {
        return Format::Conll;
    }
    let fields = |l: &&str| l.split_whitespace().count();
    let fixed_columns = content.iter().map(fields).all(|n| n == fields(&content[0]));
    let blank_lines = lines.iter().any(|l| l.trim().is_empty());
    if fixed_columns && blank_lines {
        Format::Conll
    } else {
        Format::Text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_is_told_from_its_content() {
        assert_eq!(sniff(b"PAR1\x15\x04"), Format::Parquet);
        assert_eq!(sniff(b"\n{\"tokens\": [\"a\"]}\n"), Format::Jsonl);
        assert_eq!(sniff(b"# text = Hei\n1\tHei\thei\tINTJ\t_\t_\t0\troot\t_\t_\n\n"), Format::Conllu);
        assert_eq!(sniff(b"1 Hei hei INTJ _ _ 0 root _ name=O O\n2-3 a _ _ _ _ _ _ _ _ _\n"), Format::Conllu);
        assert_eq!(sniff(b"-DOCSTART- -X- O O\n\nEU NNP I-ORG\nrejects VBZ O\n\n"), Format::Conll);
        // Unlabeled CoNLL: one token per line, blank lines between sentences.
        assert_eq!(sniff(b"Hola\nMadrid\n\nAdios\n"), Format::Conll);
        // Latin-1 CoNLL.
        assert_eq!(sniff(b"M\xfcnchen B-LOC\nist O\n"), Format::Conll);
        assert_eq!(sniff("El Gobierno, en Madrid.\nHola.\n".as_bytes()), Format::Text);
        assert_eq!(sniff(b"Hola Madrid\n"), Format::Text);
        assert_eq!(sniff(b"Paragraph one here.\n\nAnother, longer paragraph here.\n"), Format::Text);
    }
}
