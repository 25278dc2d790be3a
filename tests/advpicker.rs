//! AdvPicker end to end on the demo corpus (tiny models, trained once): the adversarial
//! teacher, the selection table users open, the student on the kept sentences, the
//! report; and gold target tags cannot reach the teacher, the selection or the student.

mod common;

use common::Workspace;
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
    for (stage, file) in [
        ("teacher_adv", "model.safetensors"),
        ("teacher_adv", "discriminator.safetensors"),
        ("select", "selection.parquet"),
        ("distill", "model.safetensors"),
    ] {
        let dirs = ws.artifacts(stage);
        assert_eq!(dirs.len(), 2, "{stage}: a second artifact (new key: the target file changed)");
        let bytes: Vec<Vec<u8>> = dirs.iter().map(|d| std::fs::read(d.join(file)).unwrap()).collect();
        if file.ends_with(".parquet") {
            let tables: Vec<_> = dirs.iter().map(|d| table::read(&d.join(file)).unwrap()).collect();
            assert!(tables[0].equals_missing(&tables[1]), "{stage}/{file} depends on gold target tags");
        } else {
            assert!(bytes[0] == bytes[1], "{stage}/{file} depends on gold target tags");
        }
    }
}
