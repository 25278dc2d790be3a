//! Where tensors live and how many CPU threads libtorch uses. Not part of any cache
//! key: the same computation on another device is the same artifact.

use serde::{Deserialize, Serialize};
use tch::Device;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when present, else CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
}

impl DeviceChoice {
    pub fn resolve(self) -> anyhow::Result<Device> {
        Ok(match self {
            Self::Auto => Device::cuda_if_available(),
            Self::Cpu => Device::Cpu,
            Self::Cuda => {
                anyhow::ensure!(tch::Cuda::is_available(), "device = \"cuda\" but libtorch sees no CUDA device");
                Device::Cuda(0)
            }
        })
    }
}

/// Applies the thread setting (0 keeps libtorch's default).
pub fn set_threads(threads: usize) {
    if threads > 0 {
        tch::set_num_threads(threads as i32);
    }
}
