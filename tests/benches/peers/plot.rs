//! W1's plot: deliveries per second against plugins, one line per
//! implementation, log axes, as SVG.

use std::path::Path;

use plotters::prelude::*;

use crate::failure::Failure;
use crate::impls::Kind;
use crate::w1::Point;

/// Distinct line colours (Tableau 10), in the order of the implementations.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Width of the legend to the right of the chart.
const LEGEND_WIDTH: u32 = 230;

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
    let mut plugins: Vec<f64> = points.iter().map(|p| p.plugins as f64).collect();
    plugins.sort_by(f64::total_cmp);
    plugins.dedup();
    let (first, last) = (plugins[0], plugins[plugins.len() - 1]);
    let rates = points.iter().map(|p| p.deliveries_per_s / 1e6);
    let low = rates.clone().fold(f64::INFINITY, f64::min);
    let high = rates.fold(0.0, f64::max);

    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let root = root
        .titled(title, ("sans-serif", 18))
        .map_err(|e| fail(e.to_string()))?;
    let (plot_area, legend_area) = root.split_horizontally(1000 - LEGEND_WIDTH);
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (first / 1.25..last * 1.25)
                .log_scale()
                .with_key_points(plugins.clone()),
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
        // The floor black, plugbus hosts thick, peers thin.
        let (colour, width) = match kind {
            Kind::Floor => (BLACK, 2),
            Kind::Plugbus => (COLOURS[i % COLOURS.len()], 4),
            Kind::Peer => (COLOURS[i % COLOURS.len()], 2),
        };
        let series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.name == name)
            .map(|p| (p.plugins as f64, p.deliveries_per_s / 1e6))
            .collect();
        chart
            .draw_series(LineSeries::new(series.clone(), colour.stroke_width(width)))
            .map_err(|e| fail(e.to_string()))?;
        chart
            .draw_series(
                series
                    .into_iter()
                    .map(|point| Circle::new(point, 3, colour.filled())),
            )
            .map_err(|e| fail(e.to_string()))?;
        let y = 40 + 24 * i as i32;
        legend_area
            .draw(&PathElement::new(
                vec![(8, y), (38, y)],
                colour.stroke_width(width),
            ))
            .map_err(|e| fail(e.to_string()))?;
        legend_area
            .draw(&Text::new(
                name.to_owned(),
                (46, y - 7),
                ("sans-serif", 14).into_font(),
            ))
            .map_err(|e| fail(e.to_string()))?;
    }
    root.present().map_err(|e| fail(e.to_string()))?;
    Ok(())
}
