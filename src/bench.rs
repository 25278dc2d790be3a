//! `bench`: throughput figures a user can reproduce on their own machine, measured
//! on the config's data outside the store (nothing is cached or written).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use rayon::prelude::*;

use crate::config::{Config, ResolvedConfig};
use crate::corpus::{read_file, Labels, Reading};
use crate::model::heads::cross_entropy;
use crate::model::tagger::Tagger;
use crate::model::Pass;
use crate::subword::SubwordTokenizer;
use crate::train::data::{Batch, EncodedSet, Words};
use crate::trainer::{self, all_batches, Steps};

/// The tokenizer the source side's tokenize stage builds from the same config.
fn source_tokenizer(c: &Config) -> anyhow::Result<SubwordTokenizer> {
    SubwordTokenizer::configured(
        &c.encoder.tokenizer,
        c.tokenize.lowercase,
        c.tokenize.label_past_bare_marker,
        c.source.unspaced,
    )
}

/// Ingest + tokenize of the source train split: sentences per second for each step.
pub fn data(cfg: &ResolvedConfig) -> anyhow::Result<()> {
    let c = &cfg.config;
    println!("bench data: {} ({} threads)", c.source.train.display(), rayon::current_num_threads());
    let started = Instant::now();
    let (sentences, stats) = read_file(&c.source.train, &Reading::of(&c.source, "source"), Labels::Types(&c.labels))?;
    let ingest_s = started.elapsed().as_secs_f64();
    let tokenizer = source_tokenizer(c)?;
    let started = Instant::now();
    let subwords: usize = sentences
        .par_iter()
        .map(|s| tokenizer.encode(&s.tokens, c.tokenize.max_len).map(|e| e.input_ids.len()))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .sum();
    let tokenize_s = started.elapsed().as_secs_f64();
    let n = stats.sentences as f64;
    println!(
        "ingest: {} sentences, {} tokens in {ingest_s:.3}s: {:.0} sentences/s",
        stats.sentences,
        stats.tokens,
        n / ingest_s
    );
    println!("tokenize: {subwords} subwords in {tokenize_s:.3}s: {:.0} sentences/s", n / tokenize_s);
    println!("ingest+tokenize: {:.0} sentences/s", n / (ingest_s + tokenize_s));
    Ok(())
}

/// Figures of one side of the training benchmark.
struct Throughput {
    train: f64,
    infer: f64,
    /// Inference with the dense products in bfloat16 (ours: `eval.bf16`; the references:
    /// `torch.autocast(bfloat16)`).
    infer_bf16: f64,
    /// The reference scripts' share of training time by kind of op, largest first.
    profile: Vec<(String, f64)>,
}

/// Teacher fine-tuning and inference tokens/s on English training sentences with the
/// teacher's freezing policy, beside `benches/torch_eager.py` on the very same batches.
pub fn train(
    cfg: &ResolvedConfig,
    steps: usize,
    python: Option<&Path>,
    perf: Option<PerfControl>,
) -> anyhow::Result<()> {
    let c = &cfg.config;
    let t = &c.teacher_ner;
    let device = c.runtime.device()?;
    let (sentences, _) = read_file(&c.source.train, &Reading::of(&c.source, "source"), Labels::Types(&c.labels))?;
    let tokenizer = source_tokenizer(c)?;
    let labels = c.bio_labels();
    let words: Vec<Vec<String>> = sentences.iter().map(|s| s.tokens.clone()).collect();
    let tags: Vec<Vec<String>> = sentences.iter().map(|s| s.tags.clone().unwrap_or_default()).collect();
    let ids = (0..words.len() as u32).collect();
    let words = Words { ids, tokens: &words, tags: Some(&tags), origin: &c.source.train };
    let set = EncodedSet::encode(&tokenizer, words, &labels, c.tokenize.max_len, || {})?;
    let schedule = t.schedule();
    let batches: Vec<Vec<usize>> =
        all_batches(&set.lengths(), &schedule, c.seed).into_iter().take(steps).map(|(_, b)| b).collect();
    anyhow::ensure!(batches.len() > WARMUP_STEPS, "need more than {WARMUP_STEPS} batches, got {}", batches.len());
    println!(
        "bench train: {} steps of {} sentences from {} ({} frozen layers{}), device {device:?}, {} threads, {}",
        batches.len(),
        t.batch_size,
        c.source.train.display(),
        t.freeze_layers,
        if t.freeze_embeddings { " + embeddings" } else { "" },
        tch::get_num_threads(),
        match (t.attention_dropout, t.frozen_dropout, t.bf16, t.parallel_dropout) {
            (true, true, false, false) => "the recipe (dropout everywhere, f32)".to_string(),
            (attention, frozen, bf16, parallel) => format!(
                "attention dropout {attention}, frozen-bottom dropout {frozen}, bf16 products {bf16}, \
                 dropout masks drawn in parallel {parallel}"
            ),
        }
    );
    let ours = measure(c, &set, &batches, device, perf)?;
    println!("mtmt-pipe training tokens/s: {:.0}", ours.train);
    println!("mtmt-pipe inference tokens/s: {:.0}", ours.infer);
    // Whether bf16 pays depends on the hardware's bf16 units: the two GEMM rates say which.
    let (f32_rate, bf16_rate) = (gemm_rate(device, tch::Kind::Float), gemm_rate(device, tch::Kind::BFloat16));
    println!(
        "mtmt-pipe inference tokens/s, bf16 products (eval.bf16): {:.0} ({:.2}x f32; GEMM here: bf16 {:.0}, f32 {:.0} GFLOP/s)",
        ours.infer_bf16,
        ours.infer_bf16 / ours.infer,
        bf16_rate / 1e9,
        f32_rate / 1e9
    );
    let Some(python) = python else { return Ok(()) };
    // Two references on the very same batches: HF eager (the recipe's dropout inside) and
    // a lean functional loop (no dropout inside the encoder, frozen bottom without autograd);
    // with bf16 products, a third: the lean loop under torch.autocast(bfloat16).
    let mut references = vec![("eager", false, "pytorch-eager"), ("lean", false, "lean-pytorch")];
    if t.bf16 {
        references.push(("lean", true, "lean-pytorch-bf16"));
    }
    for (mode, bf16, name) in references {
        let theirs = torch_reference(c, &set, &batches, device, python, mode, bf16)?;
        println!("{name} training tokens/s: {:.0}", theirs.train);
        println!("{name} training time by kind of op (torch.profiler, self time, 3 steps):");
        for (kind, share) in &theirs.profile {
            println!("  {kind:<52} {:>5.1}%", 100.0 * share);
        }
        println!("{name} inference tokens/s: {:.0}", theirs.infer);
        println!("{name} inference tokens/s, bf16 autocast: {:.0}", theirs.infer_bf16);
        println!("training ratio (mtmt-pipe / {name}): {:.2}", ours.train / theirs.train);
        println!("inference ratio (mtmt-pipe / {name}): {:.2}", ours.infer / theirs.infer);
        println!("bf16 inference ratio (mtmt-pipe / {name}): {:.2}", ours.infer_bf16 / theirs.infer_bf16);
    }
    Ok(())
}

/// Matrix-multiply FLOPs of one training step on a [batch, len] batch: every layer's
/// projections and attention products forward, twice that backward (input and weight
/// gradients) in the trainable layers, padding included. Softmax, LayerNorm, GELU and
/// dropout are left out: this is the work a GEMM rate bounds.
fn matmul_flops(c: &crate::model::bert::BertConfig, batch: f64, len: f64, trainable: usize) -> f64 {
    let (d, f) = (c.hidden_size as f64, c.intermediate_size as f64);
    let tokens = batch * len;
    let layer = 2.0 * tokens * (4.0 * d * d + 2.0 * d * f) + 2.0 * 2.0 * batch * len * len * d;
    layer * (c.num_hidden_layers as f64 + 2.0 * trainable as f64)
}

/// This machine's FP32 GEMM rate (FLOP/s) with the current threads, on the shape of the
/// encoder's largest projection.
fn gemm_rate(device: tch::Device, kind: tch::Kind) -> f64 {
    let _guard = tch::no_grad_guard();
    let a = tch::Tensor::randn([4096, 384], (kind, device));
    let b = tch::Tensor::randn([384, 1536], (kind, device));
    for _ in 0..3 {
        let _ = a.matmul(&b);
    }
    let reps = 20;
    let started = Instant::now();
    for _ in 0..reps {
        let _ = a.matmul(&b).sum(tch::Kind::Float).double_value(&[]);
    }
    reps as f64 * 2.0 * 4096.0 * 384.0 * 1536.0 / started.elapsed().as_secs_f64()
}

/// `perf record`'s control fifos, as `perf record -D -1 --control fifo:CTL,ACK` opened them:
/// the recording starts disabled and the timed training steps alone enable it.
pub struct PerfControl {
    ctl: fs_err::File,
    ack: BufReader<fs_err::File>,
}

impl PerfControl {
    pub fn open(ctl: &Path, ack: &Path) -> anyhow::Result<Self> {
        use fs_err::os::unix::fs::OpenOptionsExt;
        // Non-blocking, so that a fifo no perf reads fails here (ENXIO) instead of hanging.
        let ctl = fs_err::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(ctl)
            .context("--perf-control: is perf recording with `--control fifo:CTL,ACK`?")?;
        Ok(Self { ctl, ack: BufReader::new(fs_err::File::open(ack)?) })
    }

    /// Sends `command` and waits for perf's acknowledgement, so that the clock starts (or
    /// the recording stops) only once perf has done it.
    fn send(&mut self, command: &str) -> anyhow::Result<()> {
        writeln!(self.ctl, "{command}")?;
        self.ctl.flush()?;
        let mut answer = String::new();
        self.ack.read_line(&mut answer)?;
        // perf writes its answer with the string's terminating NUL: "ack\n\0".
        let answer = answer.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        anyhow::ensure!(answer == "ack", "perf answered {answer:?} to `{command}`");
        Ok(())
    }
}

/// Untimed steps before the clock starts (allocator and thread-pool warm-up).
const WARMUP_STEPS: usize = 2;

fn measure(
    c: &crate::config::Config,
    set: &EncodedSet,
    batches: &[Vec<usize>],
    device: tch::Device,
    mut perf: Option<PerfControl>,
) -> anyhow::Result<Throughput> {
    let t = &c.teacher_ner;
    let labels = c.bio_labels();
    let mut tagger =
        Tagger::pretrained(&c.encoder.config, &c.encoder.weights, labels.len(), t.dropout, device, c.seed)?;
    tagger.prepare_training(t.freeze(), t.mode());
    let mut opt = tagger.optimizer(t.decay(), t.head_lr_scale);
    // The stages' own loop (`trainer::train`), which times the parts of its steps: first
    // the untimed warm-up steps, then the timed ones.
    let schedule = t.schedule();
    let steps: Vec<(usize, Vec<usize>)> = batches.iter().map(|b| (0, b.clone())).collect();
    let (warmup, timed) = steps.split_at(WARMUP_STEPS);
    let step_loss = |_: i64, idx: &[usize]| {
        let batch = Batch::new(set, idx, device);
        let loss = cross_entropy(&tagger.logits(&batch, Pass::Train), batch.labels.as_ref().expect("labeled"));
        Ok(trainer::StepLoss::single(loss, batch.tokens))
    };
    trainer::train(
        &tagger.vs,
        &mut opt,
        Steps { batches: warmup, schedule: &schedule, seed: c.seed },
        None,
        None,
        step_loss,
        |_, _| {},
    )?;
    if let Some(perf) = perf.as_mut() {
        perf.send("enable")?;
    }
    let started = Instant::now();
    let state = trainer::train(
        &tagger.vs,
        &mut opt,
        Steps { batches: timed, schedule: &schedule, seed: c.seed },
        None,
        None,
        step_loss,
        |_, _| {},
    )?;
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(perf) = perf.as_mut() {
        perf.send("disable")?;
    }
    let train = state.tokens as f64 / elapsed;
    let encoder = crate::model::bert::BertConfig::from_file(&c.encoder.config)?;
    let flops: f64 = timed
        .iter()
        .map(|(_, idx)| {
            let len = idx.iter().map(|&i| set.input_ids[i].len()).max().unwrap_or(0);
            matmul_flops(&encoder, idx.len() as f64, len as f64, encoder.num_hidden_layers - t.freeze_layers)
        })
        .sum();
    let n = timed.len() as f64;
    println!("mtmt-pipe training step, {:.0} ms in all:", 1000.0 * elapsed / n);
    if device.is_cuda() {
        // Kernels run asynchronously: a part's host time ends when it queued its work.
        println!("  (CUDA: host time per part; the queued kernels are waited for where clipping and the loss readback synchronise)");
    }
    for (part, s) in state.times.parts() {
        println!("  {part:<28} {:>7.1} ms  {:>5.1}%", 1000.0 * s / n, 100.0 * s / elapsed);
    }
    // The ceiling is the GEMM rate in the precision the products run in.
    let kind = if t.bf16 { tch::Kind::BFloat16 } else { tch::Kind::Float };
    let (achieved, ceiling) = (flops / elapsed / 1e9, gemm_rate(device, kind) / 1e9);
    println!(
        "  matrix multiplies: {:.1} GFLOP a step, {achieved:.1} GFLOP/s = {:.0}% of this machine's {kind:?} GEMM \
         rate ({ceiling:.1} GFLOP/s on [4096 x 384] x [384 x 1536], {} threads)",
        flops / n / 1e9,
        100.0 * achieved / ceiling,
        tch::get_num_threads()
    );
    let infer = inference_rate(&tagger, set, batches, device);
    tagger.bert.infer_bf16 = true;
    let infer_bf16 = inference_rate(&tagger, set, batches, device);
    Ok(Throughput { train, infer, infer_bf16, profile: vec![] })
}

/// Inference tokens/s of `tagger` over `batches` (label distributions, as `evaluate` reads
/// them), after the warm-up batches.
fn inference_rate(tagger: &Tagger, set: &EncodedSet, batches: &[Vec<usize>], device: tch::Device) -> f64 {
    tch::no_grad(|| {
        let forward = |idx: &Vec<usize>| {
            let batch = Batch::new(set, idx, device);
            let _ = tagger
                .logits(&batch, Pass::Infer)
                .softmax(-1, tch::Kind::Float)
                .sum(tch::Kind::Float)
                .double_value(&[]);
            batch.tokens
        };
        batches.iter().take(WARMUP_STEPS).for_each(|b| {
            forward(b);
        });
        let started = Instant::now();
        let tokens: usize = batches.iter().map(forward).sum();
        tokens as f64 / started.elapsed().as_secs_f64()
    })
}

/// Runs the PyTorch reference script in `mode` (`eager` or `lean`, under bf16 autocast if
/// `bf16`) on the same batches, handed over in a safetensors file, on our `device`.
fn torch_reference(
    c: &crate::config::Config,
    set: &EncodedSet,
    batches: &[Vec<usize>],
    device: tch::Device,
    python: &Path,
    mode: &str,
    bf16: bool,
) -> anyhow::Result<Throughput> {
    // Removed when dropped, whatever happens below.
    let dir = tempfile::Builder::new().prefix("mtmt-bench-").tempdir()?;
    let file = dir.path().join("batches.safetensors");
    let mut named = Vec::new();
    for (i, idx) in batches.iter().enumerate() {
        let b = Batch::new(set, idx, tch::Device::Cpu);
        named.push((format!("b{i}.input_ids"), b.input_ids));
        named.push((format!("b{i}.attention_mask"), b.attention_mask));
        named.push((format!("b{i}.word_rows"), b.word_rows));
        named.push((format!("b{i}.word_cols"), b.word_cols));
        named.push((format!("b{i}.labels"), b.labels.expect("labeled")));
    }
    let refs: Vec<(&str, &tch::Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
    tch::Tensor::write_safetensors(&refs, &file).with_context(|| format!("writing {}", file.display()))?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/torch_eager.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .args(["--encoder-config", &c.encoder.config.to_string_lossy()])
        .args(["--encoder-weights", &c.encoder.weights.to_string_lossy()])
        .args(["--batches", &file.to_string_lossy()])
        .args(["--labels", &c.bio_labels().len().to_string()])
        .args(["--freeze-layers", &c.teacher_ner.freeze_layers.to_string()])
        .args(["--lr", &c.teacher_ner.lr.to_string()])
        .args(["--warmup-steps", &WARMUP_STEPS.to_string()])
        .args(["--threads", &tch::get_num_threads().to_string()])
        .args(["--mode", mode])
        .args(["--device", &crate::manifest::ComputedOn::now(device).device])
        .args(bf16.then_some("--bf16"))
        .output()
        .with_context(|| format!("running {} {}", python.display(), script.display()))?;
    anyhow::ensure!(out.status.success(), "{} failed:\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim().lines().last().unwrap_or_default())
        .with_context(|| format!("parsing the script's output: {line}"))?;
    let get = |k: &str| v[k].as_f64().with_context(|| format!("script output lacks {k}"));
    let mut profile: Vec<(String, f64)> = v["profile"]
        .as_object()
        .context("script output lacks profile")?
        .iter()
        .map(|(kind, share)| (kind.clone(), share.as_f64().unwrap_or(0.0)))
        .collect();
    profile.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(Throughput {
        train: get("train_tokens_per_s")?,
        infer: get("infer_tokens_per_s")?,
        infer_bf16: get("infer_bf16_tokens_per_s")?,
        profile,
    })
}
