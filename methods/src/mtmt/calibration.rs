//! The similarity score's calibration: t = sigmoid(scale * cos + bias). The paper's score
//! is the identity calibration, t = sigmoid(cos), which lives in [0.269, 0.731] by
//! construction; with `similarity.calibrated` the similarity teacher fits the two
//! parameters on source pairs (logistic regression of "same class" on the cosine), and
//! every consumer of t (the pair scores, the weights' gamma, the student's own t) applies
//! them. The fitted values travel with the tables that carry t, in their Parquet metadata.

use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Parquet metadata key under which the tables that carry t record their calibration.
pub(crate) const METADATA_KEY: &str = "mtmt.similarity_calibration";

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub scale: f64,
    pub bias: f64,
}

impl Calibration {
    /// The paper's score, sigmoid(cos).
    pub(crate) const IDENTITY: Calibration = Calibration { scale: 1.0, bias: 0.0 };

    /// t for cosines (a tensor of any shape).
    pub fn apply(&self, cos: &Tensor) -> Tensor {
        if *self == Self::IDENTITY {
            // Bit for bit the paper's score (and every artifact made before calibration).
            return cos.sigmoid();
        }
        (cos * self.scale + self.bias).sigmoid()
    }

    /// t for one cosine.
    pub(crate) fn apply_one(&self, cos: f64) -> f64 {
        1.0 / (1.0 + (-(self.scale * cos + self.bias)).exp())
    }

    /// The logistic regression of `same` on `cos` (Newton's method from the identity, a
    /// tiny ridge keeping it finite on separable data): deterministic, in a few steps.
    pub fn fit(cos: &[f64], same: &[bool]) -> anyhow::Result<Self> {
        anyhow::ensure!(cos.len() == same.len() && !cos.is_empty(), "calibration needs pairs");
        let both = same.iter().any(|&s| s) && same.iter().any(|&s| !s);
        anyhow::ensure!(both, "calibration needs pairs of the same class and of different classes");
        let ridge = 1e-3 * cos.len() as f64;
        let (mut s, mut b) = (1.0, 0.0);
        for _ in 0..100 {
            // Gradient and Hessian of the mean negative log-likelihood plus the ridge on s.
            let (mut gs, mut gb, mut hss, mut hsb, mut hbb) = (ridge * (s - 1.0), 0.0, ridge, 0.0, 0.0);
            for (&x, &y) in cos.iter().zip(same) {
                let p = 1.0 / (1.0 + (-(s * x + b)).exp());
                let r = p - f64::from(u8::from(y));
                let w = p * (1.0 - p);
                gs += r * x;
                gb += r;
                hss += w * x * x;
                hsb += w * x;
                hbb += w;
            }
            let det = hss * hbb - hsb * hsb;
            anyhow::ensure!(det.abs() > 1e-12, "calibration: the cosines do not vary");
            let (ds, db) = ((hbb * gs - hsb * gb) / det, (hss * gb - hsb * gs) / det);
            s -= ds;
            b -= db;
            if ds.abs().max(db.abs()) < 1e-9 {
                break;
            }
        }
        anyhow::ensure!(s.is_finite() && b.is_finite(), "calibration diverged");
        Ok(Self { scale: s, bias: b })
    }

    /// Its form in Parquet metadata (`METADATA_KEY`).
    pub fn metadata(&self) -> (String, String) {
        (METADATA_KEY.into(), serde_json::to_string(self).expect("two numbers serialize"))
    }

    /// The calibration recorded in a table's metadata; the identity where none is.
    pub(crate) fn of_table(path: &std::path::Path) -> anyhow::Result<Self> {
        match mtmt_ner::table::metadata(path)?.into_iter().find(|(k, _)| k == METADATA_KEY) {
            None => Ok(Self::IDENTITY),
            Some((_, v)) => serde_json::from_str(&v)
                .map_err(|e| anyhow::anyhow!("{}: metadata {METADATA_KEY} is not a calibration: {e}", path.display())),
        }
    }
}

/// How well scores t predict `same`: expected calibration error over 10 equal-width bins
/// (the mean |mean t - share same| weighted by the bin's pairs) and the Brier score.
pub(crate) fn calibration_error(t: &[f64], same: &[bool]) -> (f64, f64) {
    let mut bins = [(0.0, 0.0); 10];
    let mut brier = 0.0;
    for (&p, &y) in t.iter().zip(same) {
        let y = f64::from(u8::from(y));
        let bin = &mut bins[((p * 10.0) as usize).min(9)];
        bin.0 += p;
        bin.1 += y;
        brier += (p - y).powi(2);
    }
    let n = t.len().max(1) as f64;
    // Sum over bins of (pairs / n) * |mean t - share same| = |sum t - sum same| / n.
    let ece = bins.iter().map(|(p, y)| (p - y).abs() / n).sum();
    (ece, brier / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cosines spread over [-1, 1] with `same` drawn from sigmoid(5 cos - 1).
    fn sample() -> (Vec<f64>, Vec<bool>) {
        let mut rng = mtmt_ner::train::rng::Rng::derived(3, "calibration test");
        (0..4000)
            .map(|i| {
                let cos = -1.0 + 2.0 * (i as f64 + 0.5) / 4000.0;
                let p = 1.0 / (1.0 + (-(5.0 * cos - 1.0)).exp());
                (cos, (rng.next_u64() as f64 / u64::MAX as f64) < p)
            })
            .unzip()
    }

    #[test]
    fn the_fit_recovers_the_calibration_that_drew_the_labels_and_calibrates_better() {
        let (cos, same) = sample();
        let fitted = Calibration::fit(&cos, &same).unwrap();
        assert!((fitted.scale - 5.0).abs() < 0.6 && (fitted.bias + 1.0).abs() < 0.3, "{fitted:?}");
        let scores = |c: Calibration| cos.iter().map(|&x| c.apply_one(x)).collect::<Vec<_>>();
        let (ece_fit, brier_fit) = calibration_error(&scores(fitted), &same);
        let (ece_paper, brier_paper) = calibration_error(&scores(Calibration::IDENTITY), &same);
        assert!(ece_fit < 0.03 && ece_paper > 0.1, "{ece_fit} {ece_paper}");
        assert!(brier_fit < brier_paper);
        assert_eq!(fitted, Calibration::fit(&cos, &same).unwrap(), "deterministic");
        assert!(Calibration::fit(&cos, &vec![true; cos.len()]).is_err());
        // The tensor form agrees, and the identity is the paper's sigmoid(cos).
        let x = Tensor::from_slice(&[-0.5f64, 0.0, 0.7]);
        let t = Vec::<f64>::try_from(fitted.apply(&x)).unwrap();
        assert!((t[2] - fitted.apply_one(0.7)).abs() < 1e-12);
        assert!(Calibration::IDENTITY.apply(&x).equal(&x.sigmoid()));
    }
}
