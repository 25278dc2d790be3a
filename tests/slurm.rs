//! `sweep submit` and `sweep status` against a real single-node Slurm (Debian's
//! slurm-wlm and munge; tests/slurm/cluster.sh starts slurmctld and slurmd on this
//! machine): the demo sweep is submitted with dependencies, a cancelled job shows as
//! failed and is resubmitted, and the finished store reports what a local run reports.
//! Ignored by a plain `cargo test` (it needs Slurm); `.ci/run` installs Slurm and runs it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{cell_f1, small_sweep, Workspace};

/// The test cluster; stopped on drop.
struct Cluster {
    dir: PathBuf,
}

impl Cluster {
    /// Starts one in `dir`, or says why it cannot.
    fn start(dir: &Path) -> Result<Self, String> {
        for program in ["slurmctld", "slurmd", "sbatch", "munged"] {
            let found = Command::new("sh").args(["-c", &format!("command -v {program}")]).output().unwrap();
            if !found.status.success() {
                return Err(format!("`{program}` is not installed (Debian: apt-get install slurm-wlm munge)"));
            }
        }
        let out = Command::new("bash")
            .arg(common::repo().join("tests/slurm/cluster.sh"))
            .arg("start")
            .arg(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "the test cluster did not start: {}", common::text(&out));
        Ok(Self { dir: dir.to_path_buf() })
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("slurm.conf")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ =
            Command::new("bash").arg(common::repo().join("tests/slurm/cluster.sh")).arg("stop").arg(&self.dir).output();
    }
}

// Ignored by a plain `cargo test`, which shows it so; `.ci/run` includes it, and there a
// cluster that cannot start is a failure with its cause, not a quiet pass.
#[test]
#[ignore = "needs Slurm and munge (`scripts/setup.sh --tests` installs them as root)"]
fn a_sweep_submitted_to_slurm_runs_with_dependencies_and_reports_as_a_local_run() {
    let ws = Workspace::demo();
    let cluster = Cluster::start(&ws.path().join("slurm")).unwrap_or_else(|why| panic!("no Slurm cluster: {why}"));
    std::fs::write(ws.path().join("sweep.toml"), small_sweep()).unwrap();
    let slurm = |args: &[&str]| -> String {
        let out = ws.command(args).env("SLURM_CONF", cluster.conf()).output().unwrap();
        let text = common::text(&out);
        assert!(out.status.success(), "{args:?}:\n{text}");
        text
    };

    let dry = slurm(&["sweep", "submit", "sweep.toml", "--dry-run", "--cpus-per-task", "1"]);
    assert!(dry.contains("[2/4] es / tsl / seed 1: would submit") && dry.contains("after job(s) <cell 1>"), "{dry}");
    let script = std::fs::read_to_string(ws.store().join(".slurm/jobs/002.sh")).unwrap();
    assert!(
        script.contains("#SBATCH --cpus-per-task=1") && script.contains("sweep run 'sweep.toml' --cell 2"),
        "{script}"
    );

    let started = Instant::now();
    let out = slurm(&["sweep", "submit", "sweep.toml", "--cpus-per-task", "1"]);
    assert_eq!(out.matches("submitted as job").count(), 4, "{out}");
    // Every later cell waits for the first (the text, the seed-1 teacher), seed 2's student
    // for seed 2's teacher.
    let job = |cell: usize| -> String {
        let line = out.lines().find(|l| l.starts_with(&format!("[{cell}/4]"))).unwrap();
        line.split("submitted as job ").nth(1).unwrap().split(' ').next().unwrap().to_string()
    };
    assert!(out.contains(&format!("[4/4] es / tsl / seed 2: submitted as job {} after job(s) ", job(4))), "{out}");
    let fourth = out.lines().find(|l| l.starts_with("[4/4]")).unwrap();
    assert!(fourth.contains(&job(3)) && fourth.contains(&job(1)), "{out}");

    // Cancelled while it waits: failed; resubmitting sends it alone, after its inputs' jobs.
    let cancel = Command::new("scancel").arg(job(4)).env("SLURM_CONF", cluster.conf()).output().unwrap();
    assert!(cancel.status.success(), "{}", common::text(&cancel));
    let status = slurm(&["sweep", "status", "sweep.toml"]);
    assert!(status.contains(&format!("[4/4] es / tsl / seed 2: failed: job {}", job(4))), "{status}");
    assert!(status.contains("running (job") || status.contains("queued (job"), "{status}");
    let again = slurm(&["sweep", "submit", "sweep.toml", "--cpus-per-task", "1"]);
    assert!(
        again.contains("submitted 1 job(s)") && again.contains("[4/4] es / tsl / seed 2: submitted as job"),
        "{again}"
    );

    let status = loop {
        let status = slurm(&["sweep", "status", "sweep.toml"]);
        if status.contains("4 cells: 4 done") {
            break status;
        }
        assert!(!status.contains("failed"), "{status}");
        assert!(started.elapsed() < Duration::from_secs(900), "not done in 15 minutes:\n{status}");
        std::thread::sleep(Duration::from_secs(2));
    };
    let slurm_time = started.elapsed().as_secs_f64();
    assert!(status.contains("[1/4] es / direct / seed 1: done"), "{status}");

    // The same sweep run here: the same results, cell by cell and in the report.
    let local = Workspace::demo();
    std::fs::write(local.path().join("sweep.toml"), small_sweep()).unwrap();
    let started = Instant::now();
    local.ok(&["sweep", "run", "sweep.toml"]);
    eprintln!("the tiny sweep: {slurm_time:.0}s submitted to Slurm, {:.0}s run here", started.elapsed().as_secs_f64());
    for (method, seed) in [("direct", 1), ("tsl", 1), ("direct", 2), ("tsl", 2)] {
        assert_eq!(cell_f1(&ws, method, seed), cell_f1(&local, method, seed), "{method} seed {seed}");
    }
    let table = |ws: &Workspace| {
        ws.ok(&["sweep", "report", "sweep.toml", "--out", "out"]);
        let md = std::fs::read_to_string(ws.path().join("out/results.md")).unwrap();
        md.lines()
            .filter(|l| l.starts_with("| es | "))
            .map(|l| l.split(" | ").take(4).collect::<Vec<_>>().join(" | "))
            .collect::<Vec<_>>()
    };
    let ours = table(&ws);
    assert!(ours.len() >= 2, "{ours:?}");
    assert_eq!(ours, table(&local));
}
