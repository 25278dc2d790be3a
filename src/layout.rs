//! The layout rules the compiler cannot check: a method's settings and stages are named
//! only in its room and the registries, and no module imports in a circle.

use std::path::{Path, PathBuf};

/// The workspace's source folders, one per crate.
const CRATE_SOURCES: &[&str] = &["src", "ner/src", "stage/src", "methods/src", "stages"];

/// Each method room and what it owns: its config sections and its stages. Outside the
/// room, only the registries may name them: the methods' registry (`Method::spec` and
/// the lists beside it), the method names, the config schema (one field per section, and its
/// range check), the stage names and the stage registry.
const ROOMS: &[(&str, &[&str], &[&str])] = &[
    ("mtmt", &["sim_pairs", "similarity", "score", "weights", "teacher_sim"], &["TeacherSim", "ScorePairs", "Weights"]),
    ("advpicker", &["advpicker", "teacher_adv"], &["TeacherAdv", "Select"]),
    ("msd", &["msd", "teacher_msd"], &["TeacherMsd"]),
    ("unitrans", &["unitrans", "teacher_trans"], &["Lexicon", "Translate", "TeacherTrans", "TeacherFinetune"]),
    ("tsl_multi", &["multi_source"], &["PoolSource", "PoolTarget", "LangSim"]),
];

const REGISTRIES: &[&str] = &[
    "methods/src/lib.rs",
    "stage/src/method_name.rs",
    "src/config/mod.rs",
    "stage/src/stage_name.rs",
    "stages/lib.rs",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") && path.file_name().unwrap() != "tests.rs" {
            out.push(path);
        }
    }
}

/// Where a line of code (comments and test modules left out) names a room's config
/// section (a key string `"S.…"` / `"S"`, or a field access `.S.`) or its stage.
fn mentions(line: &str, section_or_stage: &str, stage: bool) -> bool {
    if stage {
        return line
            .match_indices(&format!("StageName::{section_or_stage}"))
            .any(|(i, m)| !line[i + m.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'));
    }
    let s = section_or_stage;
    // `score`, `similarity` and `weights` are also ordinary words (a column, a loss
    // term, an encoder file): as sections they are matched in key strings only.
    let common = ["score", "similarity", "weights"].contains(&s);
    line.contains(&format!("\"{s}."))
        || (!common && (line.contains(&format!("\"{s}\"")) || line.contains(&format!(".{s}."))))
}

/// The layers import downward only: within each crate, no module imports one that
/// imports it back, through any path (between crates the compiler forbids it).
#[test]
fn the_modules_import_in_no_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("python3")
        .arg(root.join("scripts/module-cycles.py"))
        .arg("--check")
        .current_dir(root)
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "import circles:\n{text}");
    assert!(text.contains(" 0 import circle(s)"), "{text}");
}

#[test]
fn a_methods_settings_and_stages_are_named_only_in_its_room_and_the_registries() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in CRATE_SOURCES {
        rust_files(&root.join(dir), &mut files);
    }
    let mut found = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        // This file names every room: it is the rule, not code.
        if REGISTRIES.contains(&rel.as_str()) || rel == "src/layout.rs" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (room, sections, stages) in ROOMS {
                if rel.starts_with(&format!("methods/src/{room}/")) {
                    continue;
                }
                let named = sections.iter().map(|s| (s, false)).chain(stages.iter().map(|s| (s, true)));
                for (name, stage) in named {
                    if mentions(line, name, stage) {
                        found.push(format!("{rel}:{}: names {room}'s `{name}`: {}", n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "outside their rooms:\n{}", found.join("\n"));
}
