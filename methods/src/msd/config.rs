//! MSD's section of the settings (`msd`): its struct, defaults and range checks.

use serde::{Deserialize, Serialize};

use crate::Method;
use mtmt_stage::settings::depth_text;

/// MSD (methods.md): heads on intermediate layers, mixed by learned weights, distilled
/// head by head, plus MMD between teacher and student [CLS] vectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MsdConfig {
    /// The first layer (1-based) with a head of its own; every layer from it to the last
    /// but one has one (released: 4, so 8 heads on a 12-layer encoder).
    pub first_layer: usize,
    /// Weight of the heads' mixed loss beside the final head's (released: 0.1).
    pub(crate) aux_weight: f64,
    /// Scale of each of the student's two MMD terms (released: 1/1000).
    pub(crate) mmd_weight: f64,
}

impl Default for MsdConfig {
    fn default() -> Self {
        Self { first_layer: 4, aux_weight: 0.1, mmd_weight: 1e-3 }
    }
}

impl MsdConfig {
    /// The range checks of this section (`Config::range_errors`).
    pub fn range_errors(&self, method: Method, layers: Option<usize>, check: &mut impl FnMut(bool, &str, String)) {
        let (depth, has) = depth_text(layers);
        let m = self;
        // Where MSD runs, or where a value other than the default was given under any
        // method (a bad value is wrong whichever method reads it); the default stays fine
        // for the other methods on a shallower encoder.
        let msd_checked = method == Method::Msd || m.first_layer != MsdConfig::default().first_layer;
        check(
            !msd_checked || (m.first_layer >= 1 && layers.is_none_or(|n| m.first_layer < n)),
            "msd.first_layer",
            format!("is {}: must lie in [1, {depth}){has}", m.first_layer),
        );
        for (key, w) in [("msd.aux_weight", m.aux_weight), ("msd.mmd_weight", m.mmd_weight)] {
            check(w >= 0.0 && w.is_finite(), key, format!("is {w}: must be 0 or positive"));
        }
    }
}
