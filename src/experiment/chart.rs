//! Charts of experiment results, written as SVG (for diffs and documents) and PNG (for a quick
//! look). Two kinds: a heatmap of a two-parameter sweep — the metastability map, each cell
//! coloured by the fraction of seeds that did not recover — and line charts of a metric against
//! a parameter, with the confidence band around each mean.
//!
//! Charts are built from whatever the sweep produced, so nothing here may panic: NaN, infinite,
//! empty and constant data draw something sensible (a hatched cell, a skipped point, a padded
//! axis, "no data") or give a `ChartError`. Tick positions are computed here rather than by
//! plotters, whose own algorithm asserts on NaN and can loop on infinite ranges. The SVG is a
//! pure function of the input, so charts can be compared byte for byte in tests and merged runs.
//! Colours are colour-blind safe: viridis for the heatmap, Okabe–Ito for the series.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Pixel size of both the SVG and the PNG.
const SIZE: (u32, u32) = (960, 640);
const INK: RGBColor = RGBColor(30, 30, 30);
/// Cells without data: a grey no value on the viridis scale can take, and hatched as well.
const NO_DATA: RGBColor = RGBColor(215, 215, 215);
const HATCH: RGBColor = RGBColor(140, 140, 140);
/// Okabe & Ito's palette, distinguishable under the common colour-vision deficiencies (its
/// yellow is left out: unreadable on white).
const SERIES: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(0, 0, 0),       // black
];
/// Viridis (matplotlib) at nine even stops: perceptually uniform, monotone in lightness, so it
/// still reads in grey print and for colour-blind readers.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
];

/// A chart could not be drawn or written.
#[derive(Debug)]
pub struct ChartError(String);

impl fmt::Display for ChartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chart: {}", self.0)
    }
}

impl std::error::Error for ChartError {}

impl From<std::io::Error> for ChartError {
    fn from(e: std::io::Error) -> Self {
        Self(e.to_string())
    }
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        Self(e.to_string())
    }
}

/// A grid of cells over two swept parameters.
#[derive(Clone, Debug, Default)]
pub struct Heatmap {
    pub title: String,
    /// With its unit, e.g. "spike length (s)".
    pub x_label: String,
    pub y_label: String,
    /// What the colour means, e.g. "fraction of seeds stuck".
    pub value_label: String,
    /// Column values, ascending; drawn as equal-width columns however they are spaced.
    pub xs: Vec<f64>,
    /// Row values, ascending from the bottom.
    pub ys: Vec<f64>,
    /// `values[row][col]`; `None`, NaN or a cell past the end of a row = no data (hatched grey).
    pub values: Vec<Vec<Option<f64>>>,
    /// The colour scale; default min..max of the data, or 0..1 when all values are fractions.
    pub range: Option<(f64, f64)>,
    /// Write the value in each cell (skipped when cells are too small to read).
    pub annotate: bool,
}

/// Metric against parameter, one line per series.
#[derive(Clone, Debug, Default)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Logarithmic y, for latencies spanning decades; points with mean ≤ 0 are then skipped.
    pub log_y: bool,
    pub series: Vec<Line>,
}

#[derive(Clone, Debug, Default)]
pub struct Line {
    pub name: String,
    /// (x, mean, confidence-interval half-width); non-finite x or mean is skipped, a non-finite
    /// half-width draws no band at that point.
    pub points: Vec<(f64, f64, f64)>,
}

/// Writes `out.svg` and `out.png` (the extensions are appended to `out`).
pub fn heatmap(out: &Path, h: &Heatmap) -> Result<(), ChartError> {
    std::fs::write(with_ext(out, "svg"), heatmap_svg(h)?)?;
    let png = with_ext(out, "png");
    let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
    draw_heatmap(&root, h)?;
    Ok(root.present()?)
}

/// The heatmap's SVG document.
pub fn heatmap_svg(h: &Heatmap) -> Result<String, ChartError> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, SIZE).into_drawing_area();
        draw_heatmap(&root, h)?;
        root.present()?;
    }
    Ok(s)
}

/// Writes `out.svg` and `out.png` (the extensions are appended to `out`).
pub fn lines(out: &Path, c: &LineChart) -> Result<(), ChartError> {
    std::fs::write(with_ext(out, "svg"), lines_svg(c)?)?;
    let png = with_ext(out, "png");
    let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
    draw_lines(&root, c)?;
    Ok(root.present()?)
}

/// The line chart's SVG document.
pub fn lines_svg(c: &LineChart) -> Result<String, ChartError> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, SIZE).into_drawing_area();
        draw_lines(&root, c)?;
        root.present()?;
    }
    Ok(s)
}

/// Appends rather than replaces, so a stem like "sweep.v2" keeps its dot; creates the folder.
fn with_ext(out: &Path, ext: &str) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir); // a real failure shows when the file is written
    }
    PathBuf::from(s)
}

/// Ubuntu Light (egui's default font) as "sans-serif", once per process: the binary carries its
/// font, so charts look the same on every machine and need no system fonts.
fn font(size: f64) -> Result<TextStyle<'static>, ChartError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font("sans-serif", FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT)
                .map_err(|_| "the embedded Ubuntu Light font did not load".to_string())
        })
        .clone()
        .map_err(ChartError)?;
    Ok(("sans-serif", size).into_font().color(&INK))
}

/// A linear f64 axis whose ticks (bold mesh lines, labelled) and light lines are computed here:
/// plotters' own key points assert on NaN and can loop forever on infinite spans.
struct Axis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
    light: Vec<f64>,
}

fn axis(lo: f64, hi: f64, ticks: Vec<f64>, light: Vec<f64>) -> Axis {
    Axis { inner: (lo..hi).into(), ticks, light }
}

impl Ranged for Axis {
    /// Unused (every chart passes its own label formatter), but needed to draw a mesh.
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() { self.light.clone() } else { self.ticks.clone() }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

fn draw_heatmap<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, h: &Heatmap) -> Result<(), ChartError> {
    root.fill(&WHITE)?;
    let root = root.margin(8, 0, 0, 0).titled(&h.title, font(28.0)?)?;
    let (ncols, nrows) = (h.xs.len(), h.ys.len());
    if ncols == 0 || nrows == 0 {
        return no_data(&root);
    }
    let cell = |r: usize, c: usize| h.values.get(r).and_then(|row| row.get(c)).copied().flatten();
    let cell = |r, c| cell(r, c).filter(|v| v.is_finite());
    let finite: Vec<f64> =
        (0..nrows).flat_map(|r| (0..ncols).map(move |c| (r, c))).filter_map(|(r, c)| cell(r, c)).collect();
    let (lo, hi) = colour_range(h.range, &finite);
    let fraction = 0.0 <= lo && hi <= 1.0;
    let (w, _) = root.dim_in_pixel();
    let (main, bar) = root.split_horizontally(w.saturating_sub(140));

    // Cells are unit squares in index space, so unevenly swept values still get equal cells;
    // ticks sit at cell centres, thinned so that labels do not run into each other.
    let (mw, mh) = main.dim_in_pixel();
    let centres = |n: usize, px: u32| {
        let every = n.div_ceil((px / 70).max(1) as usize).max(1);
        (0..n).step_by(every).map(|i| i as f64 + 0.5).collect::<Vec<_>>()
    };
    let mut chart = ChartBuilder::on(&main).margin(10).x_label_area_size(60).y_label_area_size(85).build_cartesian_2d(
        axis(0.0, ncols as f64, centres(ncols, mw), vec![]),
        axis(0.0, nrows as f64, centres(nrows, mh * 2 / 3), vec![]),
    )?;
    let label = |vals: &[f64], at: f64| vals.get(at.max(0.0) as usize).map_or(String::new(), |v| fmt_swept(*v));
    let (xl, yl) = (|v: &f64| label(&h.xs, *v), |v: &f64| label(&h.ys, *v));
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(&h.x_label)
        .y_desc(&h.y_label)
        .label_style(font(17.0)?)
        .axis_desc_style(font(20.0)?)
        .x_label_formatter(&xl)
        .y_label_formatter(&yl)
        .draw()?;

    let (pw, ph) = chart.plotting_area().dim_in_pixel();
    let text_size = (f64::from(pw) / ncols as f64 / 3.5).min(f64::from(ph) / nrows as f64 / 2.5).min(18.0);
    let plot = chart.plotting_area();
    for r in 0..nrows {
        for c in 0..ncols {
            let (x, y) = (c as f64, r as f64);
            let Some(v) = cell(r, c) else {
                plot.draw(&Rectangle::new([(x, y), (x + 1.0, y + 1.0)], NO_DATA.filled()))?;
                for (a, b) in hatch(x, y, 1.0, 1.0) {
                    plot.draw(&PathElement::new(vec![a, b], HATCH.stroke_width(1)))?;
                }
                plot.draw(&Rectangle::new([(x, y), (x + 1.0, y + 1.0)], WHITE.stroke_width(2)))?;
                continue;
            };
            let bg = viridis(unit(v, lo, hi));
            plot.draw(&Rectangle::new([(x, y), (x + 1.0, y + 1.0)], bg.filled()))?;
            plot.draw(&Rectangle::new([(x, y), (x + 1.0, y + 1.0)], WHITE.stroke_width(2)))?;
            if h.annotate && text_size >= 8.0 {
                let text = if fraction { format!("{v:.2}") } else { fmt_num(v) };
                let ink = readable_on(bg);
                let style = font(text_size)?.color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
                plot.draw(&Text::new(text, (x + 0.5, y + 0.5), style))?;
            }
        }
    }
    colour_bar(&bar, h, lo, hi, finite.len() < nrows * ncols)
}

/// The legend: the scale from lo (bottom) to hi with ticks, aligned with the plot, and a hatched
/// "no data" swatch below it when some cells have none.
fn colour_bar<DB: DrawingBackend>(
    bar: &DrawingArea<DB, Shift>,
    h: &Heatmap,
    lo: f64,
    hi: f64,
    missing: bool,
) -> Result<(), ChartError> {
    let ticks = nice_ticks(lo, hi, 6);
    let step = ticks.get(1).zip(ticks.first()).map_or(hi - lo, |(b, a)| b - a);
    let ts = ticks.iter().map(|v| unit(*v, lo, hi)).collect();
    let mut chart = ChartBuilder::on(bar)
        .margin_top(10)
        .margin_bottom(70)
        .margin_left(10)
        .margin_right(32)
        .set_label_area_size(LabelAreaPosition::Right, 55)
        .build_cartesian_2d(axis(0.0, 1.0, vec![], vec![]), axis(0.0, 1.0, ts, vec![]))?;
    let fmt = |t: &f64| fmt_tick(lo + t * (hi / 2.0 - lo / 2.0) * 2.0, step);
    chart
        .configure_mesh()
        .disable_mesh()
        .set_all_tick_mark_size(5)
        .label_style(font(16.0)?)
        .y_label_formatter(&fmt)
        .draw()?;
    // By hand: plotters puts a right-hand axis title outside its area, where it is clipped.
    let (bw, bh) = bar.dim_in_pixel();
    let style = font(19.0)?.transform(FontTransform::Rotate270).pos(Pos::new(HPos::Center, VPos::Top));
    bar.draw(&Text::new(h.value_label.as_str(), (bw as i32 - 28, (bh as i32 - 60) / 2), style))?;
    const STEPS: usize = 96;
    chart.draw_series((0..STEPS).map(|i| {
        let (a, b) = (i as f64 / STEPS as f64, (i + 1) as f64 / STEPS as f64);
        Rectangle::new([(0.0, a), (1.0, b)], viridis((a + b) / 2.0).filled())
    }))?;
    chart.plotting_area().draw(&Rectangle::new([(0.0, 0.0), (1.0, 1.0)], INK.stroke_width(1)))?;
    if missing {
        let (x, y) = (10, bh as i32 - 40);
        bar.draw(&Rectangle::new([(x, y), (x + 20, y + 20)], NO_DATA.filled()))?;
        for (a, b) in hatch(0.0, 0.0, 20.0, 20.0) {
            let px = |p: (f64, f64)| (x + p.0 as i32, y + 20 - p.1 as i32);
            bar.draw(&PathElement::new(vec![px(a), px(b)], HATCH.stroke_width(1)))?;
        }
        let style = font(16.0)?.pos(Pos::new(HPos::Left, VPos::Center));
        bar.draw(&Text::new("no data", (x + 28, y + 10), style))?;
    }
    Ok(())
}

/// (x, y, band low..high) in plot space.
type Point = (f64, f64, Option<(f64, f64)>);

fn draw_lines<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &LineChart) -> Result<(), ChartError> {
    root.fill(&WHITE)?;
    let root = root.margin(8, 0, 0, 0).titled(&c.title, font(28.0)?)?;
    // Per series: (x, y, band) in plot space (log10 of the value on a log axis), sorted by x.
    let to_y = |v: f64| if c.log_y { v.log10() } else { v };
    let ok = |v: f64| v.is_finite() && (!c.log_y || v > 0.0);
    let series: Vec<Vec<Point>> = c
        .series
        .iter()
        .map(|s| {
            let mut pts: Vec<_> = (s.points.iter())
                .filter(|p| p.0.is_finite() && ok(p.1))
                .map(|&(x, m, hw)| {
                    let band = (hw.is_finite() && ok(m + hw.abs())).then(|| {
                        let low = m - hw.abs();
                        (if ok(low) { to_y(low) } else { f64::NEG_INFINITY }, to_y(m + hw.abs()))
                    });
                    (x, to_y(m), band)
                })
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            pts
        })
        .collect();
    let all = || series.iter().flatten();
    let xs = span(all().map(|p| p.0));
    let ys = span(all().flat_map(|p| [p.1].into_iter().chain(p.2.into_iter().flat_map(|b| [b.0, b.1]))));
    let (Some((x0, x1)), Some((y0, y1))) = (xs, ys) else {
        return no_data(&root);
    };
    let (x0, x1) = pad(x0, x1)?;
    let (y0, y1) = if c.log_y && y1 - y0 < 1e-9 { (y0 - 0.5, y1 + 0.5) } else { pad(y0, y1)? };
    let (xt, yt) = (nice_ticks(x0, x1, 8), if c.log_y { log_ticks(y0, y1) } else { nice_ticks(y0, y1, 7) });
    let light = |lo, hi, n| if c.log_y { log_light(lo, hi) } else { nice_ticks(lo, hi, n) };
    let mut chart = ChartBuilder::on(&root)
        .margin(15)
        .margin_right(30)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(
            axis(x0, x1, xt.clone(), nice_ticks(x0, x1, 40)),
            axis(y0, y1, yt.clone(), light(y0, y1, 35)),
        )?;
    let step = |t: &[f64]| t.get(1).zip(t.first()).map_or(1.0, |(b, a)| b - a);
    let (xstep, ystep) = (step(&xt), step(&yt));
    let fx = |v: &f64| fmt_tick(*v, xstep);
    let fy = |v: &f64| if c.log_y { fmt_num(10f64.powf(*v)) } else { fmt_tick(*v, ystep) };
    chart
        .configure_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .label_style(font(17.0)?)
        .axis_desc_style(font(20.0)?)
        .bold_line_style(RGBColor(205, 205, 205))
        .light_line_style(RGBColor(238, 238, 238))
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .draw()?;

    for (i, (pts, line)) in series.iter().zip(&c.series).enumerate() {
        let colour = SERIES[i % SERIES.len()];
        // Bands over runs of consecutive points that have one; a lone point gets an error bar.
        for run in pts.split(|p| p.2.is_none()) {
            let band: Vec<(f64, f64, f64)> = run.iter().filter_map(|p| p.2.map(|(l, u)| (p.0, l.max(y0), u))).collect();
            if let [(x, l, u)] = band[..] {
                chart.draw_series([PathElement::new(vec![(x, l), (x, u)], colour.mix(0.5).stroke_width(2))])?;
            } else if band.len() > 1 {
                let outline = band.iter().map(|p| (p.0, p.2)).chain(band.iter().rev().map(|p| (p.0, p.1)));
                chart.draw_series([Polygon::new(outline.collect::<Vec<_>>(), colour.mix(0.18).filled())])?;
            }
        }
        let drawn = chart.draw_series(LineSeries::new(pts.iter().map(|p| (p.0, p.1)), colour.stroke_width(2)))?;
        if !line.name.is_empty() {
            drawn.label(&line.name).legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (20, 0)], colour.stroke_width(2))
                    + Circle::new((10, 0), 4, colour.filled())
            });
        }
        chart.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 4, colour.filled())))?;
    }
    if c.series.iter().any(|s| !s.name.is_empty()) {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(font(17.0)?)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()?;
    }
    Ok(())
}

fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> Result<(), ChartError> {
    let (w, h) = area.dim_in_pixel();
    let style = font(20.0)?.pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new("no data", (w as i32 / 2, h as i32 / 2), style))?;
    Ok(())
}

/// Min and max of the finite values, if any.
fn span(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    vals.filter(|v| v.is_finite())
        .fold(None, |acc, v| Some(acc.map_or((v, v), |(a, b): (f64, f64)| (a.min(v), b.max(v)))))
}

/// 5 % of air around the data; a constant (or nearly so) gets ±10 % of its size, or ±1 at 0.
fn pad(lo: f64, hi: f64) -> Result<(f64, f64), ChartError> {
    let (span, mag) = (hi - lo, lo.abs().max(hi.abs()));
    let p = if span <= mag * 1e-9 { if mag > 1e-200 { mag * 0.1 } else { 1.0 } } else { span * 0.05 };
    let (lo, hi) = (lo - p, hi + p);
    if (hi - lo).is_finite() {
        Ok((lo, hi))
    } else {
        Err(ChartError(format!("values span {lo:e}..{hi:e}, too wide to plot")))
    }
}

/// The colour scale: the caller's if usable, else 0..1 for fractions, else min..max.
fn colour_range(given: Option<(f64, f64)>, vals: &[f64]) -> (f64, f64) {
    let (lo, hi) = match given.filter(|(a, b)| a.is_finite() && b.is_finite()) {
        Some((a, b)) => (a.min(b), a.max(b)),
        None => match span(vals.iter().copied()) {
            Some((a, b)) if a >= 0.0 && b <= 1.0 => (0.0, 1.0),
            Some(ab) => ab,
            None => (0.0, 1.0),
        },
    };
    if hi - lo > lo.abs().max(hi.abs()) * 1e-9 { (lo, hi) } else { pad(lo, hi).unwrap_or((lo - 1.0, hi + 1.0)) }
}

/// Position of v in lo..hi as 0..=1; halved first so that ranges near f64::MAX do not overflow.
fn unit(v: f64, lo: f64, hi: f64) -> f64 {
    let t = (v / 2.0 - lo / 2.0) / (hi / 2.0 - lo / 2.0);
    if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) }
}

fn viridis(t: f64) -> RGBColor {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) } * (VIRIDIS.len() - 1) as f64;
    let i = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Dark text on light cells, white on dark ones (by relative luminance).
fn readable_on(bg: RGBColor) -> RGBColor {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    let l = 0.2126 * lin(bg.0) + 0.7152 * lin(bg.1) + 0.0722 * lin(bg.2);
    if l > 0.3 { INK } else { WHITE }
}

/// Diagonal hatching inside the box at (x, y) of size w × h: segments of lines y − x = k.
fn hatch(x: f64, y: f64, w: f64, h: f64) -> Vec<((f64, f64), (f64, f64))> {
    [-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75]
        .iter()
        .map(|&k: &f64| {
            let (s, e) = ((-k).max(0.0), (1.0 - k).min(1.0));
            ((x + s * w, y + (s + k) * h), (x + e * w, y + (e + k) * h))
        })
        .collect()
}

/// About `n` ticks at multiples of 1, 2 or 5 × 10^k inside lo..hi (just the ends if the span is
/// not finite).
fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return [lo, hi].into_iter().filter(|v| v.is_finite()).collect();
    }
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = mag * [1.0, 2.0, 5.0, 10.0].into_iter().find(|m| raw / mag <= m * 1.2).unwrap_or(10.0);
    let first = (lo / step).ceil();
    (0..200).map(|i| (first + f64::from(i)) * step).take_while(|v| *v <= hi + step * 1e-9).collect()
}

/// Ticks on a log10 axis: every decade, or every 2, 5, 10… decades past eight of them, with
/// 2 and 5 between when it spans few; plain 1-2-5 ticks within a single decade.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut t: Vec<f64> = if hi - lo > 8.0 {
        nice_ticks(lo, hi, 6)
    } else {
        (0..10).map(|i| lo.ceil() + f64::from(i)).take_while(|d| *d <= hi).collect()
    };
    if hi - lo < 3.0 {
        let fine = (lo.floor() as i32..=hi.ceil() as i32).flat_map(|d| [2f64, 5.0].map(|m| f64::from(d) + m.log10()));
        t.extend(fine.filter(|v| (lo..=hi).contains(v)));
        t.sort_by(f64::total_cmp);
    }
    if t.len() >= 3 { t } else { nice_ticks(10f64.powf(lo), 10f64.powf(hi), 5).into_iter().map(f64::log10).collect() }
}

/// Light grid lines at 2..9 × 10^k when the axis spans few enough decades to show them.
fn log_light(lo: f64, hi: f64) -> Vec<f64> {
    if hi - lo > 6.0 {
        return vec![];
    }
    let lines =
        (lo.floor() as i32..=hi.ceil() as i32).flat_map(|d| (2..10).map(move |m| f64::from(d) + f64::from(m).log10()));
    lines.filter(|v| (lo..=hi).contains(v)).collect()
}

/// Three significant digits, trailing zeros dropped; scientific outside 0.001..1e6.
fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() || a == 0.0 {
        return if a == 0.0 { "0".into() } else { format!("{v}") };
    }
    if !(1e-3..1e6).contains(&a) {
        return sci(v, 2);
    }
    let d = (2 - a.log10().floor() as i32).clamp(0, 6) as usize;
    trim(format!("{v:.d$}"))
}

/// A tick label with as many decimals as the tick step needs.
fn fmt_tick(v: f64, step: f64) -> String {
    let step = if step.is_finite() && step > 0.0 { step } else { v.abs().max(1e-300) };
    let v = if v.abs() < step * 1e-6 { 0.0 } else { v };
    let mag = v.abs().max(step);
    if !(1e-3..1e6).contains(&mag) {
        return sci(v, (mag.log10().floor() - step.log10().floor()).clamp(0.0, 6.0) as usize);
    }
    let d = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{v:.d$}")
}

/// A swept value as written in the sweep (shortest form) unless that is long.
fn fmt_swept(v: f64) -> String {
    let s = format!("{v}");
    if s.len() <= 6 { s } else { fmt_num(v) }
}

fn sci(v: f64, digits: usize) -> String {
    let s = format!("{v:.digits$e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    format!("{}e{e}", trim(m.to_string()))
}

fn trim(s: String) -> String {
    let t = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { &s };
    if t == "-0" { "0".into() } else { t.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system temp dir, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let d = std::env::temp_dir().join(format!("sluice_chart_{}_{name}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            Self(d)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn assert_written(stem: &Path) -> String {
        let png = std::fs::read(with_ext(stem, "png")).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1024, "{} bytes", png.len());
        std::fs::read_to_string(with_ext(stem, "svg")).unwrap()
    }

    fn stuck_map() -> Heatmap {
        let values = (0..4)
            .map(|r| (0..5).map(|c| if (r + c) % 7 == 3 { None } else { Some(f64::from(r * c) / 12.0) }).collect())
            .collect();
        Heatmap {
            title: "Metastability: fraction of seeds stuck".into(),
            x_label: "spike length (s)".into(),
            y_label: "base load (ρ)".into(),
            value_label: "fraction of seeds stuck".into(),
            xs: vec![1.0, 2.0, 5.0, 10.0, 30.0],
            ys: vec![0.5, 0.7, 0.8, 0.9],
            values,
            range: None,
            annotate: true,
        }
    }

    fn latency() -> LineChart {
        let line = |name: &str, k: f64| Line {
            name: name.into(),
            points: vec![
                (0.5, 0.1 * k, 0.01 * k),
                (0.8, 0.5 * k, 0.1 * k),
                (0.9, 1.2 * k, f64::INFINITY),
                (1.0, 5.0 * k, 2.0 * k),
            ],
        };
        LineChart {
            title: "p99 latency vs load".into(),
            x_label: "offered load (ρ)".into(),
            y_label: "p99 latency (s)".into(),
            log_y: true,
            series: vec![line("no retries", 1.0), line("3 retries", 1.8)],
        }
    }

    #[test]
    fn heatmap_writes_both_files_with_title_and_labels() {
        let dir = Scratch::new("heatmap");
        let stem = dir.0.join("stuck");
        heatmap(&stem, &stuck_map()).unwrap();
        let svg = assert_written(&stem);
        for text in ["Metastability: fraction of seeds stuck", "spike length (s)", "base load (ρ)", "no data", "\n30\n"]
        {
            assert!(svg.contains(text), "{text}");
        }
    }

    #[test]
    fn lines_with_two_series_on_a_log_axis() {
        let dir = Scratch::new("lines");
        let stem = dir.0.join("p99");
        lines(&stem, &latency()).unwrap();
        let svg = assert_written(&stem);
        for text in ["p99 latency vs load", "offered load (ρ)", "p99 latency (s)", "3 retries"] {
            assert!(svg.contains(text), "{text}");
        }
    }

    #[test]
    fn svg_is_deterministic() {
        assert_eq!(heatmap_svg(&stuck_map()).unwrap(), heatmap_svg(&stuck_map()).unwrap());
        assert_eq!(lines_svg(&latency()).unwrap(), lines_svg(&latency()).unwrap());
    }

    #[test]
    fn degenerate_inputs_never_panic() {
        let nan = f64::NAN;
        let mut maps = vec![Heatmap::default(), Heatmap { xs: vec![1.0], ys: vec![2.0], ..Heatmap::default() }];
        for (vals, range) in [
            (vec![vec![Some(nan), Some(f64::INFINITY)]], None),
            (vec![vec![Some(3.0), Some(3.0)]], None),
            (vec![vec![Some(-1e308), Some(1e308)]], None),
            (vec![vec![Some(0.5), None]], Some((0.2, 0.2))),
            (vec![vec![Some(0.5)]], Some((nan, 1.0))),
        ] {
            maps.push(Heatmap {
                xs: vec![nan, 1e12],
                ys: vec![1e-9],
                values: vals,
                range,
                annotate: true,
                ..stuck_map()
            });
        }
        for m in &maps {
            heatmap_svg(m).unwrap();
        }
        let pts = [
            vec![],
            vec![(nan, nan, nan)],
            vec![(1.0, 2.0, 0.5)],
            vec![(1.0, 2.0, 0.0), (1.0, 2.0, 0.0)],
            vec![(0.0, 0.0, f64::INFINITY), (1.0, -3.0, nan), (2.0, 1e-310, 1.0)],
            vec![(1e300, 1e300, 1e300), (1e300, 1e-300, 1e300)],
            vec![(-1e308, 1.0, 0.1), (1e308, 2.0, 0.1)],
        ];
        for log_y in [false, true] {
            for p in &pts {
                let c = LineChart { log_y, series: vec![Line { name: String::new(), points: p.clone() }], ..latency() };
                if let Err(e) = lines_svg(&c) {
                    assert!(e.to_string().contains("too wide"), "{e}");
                }
            }
        }
        lines_svg(&LineChart::default()).unwrap();
    }

    #[test]
    fn ticks_and_labels_are_tidy() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        assert_eq!(nice_ticks(f64::MIN, f64::MAX, 5), [f64::MIN, f64::MAX]);
        assert_eq!(log_ticks(-1.0, 1.0).len(), 7); // 0.1 0.2 0.5 1 2 5 10
        assert_eq!(fmt_tick(0.6000000000000001, 0.2), "0.6");
        assert_eq!((fmt_num(0.85), fmt_num(1234567.0), fmt_num(-0.0)), ("0.85".into(), "1.23e6".into(), "0".into()));
        assert_eq!((fmt_swept(30.0), fmt_swept(0.125)), ("30".into(), "0.125".into()));
        assert_eq!((readable_on(viridis(0.0)), readable_on(viridis(1.0))), (WHITE, INK));
    }
}
