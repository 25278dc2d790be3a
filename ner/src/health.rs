//! Health checks that need no target label: a run that produced a useless model says so.
//! Each returns the warnings it finds, with the figure and a likely cause; stages pass them
//! to `StageContext::warn`, which prints them, logs them and keeps them in the manifest
//! (`summary.warnings`).

/// Below this source dev F1 a recognizer has learned too little to teach.
pub(crate) const SOURCE_DEV_F1_FLOOR: f64 = 30.0;
/// Fewer training steps than this leave the warm-up and decay schedule barely run.
pub(crate) const MIN_STEPS: usize = 30;
/// A model whose most frequent predicted label covers this share of words predicts one
/// label everywhere.
pub(crate) const ONE_LABEL_SHARE: f64 = 0.995;
/// A student marking fewer or more entities than its teacher by this factor has drifted.
pub(crate) const ENTITY_RATIO: f64 = 2.0;

/// The training of a stage: too few steps; a loss that did not fall. `losses` are the
/// steps' losses in order.
pub fn training(losses: &[f64], warmup_steps: usize, lr: f64) -> Vec<String> {
    let mut out = Vec::new();
    let steps = losses.len();
    if steps < MIN_STEPS {
        out.push(format!(
            "only {steps} training steps ({warmup_steps} of warm-up): too few for the schedule to run; \
             expect an undertrained model (more sentences or epochs, or a smaller batch)"
        ));
    }
    if let Some(step) = losses.iter().position(|l| !l.is_finite()) {
        out.push(format!(
            "the loss is {} from step {} (lr {lr:e}): the model is broken; too high a learning rate",
            losses[step],
            step + 1
        ));
    } else if steps >= 2 {
        let k = (steps / 10).max(1);
        let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
        let (first, last) = (mean(&losses[..k]), mean(&losses[steps - k..]));
        if last > 0.95 * first {
            out.push(format!(
                "the loss did not fall: mean {first:.4} over the first {k} step(s), {last:.4} over the last {k} \
                 (lr {lr:e}): too few steps for this learning rate, or too high a rate"
            ));
        }
    }
    out
}

/// A recognizer's source dev F1 below the floor.
pub fn source_dev(f1: f64) -> Option<String> {
    (f1 < SOURCE_DEV_F1_FLOOR).then(|| {
        format!(
            "source dev F1 {f1:.2} (below {SOURCE_DEV_F1_FLOOR}): the recognizer learned little, and every model \
             it teaches inherits that (too few steps for this learning rate, or too low a rate)"
        )
    })
}

/// A model's predicted tags on some text: one label everywhere.
pub fn predictions<T: AsRef<[String]>>(model: &str, text: &str, tags: &[T]) -> Option<String> {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for tag in tags.iter().flat_map(|t| t.as_ref()) {
        *counts.entry(tag.as_str()).or_default() += 1;
    }
    let total: usize = counts.values().sum();
    let (label, n) = counts.into_iter().max_by_key(|(_, n)| *n)?;
    let share = n as f64 / total as f64;
    (share >= ONE_LABEL_SHARE).then(|| {
        // All-`O` is where a model starts (the tag prior) as much as where a too-high rate
        // throws it: the cause is named both ways. Another single label is a collapse.
        let (what, cause) = if label == "O" {
            (
                "marks almost no entity".to_string(),
                "it learned no entity: too few steps, a learning rate too low to leave the all-`O` start in them \
                 (the MTMT paper's student lr 1e-6 over a few hundred steps), or one so high it collapsed",
            )
        } else {
            (format!("predicts `{label}` almost everywhere"), "a collapsed model: too high a learning rate")
        };
        format!("{model} {what} on {text} ({:.1}% of {total} words `{label}`): {cause}", 100.0 * share)
    })
}

/// A student's entities against its teacher's on the same text.
pub fn entity_ratio(text: &str, student: usize, teacher: usize) -> Option<String> {
    let ratio = student as f64 / teacher.max(1) as f64;
    (teacher > 0 && !(1.0 / ENTITY_RATIO..=ENTITY_RATIO).contains(&ratio)).then(|| {
        format!(
            "the student marks {student} entities on {text} where its teacher marks {teacher} ({:.0} per 100): it \
             has drifted from what it learned from (too few steps, or a learning rate too high or too low for them)",
            100.0 * ratio
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_fires_on_its_case_and_only_there() {
        let falling: Vec<f64> = (0..100).map(|i| 2.0 / (1.0 + i as f64)).collect();
        assert!(training(&falling, 10, 1e-4).is_empty());
        let flat = vec![1.0; 100];
        assert!(training(&flat, 10, 1e-4)[0].contains("did not fall"));
        assert!(training(&falling[..5], 1, 1e-4)[0].contains("only 5 training steps"));
        let broken = [falling.clone(), vec![f64::NAN; 10]].concat();
        let found = training(&broken, 10, 1e-4);
        assert!(found.len() == 1 && found[0].contains("the loss is NaN from step 101"), "{found:?}");
        assert!(source_dev(24.7).is_some() && source_dev(85.0).is_none());
        let tags = |o: usize, e: usize| vec![[vec!["O".to_string(); o], vec!["B-PER".to_string(); e]].concat()];
        assert!(predictions("student", "target test", &tags(1000, 1)).unwrap().contains("marks almost no entity"));
        assert!(predictions("student", "target test", &tags(900, 100)).is_none());
        assert!(predictions("student", "t", &tags(0, 50)).unwrap().contains("predicts `B-PER`"));
        assert!(entity_ratio("t", 10, 100).is_some() && entity_ratio("t", 90, 100).is_none());
        assert!(entity_ratio("t", 300, 100).is_some());
    }
}
