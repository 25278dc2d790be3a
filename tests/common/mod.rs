//! Integration-test harness: a temporary workspace holding a pipeline config that
//! points at the repo's demo corpus and encoder files, and helpers that run the
//! `mtmt-pipe` binary in it and read its store.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_mtmt-pipe");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file of the default encoder, which set-up fetches and converts (run `scripts/setup.sh`).
pub fn encoder_file(name: &str) -> PathBuf {
    let path = repo().join("models/multilingual-e5-small").join(name);
    assert!(path.exists(), "{} is missing: run `bash scripts/setup.sh` first", path.display());
    path
}

pub fn tokenizer() -> PathBuf {
    encoder_file("tokenizer.json")
}

pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    /// A workspace whose `pipeline.toml` is the demo config with absolute encoder paths
    /// and models small enough for tests (teachers on 32 sentences, 4 steps, a
    /// checkpoint each for the recognizer; a student of a few steps).
    pub fn demo() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let demo = repo().join("examples/demo");
        for lang in ["en", "es", "de", "nl"] {
            std::fs::create_dir_all(dir.path().join(lang)).unwrap();
            for entry in std::fs::read_dir(demo.join(lang)).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), dir.path().join(lang).join(entry.file_name())).unwrap();
            }
        }
        let config = format!(
            "seed = 13\nlabels = [\"PER\", \"ORG\", \"LOC\", \"MISC\"]\n\n[source]\nlang = \"en\"\ntrain = \"en/train.txt\"\ndev = \"en/dev.txt\"\n\n\
             [target]\nlang = \"es\"\ntrain = \"es/train.txt\"\ntest = \"es/test.txt\"\n\n\
             [[sources]]\nlang = \"de\"\ntrain = \"de/train.txt\"\n\n[[sources]]\nlang = \"nl\"\ntrain = \"nl/train.txt\"\n\n\
             [encoder]\ntokenizer = {:?}\nweights = {:?}\nconfig = {:?}\n\n[tokenize]\nmax_len = 128\n\n\
             [teacher_ner]\nepochs = 1\nbatch_size = 8\nmax_sentences = 32\nlr = 3e-4\ncheckpoint_every = 1\n\n\
             [teacher_sim]\nepochs = 1\nbatch_size = 8\nmax_sentences = 32\nlr = 3e-4\n\n\
             [teacher_adv]\nepochs = 1\nbatch_size = 8\nmax_sentences = 32\nlr = 3e-4\n\n\
             [teacher_msd]\nepochs = 1\nbatch_size = 8\nmax_sentences = 32\nlr = 3e-4\n\n\
             [teacher_trans]\nepochs = 1\nbatch_size = 8\nmax_sentences = 32\nlr = 3e-4\n\n\
             [multi_source]\nlr = 1e-2\n\n[sim_pairs]\npairs_per_batch = 16\n\n[score]\ngroup_size = 40\n\n\
             [distill]\nepochs = 1\nbatch_size = 40\nlr = 3e-4\n",
            tokenizer().display().to_string(),
            encoder_file("model.safetensors").display().to_string(),
            encoder_file("config.json").display().to_string(),
        );
        std::fs::write(dir.path().join("pipeline.toml"), config).unwrap();
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.path().join("artifacts")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.path()).args(args).env_remove("MTMT_CONFIG").env_remove("MTMT_STORE");
        cmd
    }

    /// Runs the CLI and returns its output, whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs the CLI, asserts success, returns stdout + stderr.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = text(&out);
        assert!(out.status.success(), "mtmt-pipe {args:?} failed:\n{text}");
        text
    }

    /// Runs the CLI, asserts failure, returns stdout + stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = text(&out);
        assert!(!out.status.success(), "mtmt-pipe {args:?} should have failed:\n{text}");
        text
    }

    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Child {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().unwrap()
    }

    /// A manifest of the stage's only artifact.
    pub fn manifest(&self, stage: &str) -> serde_json::Value {
        let arts = self.artifacts(stage);
        assert_eq!(arts.len(), 1, "{stage} has {} artifacts", arts.len());
        serde_json::from_str(&std::fs::read_to_string(arts[0].join("manifest.json")).unwrap()).unwrap()
    }

    /// `status --json` as (stage, fresh, reasons).
    pub fn status(&self, extra: &[&str]) -> Vec<(String, bool, Vec<String>)> {
        let mut args = vec!["status", "--json"];
        args.extend(extra);
        let out = self.run(&args);
        assert!(out.status.success(), "{}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["stage"].as_str().unwrap().to_string(),
                    s["fresh"].as_bool().unwrap(),
                    s["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect(),
                )
            })
            .collect()
    }

    pub fn stage_status(&self, stage: &str, extra: &[&str]) -> (bool, Vec<String>) {
        let (_, fresh, reasons) = self.status(extra).into_iter().find(|s| s.0 == stage).unwrap();
        (fresh, reasons)
    }

    /// Published artifact directories of a stage.
    pub fn artifacts(&self, stage: &str) -> Vec<PathBuf> {
        let dir = self.store().join(stage);
        let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => vec![],
        };
        out.sort();
        out
    }

    /// Rewrites the target train file with every gold tag replaced (tokens kept): what a
    /// leak-free pipeline must not notice beyond the file's new hash.
    pub fn scramble_target_tags(&self) {
        let path = self.path().join("es/train.txt");
        let scrambled: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .enumerate()
            .map(|(i, line)| match line.split_once(' ') {
                Some((token, _)) => format!("{token} {}\n", ["B-PER", "I-LOC", "O", "B-MISC"][i % 4]),
                None => "\n".to_string(),
            })
            .collect();
        std::fs::write(&path, scrambled).unwrap();
    }

    pub fn edit_config(&self, from: &str, to: &str) {
        let path = self.path().join("pipeline.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "config has no `{from}`");
        std::fs::write(path, text.replace(from, to)).unwrap();
    }
}

/// Runs tests/parity/export_parity.py: the exported `folder` loads in transformers as
/// `architecture` and agrees with the tool's `predict --probs` output `ours`.
pub fn export_parity(folder: &Path, ours: &Path, architecture: &str) {
    let python = repo().join(".venv/bin/python");
    let py = Command::new(&python)
        .arg(repo().join("tests/parity/export_parity.py"))
        .args([folder, ours])
        .arg(architecture)
        .output()
        .unwrap();
    assert!(py.status.success(), "{}{}", String::from_utf8_lossy(&py.stdout), String::from_utf8_lossy(&py.stderr));
}

/// How a training curve's loss terms relate to its loss.
pub enum Terms {
    /// They sum to it (one update of their sum).
    Summed,
    /// The first is the loss (the rest are other updates' losses).
    Separate,
}

/// The loss terms in the curve of the training artifact `dir`, checked against its loss.
pub fn loss_terms(dir: &std::path::Path, terms: Terms) -> Vec<String> {
    let curve = mtmt_pipe::table::read(&dir.join("curve.parquet")).unwrap();
    let names: Vec<String> =
        curve.get_column_names().iter().filter_map(|c| c.strip_prefix("loss_")).map(str::to_string).collect();
    let column = |name: &str| -> Vec<f64> { curve.column(name).unwrap().f64().unwrap().into_no_null_iter().collect() };
    let loss = column("loss");
    let values: Vec<Vec<f64>> = names.iter().map(|n| column(&format!("loss_{n}"))).collect();
    for (step, total) in loss.iter().enumerate() {
        let expected = match terms {
            Terms::Summed => values.iter().map(|v| v[step]).sum::<f64>(),
            Terms::Separate => values[0][step],
        };
        assert!((total - expected).abs() <= 1e-5 * total.abs().max(1.0), "step {step}: {total} vs terms {expected}");
    }
    names
}

/// Direct transfer and TSL, two seeds: once the first cell has tokenized the text, the
/// seed-2 teacher can train beside the seed-1 one.
pub const SMALL_SWEEP_CELLS: &str = r#"
[[target]]
name = "es"
config = "pipeline.toml"

[[method]]
name = "direct"
set = ["method=direct"]

[[method]]
name = "tsl"
set = ["method=tsl"]
"#;

pub fn small_sweep() -> String {
    format!(
        "name = \"jobs\"\nseeds = [1, 2]\nset = [\"eval.teacher=false\", \"distill.max_sentences=40\", \"runtime.threads=1\"]\n{SMALL_SWEEP_CELLS}"
    )
}

/// Test F1 of one cell, from its evaluate artifact.
pub fn cell_f1(ws: &Workspace, method: &str, seed: u64) -> f64 {
    let model = if method == "direct" { "teacher" } else { "student" };
    for dir in ws.artifacts("evaluate") {
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
        let metrics: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
        if metrics["setting"]["method"] == method {
            let seed_of = |stage: &str| -> Option<u64> {
                let key = manifest["inputs"][stage].as_str()?;
                let m: serde_json::Value = serde_json::from_str(
                    &std::fs::read_to_string(ws.store().join(stage).join(key).join("manifest.json")).unwrap(),
                )
                .unwrap();
                m["config"]["seed"].as_u64()
            };
            if seed_of(if method == "direct" { "teacher_ner" } else { "distill" }) == Some(seed) {
                return metrics["metrics"][model]["test"]["overall"]["f1"].as_f64().unwrap();
            }
        }
    }
    panic!("no evaluate artifact for {method} seed {seed}");
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Reads a child's stderr until a line contains `needle`; returns what was read.
pub fn wait_for_stderr(child: &mut Child, needle: &str) -> String {
    let (seen, rest) = read_stderr_until(child, needle);
    // Keep draining in the background so the child never blocks on a full pipe.
    std::thread::spawn(move || rest.join());
    seen
}

/// Reads the child's stderr up to the first line containing `needle`; the rest of
/// it is collected by the returned thread.
pub fn read_stderr_until(child: &mut Child, needle: &str) -> (String, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Read};
    let stderr = child.stderr.take().unwrap();
    let mut reader = BufReader::new(stderr);
    let mut seen = String::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains(needle) {
            let rest = std::thread::spawn(move || {
                let mut rest = String::new();
                reader.read_to_string(&mut rest).unwrap();
                rest
            });
            return (seen, rest);
        }
        line.clear();
    }
    panic!("child ended without printing `{needle}`:\n{seen}");
}
