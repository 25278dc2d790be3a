//! The results plot: grouped bars of target test F1 (mean over seeds, std as error bars),
//! one group per target and one colour per method, with the papers' mBERT numbers as
//! markers. Drawn with plotters into memory, encoded as PNG, written atomically; text
//! uses a font bundled in a crate, so no system fonts are needed.

use std::path::Path;
use std::sync::Once;

use anyhow::anyhow;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::report::Aggregate;
use super::Sweep;

pub(crate) const FONT: &str = "sans-serif";
const SIZE: (u32, u32) = (1100, 560);

/// Registers the bundled font once (every plot's text uses it).
pub(crate) fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT)
            .unwrap_or_else(|_| panic!("the bundled font parses"));
    });
}

pub fn grouped_bars(sweep: &Sweep, rows: &[Aggregate], path: &Path) -> anyhow::Result<()> {
    register();
    let has =
        |t: &str, m: &str| rows.iter().any(|r| (t.is_empty() || r.target == t) && (m.is_empty() || r.method == m));
    let targets: Vec<&str> = sweep.spec.target.iter().map(|t| t.name.as_str()).filter(|t| has(t, "")).collect();
    let methods: Vec<&str> = sweep.spec.method.iter().map(|m| m.name.as_str()).filter(|m| has("", m)).collect();
    let top = rows
        .iter()
        .map(|r| {
            let (m, s) = r.f1_mean_std();
            (m + s).max(r.paper.unwrap_or(0.0))
        })
        .fold(0.0, f64::max);
    let y_max = ((top / 10.0).ceil() * 10.0 + 10.0).min(105.0);

    let mut pixels = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let title = format!("{}: target test F1, mean ± std over seeds", sweep.spec.name);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 24))
            .margin(15)
            .x_label_area_size(10)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..targets.len() as f64, 0f64..y_max)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(1)
            .x_labels(0)
            .y_desc("entity F1")
            .label_style((FONT, 16))
            .draw()
            .map_err(|e| err(&e))?;
        let width = 0.8 / methods.len() as f64;
        let x_of = |r: &Aggregate| {
            let t = targets.iter().position(|t| *t == r.target).expect("listed") as f64;
            let m = methods.iter().position(|m| *m == r.method).expect("listed") as f64;
            t + 0.1 + m * width
        };
        for (i, method) in methods.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let mine: Vec<&Aggregate> = rows.iter().filter(|r| r.method == *method).collect();
            let bars = mine.iter().map(|r| {
                let x = x_of(r);
                Rectangle::new([(x, 0.0), (x + width * 0.9, r.f1_mean_std().0)], colour.filled())
            });
            chart
                .draw_series(bars)
                .map_err(|e| err(&e))?
                .label(*method)
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
            let errors = mine.iter().map(|r| {
                let (m, s) = r.f1_mean_std();
                ErrorBar::new_vertical(x_of(r) + width * 0.45, m - s, m, m + s, BLACK.filled(), 8)
            });
            chart.draw_series(errors).map_err(|e| err(&e))?;
        }
        let papers: Vec<(f64, f64)> =
            rows.iter().filter_map(|r| r.paper.map(|p| (x_of(r) + width * 0.45, p))).collect();
        if !papers.is_empty() {
            chart
                .draw_series(papers.into_iter().map(|p| Cross::new(p, 6, BLACK.stroke_width(2))))
                .map_err(|e| err(&e))?
                .label("paper (mBERT)")
                .legend(|(x, y)| Cross::new((x + 7, y), 6, BLACK.stroke_width(2)));
        }
        let names = targets
            .iter()
            .enumerate()
            .map(|(i, t)| Text::new(t.to_string(), (i as f64 + 0.45, y_max * 0.97), (FONT, 22)));
        chart.draw_series(names).map_err(|e| err(&e))?;
        legend(&mut chart, SeriesLabelPosition::LowerRight, path)?;
        root.present().map_err(|e| err(&e))?;
    }
    write_png(&pixels, SIZE, path)
}

/// A chart of two f64 axes drawn into memory, as every plot here is.
pub(crate) type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The series labels of `chart` in a framed box at `position` (errors name `path`).
pub(crate) fn legend<'a>(chart: &mut Chart<'a, 'a>, position: SeriesLabelPosition, path: &Path) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 16))
        .draw()
        .map_err(|e| anyhow!("drawing {}: {e}", path.display()))
}

/// RGB `pixels` of `size` as a PNG file, written atomically.
pub(crate) fn write_png(pixels: &[u8], size: (u32, u32), path: &Path) -> anyhow::Result<()> {
    let mut encoded = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut encoded, size.0, size.1);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header()?.write_image_data(pixels)?;
    }
    Ok(crate::atomic::write_file(path, &encoded)?)
}
