//! The encoder's dropout: libtorch's (the recipe), or with masks drawn in parallel
//! (`TrainMode::parallel_dropout`). libtorch draws its CPU dropout masks with one serial
//! generator: at the recipe on 2 cores, 9% of a training step's CPU samples, on one thread
//! while the other waits (`scripts/profile-step.sh`). `mtmt_kernels::dropout_mask` decides
//! each element from a counter, so the mask is drawn over all threads and is the same
//! however it is split. Other masks than libtorch's, so other numbers: an option, off by
//! default.

use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

/// Dropout with probability `p` when `train`: libtorch's, or (`parallel`, on the CPU) `x`
/// times a mask of 0 and `1 / (1 - p)` in f32. The mask's key is drawn from libtorch's
/// generator, so `tch::manual_seed` fixes the masks as it fixes libtorch's.
pub(crate) fn dropout(x: &Tensor, p: f64, train: bool, parallel: bool) -> Tensor {
    if !train || p == 0.0 {
        return x.shallow_clone();
    }
    if !parallel || x.device() != Device::Cpu {
        // On a GPU libtorch's masks are drawn in parallel already: the option is the CPU's.
        return x.dropout(p, true);
    }
    x * mask(&x.size(), p)
}

/// Elements per task: large enough that scheduling costs nothing beside the hashing.
const CHUNK: usize = 1 << 14;

fn mask(shape: &[i64], p: f64) -> Tensor {
    let key = Tensor::randint(i64::MAX, [1], (Kind::Int64, Device::Cpu)).int64_value(&[0]) as u64;
    let mask = Tensor::empty(shape, (Kind::Float, Device::Cpu));
    let len = mask.numel();
    // SAFETY: `mask` was just created, contiguous, f32, on the CPU, with `len` elements,
    // and nothing else refers to it until this function returns it.
    let out = unsafe { std::slice::from_raw_parts_mut(mask.data_ptr() as *mut f32, len) };
    let keep = (1.0 - p) as f32;
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| mtmt_kernels::dropout_mask(chunk, key, (c * CHUNK) as u64, keep));
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_dropout_keeps_its_share_scales_and_follows_the_seed() {
        let x = Tensor::ones([64, 40, 384], (Kind::Float, Device::Cpu));
        let draw = |seed| {
            tch::manual_seed(seed);
            dropout(&x, 0.1, true, true)
        };
        let (a, b, c) = (draw(7), draw(7), draw(8));
        assert!(a.equal(&b), "the same seed, the same mask");
        assert!(!a.equal(&c), "another seed, another mask");
        let kept = a.ne(0.0).sum(Kind::Float).double_value(&[]) / x.numel() as f64;
        assert!((kept - 0.9).abs() < 0.005, "kept {kept}");
        let scale = a.max().double_value(&[]);
        assert!((scale - 1.0 / 0.9).abs() < 1e-6, "kept elements scaled by 1/(1-p): {scale}");
        assert!(dropout(&x, 0.1, false, true).equal(&x), "no dropout at inference");
    }
}
