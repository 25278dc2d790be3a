//! `mtmt-pipe curves`: the training curves of the current config's models as one PNG: each
//! training stage's loss per step, and dashed, each term of a loss of several (a moving
//! mean over 2% of its steps, so the trend shows through the batch-to-batch noise), from the
//! `curve.parquet` its artifact holds.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

use crate::config::ResolvedConfig;
use crate::engine::Plan;
use crate::files;
use crate::stage::DynStage;
use crate::stage_name::StageName;
use crate::store::{ArtifactState, Store};
use crate::sweep::plot::{legend, register, write_png, FONT};
use crate::table;

const SIZE: (u32, u32) = (1100, 560);

/// One stage's loss, or one term of it: its label and (step, loss) points.
struct Curve {
    label: String,
    points: Vec<(f64, f64)>,
    term: bool,
}

/// The curves of `only` (all training stages the config needs when empty) that are built.
fn read_curves(
    cfg: &ResolvedConfig,
    store: &Store,
    stages: &[Box<dyn DynStage>],
    only: &[StageName],
) -> anyhow::Result<Vec<Curve>> {
    let plan = Plan::new(cfg, stages)?;
    let mut curves = Vec::new();
    for p in plan.needed() {
        let wanted = only.is_empty() || only.contains(&p.name());
        if !wanted || !p.stage.outputs().contains(&files::CURVE) {
            continue;
        }
        let ArtifactState::Valid(m) = store.state(p.name(), &p.key, false) else { continue };
        if !m.files.contains_key(files::CURVE) {
            continue; // built before curves were recorded
        }
        let path = store.artifact_dir(p.name(), &p.key).join(files::CURVE);
        let df = table::read(&path)?;
        let steps: Vec<i64> = df.column("step")?.i64()?.into_no_null_iter().collect();
        // The loss, then its terms.
        let losses =
            df.get_column_names().into_iter().filter(|c| *c == "loss" || c.starts_with(files::LOSS_TERM_PREFIX));
        for column in losses {
            let term = column.strip_prefix(files::LOSS_TERM_PREFIX);
            // Steps checkpointed before terms were recorded have none.
            let (x, y): (Vec<f64>, Vec<f64>) =
                steps.iter().zip(df.column(column)?.f64()?.iter()).filter_map(|(&s, v)| Some((s as f64, v?))).unzip();
            let smooth = moving_mean(&y, (y.len() / 50).max(1));
            let label = term.map_or_else(|| p.label(), |t| format!("{}: {t}", p.label()));
            curves.push(Curve { label, points: x.into_iter().zip(smooth).collect(), term: term.is_some() });
        }
    }
    Ok(curves)
}

/// The mean of each value and the `window - 1` before it.
fn moving_mean(values: &[f64], window: usize) -> Vec<f64> {
    let mut sum = 0.0;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            sum += v;
            if i >= window {
                sum -= values[i - window];
            }
            sum / (i + 1).min(window) as f64
        })
        .collect()
}

/// Draws the curves of `only` (or of every built training stage) into `out`.
pub fn curves(
    cfg: &ResolvedConfig,
    store: &Store,
    stages: &[Box<dyn DynStage>],
    only: &[StageName],
    out: &Path,
) -> anyhow::Result<()> {
    let curves = read_curves(cfg, store, stages, only)?;
    anyhow::ensure!(
        !curves.is_empty(),
        "no training curve is built for the current config: `mtmt-pipe run all` (or `run stage NAME`) first"
    );
    register();
    let x_max = curves.iter().flat_map(|c| c.points.iter().map(|p| p.0)).fold(1.0, f64::max);
    let y_max = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)).fold(0.0, f64::max) * 1.05;
    let mut pixels = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", out.display());
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("training loss per step (moving mean)", (FONT, 24))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max.max(1e-6))
            .map_err(|e| err(&e))?;
        chart.configure_mesh().x_desc("step").y_desc("loss").label_style((FONT, 16)).draw().map_err(|e| err(&e))?;
        for (i, curve) in curves.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let points = curve.points.iter().copied();
            let drawn = if curve.term {
                chart.draw_series(DashedLineSeries::new(points, 6, 4, colour.stroke_width(1)))
            } else {
                chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))
            };
            let width = if curve.term { 1 } else { 2 };
            drawn
                .map_err(|e| err(&e))?
                .label(curve.label.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(width)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight, out)?;
        root.present().map_err(|e| err(&e))?;
    }
    write_png(&pixels, SIZE, out)?;
    let names: Vec<&str> = curves.iter().map(|c| c.label.as_str()).collect();
    crate::info!("wrote {} ({})", out.display(), names.join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_mean_averages_the_window_before_each_point() {
        assert_eq!(moving_mean(&[2.0, 4.0, 6.0, 8.0], 2), [2.0, 3.0, 5.0, 7.0]);
        assert_eq!(moving_mean(&[1.0, 3.0], 1), [1.0, 3.0]);
    }
}
