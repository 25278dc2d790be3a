//! `direct`: direct transfer. The recognizer teacher trained on the source language is
//! the model; nothing is trained on target text.

use super::{DynStudentLoss, MethodSpec};
use mtmt_stage::stage_name::StageName;

pub struct Direct;

impl MethodSpec for Direct {
    fn recognizer(&self) -> StageName {
        StageName::TeacherNer
    }
    fn student(&self) -> Option<&dyn DynStudentLoss> {
        None
    }
}
