//! The training core on a tiny random BERT: exact resumption from a checkpoint,
//! seeding, freezing, and AdamW against PyTorch's update rule.

use std::path::Path;

use mtmt_pipe::model::bert::{BertConfig, BertModel, TrainMode};
use mtmt_pipe::model::heads::cross_entropy;
use mtmt_pipe::model::tagger::{Freeze, Tagger};
use mtmt_pipe::model::Pass;
use mtmt_pipe::train::batching::BatchPlan;
use mtmt_pipe::train::data::{Batch, EncodedSet};
use mtmt_pipe::train::optim::{AdamW, AdamWConfig, Decay, Optimizer, ParamGroup, StateLayout};
use mtmt_pipe::train::rng::Rng;
use mtmt_pipe::trainer::checkpoint::CheckpointDir;
use mtmt_pipe::trainer::{all_batches, train, Schedule, StepLoss, Steps};
use tch::{nn, Device, Kind, Tensor};

const LABELS: usize = 5;

/// libtorch's random generator is process-global: tests that seed it and draw dropout
/// masks take turns, as training stages do (one at a time per process).
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// A random "pretrained" encoder on disk: config.json + model.safetensors.
fn tiny_encoder(dir: &Path) {
    let config = r#"{"hidden_size": 16, "num_hidden_layers": 3, "num_attention_heads": 2, "intermediate_size": 24,
        "max_position_embeddings": 40, "type_vocab_size": 2, "vocab_size": 50}"#;
    std::fs::write(dir.join("config.json"), config).unwrap();
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let _model = BertModel::new(vs.root(), BertConfig::from_file(&dir.join("config.json")).unwrap());
    vs.save(dir.join("model.safetensors")).unwrap();
}

fn tiny_data(n: usize) -> EncodedSet {
    let mut rng = Rng::new(42);
    let (mut input_ids, mut word_starts, mut labels, mut n_words) = (vec![], vec![], vec![], vec![]);
    for _ in 0..n {
        let words = 2 + rng.below(10);
        let mut ids = vec![0u32];
        let mut starts = vec![];
        for _ in 0..words {
            starts.push(ids.len() as u32);
            for _ in 0..1 + rng.below(2) {
                ids.push(3 + rng.below(47) as u32);
            }
        }
        ids.push(2);
        labels.push((0..words).map(|_| rng.below(LABELS) as u32).collect());
        input_ids.push(ids);
        word_starts.push(starts);
        n_words.push(words as u32);
    }
    EncodedSet {
        pad_id: 1,
        sentence_ids: (0..n as u32).collect(),
        input_ids,
        word_starts,
        labels: Some(labels),
        truncated_words: vec![0; n],
        n_words,
    }
}

fn schedule() -> Schedule {
    Schedule {
        epochs: 2,
        batch: BatchPlan { batch_size: 8, max_tokens: None, chunk_batches: 4 },
        lr: 1e-3,
        warmup_ratio: 0.1,
        max_grad_norm: 1.0,
        checkpoint_every: 3,
    }
}

fn tagger(dir: &Path, seed: u64) -> Tagger {
    let mut t =
        Tagger::pretrained(&dir.join("config.json"), &dir.join("model.safetensors"), LABELS, 0.1, Device::Cpu, seed)
            .unwrap();
    t.prepare_training(Freeze { embeddings: true, layers: 1 }, TrainMode::default());
    t
}

/// A tagger on a fresh tiny encoder (`tagger`, seed 1) and a batch of 8 tiny sentences.
fn tiny_tagger_and_batch() -> (Tagger, Batch) {
    let dir = tempfile::tempdir().unwrap();
    tiny_encoder(dir.path());
    let data = tiny_data(8);
    (tagger(dir.path(), 1), Batch::new(&data, &(0..8).collect::<Vec<_>>(), Device::Cpu))
}

/// Trains a tagger (optionally stopping after `stop` steps) and returns its trained tensors.
fn run(dir: &Path, seed: u64, ckpt: Option<&CheckpointDir>, stop: Option<i64>) -> (Vec<(String, Tensor)>, i64) {
    let data = tiny_data(60);
    let t = tagger(dir, seed);
    let mut opt = t.optimizer(Decay { rate: 0.01, optimizer: Optimizer::AdamW }, 1.0);
    let steps = all_batches(&data.lengths(), &schedule(), seed);
    let progress = train(
        &t.vs,
        &mut opt,
        Steps { batches: &steps, schedule: &schedule(), seed },
        ckpt,
        stop,
        |_, idx| {
            let batch = Batch::new(&data, idx, Device::Cpu);
            let loss = cross_entropy(&t.logits(&batch, Pass::Train), batch.labels.as_ref().unwrap());
            Ok(StepLoss::single(loss, batch.tokens))
        },
        |_, _| {},
    )
    .unwrap();
    (t.trainable(), progress.step)
}

fn same(a: &[(String, Tensor)], b: &[(String, Tensor)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((na, ta), (nb, tb))| na == nb && ta.equal(tb))
}

#[test]
fn resumed_training_equals_uninterrupted_training() {
    let _turn = exclusive();
    let dir = tempfile::tempdir().unwrap();
    tiny_encoder(dir.path());
    let (straight, steps) = run(dir.path(), 7, None, None);
    assert!(steps > 10, "the schedule has {steps} steps");

    let ckpt = CheckpointDir::new(dir.path().join("ckpt"));
    let (_, stopped_at) = run(dir.path(), 7, Some(&ckpt), Some(5)); // "killed" mid-epoch after step 5
    assert_eq!(stopped_at, 5);
    let (resumed, total) = run(dir.path(), 7, Some(&ckpt), None); // a fresh process picks up the checkpoint
    assert_eq!(total, steps);
    assert!(same(&straight, &resumed), "resumed weights differ from the uninterrupted run");

    let (again, _) = run(dir.path(), 7, None, None);
    assert!(same(&straight, &again), "same seed, different weights");
    let (other, _) = run(dir.path(), 8, None, None);
    assert!(!same(&straight, &other), "another seed gave identical weights");
}

#[test]
fn the_training_options_turn_dropout_off_where_they_say() {
    let _turn = exclusive();
    let (mut t, batch) = tiny_tagger_and_batch();
    let states = |t: &Tagger, pass: Pass| {
        tch::manual_seed(5);
        t.bert.forward(&batch.input_ids, &batch.attention_mask, pass)
    };
    let inference = states(&t, Pass::Infer);
    // The recipe drops out everywhere: the embeddings' output already differs.
    let recipe = states(&t, Pass::Train);
    assert!(!recipe[0].allclose(&inference[0], 1e-6, 1e-6, false));
    // Frozen dropout off: the frozen bottom (embeddings + layer 0) is as at inference, the
    // layers above still drop out.
    t.prepare_training(
        Freeze { embeddings: true, layers: 1 },
        TrainMode::new(Freeze { embeddings: true, layers: 1 }, true, false, false, false),
    );
    let quiet = states(&t, Pass::Train);
    assert!(quiet[0].equal(&inference[0]) && quiet[1].equal(&inference[1]));
    assert!(!quiet[2].allclose(&inference[2], 1e-6, 1e-6, false));
    // Attention dropout off with everything else dropped out: another draw than the recipe's.
    t.prepare_training(
        Freeze { embeddings: true, layers: 1 },
        TrainMode::new(Freeze { embeddings: true, layers: 1 }, false, true, false, false),
    );
    let no_attention = states(&t, Pass::Train);
    assert!(no_attention[0].equal(&recipe[0]));
    assert!(!no_attention[1].allclose(&recipe[1], 1e-6, 1e-6, false));
    // The recipe is the default, and the same seed draws the same masks.
    t.prepare_training(Freeze { embeddings: true, layers: 1 }, TrainMode::default());
    assert!(states(&t, Pass::Train).iter().zip(&recipe).all(|(a, b)| a.equal(b)));
    // Masks drawn in parallel: dropout everywhere still (every state differs from
    // inference), other masks than libtorch's, the same ones again under the same seed.
    let parallel = TrainMode { parallel_dropout: true, ..TrainMode::default() };
    t.prepare_training(Freeze { embeddings: true, layers: 1 }, parallel);
    let drawn = states(&t, Pass::Train);
    for (i, (a, b)) in drawn.iter().zip(&inference).enumerate() {
        assert!(!a.allclose(b, 1e-6, 1e-6, false), "state {i} not dropped out");
    }
    assert!(!drawn[0].allclose(&recipe[0], 1e-6, 1e-6, false));
    assert!(states(&t, Pass::Train).iter().zip(&drawn).all(|(a, b)| a.equal(b)));
    assert!(states(&t, Pass::Infer).iter().zip(&inference).all(|(a, b)| a.equal(b)));
}

#[test]
fn frozen_parameters_get_no_gradient_and_no_optimizer_state() {
    let _turn = exclusive();
    let (t, batch) = tiny_tagger_and_batch();
    let names: Vec<String> = t.trainable().into_iter().map(|(n, _)| n).collect();
    assert!(names.iter().all(|n| !n.starts_with("bert.embeddings.") && !n.starts_with("bert.encoder.layer.0.")));
    assert!(
        names.iter().any(|n| n.starts_with("bert.encoder.layer.1.")) && names.contains(&"classifier.weight".into())
    );
    let frozen_before = t.vs.variables()["bert.encoder.layer.0.output.dense.weight"].copy();

    let mut opt = t.optimizer(Decay { rate: 0.01, optimizer: Optimizer::AdamW }, 1.0);
    let expected: i64 = t.trainable().iter().map(|(_, v)| v.numel() as i64).sum();
    assert_eq!(opt.trainable_parameters(), expected);
    let state_names: Vec<String> = opt.state().into_iter().map(|(n, _)| n).collect();
    assert!(state_names.iter().all(|n| !n.contains("embeddings") && !n.contains("layer.0.")));

    let loss = cross_entropy(&t.logits(&batch, Pass::Train), batch.labels.as_ref().unwrap());
    loss.backward();
    opt.step(1e-2);
    let vars = t.vs.variables();
    assert!(!vars["bert.embeddings.word_embeddings.weight"].grad().defined());
    assert!(vars["bert.encoder.layer.0.output.dense.weight"].equal(&frozen_before));
}

#[test]
fn adamw_follows_pytorch_update_rule() {
    // Not beside this binary's training tests: once, in a loaded full run beside them, step 1
    // came out 7e-6 off the exact arithmetic (v's square root off by about 1e-4 relative);
    // the cause was not found. Taking turns, it has not recurred.
    let _turn = exclusive();
    // One scalar, constant gradient 0.5 (loss = 0.5 p), lr 0.1, weight decay 0.01.
    let p = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
    let groups = vec![ParamGroup { lr_scale: 1.0, weight_decay: 0.01 }];
    let mut opt = AdamW::new(vec![("p".into(), p.shallow_clone())], groups, |_| 0, AdamWConfig::default());
    let mut expected = 1.0f64;
    let (b1, b2, eps, lr, wd, g) = (0.9f64, 0.999f64, 1e-8, 0.1, 0.01, 0.5);
    let (mut m, mut v) = (0.0, 0.0);
    for step in 1..=3 {
        opt.zero_grad();
        (&p * 0.5).sum(Kind::Float).backward();
        opt.step(lr);
        expected *= 1.0 - lr * wd;
        m = b1 * m + (1.0 - b1) * g;
        v = b2 * v + (1.0 - b2) * g * g;
        let denom = (v.sqrt() / (1.0 - b2.powi(step)).sqrt()) + eps;
        expected -= lr / (1.0 - b1.powi(step)) * m / denom;
        let got = p.double_value(&[0]);
        assert!((got - expected).abs() < 1e-6, "step {step}: {got} vs {expected}");
    }
}

#[test]
fn the_fused_and_the_flat_adamw_steps_are_bit_identical_to_the_tensor_op_chain() {
    let _turn = exclusive();
    tch::manual_seed(3);
    // Odd sizes too, so that vector and scalar tails of libtorch's kernels both take part.
    let shapes: [&[i64]; 4] = [&[37, 19], &[384], &[5], &[64, 48]];
    let make = || -> Vec<(String, Tensor)> {
        tch::manual_seed(3);
        shapes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (format!("p{i}.weight"), Tensor::randn(*s, (Kind::Float, Device::Cpu)).set_requires_grad(true))
            })
            .collect()
    };
    let groups =
        vec![ParamGroup { lr_scale: 1.0, weight_decay: 0.01 }, ParamGroup { lr_scale: 3.0, weight_decay: 0.0 }];
    let (a, b, c) = (make(), make(), make());
    let shallow = |v: &[(String, Tensor)]| v.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect();
    let group_of = |name: &str| usize::from(name.starts_with("p1") || name.starts_with("p2"));
    let optimizer = |v: &[(String, Tensor)], layout| {
        AdamW::with_layout(shallow(v), groups.clone(), group_of, AdamWConfig::default(), layout)
    };
    let mut fused = optimizer(&a, StateLayout::Auto);
    let mut chain = optimizer(&b, StateLayout::Auto);
    // The layout the groups of a CUDA model get, here on the CPU.
    let mut flat = optimizer(&c, StateLayout::Flat);
    for step in 0..5 {
        let lr = 1e-3 * (step + 1) as f64;
        for (params, opt) in [(&a, &mut fused), (&b, &mut chain), (&c, &mut flat)] {
            opt.zero_grad();
            tch::manual_seed(100 + step);
            let loss: Tensor = params
                .iter()
                .map(|(_, p)| (p * Tensor::randn(p.size(), (Kind::Float, Device::Cpu))).sum(Kind::Float))
                .sum();
            loss.backward();
            opt.clip_grad_norm(1.0);
        }
        fused.step(lr);
        chain.step_with_tensor_ops(lr);
        flat.step(lr);
        for (other, (params, opt)) in [("fused", (&a, &fused)), ("flat", (&c, &flat))] {
            for ((name, x), (_, y)) in params.iter().zip(&b) {
                assert!(x.equal(y), "{other}: {name} differs after step {step}");
            }
            for ((name, x), (_, y)) in opt.state().iter().zip(&chain.state()) {
                assert!(x.equal(y), "{other}: state {name} differs after step {step}");
            }
        }
    }
    // A checkpoint's state loads into flat moments (through the views) and steps on alike.
    let d = make();
    for ((_, x), (_, y)) in d.iter().zip(&c) {
        x.detach().copy_(y);
    }
    let mut restored = optimizer(&d, StateLayout::Flat);
    restored.load_state(&flat.state().into_iter().collect()).unwrap();
    for (params, opt) in [(&c, &mut flat), (&d, &mut restored)] {
        opt.zero_grad();
        params.iter().map(|(_, p)| (p * p).sum(Kind::Float)).sum::<Tensor>().backward();
        opt.step(1e-3);
    }
    for ((name, x), (_, y)) in d.iter().zip(&c) {
        assert!(x.equal(y), "restored: {name} differs");
    }
}

#[test]
fn mixed_precision_runs_the_products_in_bf16_and_leaves_inference_unless_asked_and_parameters_in_f32() {
    let _turn = exclusive();
    let (mut t, batch) = tiny_tagger_and_batch();
    let freeze = Freeze { embeddings: true, layers: 1 };
    // Without dropout, so that only the precision differs.
    let quiet =
        TrainMode { embeddings_dropout: false, attention_dropout: false, quiet_layers: 3, ..Default::default() };
    let states = |t: &Tagger, pass: Pass| t.bert.forward(&batch.input_ids, &batch.attention_mask, pass);
    t.prepare_training(freeze, quiet);
    let f32_states = states(&t, Pass::Train);
    t.prepare_training(freeze, TrainMode { bf16: true, ..quiet });
    let bf16_states = states(&t, Pass::Train);
    // The embeddings are not a product: identical. Every layer's output is f32, close to
    // the f32 run (bf16 keeps 8 bits of mantissa) but not equal.
    assert!(bf16_states[0].equal(&f32_states[0]));
    for (a, b) in bf16_states.iter().zip(&f32_states).skip(1) {
        assert_eq!(a.kind(), Kind::Float);
        assert!(!a.equal(b));
        let worst = (a - b).abs().max().double_value(&[]);
        assert!(worst < 0.1, "bf16 states differ from f32 by {worst}");
    }
    // Inference ignores the training mode: f32 throughout, unless asked for bf16
    // (`eval.bf16`), which runs its products as training's mixed precision does.
    t.prepare_training(freeze, quiet);
    let inference = states(&t, Pass::Infer);
    t.prepare_training(freeze, TrainMode { bf16: true, ..quiet });
    assert!(states(&t, Pass::Infer).iter().zip(&inference).all(|(a, b)| a.equal(b)));
    t.bert.infer_bf16 = true;
    let bf16_inference = states(&t, Pass::Infer);
    t.bert.infer_bf16 = false;
    assert!(bf16_inference[0].equal(&inference[0]));
    for (a, b) in bf16_inference.iter().zip(&inference).skip(1) {
        assert_eq!(a.kind(), Kind::Float);
        assert!(!a.equal(b));
        let worst = (a - b).abs().max().double_value(&[]);
        assert!(worst < 0.1, "bf16 inference differs from f32 by {worst}");
    }
    // Gradients reach the trainable parameters, in f32.
    let loss = cross_entropy(&t.logits(&batch, Pass::Train), batch.labels.as_ref().unwrap());
    loss.backward();
    let vars = t.vs.variables();
    let grad = vars["bert.encoder.layer.2.intermediate.dense.weight"].grad();
    assert!(grad.defined() && grad.kind() == Kind::Float && grad.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    assert_eq!(vars["bert.encoder.layer.2.intermediate.dense.weight"].kind(), Kind::Float);
}

/// `optimizer = "adam"` (the MTMT paper's) against `torch.optim.Adam` with weight decay (its
/// L2 term): the same tiny model, initial values, loss and learning rates, five steps, two
/// parameter groups (one decayed, one not, as biases are). The loss depends on the
/// parameters, so each step's gradient comes from the trajectory so far.
#[test]
fn adam_follows_torch_optim_adam() {
    let _turn = exclusive(); // as `adamw_follows_pytorch_update_rule`
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let (lr, wd, steps) = (0.05, 0.1, 5);
    let init_w: Vec<f32> = (0..6).map(|i| 0.3 * i as f32 - 0.7).collect();
    let init_b: Vec<f32> = vec![0.2, -0.4];
    // loss = sum((W x - y)^2) + sum(b^2 * 3), W 2x3, x = (1, -2, 0.5), y = (0.3, -1).
    let w = Tensor::from_slice(&init_w).view([2, 3]).set_requires_grad(true);
    let b = Tensor::from_slice(&init_b).set_requires_grad(true);
    let x = Tensor::from_slice(&[1.0f32, -2.0, 0.5]);
    let y = Tensor::from_slice(&[0.3f32, -1.0]);
    let params = vec![("layer.weight".to_string(), w.shallow_clone()), ("layer.bias".to_string(), b.shallow_clone())];
    let groups = vec![ParamGroup { lr_scale: 1.0, weight_decay: wd }, ParamGroup { lr_scale: 1.0, weight_decay: 0.0 }];
    let config = AdamWConfig { optimizer: Optimizer::Adam, ..AdamWConfig::default() };
    let mut opt = AdamW::new(params, groups, |name| usize::from(name.ends_with(".bias")), config);
    for _ in 0..steps {
        opt.zero_grad();
        let loss = (w.matmul(&x) - &y).pow_tensor_scalar(2).sum(Kind::Float) + (&b * &b * 3.0).sum(Kind::Float);
        loss.backward();
        opt.step(lr);
    }
    let script = format!(
        "import torch\n\
         w = torch.tensor({init_w:?}, dtype=torch.float32).view(2, 3).requires_grad_()\n\
         b = torch.tensor({init_b:?}, dtype=torch.float32).requires_grad_()\n\
         x = torch.tensor([1.0, -2.0, 0.5]); y = torch.tensor([0.3, -1.0])\n\
         opt = torch.optim.Adam([{{'params': [w], 'weight_decay': {wd}}}, {{'params': [b], 'weight_decay': 0.0}}], lr={lr})\n\
         for _ in range({steps}):\n    opt.zero_grad()\n    loss = ((w @ x - y) ** 2).sum() + (b * b * 3.0).sum()\n    loss.backward()\n    opt.step()\n\
         print(' '.join(repr(v) for v in w.detach().flatten().tolist() + b.detach().tolist()))\n"
    );
    let out = std::process::Command::new(&python).arg("-c").arg(&script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let torch: Vec<f64> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(|v| v.parse().unwrap()).collect();
    let ours: Vec<f64> = Vec::<f32>::try_from(Tensor::cat(&[w.flatten(0, -1), b.shallow_clone()], 0).detach())
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect();
    assert_eq!(ours.len(), torch.len());
    for (i, (a, t)) in ours.iter().zip(&torch).enumerate() {
        assert!((a - t).abs() < 1e-6, "parameter {i}: ours {a}, torch.optim.Adam {t}");
    }
    // AdamW's decoupled decay would land elsewhere: the two updates are told apart.
    let decoupled_differs = {
        let w2 = Tensor::from_slice(&init_w).view([2, 3]).set_requires_grad(true);
        let groups = vec![ParamGroup { lr_scale: 1.0, weight_decay: wd }];
        let mut opt = AdamW::new(vec![("w".into(), w2.shallow_clone())], groups, |_| 0, AdamWConfig::default());
        for _ in 0..steps {
            opt.zero_grad();
            (w2.matmul(&x) - &y).pow_tensor_scalar(2).sum(Kind::Float).backward();
            opt.step(lr);
        }
        (f64::from(w2.double_value(&[0, 0]) as f32) - torch[0]).abs() > 1e-4
    };
    assert!(decoupled_differs, "AdamW and Adam agree here: the test cannot tell them apart");
}
