//! Command-line interface: clap definitions only; `commands` carries them out.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "mtmt-pipe", version, about = "Cross-lingual NER by multi-teacher distillation, as a cached pipeline")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Pipeline config file.
    #[arg(long, global = true, env = "MTMT_CONFIG", default_value = "pipeline.toml")]
    pub config: PathBuf,
    /// Artifact store directory.
    #[arg(long, global = true, env = "MTMT_STORE", default_value = "artifacts")]
    pub store: PathBuf,
    /// Override a config value, e.g. `--set tokenize.max_len=64` (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// More output (repeatable).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output (repeatable).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline, reusing every fresh artifact.
    Run {
        #[command(subcommand)]
        what: RunWhat,
        /// Rehash reused artifacts' files instead of checking their sizes.
        #[arg(long, global = true)]
        verify: bool,
    },
    /// Say for each stage whether it is fresh, and if not, why.
    Status {
        #[arg(long)]
        json: bool,
        /// Rehash artifact files instead of checking their sizes.
        #[arg(long)]
        verify: bool,
    },
    /// Show the stage graph with each stage's inputs, config keys and outputs.
    Dag,
    /// Show a Parquet artifact: a stage output name (e.g. `sentences_target_train`) or a path.
    Inspect(InspectArgs),
    /// Delete artifacts not reachable from the current config.
    Gc {
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the fully resolved config.
    Config {
        #[arg(long)]
        json: bool,
    },
    /// Check the installation: libtorch, threads, CUDA.
    Doctor,
    /// Convert the default encoder's E5S1 file into `model.safetensors` + `config.json` (HF BERT).
    ConvertEncoder {
        /// The E5S1 file (e5-small-q4.bin).
        src: PathBuf,
        /// Output folder.
        out_dir: PathBuf,
    },
    /// Score a CoNLL file whose last two columns are gold and predicted tags (conlleval).
    Conlleval { file: PathBuf },
    /// Tag text with a trained model: JSON Lines (tokens, tags, entities with character
    /// offsets) or CoNLL, on stdout.
    Predict {
        /// Input files (`-` or none: stdin): plain text (one sentence per line), CoNLL,
        /// CoNLL-U, JSON Lines or Parquet (HF datasets' `tokens`).
        inputs: Vec<PathBuf>,
        /// A stage of the current config that trains a model (`distill`, `teacher_ner`, ...)
        /// or an artifact key.
        #[arg(long, default_value = "distill")]
        model: String,
        /// `auto`: detected from the content; `text`: one sentence per line, split at Unicode
        /// word boundaries, punctuation apart (every character a word where
        /// `target.unspaced`); `conll`, `conllu`, `jsonl`, `parquet`: their tokens, labels ignored.
        #[arg(long = "input-format", value_enum, default_value = "auto")]
        input: crate::predict::InputFormat,
        /// `jsonl`: one record per sentence; `conll`: word and tag per line.
        #[arg(long = "format", value_enum, default_value = "jsonl")]
        output: crate::predict::OutputFormat,
        /// Add each word's label distribution (`probs`) to the JSON records.
        #[arg(long)]
        probs: bool,
        /// The encoder's dense products in bfloat16 (as `eval.bf16`): faster where the
        /// hardware has bf16 units, floats a little off f32's.
        #[arg(long)]
        bf16: bool,
    },
    /// MTMT's case study without labels: where the recognizer gives a pair's words two
    /// types and the similarity teacher calls them alike, which type the student takes
    /// (gold only in the last columns).
    Neighbours {
        /// Also write one row per word to this Parquet file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Plot the training loss per step of the config's built training stages as a PNG.
    Curves {
        /// Only these stages (default: every training stage the config needs).
        stages: Vec<crate::stage_name::StageName>,
        /// The PNG file.
        #[arg(long, default_value = "curves.png")]
        out: PathBuf,
    },
    /// Write a trained model as a folder transformers loads (config.json, model.safetensors,
    /// tokenizer files, a model card).
    Export {
        /// A stage of the current config that trains a model (`distill`, `teacher_ner`, ...)
        /// or an artifact key.
        model: String,
        /// The new folder.
        out: PathBuf,
    },
    /// Run a grid of targets x methods x seeds on the shared store, or report on it.
    Sweep {
        #[command(subcommand)]
        what: SweepWhat,
    },
    /// Measure throughput on this machine with the config's data.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Ingest + tokenize of the source train split (sentences/s).
    Data,
    /// Teacher fine-tuning and inference tokens/s with a per-phase split of the training
    /// step, beside two PyTorch references on the same batches (HF eager, a lean loop).
    Train {
        /// Training steps to time (batches of the first epoch).
        #[arg(long, default_value_t = 30)]
        steps: usize,
        /// Python with torch and transformers for the comparison.
        #[arg(long, default_value = ".venv/bin/python")]
        python: PathBuf,
        /// Skip the PyTorch comparisons.
        #[arg(long)]
        no_compare: bool,
        /// perf's control and acknowledgement fifos (`perf record -D -1 --control
        /// fifo:CTL,ACK`): the timed training steps enable the recording and disable it after,
        /// so that the profile is theirs alone (`scripts/profile-step.sh`).
        #[arg(long, num_args = 2, value_names = ["CTL", "ACK"])]
        perf_control: Option<Vec<PathBuf>>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SweepWhat {
    /// Run every cell (reusing finished ones: an interrupted sweep resumes), with an ETA.
    Run {
        /// The sweep file (see sweeps/).
        file: PathBuf,
        /// List what each cell would run, and the estimate, without running.
        #[arg(long)]
        dry_run: bool,
        /// Only the cells of this seed (repeatable): e.g. one seed of every sweep first.
        #[arg(long = "seed", value_name = "SEED")]
        seeds: Vec<u64>,
        /// Cells run at once, each in a process of its own with its share of the cores; a
        /// cell waits for the cells building the teachers it needs.
        #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        jobs: usize,
        /// GPUs the jobs split between them, e.g. `0,1` (job k sees one, by
        /// CUDA_VISIBLE_DEVICES); without it every job sees every device.
        #[arg(long, value_delimiter = ',', value_name = "IDS")]
        gpus: Vec<String>,
        /// Only cell K (1-based, in the order of the sweep's cells): what a job runs.
        #[arg(long, value_name = "K")]
        cell: Option<usize>,
        #[command(flatten)]
        carry: Carry,
    },
    /// Submit the cells with something left to do as Slurm jobs (teachers' jobs first, by
    /// dependencies); again, it skips finished cells and cells whose job is queued or running.
    Submit {
        /// The sweep file (see sweeps/).
        file: PathBuf,
        /// Only the cells of this seed (repeatable).
        #[arg(long = "seed", value_name = "SEED")]
        seeds: Vec<u64>,
        /// Write the job scripts and list what would be submitted, without submitting.
        #[arg(long)]
        dry_run: bool,
        /// Slurm partition.
        #[arg(long)]
        partition: Option<String>,
        /// Wall-time limit per job, in Slurm's format (e.g. 4:00:00).
        #[arg(long)]
        time: Option<String>,
        /// CPUs per job (libtorch threads follow).
        #[arg(long)]
        cpus_per_task: Option<usize>,
        /// GPUs per job.
        #[arg(long)]
        gpus_per_task: Option<usize>,
        /// A further `#SBATCH` option, verbatim (repeatable), e.g. `--sbatch=--mem=16G`.
        #[arg(long = "sbatch", value_name = "OPTION", allow_hyphen_values = true)]
        sbatch: Vec<String>,
        #[command(flatten)]
        carry: Carry,
    },
    /// Where each cell stands: done, queued, running, failed or not submitted (Slurm), or
    /// what it has left to do.
    Status {
        /// The sweep file (see sweeps/).
        file: PathBuf,
        /// Only the cells of this seed (repeatable).
        #[arg(long = "seed", value_name = "SEED")]
        seeds: Vec<u64>,
        #[command(flatten)]
        carry: Carry,
    },
    /// Aggregate finished cells into results.md, results.parquet, runs.parquet and plots.
    Report {
        /// One or more sweep files; one section each.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output folder.
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Markdown appended to results.md (the discussion).
        #[arg(long)]
        notes: Option<PathBuf>,
        #[command(flatten)]
        carry: Carry,
    },
}

/// Earlier reports whose cells count as measured (`sweep::carried`).
#[derive(Debug, clap::Args)]
pub struct Carry {
    /// An earlier report's runs.parquet (repeatable): a cell with a row of the evaluate key
    /// it has now counts as measured (a lost store, cells run elsewhere): `run` and `submit`
    /// skip it, `status` says so, `report` reads its figures from the row.
    #[arg(long = "carry", value_name = "RUNS_PARQUET")]
    pub runs: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RunWhat {
    /// Every stage.
    All,
    /// One stage and the stale stages it needs.
    Stage {
        name: crate::stage_name::StageName,
        /// Rerun this stage even if it is fresh.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A stage output name or a Parquet file path.
    pub name_or_path: String,
    /// Keep rows matching a SQL condition, e.g. "gamma > 0.9".
    #[arg(long)]
    pub filter: Option<String>,
    /// Sort by this column.
    #[arg(long)]
    pub sort: Option<String>,
    /// Sort in descending order.
    #[arg(long, requires = "sort")]
    pub desc: bool,
    /// Rows to show.
    #[arg(long, default_value_t = 10)]
    pub head: usize,
    /// Show the schema and the file's key-value metadata.
    #[arg(long)]
    pub schema: bool,
    /// Show only these columns, all of them (comma-separated; filter and sort still see every column).
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
}

#[cfg(test)]
mod tests {
    /// clap's own checks of the definition (unique argument names across flattened
    /// structs, among others), which otherwise fail only when a subcommand is parsed.
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
