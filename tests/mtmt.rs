//! MTMT end to end on the demo corpus (tiny models): every stage runs, the report
//! shows teacher and student F1, switching method or ablation reuses every cached
//! upstream artifact, and gold target tags cannot influence the pseudo-labels.

mod common;

use common::Workspace;
use mtmt_pipe::table;

fn ran(out: &str) -> Vec<String> {
    let line = out.lines().find(|l| l.starts_with("ran ")).unwrap_or_else(|| panic!("no `ran` line:\n{out}"));
    let list = line.split(": ").nth(1).unwrap().split(';').next().unwrap();
    list.split(", ").map(String::from).collect()
}

#[test]
fn mtmt_runs_end_to_end_and_methods_reuse_upstream_artifacts() {
    let ws = Workspace::demo();
    let out = ws.ok(&["run", "all"]);
    assert_eq!(ran(&out).len(), 11, "{out}");
    assert!(out.contains("teacher on target test: F1") && out.contains("student on target test: F1"), "{out}");
    let report = std::fs::read_to_string(ws.artifacts("evaluate")[0].join("report.md")).unwrap();
    assert!(report.contains("| teacher | test |") && report.contains("| student | test |"), "{report}");
    assert!(report.contains("Model selection: last checkpoint"), "{report}");
    // `run all` ends with the evaluation table and where the report is.
    assert!(out.contains("| student | test |") && out.contains("report: "), "{out}");
    // A starved run says so (the workspace's teachers see 32 sentences in 4 steps): when the
    // stage ends, in `status`, and in the report.
    assert!(out.contains("[teacher_ner] only 4 training steps"), "{out}");
    let status = ws.ok(&["status"]);
    assert!(status.contains("warning: only 4 training steps"), "{status}");
    assert!(report.contains("## Warnings") && report.contains("- [teacher_ner] only 4 training steps"), "{report}");
    // The reported F1 is conlleval's on the predictions table the stage wrote.
    let metrics = ws.manifest("evaluate")["summary"]["metrics"].clone();
    let predictions = table::read(&ws.artifacts("evaluate")[0].join("predictions.parquet")).unwrap();
    let (models, splits) = (predictions.column("model").unwrap(), predictions.column("split").unwrap());
    let gold = table::read_str_lists(&predictions, "gold").unwrap();
    let predicted = table::read_str_lists(&predictions, "predicted").unwrap();
    for model in ["teacher", "student"] {
        let mut scorer = mtmt_pipe::eval::conlleval::Scorer::default();
        for row in 0..predictions.height() {
            let (m, s) = (models.get(row).unwrap(), splits.get(row).unwrap());
            if m.get_str() == Some(model) && s.get_str() == Some("test") {
                let (g, p): (Vec<&str>, Vec<&str>) = (
                    gold[row].iter().map(String::as_str).collect(),
                    predicted[row].iter().map(String::as_str).collect(),
                );
                scorer.add(&g, &p);
            }
        }
        let f1 = metrics[model]["test"]["overall"]["f1"].as_f64().unwrap();
        assert!(scorer.overall.gold > 0, "{model}: no test sentences in the predictions");
        assert!((scorer.overall.f1() * 100.0 - f1).abs() < 1e-6, "{model} F1 {f1} vs {:?}", scorer.overall);
    }
    assert!(ws.manifest("distill")["summary"]["pairs_per_sentence_forward"].as_f64().unwrap() > 1.0);
    // The student's curve splits Eq. 9 into its recognizer and similarity parts, beside
    // the term on every word that MTMT's defaults add to the paper's loss.
    let terms = common::loss_terms(&ws.artifacts("distill")[0], common::Terms::Summed);
    assert_eq!(terms, ["ner", "similarity", "all_words"]);

    // The student's learning rate reruns only the student and its evaluation.
    let out = ws.ok(&["run", "all", "--set", "distill.lr=1e-4"]);
    assert_eq!(ran(&out), ["distill", "evaluate"], "{out}");
    // Ablations and baselines reuse the teachers and everything upstream of what they change.
    let out = ws.ok(&["run", "all", "--set", "weights.enabled=false"]);
    assert_eq!(ran(&out), ["weights", "distill", "evaluate"], "{out}");
    let out = ws.ok(&["run", "all", "--set", "method=tsl"]);
    assert_eq!(ran(&out), ["distill", "evaluate"], "{out}");
    let out = ws.ok(&["run", "all", "--set", "method=direct"]);
    assert_eq!(ran(&out), ["evaluate"], "{out}");
    assert!(!out.contains("student on target test"), "{out}");
    // MTST: one multitask teacher replaces both; the direct-transfer teacher is still reported.
    let out = ws.ok(&["run", "all", "--set", "method=mtst"]);
    assert_eq!(ran(&out), ["teacher_mt", "score_tokens", "score_pairs", "weights", "distill", "evaluate"], "{out}");
    assert!(out.contains("student on target test: F1"), "{out}");

    // The calibrated similarity: the teacher fits t = sigmoid(scale cos + bias) on source
    // pairs; the pair scores, gamma and the student use it, and t spreads wider than the
    // paper's sigmoid(cos) on the same pairs.
    let err = ws.fails(&["run", "all", "--set", "method=mtst", "--set", "similarity.calibrated=true"]);
    assert!(err.contains("similarity.calibrated") && err.contains("only MTMT"), "{err}");
    let out = ws.ok(&["run", "all", "--set", "similarity.calibrated=true"]);
    assert_eq!(ran(&out), ["teacher_sim", "score_pairs", "weights", "distill", "evaluate"], "{out}");
    let calibrated = |stage: &str, file: &str| {
        ws.artifacts(stage).into_iter().partition::<Vec<_>, _>(|d| {
            let meta = mtmt_pipe::table::metadata(&d.join(file)).unwrap_or_default();
            meta.iter().any(|(k, _)| k == "mtmt.similarity_calibration") || d.join("calibration.json").exists()
        })
    };
    let (with, without) = calibrated("teacher_sim", "model.safetensors");
    assert_eq!((with.len(), without.len()), (1, 1));
    let fitted: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(with[0].join("calibration.json")).unwrap()).unwrap();
    assert!(fitted["scale"].as_f64().unwrap() > 1.0, "{fitted}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(with[0].join("manifest.json")).unwrap()).unwrap();
    let dev = &manifest["summary"]["source_dev_pairs"];
    assert!(dev["ece"].as_f64().unwrap() < dev["paper_score"]["ece"].as_f64().unwrap(), "{dev}");
    let spread = |dir: &std::path::Path| {
        let t: Vec<f32> = table::read(&dir.join("pairs.parquet"))
            .unwrap()
            .column("t")
            .unwrap()
            .f32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        t.iter().copied().fold(f32::MIN, f32::max) - t.iter().copied().fold(f32::MAX, f32::min)
    };
    let (with, without) = calibrated("score_pairs", "pairs.parquet");
    // MTMT's other pairs: scored by the same similarity teacher's encoder (MTST's by its own).
    let reads_teacher_sim = |d: &std::path::PathBuf| {
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("manifest.json")).unwrap()).unwrap();
        m["inputs"].get("teacher_sim").is_some()
    };
    let without: Vec<_> = without.into_iter().filter(reads_teacher_sim).collect();
    assert_eq!((with.len(), without.len()), (1, 1));
    assert!(spread(&with[0]) > spread(&without[0]), "{} vs {}", spread(&with[0]), spread(&without[0]));
    let (with, _) = calibrated("weights", "pseudo_labels.parquet");
    assert_eq!(with.len(), 1, "the pseudo-labels carry the calibration to the student");

    // The case study without labels: every word of a pair the teachers disagree on, with
    // the type the student took; the shares of the summary add up. A recognizer that has
    // seen the whole demo once, so that it finds entities of several types.
    let trained = ["--set", "teacher_ner.max_sentences=0", "--set", "teacher_ner.batch_size=16"];
    ws.ok(&[&["run", "all"][..], &trained].concat());
    let out = ws.ok(&[&["neighbours", "--out", "neighbours.parquet"][..], &trained].concat());
    let row = out.lines().find(|l| l.starts_with("| ") && !l.starts_with("| words")).unwrap_or_else(|| panic!("{out}"));
    let cells: Vec<f64> = row
        .trim_matches(|c| c == '|' || c == ' ')
        .split(" | ")
        .map(|v| v.trim_end_matches('%').parse().unwrap())
        .collect();
    assert!((cells[1] + cells[2] + cells[3] - 100.0).abs() < 0.2, "{out}");
    let table = table::read(&ws.path().join("neighbours.parquet")).unwrap();
    assert_eq!(table.height() as f64, cells[0], "{out}");
    let differ = |a: &str, b: &str| {
        let (a, b) = (table.column(a).unwrap().str().unwrap(), table.column(b).unwrap().str().unwrap());
        a.iter().zip(b.iter()).all(|(x, y)| x != y)
    };
    assert!(differ("recognizer_type", "neighbour_type"), "only pairs of two types");
    let err = ws.fails(&["neighbours", "--set", "method=tsl"]);
    assert!(err.contains("method \"tsl\" learns from no pairs"), "{err}");

    // The pseudo-label table users inspect.
    let out = ws.ok(&["inspect", "pseudo_labels", "--filter", "gamma > 0.9", "--sort", "alpha1", "--schema"]);
    for column in ["alpha1", "alpha2", "beta", "gamma", "t", "label_a", "probs_b", "max_prob_a"] {
        assert!(out.contains(&format!("  {column}: ")), "{column} missing:\n{out}");
    }
    assert!(out.contains("mtmt.stage: weights"), "{out}");
    // By name, the table shows each pair's two words, and a filter may name them.
    let out = ws.ok(&[
        "inspect",
        "pseudo_labels",
        "--columns",
        "token_a,label_a,token_b,label_b,t",
        "--filter",
        "token_a <> token_b",
    ]);
    assert!(out.contains("token_a") && out.contains("token_b"), "{out}");
    // The word of the first pair's first side, looked up by hand, is what the column holds.
    let sentences = table::read(&ws.artifacts("ingest_target")[0].join("sentences_target_train.parquet")).unwrap();
    let ids = table::u32_column(&sentences, std::path::Path::new("sentences"), "sentence_id").unwrap();
    let tokens = table::read_str_lists(&sentences, "tokens").unwrap();
    let key = out.lines().find_map(|l| l.strip_prefix("mtmt.key: ")).unwrap_or_else(|| panic!("{out}"));
    let pairs = table::read(&ws.store().join("weights").join(key).join("pseudo_labels.parquet")).unwrap();
    let at = |c: &str| pairs.column(c).unwrap().u32().unwrap().get(0).unwrap();
    let row = ids.iter().position(|&i| i == at("sentence_a")).unwrap();
    let word = tokens[row][at("word_a") as usize].replace('\'', "''");
    let out = ws.ok(&["inspect", "pseudo_labels", "--filter", &format!("token_a = '{word}'"), "--columns", "token_a"]);
    assert!(!out.contains("shape: (0,") && out.contains(&tokens[row][at("word_a") as usize]), "{word}: {out}");

    // It opens in Python polars with readable column names.
    let file = ws.artifacts("weights")[0].join("pseudo_labels.parquet");
    let python = common::repo().join(".venv/bin/python");
    let script = "import sys, polars as pl\ndf = pl.read_parquet(sys.argv[1])\n\
                  assert {'alpha1','alpha2','beta','gamma','t','sentence_a','word_b'} <= set(df.columns), df.columns\n\
                  print(df.filter(pl.col('gamma') > 0).height)";
    let py = std::process::Command::new(&python).args(["-c", script]).arg(&file).output().unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));

    // Every epoch's model but the last (the artifact's own) is kept, and model selection
    // chooses among them downstream, in `evaluate`: no training stage's key moves. Two
    // epochs of the recognizer and of the student; the test split stands in as the
    // target's dev split, which the test workspace lacks.
    let two = ["--set", "teacher_ner.epochs=2", "--set", "distill.epochs=2", "--set", "target.dev=es/test.txt"];
    ws.ok(&[&["run", "all"][..], &two].concat());
    let built = |stage: &str| -> Vec<(std::path::PathBuf, serde_json::Value)> {
        ws.artifacts(stage)
            .into_iter()
            .map(|d| {
                let m = serde_json::from_str(&std::fs::read_to_string(d.join("manifest.json")).unwrap()).unwrap();
                (d, m)
            })
            .collect()
    };
    let epochs_of = |m: &serde_json::Value| m["summary"]["epoch_losses"].as_array().map_or(0, Vec::len);
    let (distill, distill_manifest) = built("distill").into_iter().find(|(_, m)| epochs_of(m) == 2).unwrap();
    assert!(distill.join("model-epoch1.safetensors").exists(), "epoch 1 not kept");
    assert!(!distill.join("model-epoch2.safetensors").exists(), "the last epoch is model.safetensors");
    let evaluated = |policy: &str, of: &str, key: &serde_json::Value| {
        built("evaluate")
            .into_iter()
            .map(|(_, m)| m)
            .find(|m| m["inputs"][of] == *key && m["summary"]["selection"]["policy"] == policy)
            .unwrap_or_else(|| panic!("no evaluate artifact of {of} {key} selected by {policy}"))
    };
    let last = evaluated("last", "distill", &distill_manifest["key"]);
    let last_dev = last["summary"]["metrics"]["student"]["dev"]["overall"]["f1"].as_f64();
    let out = ws.ok(&[&["run", "all", "--set", "eval.selection=target_dev"][..], &two].concat());
    assert_eq!(ran(&out), ["evaluate"], "{out}");
    let chosen = |m: &serde_json::Value| {
        let dev: Vec<f64> =
            m["summary"]["selection"]["dev_f1"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let best = (0..dev.len()).fold(0, |b, e| if dev[e] > dev[b] { e } else { b });
        (dev, best + 1, m["summary"]["selection"]["chosen_epoch"].as_u64().unwrap() as usize)
    };
    let target_dev = evaluated("target_dev", "distill", &distill_manifest["key"]);
    let (dev, best, epoch) = chosen(&target_dev);
    assert_eq!((dev.len(), epoch), (2, best), "{dev:?}");
    // The last epoch scored for selection is the model `last` evaluates; the reported
    // student is the chosen epoch's.
    assert_eq!(dev[1], last_dev.unwrap(), "{dev:?}");
    let reported = target_dev["summary"]["metrics"]["student"]["dev"]["overall"]["f1"].as_f64().unwrap();
    assert_eq!(reported, dev[epoch - 1]);
    assert_eq!(target_dev["summary"]["selection"]["uses_target_labels"], true);
    let report: String =
        ws.artifacts("evaluate").iter().map(|d| std::fs::read_to_string(d.join("report.md")).unwrap()).collect();
    assert!(report.contains("USES TARGET LABELS") && report.contains(&format!("epoch {epoch} of 2")), "{report}");
    // A student is scored on no source dev split; the recognizer (direct transfer) is.
    let err = ws.fails(&[&["run", "all", "--set", "eval.selection=source_dev"][..], &two].concat());
    assert!(err.contains("eval.selection") && err.contains("source_dev"), "{err}");
    let out =
        ws.ok(&[&["run", "all", "--set", "method=direct", "--set", "eval.selection=source_dev"][..], &two].concat());
    assert_eq!(ran(&out), ["evaluate"], "{out}");
    let (teacher, teacher_manifest) = built("teacher_ner").into_iter().find(|(_, m)| epochs_of(m) == 2).unwrap();
    let (dev, best, epoch) = chosen(&evaluated("source_dev", "teacher_ner", &teacher_manifest["key"]));
    let curve = table::read(&teacher.join("curve.parquet")).unwrap();
    let recorded: Vec<f64> = curve.column("source_dev_f1").unwrap().f64().unwrap().iter().flatten().collect();
    assert_eq!((dev, epoch), (recorded, best));
}

#[test]
fn gold_target_tags_cannot_change_the_pseudo_labels() {
    let ws = Workspace::demo();
    ws.ok(&["run", "stage", "weights"]);
    let before = table::read(&ws.artifacts("weights")[0].join("pseudo_labels.parquet")).unwrap();

    // The same target text with every tag scrambled.
    ws.scramble_target_tags();
    let out = ws.ok(&["run", "stage", "weights"]);
    // Only the target side reran: the teachers, trained on the source, were reused.
    assert!(
        !ran(&out).contains(&"teacher_ner".to_string()) && ran(&out).contains(&"ingest_target".to_string()),
        "{out}"
    );
    let tables: Vec<_> =
        ws.artifacts("weights").iter().map(|d| table::read(&d.join("pseudo_labels.parquet")).unwrap()).collect();
    assert_eq!(tables.len(), 2, "a second weights artifact (new key: the file changed)");
    assert!(tables.iter().all(|t| t.equals_missing(&before)), "pseudo-labels depend on gold target tags");
}

#[test]
fn conlleval_command_scores_a_file() {
    let ws = Workspace::demo();
    let file = ws.path().join("pred.txt");
    std::fs::write(
        &file,
        "EU B-ORG B-ORG\nrejects O O\nGerman B-MISC B-MISC\n\nPeter B-PER B-PER\nBlackburn I-PER O\n",
    )
    .unwrap();
    let out = ws.ok(&["conlleval", file.to_str().unwrap()]);
    assert!(out.contains("processed 5 tokens with 3 phrases; found: 3 phrases; correct: 2."), "{out}");
    assert!(out.contains("precision:  66.67%; recall:  66.67%; FB1:  66.67"), "{out}");
    std::fs::write(&file, "EU B-ORG\n").unwrap();
    let err = ws.fails(&["conlleval", file.to_str().unwrap()]);
    assert!(err.contains("pred.txt:1: expected `TOKEN ... GOLD PREDICTED`"), "{err}");
}
