//! PNG plots of a testbed run (plotters, bitmap backend): the propagation latency CDF per
//! scenario, and the quotes each node has seen over time with the partition and churn windows
//! shaded. Text is drawn with the system's DejaVu Sans (Debian's fonts-dejavu-core); without it
//! the plots are skipped with a message, the report stands without them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::Measured;
use super::report::Figures;

const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers the font once (plotters keeps a `'static` reference to it).
fn font() -> Result<()> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let bytes = FONT_PATHS
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .ok_or_else(|| format!("no DejaVu Sans font in {FONT_PATHS:?}"))?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| "DejaVu Sans could not be read".to_owned())
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("{e:?}")
}

/// Draws `latency_cdf.png` and `quotes_per_node.png` into `dir`.
pub fn draw(m: &Measured, f: &Figures, dir: &Path) -> Result<()> {
    font()?;
    latency_cdf(f, &dir.join("latency_cdf.png")).context("latency_cdf.png")?;
    quotes_per_node(m, f, &dir.join("quotes_per_node.png")).context("quotes_per_node.png")?;
    Ok(())
}

fn latency_cdf(f: &Figures, path: &Path) -> Result<()> {
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let max = f.total.latencies.last().copied().unwrap_or(1).max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Quote propagation: prover send -> first sighting at each node",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..max * 1.02, 0f64..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms)")
        .y_desc("fraction of deliveries")
        .draw()
        .map_err(err)?;
    let colours = [BLUE, GREEN, RED, MAGENTA];
    let lines = f
        .phases
        .iter()
        .map(|(p, r)| (p.name().to_owned(), &r.latencies))
        .zip(colours.iter().cycle())
        .map(|((n, l), c)| (n, l, c.stroke_width(2)))
        .chain(std::iter::once((
            "all".to_owned(),
            &f.total.latencies,
            BLACK.stroke_width(3),
        )));
    for (name, lat, style) in lines {
        let n = lat.len().max(1) as f64;
        let points = lat
            .iter()
            .enumerate()
            .map(|(i, v)| (*v as f64, (i + 1) as f64 / n));
        chart
            .draw_series(LineSeries::new(points, style))
            .map_err(err)?
            .label(format!("{name} ({} deliveries)", lat.len()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn quotes_per_node(m: &Measured, f: &Figures, path: &Path) -> Result<()> {
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let t0 = m.started_ms;
    let secs = |ms: u64| ms.saturating_sub(t0) as f64 / 1000.0;
    let mut per_node: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
    for (t, node) in &f.sightings {
        let line = per_node.entry(*node).or_default();
        let n = line.len() as f64 + 1.0;
        line.push((secs(*t), n));
    }
    let x_max = f.sightings.last().map_or(1.0, |(t, _)| secs(*t)) + 5.0;
    let y_max = per_node.values().map(Vec::len).max().unwrap_or(1) as f64 + 1.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Quotes seen per node (shaded: partition, then churn)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the testbed started")
        .y_desc("quotes seen (cumulative)")
        .draw()
        .map_err(err)?;
    for ((from, to), colour) in [(m.partition, RED.mix(0.15)), (m.churn, BLUE.mix(0.12))] {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(secs(from), 0.0), (secs(to), y_max)],
                colour.filled(),
            )))
            .map_err(err)?;
    }
    let n = per_node.len().max(1);
    for (i, (node, line)) in per_node.into_iter().enumerate() {
        let colour = HSLColor(i as f64 / n as f64 * 0.8, 0.7, 0.45);
        let style = if node == m.plan.proposer {
            BLACK.stroke_width(2)
        } else {
            colour.stroke_width(1)
        };
        // A step line: the count changes at each sighting.
        let mut steps = Vec::with_capacity(line.len() * 2);
        let mut last = 0.0;
        for (t, count) in line {
            steps.push((t, last));
            steps.push((t, count));
            last = count;
        }
        steps.push((x_max, last));
        chart
            .draw_series(LineSeries::new(steps, style))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}
