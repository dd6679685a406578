//! W1's plot: deliveries per second against plugins, one line per
//! implementation, log axes, as SVG.

use std::path::Path;

use plotters::prelude::*;

use crate::failure::Failure;
use crate::impls::Kind;
use crate::w1::Point;

/// Draws the W1 points into an SVG file at `path`.
pub(crate) fn draw(points: &[Point], path: &Path, title: &str) -> Result<(), Failure> {
    let fail = |reason: String| Failure::Plot {
        path: path.to_owned(),
        reason,
    };
    if points.is_empty() {
        return Err(fail("no W1 points to draw".into()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    let mut names: Vec<(&str, Kind)> = Vec::new();
    for p in points {
        if !names.iter().any(|(name, _)| *name == p.name) {
            names.push((p.name, p.kind));
        }
    }
    let max_plugins = points.iter().map(|p| p.plugins).max().unwrap_or(1) as f64;
    let rates = points.iter().map(|p| p.deliveries_per_s / 1e6);
    let low = rates.clone().fold(f64::INFINITY, f64::min);
    let high = rates.fold(0.0, f64::max);

    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (0.8..max_plugins * 1.25).log_scale(),
            (low / 1.5..high * 1.5).log_scale(),
        )
        .map_err(|e| fail(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("plugins")
        .y_desc("M deliveries/s")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    for (i, &(name, kind)) in names.iter().enumerate() {
        // plugbus hosts thick, peers thin, the floor black.
        let (color, width) = match kind {
            Kind::Floor => (BLACK.to_rgba(), 2),
            Kind::Plugbus => (Palette99::pick(i).to_rgba(), 4),
            Kind::Peer => (Palette99::pick(i).to_rgba(), 2),
        };
        let series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.name == name)
            .map(|p| (p.plugins as f64, p.deliveries_per_s / 1e6))
            .collect();
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(width)))
            .map_err(|e| fail(e.to_string()))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
            });
        chart
            .draw_series(
                series
                    .into_iter()
                    .map(|point| Circle::new(point, 3, color.filled())),
            )
            .map_err(|e| fail(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))?;
    Ok(())
}
