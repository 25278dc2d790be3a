//! One sentence's tags as written in a file, to the model's IOB2 labels: the scheme
//! (IOB1, BIOES, BILOU) becomes IOB2, the side's tag map renames or drops types, and a
//! type that is neither a label nor mapped is refused at its line. Mapped and dropped
//! entities are counted by their type in the file.

use std::path::Path;

use super::{err, Raw, ReadStats, Reading};
use crate::error::InputError;

/// `sentence`'s tags in IOB2 over `types`, counting entities into `stats`.
pub(super) fn normalise(
    path: &Path,
    sentence: &Raw,
    types: &[String],
    reading: &Reading,
    stats: &mut ReadStats,
) -> Result<Vec<String>, InputError> {
    // The file's own types first, in IOB2, so that entities are counted as the file has them.
    let mut written = Vec::with_capacity(sentence.tags.len());
    for (tag, &line) in sentence.tags.iter().zip(&sentence.lines) {
        written.push(scheme_to_iob(tag).ok_or_else(|| {
            err(path, line, format!("tag `{tag}` is not `O` nor a `B-`/`I-` (or BIOES `E-`/`S-`) tag of a type"))
        })?);
    }
    let written = iob1_to_iob2(&written);
    let mut out = Vec::with_capacity(written.len());
    for (tag, &line) in written.iter().zip(&sentence.lines) {
        let Some((prefix, ty)) = tag.split_once('-') else {
            out.push(tag.clone());
            continue;
        };
        let mapped = reading.tag_map.and_then(|m| m.get(ty));
        let label = match mapped {
            Some(to) => to.as_str(),
            None if types.iter().any(|t| t == ty) => ty,
            None => return Err(err(path, line, unknown_type(tag, ty, types, reading.section))),
        };
        if prefix == "B" {
            if let Some(to) = mapped {
                let counts = if to == "O" { &mut stats.dropped } else { &mut stats.mapped };
                let key = if to == "O" { ty.to_string() } else { format!("{ty} -> {to}") };
                *counts.entry(key).or_default() += 1;
            }
        }
        out.push(if label == "O" { "O".to_string() } else { format!("{prefix}-{label}") });
    }
    for tag in &out {
        if let Some(ty) = tag.strip_prefix("B-") {
            stats.entities += 1;
            *stats.types.entry(ty.to_string()).or_default() += 1;
        }
    }
    Ok(out)
}

fn unknown_type(tag: &str, ty: &str, types: &[String], section: &str) -> String {
    format!(
        "tag `{tag}`: type `{ty}` is not one of the labels ({}); map it onto one in the config, \
         `{section}.tag_map = {{ {ty} = \"{}\" }}` (\"O\" drops it), or add it to `labels` if the source has it",
        types.join(", "),
        types.first().map(String::as_str).unwrap_or("O"),
    )
}

/// A tag of IOB1/IOB2, BIOES or BILOU as an IOB tag (`E-`/`L-` continue, `S-`/`U-` begin);
/// `None` for anything else.
fn scheme_to_iob(tag: &str) -> Option<String> {
    if tag == "O" {
        return Some(tag.to_string());
    }
    let (prefix, ty) = tag.split_once('-')?;
    if ty.is_empty() {
        return None;
    }
    let prefix = match prefix {
        "B" | "S" | "U" => "B",
        "I" | "E" | "L" => "I",
        _ => return None,
    };
    Some(format!("{prefix}-{ty}"))
}

/// Whether `field` reads as a tag (the sniffer's and the readers' test of a tag column).
pub(super) fn looks_like_tag(field: &str) -> bool {
    field == "O"
        || scheme_to_iob(field).is_some_and(|t| t.len() > 2 && t[2..].chars().all(|c| c.is_alphanumeric() || c == '_'))
}

/// IOB1 to IOB2: an `I-X` at the start, after `O` or after another type becomes `B-X`.
/// On IOB2 input this changes nothing.
pub(crate) fn iob1_to_iob2(tags: &[String]) -> Vec<String> {
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
    use std::collections::BTreeMap;

    use super::*;

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
    fn the_map_renames_drops_and_counts_and_an_unmapped_type_names_its_line() {
        let types = s(&["PER", "LOC", "ORG", "MISC"]);
        let map: BTreeMap<String, String> =
            [("GPE_LOC", "LOC"), ("DRV", "O")].into_iter().map(|(a, b)| (a.into(), b.into())).collect();
        let reading = Reading { tag_map: Some(&map), section: "target", ..Reading::default() };
        let raw = Raw {
            tokens: s(&["a", "b", "c", "d", "e", "f"]),
            tags: s(&["S-GPE_LOC", "B-DRV", "I-DRV", "B-PER", "E-PER", "I-GPE_LOC"]),
            lines: vec![1, 2, 3, 4, 5, 6],
        };
        let mut stats = ReadStats::default();
        let out = normalise(Path::new("n.conllu"), &raw, &types, &reading, &mut stats).unwrap();
        assert_eq!(out, s(&["B-LOC", "O", "O", "B-PER", "I-PER", "B-LOC"]));
        assert_eq!((stats.entities, stats.types["LOC"], stats.types["PER"]), (3, 2, 1));
        assert_eq!((stats.mapped["GPE_LOC -> LOC"], stats.dropped["DRV"]), (2, 1));
        let raw = Raw { tags: s(&["O", "B-PROD"]), tokens: s(&["a", "b"]), lines: vec![7, 8] };
        let e = normalise(Path::new("n.conllu"), &raw, &types, &reading, &mut stats).unwrap_err();
        assert_eq!(e.line, 8);
        assert!(e.message.contains("`PROD`") && e.message.contains("target.tag_map"), "{e}");
        let raw = Raw { tags: s(&["X-PER"]), tokens: s(&["a"]), lines: vec![9] };
        assert!(normalise(Path::new("n"), &raw, &types, &reading, &mut stats).is_err());
    }

    #[test]
    fn tag_like_fields() {
        for t in ["O", "B-PER", "I-GPE_LOC", "S-LOC", "E-ORG"] {
            assert!(looks_like_tag(t), "{t}");
        }
        for t in ["Madrid", "B-", "NNP", "-", "B-NP.", "1"] {
            assert!(!looks_like_tag(t), "{t}");
        }
    }
}
