//! The hot loops of mtmt-pipe's training that run over plain `f32` slices: the two passes of
//! the fused AdamW step, and dropout masks from a counter-based generator. A crate of its
//! own so that dev builds compile it optimised (`[profile.dev.package.mtmt-kernels]`:
//! vectorised loops) while the main crate builds fast.
//!
//! Every loop rounds after each operation in f32, in the order libtorch's tensor ops would
//! (Rust never contracts `a * b + c` into a fused multiply-add), so the results are
//! bit-identical to the same update written as a chain of tensor ops.

/// AdamW's first pass: `w *= decay` (when weight decay is on), then
/// `m = m * b1 + g * (1 - b1)` and `v = v * b2 + g * g * (1 - b2)`, each operand as given.
#[allow(clippy::too_many_arguments)]
pub fn adamw_moments(
    w: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    decay: Option<f32>,
    b1: f32,
    one_minus_b1: f32,
    b2: f32,
    one_minus_b2: f32,
) {
    assert!(w.len() == g.len() && g.len() == m.len() && m.len() == v.len(), "slices of one parameter");
    if let Some(decay) = decay {
        w.iter_mut().for_each(|w| *w *= decay);
    }
    for ((m, v), &g) in m.iter_mut().zip(v.iter_mut()).zip(g) {
        *m = *m * b1 + g * one_minus_b1;
        *v = *v * b2 + g * g * one_minus_b2;
    }
}

/// AdamW's second pass, given `root = sqrt(v)`: `w -= m / (root / bias2_sqrt + eps) * step`.
pub fn adamw_apply(w: &mut [f32], m: &[f32], root: &[f32], bias2_sqrt: f32, eps: f32, step: f32) {
    assert!(w.len() == m.len() && m.len() == root.len(), "slices of one parameter");
    for ((w, &m), &r) in w.iter_mut().zip(m).zip(root) {
        *w -= m / (r / bias2_sqrt + eps) * step;
    }
}

/// A dropout mask's elements `first..first + out.len()` for `key`: each `1 / keep` with
/// probability `keep`, else 0. Element `i` is decided by the `i`-th output of SplitMix64
/// seeded with `key` alone, so any split of the mask over threads gives the same mask.
pub fn dropout_mask(out: &mut [f32], key: u64, first: u64, keep: f32) {
    // Uniform on [0, 1) from the top 24 bits: `keep` compared at f32's own resolution.
    let threshold = (keep as f64 * (1u64 << 24) as f64) as u64;
    let scale = 1.0 / keep;
    for (i, out) in (first..).zip(out.iter_mut()) {
        let mut z = key.wrapping_add((i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        *out = if z >> 40 < threshold { scale } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_masks_keep_their_share_and_do_not_depend_on_the_split() {
        let (n, keep) = (200_000, 0.9f32);
        let mut whole = vec![f32::NAN; n];
        dropout_mask(&mut whole, 42, 0, keep);
        let kept = whole.iter().filter(|&&x| x == 1.0 / keep).count();
        assert_eq!(kept + whole.iter().filter(|&&x| x == 0.0).count(), n, "every element 0 or 1/keep");
        // Binomial(n, 0.9): standard deviation 134; 5 of them either side.
        assert!((kept as f64 - 0.9 * n as f64).abs() < 5.0 * 134.0, "{kept} of {n} kept");
        let mut split = vec![f32::NAN; n];
        let (a, b) = split.split_at_mut(12_345);
        dropout_mask(a, 42, 0, keep);
        dropout_mask(b, 42, 12_345, keep);
        assert_eq!(whole, split);
        let mut other = vec![f32::NAN; n];
        dropout_mask(&mut other, 43, 0, keep);
        assert_ne!(whole, other, "another key, another mask");
    }

    #[test]
    fn one_step_by_hand() {
        let (mut w, g, mut m, mut v) = (vec![1.0f32, -2.0], vec![0.5f32, 0.25], vec![0.0f32; 2], vec![0.0f32; 2]);
        adamw_moments(&mut w, &g, &mut m, &mut v, Some(0.5), 0.9, 0.1, 0.999, 0.001);
        assert_eq!(w, [0.5, -1.0]);
        assert_eq!(m, [0.5 * 0.1f32, 0.25 * 0.1f32]);
        assert_eq!(v, [0.5 * 0.5 * 0.001f32, 0.25 * 0.25 * 0.001f32]);
        let root: Vec<f32> = v.iter().map(|x| x.sqrt()).collect();
        adamw_apply(&mut w, &m, &root, 0.5, 1e-8, 0.1);
        let expected: Vec<f32> =
            [0.5f32, -1.0].iter().zip(&m).zip(&root).map(|((w, m), r)| w - m / (r / 0.5 + 1e-8) * 0.1).collect();
        assert_eq!(w, expected);
    }
}
