//! The statistics of a report: mean and sample std over seeds (`aggregate`) and paired
//! differences between two methods with a t-test over seeds (`compare`).

use super::*;

/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

/// One (suite, target, method) over its finished seeds.
pub struct Aggregate {
    pub suite: String,
    pub target: String,
    pub method: String,
    pub seeds: Vec<u64>,
    pub f1: Vec<f64>,
    pub precision: f64,
    pub recall: f64,
    pub per_type: BTreeMap<String, f64>,
    pub dev_f1: Option<f64>,
    pub wall_s: f64,
    pub paper: Option<f64>,
    /// (seed, label-free agreement with the recognizer teacher) where measured.
    pub agreement: Vec<(u64, Agreement)>,
    /// What the pair losses saw, per seed where the method uses pairs.
    pub pair_mix: Vec<PairMix>,
    /// How its cells' models were chosen (one method, one policy).
    pub selection: Selection,
}

impl Aggregate {
    pub fn f1_mean_std(&self) -> (f64, f64) {
        mean_std(&self.f1)
    }

    /// One agreement figure of each seed where it was measured.
    pub fn agreements(&self, f: fn(&Agreement) -> Option<f64>) -> Vec<f64> {
        self.agreement.iter().filter_map(|(_, a)| f(a)).collect()
    }
}

/// Groups finished cells by (target, method) in the sweep's order.
pub fn aggregate(sweep: &Sweep, cells: &[CellResult]) -> Vec<Aggregate> {
    let mut out = Vec::new();
    for target in &sweep.spec.target {
        for method in &sweep.spec.method {
            let done: Vec<&CellResult> = cells
                .iter()
                .filter(|c| c.target == target.name && c.method == method.name && c.scores.is_some())
                .collect();
            if done.is_empty() {
                continue;
            }
            let scores: Vec<&CellScores> = done.iter().filter_map(|c| c.scores.as_ref()).collect();
            let mean = |f: &dyn Fn(&CellScores) -> f64| mean_std(&scores.iter().map(|s| f(s)).collect::<Vec<_>>()).0;
            let mut per_type = BTreeMap::new();
            for t in scores.iter().flat_map(|s| s.per_type.keys()).collect::<BTreeSet<_>>() {
                per_type.insert(t.clone(), mean(&|s| s.per_type.get(t).copied().unwrap_or(0.0)));
            }
            let dev: Vec<f64> = scores.iter().filter_map(|s| s.dev_f1).collect();
            out.push(Aggregate {
                suite: sweep.spec.name.clone(),
                target: target.name.clone(),
                method: method.name.clone(),
                seeds: done.iter().map(|c| c.seed).collect(),
                f1: scores.iter().map(|s| s.f1).collect(),
                precision: mean(&|s| s.precision),
                recall: mean(&|s| s.recall),
                per_type,
                dev_f1: (dev.len() == done.len()).then(|| mean_std(&dev).0),
                wall_s: mean_std(&done.iter().map(|c| c.wall_s).collect::<Vec<_>>()).0,
                paper: sweep.spec.paper.get(&method.name).and_then(|m| m.get(&target.name)).copied(),
                agreement: done.iter().filter_map(|c| Some((c.seed, c.teacher_agreement?))).collect(),
                pair_mix: done.iter().filter_map(|c| c.pair_mix).collect(),
                selection: done[0].selection,
            });
        }
    }
    out
}

/// Two-sided 5% critical values of Student's t for 1..=10 degrees of freedom.
pub(super) const T_CRITICAL: [f64; 10] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];

/// `a` against `b` on one target, paired by seed (the two share that seed's teachers).
pub struct Comparison {
    pub suite: String,
    pub target: String,
    pub a: String,
    pub b: String,
    pub diffs: Vec<f64>,
}

impl Comparison {
    /// A paired t-test at 5%, in words.
    pub fn verdict(&self) -> String {
        let n = self.diffs.len();
        let (mean, std) = mean_std(&self.diffs);
        if n < 2 {
            return "one seed: untested".into();
        }
        let t = if std > 0.0 { mean / (std / (n as f64).sqrt()) } else { f64::INFINITY * mean.signum() };
        let critical = T_CRITICAL[(n - 2).min(T_CRITICAL.len() - 1)];
        if t.abs() < critical || mean == 0.0 {
            "no significant difference".into()
        } else if mean > 0.0 {
            format!("{} better", self.a)
        } else {
            format!("{} better", self.b)
        }
    }
}

/// The paired comparisons a sweep asks for (`compare`), wherever both methods have seeds.
pub fn compare(sweep: &Sweep, cells: &[CellResult]) -> Vec<Comparison> {
    let f1 = |target: &str, method: &str, seed: u64| {
        cells
            .iter()
            .find(|c| c.target == target && c.method == method && c.seed == seed)
            .and_then(|c| c.scores.as_ref().map(|s| s.f1))
    };
    let mut out = Vec::new();
    for target in &sweep.spec.target {
        for [a, b] in &sweep.spec.compare {
            let diffs: Vec<f64> = sweep
                .spec
                .seeds
                .iter()
                .filter_map(|&s| Some(f1(&target.name, a, s)? - f1(&target.name, b, s)?))
                .collect();
            if !diffs.is_empty() {
                out.push(Comparison {
                    suite: sweep.spec.name.clone(),
                    target: target.name.clone(),
                    a: a.clone(),
                    b: b.clone(),
                    diffs,
                });
            }
        }
    }
    out
}

/// The mean of some seeds' values; `None` without any.
pub(super) fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| mean_std(values).0)
}

/// The mean ± sample std over seeds at `decimals`; one seed has no spread to show, none
/// is "-".
pub(super) fn mean_spread(values: &[f64], decimals: usize) -> String {
    match (values.len(), mean_std(values)) {
        (0, _) => "-".into(),
        (1, (m, _)) => format!("{m:.decimals$}"),
        (_, (m, s)) => format!("{m:.decimals$} ± {s:.decimals$}"),
    }
}
