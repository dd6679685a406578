//! W1's plot: deliveries per second against plugins, one line per
//! implementation, log axes, as SVG.

use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::failure::Failure;
use crate::impls::Kind;
use crate::w1::Point;

/// Distinct line colours (Tableau 20, dark shades first), in the order of
/// the implementations; a batched variant takes its host's colour.
const COLOURS: [RGBColor; 20] = [
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
    RGBColor(174, 199, 232),
    RGBColor(255, 187, 120),
    RGBColor(152, 223, 138),
    RGBColor(255, 152, 150),
    RGBColor(197, 176, 213),
    RGBColor(196, 156, 148),
    RGBColor(247, 182, 210),
    RGBColor(199, 199, 199),
    RGBColor(219, 219, 141),
    RGBColor(158, 218, 229),
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
    // Each line: its name, kind, whether it sends in batches, and its
    // colour, shared by a host and its batched variant (`<host>-batch…`).
    let mut lines: Vec<(&str, Kind, bool, RGBColor)> = Vec::new();
    let mut colours_used = 0;
    for p in points {
        if lines.iter().any(|(name, ..)| *name == p.name) {
            continue;
        }
        let host = p.name.split("-batch").next().unwrap_or(p.name);
        let colour = match lines.iter().find(|(name, ..)| *name == host) {
            Some(&(.., colour)) if p.batch > 1 => colour,
            _ => {
                colours_used += 1;
                COLOURS[(colours_used - 1) % COLOURS.len()]
            }
        };
        lines.push((p.name, p.kind, p.batch > 1, colour));
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
    for (i, &(name, kind, batched, colour)) in lines.iter().enumerate() {
        // The floor black, plugbus hosts thick (dashed when batched), peers
        // thin.
        let style = match kind {
            Kind::Floor => BLACK.stroke_width(2),
            Kind::Plugbus => colour.stroke_width(4),
            Kind::Peer => colour.stroke_width(2),
        };
        let series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.name == name)
            .map(|p| (p.plugins as f64, p.deliveries_per_s / 1e6))
            .collect();
        if batched {
            chart.draw_series(DashedLineSeries::new(series.clone(), 10, 6, style))
        } else {
            chart.draw_series(LineSeries::new(series.clone(), style))
        }
        .map_err(|e| fail(e.to_string()))?;
        chart
            .draw_series(
                series
                    .into_iter()
                    .map(|point| Circle::new(point, 3, style.color.filled())),
            )
            .map_err(|e| fail(e.to_string()))?;
        let y = 40 + 24 * i as i32;
        let sample = vec![(8, y), (38, y)];
        if batched {
            legend_area.draw(&DashedPathElement::new(sample, 6, 3, style))
        } else {
            legend_area.draw(&PathElement::new(sample, style))
        }
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
