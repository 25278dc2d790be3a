//! The stage engine through the CLI: caching, invalidation, interruption,
//! concurrency, corruption, status, inspect, gc and config errors. Engine mechanics
//! are exercised up to `tokenize` (seconds); the last tests run every stage.

mod common;

use common::{read_stderr_until, wait_for_stderr, Workspace};

#[test]
fn second_run_runs_nothing_and_says_so() {
    let ws = Workspace::demo();
    let first = ws.ok(&["run", "stage", "tokenize_source"]);
    assert!(first.contains("ran 2 stage(s): ingest_source, tokenize_source"), "{first}");
    let second = ws.ok(&["run", "stage", "tokenize_source"]);
    assert!(second.contains("nothing to do: all 2 stages are up to date"), "{second}");
    // Each artifact keeps its log and a manifest describing every file.
    let art = &ws.artifacts("tokenize_source")[0];
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(art.join("manifest.json")).unwrap()).unwrap();
    assert!(art.join("stage.log").exists());
    assert_eq!(manifest["stage"], "tokenize_source");
    assert!(manifest["files"]["encoded_source_train.parquet"]["blake3"].is_string());
    assert_eq!(manifest["config"]["tokenize"]["max_len"], 128);
}

#[test]
fn config_change_reruns_exactly_the_stages_that_read_it() {
    let ws = Workspace::demo();
    ws.ok(&["run", "stage", "tokenize_source"]);

    // Values neither stage reads (a downstream one, the other language) change neither key.
    let out = ws.ok(&[
        "run",
        "stage",
        "tokenize_source",
        "--set",
        "seed=99",
        "--set",
        "teacher_ner.lr=1",
        "--set",
        "target.lang=xx",
    ]);
    assert!(out.contains("nothing to do"), "{out}");

    // tokenize reads tokenize.max_len; ingest does not.
    let (fresh, reasons) = ws.stage_status("tokenize_source", &["--set", "tokenize.max_len=64"]);
    assert!(!fresh);
    assert_eq!(reasons, ["config `tokenize.max_len` changed (128 -> 64)"]);
    assert!(ws.stage_status("ingest_source", &["--set", "tokenize.max_len=64"]).0);
    let out = ws.ok(&["run", "stage", "tokenize_source", "--set", "tokenize.max_len=64"]);
    assert!(out.contains("ran 1 stage(s): tokenize_source; reused 1"), "{out}");

    // Editing the file is the same as --set: the artifact built above is reused.
    ws.edit_config("max_len = 128", "max_len = 64");
    let out = ws.ok(&["run", "stage", "tokenize_source"]);
    assert!(out.contains("nothing to do"), "{out}");

    // An ingest value reruns ingest and everything downstream.
    let status = ws.status(&["--set", "source.lang=xx"]);
    let reasons = |stage: &str| status.iter().find(|s| s.0 == stage).unwrap().2.clone();
    assert_eq!(reasons("ingest_source"), ["config `source.lang` changed (\"en\" -> \"xx\")"]);
    assert_eq!(reasons("tokenize_source"), ["input artifact `ingest_source` changed"]);
    assert_eq!(reasons("teacher_ner"), ["never run"]);
    let out = ws.ok(&["run", "stage", "tokenize_source", "--set", "source.lang=xx"]);
    assert!(out.contains("ran 2 stage(s)"), "{out}");

    // An input file's content is part of the key. Reasons are given against the
    // closest earlier artifact (here both the `en` and the `xx` one differ only by it).
    let path = ws.path().join("en/dev.txt");
    let mut data = std::fs::read_to_string(&path).unwrap();
    data.push_str("\nHola O\n");
    std::fs::write(&path, data).unwrap();
    assert_eq!(ws.stage_status("ingest_source", &[]), (false, vec!["input file `source.dev` changed".to_string()]));
    assert_eq!(ws.stage_status("ingest_source", &["--set", "source.lang=xx"]).1, ["input file `source.dev` changed"]);
}

#[test]
fn a_flag_added_later_enters_keys_only_when_on() {
    let ws = Workspace::demo();
    ws.ok(&["run", "stage", "tokenize_source"]);
    ws.ok(&["run", "stage", "tokenize_target"]);
    // Off (the default, or said explicitly) is the behaviour artifacts were made with.
    assert!(ws.stage_status("tokenize_target", &["--set", "target.unspaced=false"]).0);
    let (fresh, reasons) = ws.stage_status("tokenize_target", &["--set", "target.unspaced=true"]);
    assert!(!fresh);
    assert_eq!(reasons, ["config `target.unspaced` changed (unset -> true)"]);
    // Only the side it belongs to.
    assert!(ws.stage_status("tokenize_source", &["--set", "target.unspaced=true"]).0);
    let out = ws.ok(&["run", "stage", "tokenize_target", "--set", "target.unspaced=true"]);
    assert!(out.contains("ran 1 stage(s): tokenize_target"), "{out}");
}

#[test]
fn run_stage_runs_only_what_it_needs_and_force_reruns_it() {
    let ws = Workspace::demo();
    let out = ws.ok(&["run", "stage", "ingest_source"]);
    assert!(out.contains("ran 1 stage(s): ingest_source"), "{out}");
    assert!(!ws.stage_status("tokenize_source", &[]).0);
    let out = ws.ok(&["run", "stage", "tokenize_source"]);
    assert!(out.contains("ran 1 stage(s): tokenize_source; reused 1"), "{out}");
    let out = ws.ok(&["run", "stage", "tokenize_source", "--force"]);
    assert!(out.contains("ran 1 stage(s): tokenize_source"), "{out}");
    let err = ws.fails(&["run", "stage", "distil"]);
    assert!(err.contains("invalid value 'distil'") && err.contains("a similar value exists: 'distill'"), "{err}");
}

#[test]
fn sigkill_mid_stage_leaves_no_half_artifact_and_next_run_completes() {
    let ws = Workspace::demo();
    let mut child = ws.spawn(&["run", "stage", "tokenize_source"], &[("MTMT_TEST_HOLD_STAGE", "tokenize_source")]);
    wait_for_stderr(&mut child, "holding");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    assert_eq!(ws.artifacts("ingest_source").len(), 1, "ingest finished before the kill");
    assert!(ws.artifacts("tokenize_source").is_empty(), "no half-written tokenize artifact is visible");
    assert_eq!(ws.stage_status("tokenize_source", &[]), (false, vec!["never run".to_string()]));

    let out = ws.ok(&["run", "stage", "tokenize_source"]);
    assert!(out.contains("removed") && out.contains("interrupted run"), "{out}");
    assert!(out.contains("ran 1 stage(s): tokenize_source"), "{out}");
    assert!(ws.stage_status("tokenize_source", &["--verify"]).0);
}

#[test]
fn a_run_waits_for_the_artifact_another_run_is_building_and_reuses_it() {
    let ws = Workspace::demo();
    let release = ws.dir.path().join("release-first-run");
    let hold = format!("tokenize_source:{}", release.display());
    let mut first = ws.spawn(&["run", "stage", "tokenize_source"], &[("MTMT_TEST_HOLD_STAGE", hold.as_str())]);
    wait_for_stderr(&mut first, "holding");
    let mut second = ws.spawn(&["run", "stage", "tokenize_source"], &[]);
    let (waiting, rest) = read_stderr_until(&mut second, "another run is building it");
    std::fs::write(&release, "").unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut second.stdout.take().unwrap(), &mut text).unwrap();
    let status = second.wait().unwrap();
    let text = waiting + &rest.join().unwrap() + &text;
    assert!(status.success(), "{text}");
    // The second run found everything built by the first: built once.
    assert!(text.contains("tokenize_source: built by another run; reused"), "{text}");
    assert!(text.contains("nothing to do"), "{text}");
    assert!(first.wait().unwrap().success());
    assert!(ws.stage_status("tokenize_source", &["--verify"]).0);
    assert_eq!(ws.artifacts("tokenize_source").len(), 1);
}

#[test]
fn runs_for_two_targets_share_the_store_and_survive_each_others_kill() {
    let ws = Workspace::demo();
    let target = |lang: &str| {
        ["target.lang", "target.train", "target.test"]
            .iter()
            .zip([lang.to_string(), format!("{lang}/train.txt"), format!("{lang}/test.txt")])
            .flat_map(|(key, value)| ["--set".to_string(), format!("{key}={value}")])
            .collect::<Vec<String>>()
    };
    let args = |lang: &str| [vec!["run".to_string(), "stage".into(), "score_tokens".into()], target(lang)].concat();
    // The de run holds inside the shared recognizer teacher, its files written.
    let (de, nl) = (args("de"), args("nl"));
    let mut first = ws.spawn(&strs(&de), &[("MTMT_TEST_HOLD_STAGE", "teacher_ner")]);
    wait_for_stderr(&mut first, "teacher_ner: holding");
    // The nl run builds its own target text meanwhile, then waits for the teacher.
    let mut second = ws.spawn(&strs(&nl), &[]);
    let (before, rest) = read_stderr_until(&mut second, "teacher_ner: another run is building it");
    assert!(before.contains("tokenize_target: published"), "{before}");
    // kill -9 of the builder: the waiting run takes the teacher over and finishes.
    first.kill().unwrap();
    first.wait().unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut second.stdout.take().unwrap(), &mut out).unwrap();
    let status = second.wait().unwrap();
    let text = before + &rest.join().unwrap() + &out;
    assert!(status.success(), "{text}");
    assert!(text.contains("teacher_ner: removed") && text.contains("left by an interrupted run"), "{text}");
    assert!(text.contains("teacher_ner: published"), "{text}");
    // One teacher for both targets: one artifact, one manifest, one log; the de run reuses it.
    let teachers = ws.artifacts("teacher_ner");
    assert_eq!(teachers.len(), 1, "{teachers:?}");
    assert!(teachers[0].join("manifest.json").exists() && teachers[0].join("stage.log").exists());
    let out = ws.ok(&strs(&de));
    assert!(!out.contains("teacher_ner: running") && out.contains("score_tokens: published"), "{out}");
    assert_eq!(ws.artifacts("teacher_ner").len(), 1);
    assert_eq!(ws.artifacts("tokenize_target").len(), 2, "one per target");
    assert!(
        ws.stage_status(
            "score_tokens",
            &[&target("nl").iter().map(String::as_str).collect::<Vec<_>>()[..], &["--verify"]].concat()
        )
        .0
    );
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn gc_keeps_what_a_running_plan_needs() {
    let ws = Workspace::demo();
    ws.ok(&["run", "stage", "tokenize_source", "--set", "tokenize.max_len=32"]);
    // A run of the max_len = 32 config holds inside a stage; gc under the default config
    // leaves its artifacts (reachable from the running plan) alone.
    let mut running = ws.spawn(
        &["run", "stage", "teacher_ner", "--set", "tokenize.max_len=32"],
        &[("MTMT_TEST_HOLD_STAGE", "teacher_ner")],
    );
    wait_for_stderr(&mut running, "teacher_ner: holding");
    let out = ws.ok(&["gc"]);
    assert!(out.contains("in 0 artifact(s)"), "{out}");
    running.kill().unwrap();
    running.wait().unwrap();
    // Once it is gone, its artifacts and its unpublished build are garbage.
    let out = ws.ok(&["gc"]);
    assert!(out.contains("deleting tokenize_source/") && out.contains("deleting .tmp/teacher_ner"), "{out}");
    assert!(ws.artifacts("tokenize_source").is_empty());
}

#[test]
fn truncated_or_edited_artifacts_are_detected_and_recomputed() {
    let ws = Workspace::demo();
    ws.ok(&["run", "stage", "tokenize_source"]);
    let file = ws.artifacts("tokenize_source")[0].join("encoded_source_train.parquet");

    // Truncation: caught by the cheap size check.
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let (fresh, reasons) = ws.stage_status("tokenize_source", &[]);
    assert!(!fresh);
    assert!(reasons[0].starts_with("artifact corrupt: file `encoded_source_train.parquet` has"), "{reasons:?}");
    let out = ws.ok(&["run", "stage", "tokenize_source"]);
    assert!(out.contains("corrupt") && out.contains("ran 1 stage(s): tokenize_source"), "{out}");
    assert_eq!(std::fs::read(&file).unwrap(), bytes, "recomputed deterministically");

    // Same-size edit: only a rehash sees it.
    let mut edited = bytes.clone();
    let middle = edited.len() / 2;
    edited[middle] ^= 0xff;
    std::fs::write(&file, &edited).unwrap();
    assert!(ws.stage_status("tokenize_source", &[]).0);
    let (fresh, reasons) = ws.stage_status("tokenize_source", &["--verify"]);
    assert!(!fresh);
    assert!(reasons[0].contains("content differs"), "{reasons:?}");
    let out = ws.ok(&["run", "stage", "tokenize_source", "--verify"]);
    assert!(out.contains("ran 1 stage(s): tokenize_source"), "{out}");

    // A missing manifest makes the artifact invalid.
    std::fs::remove_file(ws.artifacts("ingest_source")[0].join("manifest.json")).unwrap();
    let (fresh, reasons) = ws.stage_status("ingest_source", &[]);
    assert!(!fresh);
    assert_eq!(reasons, ["artifact corrupt: manifest.json is missing"]);
    let out = ws.ok(&["run", "stage", "tokenize_source"]);
    assert!(out.contains("ran 1 stage(s): ingest_source"), "{out}");
}

#[test]
fn target_train_table_has_no_tag_column_and_tables_carry_provenance() {
    let ws = Workspace::demo();
    ws.ok(&["run", "stage", "tokenize_source"]);
    ws.ok(&["run", "stage", "tokenize_target"]);
    let out = ws.ok(&["inspect", "sentences_target_train", "--schema"]);
    assert!(out.contains("mtmt.stage: ingest_target"), "{out}");
    assert!(out.contains("tokens: list[str]") && !out.contains("tags:"), "{out}");
    let out = ws.ok(&["inspect", "sentences_source_train", "--schema"]);
    assert!(out.contains("tags: list[str]"), "{out}");

    let out = ws.ok(&[
        "inspect",
        "sentences_source_train",
        "--filter",
        "sentence_id < 5",
        "--sort",
        "sentence_id",
        "--desc",
        "--head",
        "2",
    ]);
    assert!(out.contains("shape: (5, 6)"), "{out}");
    // Columns narrow what is shown, after the filter has seen them all.
    let out = ws.ok(&["inspect", "sentences_source_train", "--filter", "sentence_id < 5", "--columns", "tokens,tags"]);
    assert!(out.contains("shape: (5, 2)") && out.contains("tags") && !out.contains("sentence_id"), "{out}");
    let err = ws.fails(&["inspect", "sentences_source_train", "--columns", "gold"]);
    assert!(err.contains("has no column `gold`") && err.contains("sentence_id, "), "{err}");
    // A column a sort or a filter names is missing: said once, with the file, without the
    // query plan polars wraps around the cause.
    let err = ws.fails(&["inspect", "sentences_source_train", "--sort", "gold"]);
    assert!(err.contains("has no column `gold`") && err.contains("sentence_id, "), "{err}");
    let err = ws.fails(&["inspect", "sentences_source_train", "--filter", "gold = 'B-PER'"]);
    assert!(err.contains("sentences_source_train.parquet: --filter `gold = 'B-PER'`"), "{err}");
    assert_eq!(err.matches("unable to find column \"gold\"").count(), 1, "{err}");
    assert!(!err.contains("plan"), "{err}");
    // A path works too, and an unknown name lists the known outputs.
    let file = ws.artifacts("tokenize_target")[0].join("encoded_target_test.parquet");
    let out = ws.ok(&["inspect", file.to_str().unwrap()]);
    assert!(out.contains("mtmt.stage: tokenize_target") && out.contains("shape: (60, 6)"), "{out}");
    // --head rows are all shown (polars alone would elide all but 10).
    let out = ws.ok(&["inspect", file.to_str().unwrap(), "--columns", "sentence_id", "--head", "20"]);
    let rows = out.lines().filter(|l| l.trim_matches(|c| c == '│' || c == ' ').parse::<u32>().is_ok()).count();
    assert_eq!(rows, 20, "{out}");
    assert!(out.contains("first 20 rows") && !out.contains('…'), "{out}");
    let err = ws.fails(&["inspect", "pseudo_label"]);
    assert!(err.contains("encoded_target_train"), "{err}");
}

#[test]
fn inspect_of_an_unbuilt_output_says_which_stage_to_run() {
    let ws = Workspace::demo();
    let err = ws.fails(&["inspect", "encoded_source_train"]);
    assert!(err.contains("run `mtmt-pipe run stage tokenize_source` first"), "{err}");
}

#[test]
fn gc_deletes_only_artifacts_unreachable_from_the_config() {
    let ws = Workspace::demo();
    ws.ok(&["run", "stage", "tokenize_source", "--set", "tokenize.max_len=32"]);
    ws.ok(&["run", "stage", "tokenize_source"]);
    assert_eq!(ws.artifacts("tokenize_source").len(), 2);
    // A stray file beside the artifacts is neither an artifact nor a reason to fail.
    std::fs::write(ws.store().join("tokenize_source/notes.txt"), "mine").unwrap();
    let dry = ws.ok(&["gc", "--dry-run"]);
    assert!(dry.contains("would delete tokenize_source/") && dry.contains("would free"), "{dry}");
    assert_eq!(ws.artifacts("tokenize_source").len(), 3, "two artifacts and the stray file");
    let out = ws.ok(&["gc"]);
    assert!(out.contains("freed") && out.contains("in 1 artifact(s)"), "{out}");
    assert_eq!(ws.artifacts("tokenize_source").len(), 2, "the artifact and the stray file");
    assert!(ws.store().join("tokenize_source/notes.txt").exists());
    assert!(ws.ok(&["run", "stage", "tokenize_source"]).contains("nothing to do"));
    // A stage folder that links elsewhere is not followed: what it points to is not the store's.
    let outside = ws.path().join("outside/some-key");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("precious.txt"), "mine").unwrap();
    std::os::unix::fs::symlink(ws.path().join("outside"), ws.store().join("teacher_sim")).unwrap();
    ws.ok(&["gc"]);
    assert!(outside.join("precious.txt").exists(), "gc deleted through a symbolic link");
}

#[test]
fn gc_refuses_a_folder_that_is_not_a_store() {
    let ws = Workspace::demo();
    // A data folder: language folders two levels down, as the benchmark folder has.
    let data = ws.path().join("data");
    std::fs::create_dir_all(data.join("conll2002/es")).unwrap();
    std::fs::write(data.join("conll2002/es/train.txt"), "Hola O\n").unwrap();
    let err = ws.fails(&["gc", "--store", "data"]);
    assert!(err.contains("data: not an mtmt-pipe store"), "{err}");
    assert!(data.join("conll2002/es/train.txt").exists());
    // Nor does `status` on it make it one.
    ws.ok(&["status", "--store", "data"]);
    assert!(ws.fails(&["gc", "--store", "data"]).contains("not an mtmt-pipe store"));
    // A store path that is a file, or lies under one, is named with the file.
    for store in ["pipeline.toml", "pipeline.toml/store"] {
        let err = ws.fails(&["run", "stage", "ingest_source", "--store", store]);
        assert!(err.contains("pipeline.toml is a file"), "{store}: {err}");
    }
}

#[test]
fn config_errors_are_clear() {
    let ws = Workspace::demo();
    // Each cause once: fs-err's message names the file, the OS error follows once.
    let err = ws.fails(&["status", "--config", "missing.toml"]);
    assert_eq!(err.matches("missing.toml").count(), 1, "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    // Values are checked before anything runs, and the --set that set one is blamed.
    let err = ws.fails(&["dag", "--set", "teacher_ner.dropout=1.5"]);
    assert!(err.contains("--set teacher_ner.dropout=1.5: `teacher_ner.dropout` is 1.5: must lie in [0, 1)"), "{err}");
    let err = ws.fails(&["run", "all", "--set", "teacher_ner.epochs=-1"]);
    assert!(err.contains("--set teacher_ner.epochs=-1: expected an integer of 0 or more"), "{err}");
    assert!(!ws.store().exists(), "nothing ran");
    let err = ws.fails(&["run", "stage", "teacher"]);
    assert!(err.contains("teacher_ner") && err.contains("possible values"), "clap offers the stages: {err}");
    let err = ws.fails(&["status", "--set", "tokenize.maxlen=3"]);
    assert!(err.contains("unknown config key `tokenize.maxlen`") && err.contains("tokenize.max_len"), "{err}");
    let err = ws.fails(&["config", "--set", "tokenize.max_len=big"]);
    assert!(err.contains("expected an integer"), "{err}");
    let out = ws.ok(&["config", "--set", "tokenize.max_len=77"]);
    assert!(out.contains("max_len = 77"), "{out}");
    ws.edit_config("lang = \"es\"", "lang = \"es\"\ncolour = 1");
    let err = ws.fails(&["config"]);
    assert!(err.contains("unknown field `colour`"), "{err}");
}

#[test]
fn bad_input_names_file_and_line_and_publishes_nothing() {
    let ws = Workspace::demo();
    let path = ws.path().join("en/dev.txt");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\nParis B-CITY\n");
    std::fs::write(&path, &text).unwrap();
    let line = text.lines().count();
    let err = ws.fails(&["run", "all"]);
    assert!(err.contains(&format!("en/dev.txt:{line}: tag `B-CITY`: type `CITY` is not one of the labels")), "{err}");
    assert!(err.contains("source.tag_map = { CITY = "), "the fix is named: {err}");
    assert_eq!(err.matches("B-CITY").count(), 1, "said once: {err}");
    assert!(ws.artifacts("ingest_source").is_empty());
    assert!(!ws.store().join(".tmp").read_dir().is_ok_and(|mut d| d.next().is_some()), "staging cleaned");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let ws = Workspace::demo();
    let mut child = ws.spawn(&["dag"], &[]);
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Ended by SIGPIPE as Unix tools are (or done before the pipe closed), saying nothing.
    use std::os::unix::process::ExitStatusExt;
    assert!(out.status.success() || out.status.signal() == Some(libc::SIGPIPE), "{:?}: {stderr}", out.status);
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn dag_lists_every_stage_with_inputs_and_outputs() {
    let ws = Workspace::demo();
    let out = ws.ok(&["dag"]);
    for stage in [
        "ingest_source",
        "tokenize_target",
        "teacher_ner",
        "teacher_sim",
        "score_pairs",
        "weights",
        "distill",
        "evaluate",
    ] {
        assert!(out.contains(&format!("{stage} (v")), "{stage} missing:\n{out}");
    }
    assert!(out.contains("inputs:  ingest_source") && out.contains("files:   encoder.tokenizer"), "{out}");
    // Under `direct`, no student: the similarity teacher and distillation are not needed.
    let out = ws.ok(&["dag", "--set", "method=direct"]);
    assert!(out.contains("teacher_sim (v1): siamese entity-similarity teacher trained on source word pairs (MTMT only) [not needed by this config]"), "{out}");
}

#[test]
fn training_killed_mid_stage_resumes_from_its_checkpoint_to_the_same_model() {
    let straight = Workspace::demo();
    straight.ok(&["run", "stage", "teacher_ner"]);
    let want = straight.manifest("teacher_ner")["files"]["model.safetensors"]["blake3"].clone();

    let ws = Workspace::demo();
    let mut child = ws.spawn(&["run", "stage", "teacher_ner"], &[]);
    // Wait until a mid-training checkpoint (after step 2 of 4) is committed, then SIGKILL.
    let resume = ws.store().join(".resume");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let step = std::fs::read_dir(&resume)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read_to_string(e.ok()?.path().join("checkpoint.json")).ok())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["step"].as_i64());
        if step.is_some_and(|s| s >= 2) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ws.artifacts("teacher_ner").is_empty());
    // `status` says the run will not start over.
    let (fresh, reasons) = ws.stage_status("teacher_ner", &[]);
    assert!(!fresh && reasons.iter().any(|r| r.contains("left a checkpoint: `run` resumes at step")), "{reasons:?}");

    let out = ws.ok(&["run", "stage", "teacher_ner"]);
    assert!(out.contains("resuming from the checkpoint at step"), "{out}");
    // Progress counts on from the checkpoint: only the steps left are this run's.
    let number_after = |prefix: &str| -> u64 {
        let at = out.find(prefix).unwrap_or_else(|| panic!("no `{prefix}`:\n{out}")) + prefix.len();
        out[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    let resumed_at = number_after("resuming from the checkpoint at step ");
    let total: u64 = {
        let at = out.find(" steps; ").unwrap_or_else(|| panic!("no step count:\n{out}"));
        out[..at].rsplit(' ').next().unwrap().parse().unwrap()
    };
    let done = out.lines().find(|l| l.contains("training steps: ") && l.contains(" in ")).expect("the closing line");
    let done: u64 = done.split("training steps: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert_eq!(done, total - resumed_at, "{out}");
    assert!(out.contains("ran 1 stage(s): teacher_ner"), "{out}");
    assert_eq!(ws.manifest("teacher_ner")["files"]["model.safetensors"]["blake3"], want, "resumed model differs");
    assert!(!resume.join(format!("teacher_ner-{}", ws.manifest("teacher_ner")["key"].as_str().unwrap())).exists());
}

#[test]
fn predict_and_export_tag_as_the_tool_does_and_bad_input_is_named() {
    let ws = Workspace::demo();
    let err = ws.fails(&["predict", "--model", "distill", "-"]);
    assert!(err.contains("`distill` is not built for the current config: run `mtmt-pipe run stage distill`"), "{err}");
    // A teacher that has seen enough of the demo to find entities (the workspace's sees 32
    // sentences once).
    ws.edit_config(
        "[teacher_ner]\nepochs = 1\nbatch_size = 8\nmax_sentences = 32",
        "[teacher_ner]\nepochs = 3\nbatch_size = 16\nmax_sentences = 0",
    );
    ws.ok(&["run", "stage", "teacher_ner"]);

    // Its training curve: a row per step (3 epochs of 320 sentences in batches of 16),
    // drawn by `curves`.
    let curve = mtmt_pipe::table::read(&ws.artifacts("teacher_ner")[0].join("curve.parquet")).unwrap();
    assert_eq!(curve.get_column_names(), ["step", "epoch", "loss", "lr", "tokens_per_s", "source_dev_f1"]);
    assert_eq!(curve.height(), 60);
    // The source-dev F1 after each of the 3 epochs, on each epoch's last step.
    let dev = curve.column("source_dev_f1").unwrap();
    assert_eq!(dev.len() - dev.null_count(), 3);
    let out = ws.ok(&["curves", "--out", "curves.png"]);
    assert!(out.contains("wrote curves.png (teacher_ner)"), "{out}");
    assert!(std::fs::read(ws.path().join("curves.png")).unwrap().starts_with(b"\x89PNG"));

    let long = "palabra ".repeat(200);
    let text = format!("Ángel Pérez vive en Nueva York .\n\nEl Real Madrid ganó en Barcelona .\n{long}\n");
    std::fs::write(ws.path().join("in.txt"), &text).unwrap();
    let out = ws.run(&["predict", "--model", "teacher_ner", "in.txt"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in.txt:4: ") && stderr.contains("past 128 subwords"), "truncation is reported: {stderr}");
    assert!(stderr.contains("tagged 4 sentences"), "{stderr}");
    let lines: Vec<&str> = text.lines().collect();
    let records: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 4, "one record per input line, the blank one included");
    for (record, line) in records.iter().zip(&lines) {
        let tokens = record["tokens"].as_array().unwrap();
        assert_eq!(tokens.len(), line.split_whitespace().count());
        assert_eq!(record["tags"].as_array().unwrap().len(), tokens.len());
        for e in record["entities"].as_array().unwrap() {
            let (start, end) = (e["start"].as_u64().unwrap() as usize, e["end"].as_u64().unwrap() as usize);
            let span: String = line.chars().skip(start).take(end - start).collect();
            assert_eq!(e["text"].as_str().unwrap(), span, "offsets point into the line");
            assert!((0.0..=1.0).contains(&e["score"].as_f64().unwrap()));
        }
    }
    assert!(records.iter().any(|r| !r["entities"].as_array().unwrap().is_empty()), "{records:?}");
    // Past ten, cut sentences are counted in one line, not named one by one.
    std::fs::write(ws.path().join("long.txt"), format!("{long}\n").repeat(12)).unwrap();
    let out = ws.run(&["predict", "--model", "teacher_ner", "long.txt"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("word(s) past 128 subwords").count(), 10, "{stderr}");
    assert!(stderr.contains("long.txt:10: ") && !stderr.contains("long.txt:11: "), "{stderr}");
    assert!(stderr.contains("12 sentences in all had words past 128 subwords"), "{stderr}");

    // Raw text: punctuation is split off, so entities hold none and their offsets slice the line.
    let raw = "El Gobierno, con sede en Lisboa, habló con \"Telefónica\" (España).";
    std::fs::write(ws.path().join("raw.txt"), raw).unwrap();
    let out = ws.ok(&["predict", "--model", "teacher_ner", "raw.txt"]);
    let record: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let tokens: Vec<&str> = record["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(tokens[..6], ["El", "Gobierno", ",", "con", "sede", "en"], "{tokens:?}");
    assert!(
        tokens.contains(&"Telefónica") && tokens.contains(&"España") && tokens.ends_with(&[")", "."]),
        "{tokens:?}"
    );
    for e in record["entities"].as_array().unwrap() {
        let (start, end) = (e["start"].as_u64().unwrap() as usize, e["end"].as_u64().unwrap() as usize);
        let text = e["text"].as_str().unwrap();
        assert_eq!(raw.chars().skip(start).take(end - start).collect::<String>(), text);
        assert!(!text.starts_with(|c: char| c.is_ascii_punctuation()), "{text}");
        assert!(!text.ends_with(|c: char| c.is_ascii_punctuation()), "{text}");
    }

    // CoNLL in (labels ignored), CoNLL out: a word and a tag per line, a blank line per sentence.
    let out =
        ws.run(&["predict", "--model", "teacher_ner", "--input-format", "conll", "--format", "conll", "es/test.txt"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let gold = std::fs::read_to_string(ws.path().join("es/test.txt")).unwrap();
    let sentences = gold.split("\n\n").filter(|b| !b.trim().is_empty()).count();
    let predicted = String::from_utf8_lossy(&out.stdout);
    assert_eq!(predicted.split("\n\n").filter(|b| !b.trim().is_empty()).count(), sentences);
    assert!(predicted.lines().filter(|l| !l.is_empty()).all(|l| l.split('\t').count() == 2), "{predicted}");

    // The export loads in transformers with no extra argument and agrees with the tool: the
    // same tokenization, label distributions within 1e-4, the same top labels.
    let out = ws.run(&["predict", "--model", "teacher_ner", "--input-format", "conll", "--probs", "es/test.txt"]);
    assert!(out.status.success(), "{}", common::text(&out));
    std::fs::write(ws.path().join("ours.jsonl"), &out.stdout).unwrap();
    ws.ok(&["export", "teacher_ner", "exported"]);
    let card = std::fs::read_to_string(ws.path().join("exported/README.md")).unwrap();
    assert!(card.contains("Method: `Mtmt`") && card.contains("teacher_ner"), "{card}");
    let err = ws.fails(&["export", "teacher_ner", "exported"]);
    assert!(err.contains("exists and is not empty"), "{err}");
    common::export_parity(&ws.path().join("exported"), &ws.path().join("ours.jsonl"), "BertForTokenClassification");

    // Bad input is named with its line.
    std::fs::write(ws.path().join("bad.txt"), b"una frase\nmal \xff codificada\n").unwrap();
    let err = ws.fails(&["predict", "--model", "teacher_ner", "bad.txt"]);
    assert!(err.contains("bad.txt:2: invalid UTF-8"), "{err}");
    std::fs::write(ws.path().join("empty.txt"), "\n\n").unwrap();
    let err = ws.fails(&["predict", "--model", "teacher_ner", "empty.txt"]);
    assert!(err.contains("empty.txt: no sentence to tag"), "{err}");
    // A plain file told to be CoNLL is refused, not read as one long sentence of first words.
    let err = ws.fails(&["predict", "--model", "teacher_ner", "--input-format", "conll", "in.txt"]);
    assert!(err.contains("in.txt:4: ") && err.contains("--input-format text"), "{err}");

    a_language_of_ones_own(&ws);
}

/// A language the project has no config for, as a user brings it: the unlabeled corpus as
/// plain text (punctuation attached to words), the test set as CoNLL-U with a finer tag set
/// (NorNE's GPE_LOC and PROD), a tag map onto the labels; to a TSL student that shares the
/// workspace's trained teacher, and `predict` on raw sentences.
fn a_language_of_ones_own(ws: &Workspace) {
    let read = |f: &str| std::fs::read_to_string(ws.path().join(f)).unwrap();
    let blocks = |text: &str| -> Vec<Vec<(String, String)>> {
        text.split("\n\n")
            .filter(|b| !b.trim().is_empty())
            .map(|b| b.lines().map(|l| l.split_once(' ').map(|(w, t)| (w.into(), t.into())).unwrap()).collect())
            .collect()
    };
    // Running text as people write it: no space before , . ) and after (.
    let sentence_text = |words: &[(String, String)]| {
        let mut text = String::new();
        for (w, _) in words {
            if !text.is_empty() && ![",", ".", ")", ":", ";"].contains(&w.as_str()) && !text.ends_with('(') {
                text.push(' ');
            }
            text.push_str(w);
        }
        text
    };
    let train = blocks(&read("es/train.txt"));
    let raw: String = train.iter().map(|s| sentence_text(s) + "\n").collect();
    std::fs::create_dir_all(ws.path().join("nb")).unwrap();
    std::fs::write(ws.path().join("nb/raw.txt"), &raw).unwrap();
    let test = blocks(&read("es/test.txt"));
    let finer = |tag: &str| tag.replace("LOC", "GPE_LOC").replace("MISC", "PROD");
    let mut conllu = String::new();
    for (i, words) in test.iter().enumerate() {
        conllu += &format!("# sent_id = {i}\n# text = {}\n", sentence_text(words));
        for (k, (w, t)) in words.iter().enumerate() {
            conllu += &format!("{}\t{w}\t{w}\tX\t_\t_\t0\tdep\t_\tname={}\n", k + 1, finer(t));
        }
        conllu += "\n";
    }
    std::fs::write(ws.path().join("nb/test.conllu"), conllu).unwrap();
    let count = |ty: &str| test.iter().flatten().filter(|(_, t)| *t == format!("B-{ty}")).count();
    let config = read("pipeline.toml").replace(
        "[target]\nlang = \"es\"\ntrain = \"es/train.txt\"\ntest = \"es/test.txt\"",
        "[target]\nlang = \"nb\"\ntrain = \"nb/raw.txt\"\ntest = \"nb/test.conllu\"\n\
         tag_map = { GPE_LOC = \"LOC\", PROD = \"MISC\" }",
    );
    std::fs::write(ws.path().join("nb.toml"), config).unwrap();

    let nb = ["--config", "nb.toml", "--set", "method=tsl", "--set", "distill.epochs=5"];
    let out = ws.ok(&[&["run", "all"], &nb[..]].concat());
    let ran = out.lines().find(|l| l.starts_with("ran ")).unwrap_or_default();
    assert!(ran.contains("ingest_target") && !ran.contains("teacher_ner"), "the source's teacher is shared: {out}");
    let manifests: Vec<serde_json::Value> = ws
        .artifacts("ingest_target")
        .iter()
        .map(|a| serde_json::from_str(&std::fs::read_to_string(a.join("manifest.json")).unwrap()).unwrap())
        .collect();
    let summary = &manifests.iter().find(|m| m["summary"]["target_test"]["format"] == "conllu").unwrap()["summary"];
    assert_eq!(summary["target_train"]["format"], "text", "the plain text is detected");
    assert_eq!(summary["target_train"]["sentences"], train.len(), "one sentence per line, not one in all");
    // Punctuation split off as the CoNLL tokens had it (and `3-1` into three words).
    let words: usize = raw.lines().map(|l| mtmt_pipe::corpus::words::split(l, false).len()).sum();
    assert_eq!(summary["target_train"]["tokens"], words);
    assert!(words >= train.iter().map(Vec::len).sum::<usize>());
    assert_eq!(summary["target_test"]["mapped"]["GPE_LOC -> LOC"], count("LOC"));
    assert_eq!(summary["target_test"]["mapped"]["PROD -> MISC"], count("MISC"));
    let report = std::fs::read_to_string(ws.artifacts("evaluate").last().unwrap().join("report.md")).unwrap();
    assert!(report.contains("GPE_LOC -> LOC"), "the report says what was mapped: {report}");

    // Raw sentences in, entities out: offsets slice the input, no punctuation inside.
    let lines: Vec<String> = test.iter().take(20).map(|s| sentence_text(s)).collect();
    std::fs::write(ws.path().join("nb/new.txt"), lines.join("\n")).unwrap();
    let out = ws.run(&[&["predict", "--model", "distill", "nb/new.txt"], &nb[..]].concat());
    assert!(out.status.success(), "{}", common::text(&out));
    let mut entities = 0;
    for (record, line) in String::from_utf8_lossy(&out.stdout).lines().zip(&lines) {
        let record: serde_json::Value = serde_json::from_str(record).unwrap();
        for e in record["entities"].as_array().unwrap() {
            let (start, end) = (e["start"].as_u64().unwrap() as usize, e["end"].as_u64().unwrap() as usize);
            let text = e["text"].as_str().unwrap();
            assert_eq!(line.chars().skip(start).take(end - start).collect::<String>(), text, "{line}");
            assert!(!text.ends_with(|c: char| c.is_ascii_punctuation()), "{text} in {line}");
            entities += 1;
        }
    }
    assert!(entities >= 5, "the student finds entities in its language's raw text: {entities}");
}
