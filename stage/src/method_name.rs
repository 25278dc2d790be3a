//! The `method` config value: which method a pipeline runs. A name only, below every
//! layer that reads it (stages, the config schema); what the method is made of is its
//! spec, `Method::spec`, in the methods' registry (crate `mtmt-methods`).

use serde::{Deserialize, Serialize};

/// The `method` config value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Direct,
    Tsl,
    #[default]
    Mtmt,
    Mtst,
    #[serde(rename = "advpicker")]
    AdvPicker,
    Msd,
    #[serde(rename = "tsl-multi")]
    TslMulti,
    #[serde(rename = "unitrans")]
    UniTrans,
}
