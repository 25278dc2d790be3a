//! CoNLL-U (Universal Dependencies): `#` comments, 10 columns per word (tab-separated, or
//! whitespace where a file was written that way), FORM the token; multiword-token ranges
//! (`3-4`) and empty nodes (`5.1`) are not words. NER, where a treebank carries it, is an
//! 11th column or MISC's `name=` attribute (NorNE's convention).

use std::path::Path;

use super::{err, Raw, RawFile, Reading};
use crate::error::InputError;

const COLUMNS: usize = 10;

pub(super) fn read(path: &Path, text: &str, reading: &Reading, labeled: bool) -> Result<RawFile, InputError> {
    let mut file = RawFile::default();
    let mut current = Raw { tokens: Vec::new(), tags: Vec::new(), lines: Vec::new() };
    for (index, line) in text.split('\n').enumerate() {
        let line_no = index + 1;
        if line.trim().is_empty() {
            if !current.tokens.is_empty() {
                let empty = Raw { tokens: Vec::new(), tags: Vec::new(), lines: Vec::new() };
                file.sentences.push(std::mem::replace(&mut current, empty));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> =
            if line.contains('\t') { line.split('\t').collect() } else { line.split_whitespace().collect() };
        if fields.len() < COLUMNS {
            return Err(err(
                path,
                line_no,
                format!(
                    "{} columns where CoNLL-U has {COLUMNS} (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC): \
                     for a CoNLL file, {}",
                    fields.len(),
                    reading.set_format("conll")
                ),
            ));
        }
        let id = fields[0];
        if id.contains('-') || id.contains('.') {
            continue;
        }
        if id.parse::<usize>().is_err() {
            return Err(err(path, line_no, format!("`{id}` is not a CoNLL-U word ID (1, 2, ...; `3-4` for a range)")));
        }
        if labeled {
            let tag = if fields.len() > COLUMNS {
                Some(fields[fields.len() - 1])
            } else {
                fields[COLUMNS - 1].split('|').find_map(|kv| kv.strip_prefix("name="))
            };
            let tag = tag.ok_or_else(|| {
                err(path, line_no, "no NER tag: expected an 11th column or `name=` in MISC (the 10th)".to_string())
            })?;
            current.tags.push(tag.to_string());
        }
        current.tokens.push(fields[1].to_string());
        current.lines.push(line_no);
    }
    if !current.tokens.is_empty() {
        file.sentences.push(current);
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::corpus::{parse, Format, Labels, Reading};

    const NORNE: &str = "# sent_id = 1\n# text = Finn Eilertsen bor i Oslo.\n\
        1\tFinn\tFinn\tPROPN\t_\t_\t3\tnsubj\t_\tname=B-PER\n\
        2\tEilertsen\tEilertsen\tPROPN\t_\t_\t1\tflat\t_\tname=I-PER\n\
        3-4\tbor i\t_\t_\t_\t_\t_\t_\t_\t_\n\
        3\tbor\tbo\tVERB\t_\t_\t0\troot\t_\tname=O\n\
        4\ti\ti\tADP\t_\t_\t5\tcase\t_\tname=O\n\
        5\tOslo\tOslo\tPROPN\t_\t_\t3\tobl\t_\tSpaceAfter=No|name=B-GPE_LOC\n\
        6\t.\t$.\tPUNCT\t_\t_\t3\tpunct\t_\tname=O\n\n";

    #[test]
    fn form_is_the_token_and_ner_comes_from_misc_or_an_eleventh_column() {
        let types: Vec<String> = ["PER", "LOC"].map(String::from).to_vec();
        let map: BTreeMap<String, String> = [("GPE_LOC".to_string(), "LOC".to_string())].into();
        let reading = Reading { tag_map: Some(&map), section: "target", ..Reading::default() };
        // Detected from its content.
        let (sents, stats) = parse(Path::new("n.conllu"), NORNE.as_bytes(), &reading, Labels::Types(&types)).unwrap();
        assert_eq!(stats.format, Some(Format::Conllu));
        assert_eq!(sents[0].tokens, ["Finn", "Eilertsen", "bor", "i", "Oslo", "."]);
        assert_eq!(sents[0].tags.as_deref().unwrap(), ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]);
        assert_eq!((sents[0].line, stats.mapped["GPE_LOC -> LOC"]), (3, 1));
        let eleven = "1 Oslo Oslo PROPN _ _ 0 root _ _ B-GPE_LOC\n2 er være VERB _ _ 1 cop _ _ O\n";
        let (sents, _) = parse(Path::new("n.txt"), eleven.as_bytes(), &reading, Labels::Types(&types)).unwrap();
        assert_eq!(sents[0].tags.as_deref().unwrap(), ["B-LOC", "O"]);
        let (sents, _) = parse(Path::new("n.conllu"), NORNE.as_bytes(), &reading, Labels::Unlabeled).unwrap();
        assert_eq!(sents[0].tags, None);
    }

    #[test]
    fn a_conll_file_read_as_conllu_and_a_missing_tag_name_their_line() {
        let reading = Reading { format: Some(Format::Conllu), ..Reading::default() };
        let e = parse(Path::new("c.txt"), b"EU B-ORG\n", &reading, Labels::Unlabeled).unwrap_err();
        assert!(e.message.contains("format = \"conll\""), "{e}");
        let types = vec!["PER".to_string()];
        let untagged = "1\tHei\thei\tINTJ\t_\t_\t0\troot\t_\t_\n";
        let e = parse(Path::new("u.conllu"), untagged.as_bytes(), &reading, Labels::Types(&types)).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("name="), "{e}");
    }
}
