//! `sweep run` and `sweep report` on the demo workspace: a 1 target x 3 methods x 2 seeds
//! grid, interrupted and resumed, then aggregated into tables, a plot and markdown.

mod common;

use polars::prelude::BooleanChunked;

use common::{cell_f1, small_sweep, wait_for_stderr, Workspace, SMALL_SWEEP_CELLS};

/// The demo sweep: direct, TSL (the small sweep's cells) and MTMT.
fn sweep() -> String {
    format!(
        "name = \"demo\"\ntitle = \"demo en -> es\"\nseeds = [1, 2]\nset = [\"eval.teacher=false\", \"distill.max_sentences=40\"]\n\
         compare = [[\"mtmt\", \"tsl\"], [\"tsl\", \"direct\"]]\npaper_source = \"test numbers\"\n{SMALL_SWEEP_CELLS}\n\
         [[method]]\nname = \"mtmt\"\nset = [\"method=mtmt\"]\n\n[paper.mtmt]\nes = 81.82\n"
    )
}

#[test]
fn interrupted_sweep_resumes_and_report_aggregates_what_the_store_holds() {
    let ws = Workspace::demo();
    std::fs::write(ws.path().join("sweep.toml"), sweep()).unwrap();

    // Killed while the first student (tsl, seed 1) is being published: the direct cell
    // of seed 1 is finished, nothing else of the kill is visible.
    let mut child = ws.spawn(&["sweep", "run", "sweep.toml"], &[("MTMT_TEST_HOLD_STAGE", "distill")]);
    wait_for_stderr(&mut child, "holding");
    child.kill().unwrap();
    child.wait().unwrap();

    let dry = ws.ok(&["sweep", "run", "sweep.toml", "--dry-run"]);
    assert!(dry.contains("6 cells, 1 complete"), "{dry}");
    assert!(dry.contains("[1/6] es / direct / seed 1: up to date"), "{dry}");
    assert!(dry.contains("[2/6] es / tsl / seed 1: would run distill, evaluate"), "{dry}");
    assert!(ws.artifacts("distill").is_empty(), "a dry run runs nothing");
    let by_stage = dry.lines().find(|l| l.starts_with("by stage: ")).unwrap_or_else(|| panic!("{dry}"));
    assert!(by_stage.contains("distill") && by_stage.contains("(4"), "four students left: {by_stage}");
    let seed2 = ws.ok(&["sweep", "run", "sweep.toml", "--dry-run", "--seed", "2"]);
    assert!(seed2.contains("(seeds [2]): 3 cells, 0 complete"), "{seed2}");
    assert!(seed2.contains("[1/3] es / direct / seed 2: would run teacher_ner"), "{seed2}");
    // A report of the unfinished sweep says so, and a one-seed mean shows no spread.
    ws.ok(&["sweep", "report", "sweep.toml", "--out", "partial"]);
    let partial = std::fs::read_to_string(ws.path().join("partial/results.md")).unwrap();
    assert!(partial.contains("**In progress**: 1 of 6 cells finished"), "{partial}");
    let row = format!("| es | direct | 1 | {:.2} | ", cell_f1(&ws, "direct", 1));
    assert!(partial.contains(&row), "no `{row}`:\n{partial}");
    let err = ws.fails(&["sweep", "run", "sweep.toml", "--seed", "7"]);
    assert!(err.contains("sweep.toml: seed 7 is not one of the sweep's seeds [1, 2]"), "{err}");

    let out = ws.ok(&["sweep", "run", "sweep.toml"]);
    assert!(out.contains("[1/6] es / direct / seed 1: up to date"), "{out}");
    assert!(out.contains("[6/6] es / mtmt / seed 2: done in"), "{out}");
    assert!(out.contains("0 stage run(s) left"), "{out}");
    // Teachers once per seed, students once per (method, seed).
    assert_eq!(ws.artifacts("teacher_ner").len(), 2);
    assert_eq!(ws.artifacts("distill").len(), 4);
    let again = ws.ok(&["sweep", "run", "sweep.toml"]);
    assert!(again.contains("6 cells, 6 complete; 0 stage run(s) to do"), "{again}");

    std::fs::write(ws.path().join("notes.md"), "## Discussion\nhand-written\n").unwrap();
    // A plot left by a sweep no longer reported goes; other files stay.
    std::fs::create_dir_all(ws.path().join("out")).unwrap();
    std::fs::write(ws.path().join("out/results-renamed.png"), b"old").unwrap();
    std::fs::write(ws.path().join("out/figure.png"), b"mine").unwrap();
    let report = ws.ok(&["sweep", "report", "sweep.toml", "--out", "out", "--notes", "notes.md"]);
    assert!(report.contains("6 finished cells of 6"), "{report}");
    assert!(!ws.path().join("out/results-renamed.png").exists(), "{report}");
    assert!(ws.path().join("out/figure.png").exists());
    let md = std::fs::read_to_string(ws.path().join("out/results.md")).unwrap();
    assert!(!md.contains("In progress"), "{md}");
    assert!(!md.contains("libtorch threads per cell"), "one process, one thread count: {md}");
    for method in ["direct", "tsl", "mtmt"] {
        let (a, b) = (cell_f1(&ws, method, 1), cell_f1(&ws, method, 2));
        let mean = (a + b) / 2.0;
        let std = ((a - mean).powi(2) + (b - mean).powi(2)).sqrt();
        let row = format!("| es | {method} | 2 | {mean:.2} ± {std:.2} |");
        assert!(md.contains(&row), "results.md lacks `{row}`:\n{md}");
    }
    assert!(md.contains("| 81.82 |"), "the paper column: {md}");
    // The workspace's starved teachers are flagged once per artifact, with the cells using them.
    assert!(md.contains("### Health warnings") && md.contains("| teacher_ner | only 4 training steps"), "{md}");
    assert!(md.contains("| es | mtmt - tsl | 2 |"), "{md}");
    assert!(md.contains("last checkpoint"), "model selection in the caption: {md}");
    assert!(md.contains("multilingual-e5-small/model.safetensors"), "encoder in the caption: {md}");
    assert!(md.contains("pair accuracy"), "the similarity teacher's source-dev check: {md}");
    assert!(md.contains("| teacher_sim | pair calibration error (ECE) |"), "{md}");
    // Each teacher artifact once per seed, with the methods that share it.
    let recognizer_rows = md.lines().filter(|l| l.contains("| teacher_ner | entity F1 |")).collect::<Vec<_>>();
    assert_eq!(recognizer_rows.len(), 2, "one per seed: {recognizer_rows:?}");
    assert!(recognizer_rows.iter().all(|r| r.ends_with("| direct, tsl, mtmt |")), "{recognizer_rows:?}");
    assert!(md.lines().any(|l| l.contains("| teacher_sim | pair accuracy |") && l.ends_with("| mtmt |")), "{md}");
    assert!(md.ends_with("## Discussion\nhand-written\n"), "{md}");
    // Each student against the teacher of its seed, per seed, with no gold labels read.
    for method in ["tsl", "mtmt"] {
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| es | {method} | 2 | ")) && l.contains("1: ") && l.contains("2: "))
            .unwrap_or_else(|| panic!("no agreement row for {method}:\n{md}"));
        let mean: f64 = row.split(" | ").nth(3).unwrap().split(" ± ").next().unwrap().parse().unwrap();
        let per_seed: Vec<f64> = row
            .split(" | ")
            .nth(4)
            .unwrap()
            .trim_end_matches(" |")
            .split(", ")
            .map(|v| v.split(": ").nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(per_seed.len(), 2, "{row}");
        assert!((mean - (per_seed[0] + per_seed[1]) / 2.0).abs() < 0.011, "the mean of its seeds: {row}");
    }
    // Entities per 100 of the teacher's: each student's test predictions counted against
    // the `direct` cell's of its seed, chunk by chunk, from `evaluate`'s tables.
    let runs = mtmt_pipe::table::read_columns(
        &ws.path().join("out/runs.parquet"),
        &["method", "seed", "evaluate_key", "teacher_entity_ratio"],
    )
    .unwrap();
    let column = |name: &str| runs.column(name).unwrap().as_materialized_series().clone();
    let (methods, seeds, keys, ratios) =
        (column("method"), column("seed"), column("evaluate_key"), column("teacher_entity_ratio"));
    let (methods, seeds, keys, ratios) =
        (methods.str().unwrap(), seeds.u64().unwrap(), keys.str().unwrap(), ratios.f64().unwrap());
    let entities = |key: &str, model: &str| {
        let df = mtmt_pipe::table::read_columns(
            &ws.store().join("evaluate").join(key).join("predictions.parquet"),
            &["model", "split", "predicted"],
        )
        .unwrap();
        let keep = df.column("model").unwrap().str().unwrap().iter().map(|m| m == Some(model));
        let split = df.column("split").unwrap().str().unwrap().iter().map(|s| s == Some("test"));
        let keep: BooleanChunked = keep.zip(split).map(|(m, s)| m && s).collect();
        let mut scorer = mtmt_pipe::eval::conlleval::Scorer::default();
        for tags in mtmt_pipe::table::read_str_lists(&df.filter(&keep).unwrap(), "predicted").unwrap() {
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            scorer.add(&tags, &tags);
        }
        scorer.overall.gold as f64
    };
    let mut checked = 0;
    for i in (0..runs.height()).filter(|&i| methods.get(i) != Some("direct")) {
        let teacher = (0..runs.height())
            .find(|&j| methods.get(j) == Some("direct") && seeds.get(j) == seeds.get(i))
            .expect("a direct cell per seed");
        let (student, teacher) =
            (entities(keys.get(i).unwrap(), "student"), entities(keys.get(teacher).unwrap(), "teacher"));
        // The demo's few-step teachers may mark nothing: then there is no ratio.
        let expected = (teacher > 0.0).then(|| 100.0 * student / teacher);
        assert_eq!(ratios.get(i), expected, "{:?} seed {:?}", methods.get(i), seeds.get(i));
        checked += 1;
    }
    assert_eq!(checked, 4, "tsl and mtmt, two seeds each");
    assert!(md.contains("| entities per 100 of the teacher's |"), "{md}");

    // The pair mix: MTMT's pairs over seeds, shares as percentages of real counts.
    let section = md.split("### What the pair losses see").nth(1).expect("pair-mix section");
    let section = section.split("###").next().unwrap();
    assert!(!section.contains("| es | tsl |"), "TSL draws no pairs: {section}");
    let mix = section
        .lines()
        .find(|l| l.starts_with("| es | mtmt | 2 | "))
        .unwrap_or_else(|| panic!("no pair-mix row for mtmt:\n{section}"));
    let shares: Vec<f64> =
        mix.split(" | ").skip(4).map(|v| v.trim_end_matches(" |").trim_end_matches('%').parse().unwrap()).collect();
    assert_eq!(shares.len(), 3, "{mix}");
    assert!(shares[0] > 0.0, "{mix}");
    // The text's entity share is the teachers' predicted share, over the two seeds' scores.
    let text_shares: Vec<f64> = ws
        .artifacts("score_tokens")
        .iter()
        .map(|dir| {
            let labels = mtmt_pipe::table::read_columns(&dir.join("token_probs.parquet"), &["label"]).unwrap();
            let labels = labels.column("label").unwrap().str().unwrap().clone();
            100.0 * labels.iter().filter(|l| *l != Some("O")).count() as f64 / labels.len() as f64
        })
        .collect();
    assert_eq!(text_shares.len(), 2);
    let expected = (text_shares[0] + text_shares[1]) / 2.0;
    assert!((shares[2] - expected).abs() < 0.051, "entities in text {} vs {expected:.2}: {mix}", shares[2]);

    // Fig. 6a: every non-truncated test word of both direct cells lands in one bin.
    let test_words = std::fs::read_to_string(ws.path().join("es/test.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("-DOCSTART-"))
        .count();
    let binned: usize = md
        .lines()
        .filter(|l| l.starts_with("| es | 0."))
        .map(|l| l.split('|').nth(3).unwrap().trim().parse::<usize>().unwrap())
        .sum();
    assert_eq!(binned, 2 * test_words, "{md}");

    let png = std::fs::read(ws.path().join("out/results-demo.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(
        (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap())),
        (1100, 560)
    );

    let runs = ws.ok(&["inspect", "out/runs.parquet", "--head", "0"]);
    assert!(runs.contains("shape: (6, "), "{runs}");
    let runs_schema = ws.ok(&["inspect", "out/runs.parquet", "--schema"]);
    assert!(runs_schema.contains("teacher_agreement_f1") && runs_schema.contains("threads"), "{runs_schema}");
    let results = ws.ok(&["inspect", "out/results.parquet", "--schema"]);
    for column in [
        "f1_mean",
        "f1_std",
        "f1_by_seed",
        "f1_PER_mean",
        "paper_f1",
        "teacher_agreement_f1_mean",
        "teacher_entity_ratio_mean",
        "cell_wall_s_mean",
        "mtmt.command",
    ] {
        assert!(results.contains(column), "results.parquet lacks {column}:\n{results}");
    }

    // An earlier row with a cell's key but another F1 (a teacher trained at another thread
    // count, which no key covers): the store's figure stands, and the report says so.
    let mut other = mtmt_pipe::table::read(&ws.path().join("out/runs.parquet")).unwrap();
    let first = |df: &polars::prelude::DataFrame, c: &str| df.column(c).unwrap().get(0).unwrap().to_string();
    let (target, method, seed) = (first(&other, "target"), first(&other, "method"), first(&other, "seed"));
    let f1 = other.column("test_f1").unwrap().f64().unwrap().clone();
    let shifted: polars::prelude::Float64Chunked =
        f1.iter().enumerate().map(|(i, v)| v.map(|v| if i == 0 { v - 0.25 } else { v })).collect();
    other.replace("test_f1", polars::prelude::IntoColumn::into_column(shifted.with_name("test_f1".into()))).unwrap();
    mtmt_pipe::table::write(&mut other, &ws.path().join("other-runs.parquet"), Vec::new()).unwrap();
    let disagree = ws.ok(&["sweep", "report", "sweep.toml", "--out", "disagree", "--carry", "other-runs.parquet"]);
    let cell = format!("{} / {} / seed {}", target.trim_matches('"'), method.trim_matches('"'), seed);
    assert!(disagree.contains(&format!("warning: {cell}: the store's test F1 is not the carried row's")), "{disagree}");
    let disagree_md = std::fs::read_to_string(ws.path().join("disagree/results.md")).unwrap();
    assert!(disagree_md.contains(&format!("**Store and carried rows disagree** ({cell}: store ")), "{disagree_md}");
    assert_eq!(disagree_md.matches("**Store and carried rows disagree**").count(), 1, "one cell: {disagree_md}");
    assert!(!disagree_md.contains("**Carried**"), "the store's figures stand: {disagree_md}");
    assert!(!md.contains("disagree"), "{md}");

    // The store lost: the earlier runs.parquet stands in for every cell by its evaluate key,
    // and the same rows come out; a changed recipe changes the students' keys, so only the
    // direct cells are carried.
    std::fs::rename(ws.store(), ws.path().join("lost-store")).unwrap();
    let empty = ws.ok(&["sweep", "report", "sweep.toml", "--out", "empty"]);
    assert!(empty.contains("(0 finished cells of 6)"), "{empty}");
    let carried = ws.ok(&["sweep", "report", "sweep.toml", "--out", "carried", "--carry", "out/runs.parquet"]);
    assert!(carried.contains("(6 finished cells of 6)"), "{carried}");
    let carried_md = std::fs::read_to_string(ws.path().join("carried/results.md")).unwrap();
    assert!(carried_md.contains("**Carried** (seed 1: 3, seed 2: 3)"), "{carried_md}");
    assert!(
        carried_md.contains("multilingual-e5-small/model.safetensors"),
        "the encoder, from the plans: {carried_md}"
    );
    let rows =
        |md: &str, prefix: &str| md.lines().filter(|l| l.starts_with(prefix)).map(String::from).collect::<Vec<_>>();
    for prefix in ["| es | direct | 2 |", "| es | tsl | 2 |", "| es | mtmt | 2 |", "| es | mtmt - tsl |"] {
        // The results, comparison, agreement and pair-mix rows.
        assert_eq!(rows(&carried_md, prefix), rows(&md, prefix), "{prefix}\n{carried_md}");
    }
    let sources = mtmt_pipe::table::read_columns(&ws.path().join("carried/runs.parquet"), &["source"]).unwrap();
    assert!(sources.column("source").unwrap().str().unwrap().iter().all(|s| s == Some("carried")));
    let changed = ws.ok(&[
        "--set",
        "distill.max_sentences=41",
        "sweep",
        "report",
        "sweep.toml",
        "--out",
        "changed",
        "--carry",
        "out/runs.parquet",
    ]);
    assert!(changed.contains("(2 finished cells of 6)"), "{changed}");
    // `sweep run` leaves carried cells alone: nothing to do, or the students of a changed recipe.
    let resumed = ws.ok(&["sweep", "run", "sweep.toml", "--carry", "out/runs.parquet"]);
    assert!(resumed.contains("6 cells, 6 complete (6 carried); 0 stage run(s) to do"), "{resumed}");
    assert!(resumed.contains("[1/6] es / direct / seed 1: carried"), "{resumed}");
    assert!(!ws.store().join("teacher_ner").exists(), "nothing ran: {resumed}");
    let status = ws.ok(&["sweep", "status", "sweep.toml", "--carry", "out/runs.parquet"]);
    assert!(status.contains("sweep `demo`: 6 cells: 6 carried"), "{status}");
    let dry = ws.ok(&[
        "--set",
        "distill.max_sentences=41",
        "sweep",
        "run",
        "sweep.toml",
        "--dry-run",
        "--carry",
        "out/runs.parquet",
    ]);
    assert!(dry.contains("6 cells, 2 complete (2 carried)"), "{dry}");
    assert!(dry.contains("[2/6] es / tsl / seed 1: would run"), "{dry}");
}

#[test]
fn jobs_run_cells_side_by_side_once_their_inputs_are_built_with_a_serial_runs_results() {
    let parallel = Workspace::demo();
    std::fs::write(parallel.path().join("sweep.toml"), small_sweep()).unwrap();
    let out = parallel.ok(&["sweep", "run", "sweep.toml", "--jobs", "2"]);
    let at = |line: &str| out.find(line).unwrap_or_else(|| panic!("no `{line}`:\n{out}"));
    assert!(out.contains("with 2 jobs"), "{out}");
    // The seed-2 teacher's cell starts while the first cell trains the seed-1 teacher.
    assert!(
        at("[3/4] es / direct / seed 2: running teacher_ner, evaluate (job 2")
            < at("[1/4] es / direct / seed 1: done in"),
        "{out}"
    );
    assert!(out.contains("0 stage run(s) left"), "{out}");
    // Each job's output in its log. No cell started before what it needs was built: none
    // waited for another's build, and each teacher was trained by its own cell.
    let logs = parallel.store().join(".logs/jobs");
    let log = |name: &str| std::fs::read_to_string(logs.join(name)).unwrap();
    for (name, trains_teacher) in [
        ("001-es-direct-seed1.log", true),
        ("002-es-tsl-seed1.log", false),
        ("003-es-direct-seed2.log", true),
        ("004-es-tsl-seed2.log", false),
    ] {
        let text = log(name);
        assert!(!text.contains("another run is building it"), "{name}:\n{text}");
        assert_eq!(text.contains("teacher_ner: published"), trains_teacher, "{name}:\n{text}");
    }
    assert!(log("002-es-tsl-seed1.log").contains("distill: published"));

    // The same cells one after the other, in one process: the same results.
    let serial = Workspace::demo();
    std::fs::write(serial.path().join("sweep.toml"), small_sweep()).unwrap();
    serial.ok(&["sweep", "run", "sweep.toml"]);
    for (method, seed) in [("direct", 1), ("tsl", 1), ("direct", 2), ("tsl", 2)] {
        assert_eq!(cell_f1(&parallel, method, seed), cell_f1(&serial, method, seed), "{method} seed {seed}");
    }
    assert_eq!(parallel.artifacts("teacher_ner").len(), 2);
    // Each manifest says how it was computed: the sweep's 1 thread, on the CPU.
    for dir in parallel.artifacts("distill").into_iter().chain(parallel.artifacts("teacher_ner")) {
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["computed_on"], serde_json::json!({"device": "cpu", "threads": 1}), "{}", dir.display());
    }
}
