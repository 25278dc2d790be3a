//! The baselines end to end on the demo corpus (tiny models, each trained once), and the
//! proof that gold target tags reach none of their training: with every tag of the target
//! train file scrambled, every artifact that learns from target text is bit-identical.
//! AdvPicker: the adversarial teacher, the selection table users open, the student on the
//! kept sentences. MSD: the teacher with heads on intermediate layers, the student that
//! distills each of them (the released student trains them on gold target tags).

mod common;

use common::{loss_terms, Terms, Workspace};
use mtmt_pipe::table;

#[test]
fn advpicker_runs_end_to_end_and_gold_target_tags_change_nothing() {
    let ws = Workspace::demo();
    let out = ws.ok(&["run", "all", "--set", "method=advpicker"]);
    for stage in ["teacher_adv", "select", "score_tokens", "distill", "evaluate"] {
        assert!(out.contains(&format!("{stage}: published")), "{stage} did not run:\n{out}");
    }
    assert!(out.contains("teacher_adv on target test: F1") && out.contains("student on target test: F1"), "{out}");
    let teacher = &ws.artifacts("teacher_adv")[0];
    for file in ["model.safetensors", "discriminator.safetensors"] {
        assert!(teacher.join(file).exists(), "{file} missing");
    }
    // Three updates a step, each one's loss in the curve; the recognizer's is the loss.
    let curve = loss_terms(teacher, Terms::Separate);
    assert_eq!(curve, ["ner", "discriminator", "generator"]);

    // The selection table: every student sentence, the keep share (0.8 of 160) kept, the
    // kept ones closest to 0.5.
    let selection = ws.artifacts("select")[0].join("selection.parquet");
    let df = table::read(&selection).unwrap();
    assert_eq!(df.height(), 160);
    let kept: Vec<bool> = df.column("kept").unwrap().bool().unwrap().iter().map(Option::unwrap).collect();
    let distance: Vec<f64> = df.column("distance").unwrap().f64().unwrap().into_no_null_iter().collect();
    let p: Vec<f64> = df.column("p_source").unwrap().f64().unwrap().into_no_null_iter().collect();
    assert_eq!(kept.iter().filter(|&&k| k).count(), 128);
    assert!(p.iter().zip(&distance).all(|(p, d)| (0.0..=1.0).contains(p) && ((p - 0.5).abs() - d).abs() < 1e-12));
    let worst_kept = distance.iter().zip(&kept).filter(|(_, &k)| k).map(|(d, _)| *d).fold(0.0, f64::max);
    let best_dropped = distance.iter().zip(&kept).filter(|(_, &k)| !k).map(|(d, _)| *d).fold(f64::MAX, f64::min);
    assert!(worst_kept <= best_dropped, "{worst_kept} > {best_dropped}");
    // It opens in Python polars.
    let python = common::repo().join(".venv/bin/python");
    let script = "import sys, polars as pl\ndf = pl.read_parquet(sys.argv[1])\n\
                  assert df.columns == ['sentence_id', 'p_source', 'distance', 'kept'], df.columns\n\
                  print(df.filter(pl.col('kept')).height)";
    let py = std::process::Command::new(&python).args(["-c", script]).arg(&selection).output().unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    assert_eq!(String::from_utf8_lossy(&py.stdout).trim(), "128");

    // The same target text with every tag scrambled: the teacher reruns (its target text
    // file changed) and every artifact that learns from the target is bit-identical.
    ws.scramble_target_tags();
    let out = ws.ok(&["run", "stage", "distill", "--set", "method=advpicker"]);
    assert!(out.contains("teacher_adv: published") && out.contains("select: published"), "{out}");
    for (stage, file) in [("teacher_adv", "model.safetensors"), ("teacher_adv", "discriminator.safetensors")] {
        unchanged_by_gold_tags(&ws, stage, file);
    }
    unchanged_by_gold_tags(&ws, "select", "selection.parquet");
    unchanged_by_gold_tags(&ws, "distill", "model.safetensors");

    // Seed teachers: with two, the teacher of seed 14 (the run's is 13) is trained as seed
    // 14's own run would (the same artifact), and every sentence takes one of the two
    // teachers' labels.
    let two = ["--set", "method=advpicker", "--set", "advpicker.teachers=2"];
    let plan = ws.status(&two);
    assert_eq!(plan.iter().filter(|s| s.0 == "teacher_adv").count(), 2, "{plan:?}");
    let out = ws.ok(&[&["run", "stage", "score_tokens"][..], &two].concat());
    assert!(out.contains("teacher_adv@seed=14: published"), "{out}");
    let seed_14 = ws.status(&["--set", "method=advpicker", "--set", "seed=14"]);
    assert!(seed_14.iter().any(|s| s.0 == "teacher_adv" && s.1), "seed 14's own teacher is the variant: {seed_14:?}");
    let merged: Vec<serde_json::Value> = ws
        .artifacts("score_tokens")
        .iter()
        .map(|d| serde_json::from_str(&std::fs::read_to_string(d.join("manifest.json")).unwrap()).unwrap())
        .filter(|m: &serde_json::Value| m["inputs"].get("teacher_adv@seed=14").is_some())
        .collect();
    assert_eq!(merged.len(), 1, "one score_tokens artifact reads the seed teacher");
    let chosen: Vec<u64> =
        merged[0]["summary"]["sentences_per_teacher"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
    assert_eq!((chosen.len(), chosen.iter().sum::<u64>()), (2, 160), "{chosen:?}");
}

fn tensor_names(path: &std::path::Path) -> Vec<String> {
    tch::Tensor::read_safetensors(path).unwrap().into_iter().map(|(name, _)| name).collect()
}

/// The files of `stage`'s two artifacts (before and after scrambling) are identical: bit
/// for bit, or for tables (whose metadata names their key) cell for cell.
fn unchanged_by_gold_tags(ws: &Workspace, stage: &str, file: &str) {
    let dirs = ws.artifacts(stage);
    assert_eq!(dirs.len(), 2, "{stage}: a second artifact (new key: the target file changed)");
    let same = if file.ends_with(".parquet") {
        let tables: Vec<_> = dirs.iter().map(|d| table::read(&d.join(file)).unwrap()).collect();
        tables[0].equals_missing(&tables[1])
    } else {
        std::fs::read(dirs[0].join(file)).unwrap() == std::fs::read(dirs[1].join(file)).unwrap()
    };
    assert!(same, "{stage}/{file} depends on gold target tags");
}

#[test]
fn msd_runs_end_to_end_and_gold_target_tags_change_nothing() {
    let ws = Workspace::demo();
    let out = ws.ok(&["run", "all", "--set", "method=msd"]);
    for stage in ["teacher_msd", "score_tokens", "distill", "evaluate"] {
        assert!(out.contains(&format!("{stage}: published")), "{stage} did not run:\n{out}");
    }
    assert!(out.contains("teacher_msd on target test: F1") && out.contains("student on target test: F1"), "{out}");
    let teacher = &ws.artifacts("teacher_msd")[0];
    let heads = tensor_names(&teacher.join("layer_heads.safetensors"));
    // Heads on layers 4..11 of the 12-layer encoder, and their mixing logits.
    assert_eq!(heads.iter().filter(|n| n.ends_with("classifier.weight")).count(), 8, "{heads:?}");
    assert!(heads.contains(&"msd.omega".to_string()), "{heads:?}");
    assert_eq!(loss_terms(teacher, Terms::Summed), ["ner", "layers"]);
    assert_eq!(loss_terms(&ws.artifacts("distill")[0], Terms::Summed), ["distill", "layers", "mmd"]);
    // The student's own heads are not part of the saved student.
    let student = tensor_names(&ws.artifacts("distill")[0].join("model.safetensors"));
    assert!(student.iter().all(|n| n.starts_with("bert.") || n.starts_with("classifier.")), "{student:?}");

    ws.scramble_target_tags();
    let out = ws.ok(&["run", "stage", "distill", "--set", "method=msd"]);
    // The teacher learns from the source alone: reused.
    assert!(!out.contains("teacher_msd: published") && out.contains("distill: published"), "{out}");
    unchanged_by_gold_tags(&ws, "score_tokens", "token_probs.parquet");
    unchanged_by_gold_tags(&ws, "distill", "model.safetensors");
}

#[test]
fn multi_source_tsl_mixes_the_source_teachers_by_language_similarity_without_gold() {
    let ws = Workspace::demo();
    let out = ws.ok(&["run", "all", "--set", "method=tsl-multi"]);
    for stage in ["teacher_ner@source=de", "teacher_ner@source=nl", "lang_sim", "score_tokens", "distill", "evaluate"] {
        assert!(out.contains(&format!("{stage}: published")), "{stage} did not run:\n{out}");
    }
    // One recognizer per source language, each from its own language's file.
    let trained_on: Vec<String> = ws
        .artifacts("ingest_source")
        .iter()
        .map(|d| {
            let m: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(d.join("manifest.json")).unwrap()).unwrap();
            m["input_files"]["source.train"]["path"].as_str().unwrap().to_string()
        })
        .collect();
    for lang in ["en", "de", "nl"] {
        assert!(trained_on.iter().any(|p| p.ends_with(&format!("{lang}/train.txt"))), "{trained_on:?}");
    }
    assert_eq!(ws.artifacts("teacher_ner").len(), 3);

    // Per target sentence, a weight per source language, summing to 1; learned, so not all equal.
    let rows = |dir: &std::path::Path| -> Vec<Vec<f32>> {
        let df = table::read(&dir.join("teacher_weights.parquet")).unwrap();
        let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["sentence_id", "weight_en", "weight_de", "weight_nl"]);
        assert_eq!(df.height(), 160);
        let cols: Vec<Vec<f32>> =
            names[1..].iter().map(|n| df.column(n).unwrap().f32().unwrap().into_no_null_iter().collect()).collect();
        (0..df.height()).map(|r| cols.iter().map(|c| c[r]).collect()).collect()
    };
    let learned = rows(&ws.artifacts("lang_sim")[0]);
    assert!(learned.iter().all(|w| (w.iter().sum::<f32>() - 1.0).abs() < 1e-5 && w.iter().all(|&x| x > 0.0)));
    assert!(learned.iter().flatten().any(|&x| (x - 1.0 / 3.0).abs() > 1e-3), "the weights were learned");

    // The target's gold tags reach neither the weights nor the student.
    ws.scramble_target_tags();
    let out = ws.ok(&["run", "stage", "distill", "--set", "method=tsl-multi"]);
    assert!(!out.contains("teacher_ner@source=de: published"), "source teachers are reused:\n{out}");
    unchanged_by_gold_tags(&ws, "lang_sim", "teacher_weights.parquet");
    unchanged_by_gold_tags(&ws, "score_tokens", "token_probs.parquet");
    unchanged_by_gold_tags(&ws, "distill", "model.safetensors");

    // The uniform ablation: 1/3 each, nothing trained, the teachers reused.
    let out = ws.ok(&[
        "run",
        "stage",
        "score_tokens",
        "--set",
        "method=tsl-multi",
        "--set",
        "multi_source.weighting=uniform",
    ]);
    assert!(out.contains("lang_sim: published") && !out.contains("teacher_ner@source=nl: published"), "{out}");
    let uniform = ws.artifacts("lang_sim").into_iter().find(|d| !d.join("lang_sim.safetensors").exists()).unwrap();
    assert!(rows(&uniform).iter().flatten().all(|&x| (x - 1.0 / 3.0).abs() < 1e-6));
}

#[test]
fn unitrans_translates_the_source_votes_and_never_reads_gold() {
    let ws = Workspace::demo();
    let out = ws.ok(&["run", "all", "--set", "method=unitrans"]);
    for stage in ["lexicon", "translate", "teacher_trans", "teacher_finetune", "score_tokens", "distill", "evaluate"] {
        assert!(out.contains(&format!("{stage}: published")), "{stage} did not run:\n{out}");
    }
    assert!(out.contains("teacher_finetune on target test: F1") && out.contains("student on target test: F1"), "{out}");

    // The lexicon: source words of the demo's English, each with a target word and its CSLS score.
    let lexicon = table::read(&ws.artifacts("lexicon")[0].join("lexicon.parquet")).unwrap();
    assert_eq!(lexicon.get_column_names(), ["source", "target", "score"]);
    assert!(lexicon.height() > 100 && lexicon.column("score").unwrap().null_count() == 0);

    // The translation keeps every sentence's length and tags, and copies PER words.
    let translated = table::read(&ws.artifacts("translate")[0].join("translated.parquet")).unwrap();
    let lists = |name: &str| table::read_str_lists(&translated, name).unwrap();
    let (tokens, tags, source) = (lists("tokens"), lists("tags"), lists("source_tokens"));
    assert_eq!(tokens.len(), 320);
    let mut replaced = 0;
    for ((t, g), s) in tokens.iter().zip(&tags).zip(&source) {
        assert_eq!((t.len(), g.len()), (s.len(), s.len()));
        for ((t, g), s) in t.iter().zip(g).zip(s) {
            if g.ends_with("-PER") {
                assert_eq!(t, s, "a PER word is copied");
            }
            replaced += usize::from(t != s);
        }
    }
    assert!(replaced > 1000, "{replaced} words replaced");

    // The vote: a flag per target word, the share in the manifest.
    let scored = ws.artifacts("score_tokens")[0].join("token_probs.parquet");
    let flags = table::read_columns(&scored, &["agree"]).unwrap();
    let agreed = flags.column("agree").unwrap().bool().unwrap().sum().unwrap() as f64 / flags.height() as f64;
    let manifest = ws.manifest("score_tokens");
    assert!((manifest["summary"]["agreement"].as_f64().unwrap() - agreed).abs() < 1e-9);
    assert!(agreed > 0.0, "{agreed}");

    // With every gold tag of the target train file scrambled, everything that learns from
    // target text is bit-identical.
    ws.scramble_target_tags();
    ws.ok(&["run", "stage", "distill", "--set", "method=unitrans"]);
    for (stage, file) in [
        ("translate", "translated.parquet"),
        ("teacher_trans", "model.safetensors"),
        ("teacher_finetune", "model.safetensors"),
        ("score_tokens", "token_probs.parquet"),
        ("distill", "model.safetensors"),
    ] {
        unchanged_by_gold_tags(&ws, stage, file);
    }

    // A user's dictionary instead of the induced lexicon: its entries, no scores.
    std::fs::write(ws.path().join("en-es.txt"), "the el\nearthquake terremoto\nThe la\n").unwrap();
    let out =
        ws.ok(&["run", "stage", "translate", "--set", "method=unitrans", "--set", "unitrans.dictionary=en-es.txt"]);
    assert!(out.contains("2 entries from"), "{out}");
    let from_file =
        ws.artifacts("lexicon").into_iter().find(|d| table::read(&d.join("lexicon.parquet")).unwrap().height() == 2);
    assert!(from_file.is_some(), "a lexicon of the dictionary's two source words");

    // Target casing (German capitalizes nouns): a replaced word is spelled as the target
    // text spells its translation inside sentences. Planted: `the` -> the first word the
    // demo's Spanish text capitalizes there.
    let text = table::read(&ws.artifacts("ingest_target")[0].join("sentences_target_train.parquet")).unwrap();
    let spelled = mtmt_pipe::word_translation::spellings(&table::read_str_lists(&text, "tokens").unwrap());
    let (lower, form) = spelled
        .iter()
        .filter(|(_, f)| f.chars().next().is_some_and(char::is_uppercase) && f.chars().all(char::is_alphabetic))
        .min()
        .expect("a capitalized word");
    std::fs::write(ws.path().join("en-es.txt"), format!("the {lower}\n")).unwrap();
    let translated = |casing: bool| {
        let set = ["--set", "method=unitrans", "--set", "unitrans.dictionary=en-es.txt"];
        let flag = format!("unitrans.target_casing={casing}");
        let out = ws.ok(&[&["run", "stage", "translate", "--set", &flag][..], &set[..]].concat());
        assert_eq!(out.contains("target casing:"), casing, "{out}");
        let lexicon = ws.artifacts("lexicon").into_iter().find(|d| {
            let df = table::read(&d.join("lexicon.parquet")).unwrap();
            df.height() == 1 && df.get_column_names().iter().any(|c| c.as_str() == "target_spelling") == casing
        });
        let spelling = table::read(&lexicon.expect("the one-entry lexicon").join("lexicon.parquet")).unwrap();
        if casing {
            assert_eq!(spelling.column("target_spelling").unwrap().str().unwrap().get(0), Some(form.as_str()));
        }
        let dir = ws
            .artifacts("translate")
            .into_iter()
            .max_by_key(|d| std::fs::metadata(d.join("manifest.json")).unwrap().modified().unwrap())
            .unwrap();
        let df = table::read(&dir.join("translated.parquet")).unwrap();
        let (tokens, source) =
            (table::read_str_lists(&df, "tokens").unwrap(), table::read_str_lists(&df, "source_tokens").unwrap());
        // Every `the` inside a sentence, as translated.
        let inner: Vec<String> = tokens
            .iter()
            .zip(&source)
            .flat_map(|(t, s)| t.iter().zip(s).skip(1).filter(|(_, s)| *s == "the").map(|(t, _)| t.clone()))
            .collect();
        assert!(!inner.is_empty());
        inner
    };
    assert!(translated(true).iter().all(|t| t == form), "{form}");
    assert!(translated(false).iter().all(|t| t == lower), "{lower}");
}
