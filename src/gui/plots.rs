//! The plot dock: small multiples (throughput, latency, queue, refusals, … side by side) over
//! one time axis that follows the clock or stays parked where the user pointed.
//!
//! Every frame each plot's x range is set from the app state — `[t − window, t]` while following,
//! the window ending at the parked instant while parked — rather than left to the plot widget's
//! memory, which kept the first window's bounds for ever. Dragging a plot scrolls the parked
//! view and the wheel changes the window, both through the state. A node has one colour for the
//! whole session ([`palette::NodePalette`]); the legend is a row above the plots, so it never covers
//! data. When comparing nodes, the plots show those in trouble now (queue fill, refusal or error
//! share, a breaker not closed), not the busiest. A pinned baseline is drawn as a faint dashed
//! ghost of each line.

use bevy_egui::egui;
use bevy_egui::egui::{Color32, Ui};
use egui_plot::{Corner, Legend, Line, LineStyle, Plot, PlotPoints, Polygon};

use super::health::Level;
use super::palette;
use super::state::GuiState;
use crate::experiment::recovery::Regime;
use crate::metrics::series::Point;

type Getter = fn(&Point) -> f64;

/// One quantity over time: its legend label, how to read it from a sample, and the colour it
/// is drawn in when one node is plotted alone.
pub struct Measure {
    pub label: &'static str,
    pub get: Getter,
    pub colour: Color32,
}

/// One plot of the dock.
pub struct PlotSpec {
    pub title: &'static str,
    /// The y axis's unit, named once.
    pub unit: &'static str,
    /// The line drawn for each node when comparing nodes.
    pub compare: Measure,
    /// The lines drawn when one node is selected.
    pub detail: &'static [Measure],
}

fn per_second(x: u64, p: &Point) -> f64 {
    if p.span > 0.0 { x as f64 / p.span } else { 0.0 }
}

fn refusals(p: &Point) -> u64 {
    p.rejected + p.dropped + p.timed_out + p.errors
}

const GREY: Color32 = Color32::from_gray(170);
const BLUE: Color32 = Color32::from_rgb(78, 154, 230);
const VIOLET: Color32 = Color32::from_rgb(188, 128, 236);

/// The plots on offer, in the order they appear; the breaker lanes are [`BREAKERS`], the
/// policies' readings [`POLICIES`].
pub const PLOTS: [PlotSpec; 7] = [
    PlotSpec {
        title: "throughput",
        unit: "requests/s",
        compare: Measure { label: "ok/s", get: Point::goodput, colour: palette::OK },
        detail: &[
            Measure { label: "ok/s", get: Point::goodput, colour: palette::OK },
            Measure { label: "arrivals/s", get: |p| per_second(p.arrivals, p), colour: BLUE },
            Measure { label: "refused/s", get: |p| per_second(refusals(p), p), colour: palette::BAD },
        ],
    },
    PlotSpec {
        title: "latency",
        unit: "s",
        compare: Measure { label: "p99", get: |p| p.latency_p99, colour: palette::BAD },
        detail: &[
            Measure { label: "p50", get: |p| p.latency_p50, colour: palette::OK },
            Measure { label: "p95", get: |p| p.latency_p95, colour: palette::WARN },
            Measure { label: "p99", get: |p| p.latency_p99, colour: palette::BAD },
        ],
    },
    PlotSpec {
        title: "queue",
        unit: "requests",
        compare: Measure { label: "queue", get: |p| p.queue_len, colour: BLUE },
        detail: &[
            Measure { label: "mean", get: |p| p.queue_len, colour: BLUE },
            Measure { label: "max", get: |p| p.queue_len_max, colour: GREY },
            Measure { label: "inside", get: |p| p.in_system, colour: VIOLET },
        ],
    },
    PlotSpec {
        title: "refusals",
        unit: "requests/s",
        compare: Measure { label: "refused/s", get: |p| per_second(refusals(p), p), colour: palette::BAD },
        detail: &[
            Measure { label: "rejected", get: |p| per_second(p.rejected, p), colour: palette::BAD },
            Measure { label: "dropped", get: |p| per_second(p.dropped, p), colour: VIOLET },
            Measure { label: "timed out", get: |p| per_second(p.timed_out, p), colour: palette::WARN },
            Measure { label: "errors", get: |p| per_second(p.errors, p), colour: Color32::from_rgb(240, 110, 170) },
            Measure { label: "retries", get: |p| per_second(p.retries, p), colour: BLUE },
        ],
    },
    PlotSpec {
        title: "utilization",
        unit: "%",
        compare: Measure { label: "busy", get: |p| p.utilization * 100.0, colour: BLUE },
        detail: &[Measure { label: "busy", get: |p| p.utilization * 100.0, colour: BLUE }],
    },
    PlotSpec {
        title: "breakers",
        unit: "",
        compare: Measure { label: "breaker", get: |p| p.breaker, colour: palette::BAD },
        detail: &[],
    },
    PlotSpec {
        title: "policies",
        unit: "level",
        compare: Measure { label: "", get: |_| 0.0, colour: GREY },
        detail: &[],
    },
];

/// Index of the breaker lanes in [`PLOTS`]: bands per node rather than lines.
pub const BREAKERS: usize = 5;

/// Index of the policies plot in [`PLOTS`]: one line per reading of each node's admission
/// controllers (tokens, permits, load, a state's severity), named by the engine
/// ([`crate::Sim::reading_names`]), so a new controller is plotted with no code here.
pub const POLICIES: usize = 6;

/// Whether any node of the run has policy readings to plot.
pub fn has_policies(sim: &crate::Sim) -> bool {
    sim.node_names().iter().any(|n| !sim.reading_names(n).is_empty())
}

/// The plots shown when the app starts.
pub const DEFAULT_PLOTS: [usize; 4] = [0, 1, 2, 3];

/// Nodes compared at once: more lines than this per plot are unreadable.
const MAX_NODES: usize = 5;

/// The x range the plots show now, sim seconds: the window ending at the parked instant, or
/// at the clock while following (the first window starts at 0 until the clock passes it).
pub fn x_range(state: &GuiState) -> (f64, f64) {
    let end = state.plot_focus.unwrap_or_else(|| state.now().max(state.plot_window.min(state.sim.duration())));
    (end - state.plot_window, end)
}

/// How much trouble a node is in over the samples: the largest of its queue fill, its share of
/// refused or failed requests, and its breakers' state; 0 for a healthy node.
pub fn trouble(points: &[Point], capacity: Option<u32>) -> f64 {
    let (mut arrivals, mut refused, mut queue, mut span, mut breaker) = (0u64, 0u64, 0.0, 0.0, 0.0f64);
    for p in points {
        arrivals += p.arrivals;
        refused += refusals(p);
        queue += p.queue_len * p.span;
        span += p.span;
        breaker = breaker.max(p.breaker);
    }
    let refused_share = if arrivals > 0 { refused as f64 / arrivals as f64 } else { 0.0 };
    let mean_queue = if span > 0.0 { queue / span } else { 0.0 };
    // An unbounded queue is in trouble in proportion to its length (100 waiting: fully).
    let fill = match capacity {
        Some(c) if c > 0 => mean_queue / f64::from(c),
        _ => mean_queue / 100.0,
    };
    fill.min(1.0).max(refused_share).max(breaker / 2.0)
}

/// The nodes the plots compare: the selected one alone, or those in most trouble — while
/// following the clock, first by the health colour their cards show now (a slowed node whose
/// callers' breakers shield it is red there, though it refuses nothing), then by [`trouble`]
/// over the window; ties, such as a healthy system, by throughput, then name.
pub fn nodes_to_plot(state: &GuiState, range: (f64, f64)) -> Vec<String> {
    let names = state.sim.node_names();
    if let Some(sel) = state.selected.as_ref().filter(|s| names.contains(s)) {
        return vec![sel.clone()];
    }
    let following = state.plot_focus.is_none();
    let mut ranked: Vec<(Level, f64, f64, String)> = names
        .into_iter()
        .map(|n| {
            let pts = window(state.sim.series(&n), range);
            let capacity = state.sim.node(&n).and_then(|v| v.capacity);
            let ok: u64 = pts.iter().map(|p| p.completed).sum();
            let level = if following { state.canvas.health.level(&n) } else { Level::Green };
            (level, trouble(pts, capacity), ok as f64, n)
        })
        .collect();
    ranked
        .sort_by(|a, b| b.0.cmp(&a.0).then(b.1.total_cmp(&a.1)).then(b.2.total_cmp(&a.2)).then_with(|| a.3.cmp(&b.3)));
    ranked.into_iter().take(MAX_NODES).map(|(_, _, _, n)| n).collect()
}

/// The samples of `points` inside `range` (series are sorted by time).
fn window(points: &[Point], (start, end): (f64, f64)) -> &[Point] {
    let from = points.partition_point(|p| p.t < start);
    let to = points.partition_point(|p| p.t <= end + 1e-9);
    &points[from..to.max(from)]
}

/// The dock below the timeline: plot choice, window, follow/parked, legend, and the plots.
pub fn plots_ui(ui: &mut Ui, state: &mut GuiState) {
    // The dock's width before anything is laid out: a row that ran wider (large type in
    // presenter mode) would otherwise widen every plot past the window's edge.
    let width = ui.available_width();
    ui.horizontal_wrapped(|ui| {
        for (i, spec) in PLOTS.iter().enumerate() {
            let mut on = state.plots_shown.contains(&i);
            if ui.toggle_value(&mut on, spec.title).changed() {
                if on {
                    state.plots_shown.push(i);
                    state.plots_shown.sort_unstable();
                } else if state.plots_shown.len() > 1 {
                    state.plots_shown.retain(|&p| p != i);
                }
            }
        }
        ui.separator();
        ui.label("window");
        ui.add(egui::DragValue::new(&mut state.plot_window).range(1.0..=1e7).speed(1.0).suffix(" s"));
        match state.plot_focus {
            Some(t) => {
                ui.label(format!("parked at t = {t:.1} s"));
                if ui.button("Follow clock").clicked() {
                    state.plot_focus = None;
                }
            }
            None => {
                ui.label("following the clock");
            }
        }
    });
    let range = x_range(state);
    let nodes = nodes_to_plot(state, range);
    legend_row(ui, state, &nodes);
    let shown = state.plots_shown.clone();
    let height = ui.available_height().max(60.0);
    let gap = ui.spacing().item_spacing.x;
    let each = ((width - gap * (shown.len() as f32 - 1.0)) / shown.len().max(1) as f32).max(80.0);
    let mut drawn = None;
    let mut pan = 0.0;
    let mut zoom = 1.0;
    let regimes = regime_bands(&state.sim);
    ui.horizontal(|ui| {
        for &i in &shown {
            ui.allocate_ui(egui::vec2(each, height), |ui| {
                let response = plot_one(ui, state, &PLOTS[i], i, &nodes, range, each, height);
                draw_regimes(ui, &response.transform, &regimes, i);
                drawn.get_or_insert(response.transform.bounds().range_x());
                let r = &response.response;
                if r.dragged() {
                    pan -= f64::from(r.drag_delta().x) * (range.1 - range.0) / f64::from(each.max(1.0));
                }
                if r.hovered() {
                    let scroll = ui.input(|i| i.smooth_scroll_delta.y);
                    zoom *= (-f64::from(scroll) * 0.002).exp();
                }
            });
        }
    });
    if let Some(r) = drawn {
        state.plot_x_drawn = Some((*r.start(), *r.end()));
    }
    if pan != 0.0 {
        // Dragging parks the view and scrolls it, never past the clock or before 0.
        let now = state.now();
        let end = state.plot_focus.unwrap_or(range.1) + pan;
        state.plot_focus = Some(end.clamp(state.plot_window.min(now), now.max(state.plot_window.min(now))));
        state.playing = false;
    }
    if zoom != 1.0 {
        state.plot_window = (state.plot_window * zoom).clamp(1.0, 1e7);
    }
}

/// The sources' regimes since the scenario's trigger that are not stable: (source, from, to,
/// regime), from the same recovery verdict the report's `recovery` holds.
fn regime_bands(sim: &crate::Sim) -> Vec<(String, f64, f64, Regime)> {
    let verdicts = crate::experiment::run::source_verdicts(sim);
    verdicts
        .into_iter()
        .flat_map(|(source, v)| {
            v.regimes
                .into_iter()
                .filter(|s| s.regime != Regime::Stable)
                .map(move |s| (source.clone(), s.from, s.to, s.regime))
        })
        .collect()
}

/// The colour of a regime's band: overloaded amber, recovering blue, stuck red.
fn regime_colour(r: Regime) -> Color32 {
    match r {
        Regime::Stable => palette::OK,
        Regime::Overloaded => palette::WARN,
        Regime::Recovering => palette::SCRIPTED,
        Regime::Stuck => palette::BAD,
    }
}

/// Bands along the bottom of a plot where the sources were overloaded, recovering or stuck
/// (metastable) after the scenario's trigger; hovering one names it. A thin strip rather than a
/// full-height wash: fill is what a software renderer pays for, and the lines stay readable.
fn draw_regimes(ui: &Ui, transform: &egui_plot::PlotTransform, bands: &[(String, f64, f64, Regime)], plot: usize) {
    if bands.is_empty() {
        return;
    }
    let frame = *transform.frame();
    let lane = egui::Rect::from_min_max(egui::pos2(frame.left(), frame.bottom() - 5.0), frame.right_bottom());
    let painter = ui.painter().with_clip_rect(frame);
    let pointer = ui.ctx().pointer_hover_pos();
    let mut hovered = Vec::new();
    for (source, from, to, regime) in bands {
        let (x0, x1) = (transform.position_from_point_x(*from), transform.position_from_point_x(*to));
        let band = egui::Rect::from_x_y_ranges(x0..=x1.max(x0 + 1.0), lane.y_range());
        painter.rect_filled(band, 0.0, regime_colour(*regime).gamma_multiply(0.85));
        if pointer.is_some_and(|p| band.expand2(egui::vec2(0.0, 3.0)).contains(p)) {
            hovered.push(format!("{source}: {} {from:.0}–{to:.0} s", regime_name(*regime)));
        }
    }
    if !hovered.is_empty() {
        egui::Tooltip::always_open(ui.ctx().clone(), ui.layer_id(), ui.id().with(("regime", plot)), lane)
            .show(|ui| ui.label(hovered.join("\n")));
    }
}

/// A regime as the band's tooltip names it.
pub fn regime_name(r: Regime) -> &'static str {
    match r {
        Regime::Stable => "stable",
        Regime::Overloaded => "overloaded",
        Regime::Recovering => "recovering",
        Regime::Stuck => "stuck (metastable)",
    }
}

/// Coloured node names above the plots (and the baseline's ghost style), so no legend is ever
/// drawn over data.
fn legend_row(ui: &mut Ui, state: &GuiState, nodes: &[String]) {
    ui.horizontal(|ui| {
        let compare = nodes.len() > 1 || state.selected.is_none();
        if compare && state.sim.node_names().len() > nodes.len() {
            ui.label(egui::RichText::new("nodes in most trouble:").weak());
        }
        for n in nodes {
            swatch(ui, state.colours.colour(n), false);
            ui.label(n.as_str());
        }
        if state.baseline.is_some() {
            ui.add_space(8.0);
            swatch(ui, Color32::from_gray(150), true);
            ui.label(egui::RichText::new("baseline (same seed)").weak());
        }
        if !compare {
            ui.label(egui::RichText::new("· click the background to compare nodes").weak());
        }
    });
}

/// A short line in a legend: solid for the live run, dashed for the baseline.
fn swatch(ui: &mut Ui, colour: Color32, dashed: bool) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(18.0, 10.0), egui::Sense::hover());
    let y = rect.center().y;
    let stroke = egui::Stroke::new(2.5, colour);
    if dashed {
        for k in 0..3 {
            let x = rect.left() + k as f32 * 7.0;
            ui.painter().line_segment([egui::pos2(x, y), egui::pos2(x + 4.0, y)], stroke);
        }
    } else {
        ui.painter().line_segment([egui::pos2(rect.left(), y), egui::pos2(rect.right(), y)], stroke);
    }
}

/// Draws one plot of the dock and returns its response.
#[allow(clippy::too_many_arguments)]
fn plot_one(
    ui: &mut Ui,
    state: &GuiState,
    spec: &PlotSpec,
    index: usize,
    nodes: &[String],
    range: (f64, f64),
    width: f32,
    height: f32,
) -> egui_plot::PlotResponse<()> {
    let text_size = ui.style().text_styles.get(&egui::TextStyle::Body).map_or(14.0, |f| f.size);
    let label = axis_label(spec, height, text_size);
    let plot = Plot::new(("dock", index))
        .width(width)
        .height(height)
        // The dock's backdrop shows through: a filled plot area was a sixth of each frame's
        // fill on software renderers, and the grid alone frames the data.
        .show_background(false)
        .y_axis_label(label)
        // Room for the tick labels and the rotated axis title at the text size in force
        // (presenter mode's larger type clipped the first plot's title at 28 px).
        .y_axis_min_width(28.0 * text_size / 14.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .show_x(true)
        .show_y(true)
        // Vertical grid lines in four plots cost fill on software renderers; the time axis's
        // labels and the timeline strip above already place an instant.
        .show_grid(false);
    if index == BREAKERS {
        return breaker_lanes(ui, plot, state, nodes, range);
    }
    if index == POLICIES {
        return policy_lines(ui, plot, state, nodes, range);
    }
    let single = nodes.len() == 1 && state.selected.is_some();
    let plot = if single { plot.legend(Legend::default().position(Corner::LeftTop)) } else { plot };
    let measures: Vec<&Measure> = if single { spec.detail.iter().collect() } else { vec![&spec.compare] };
    let baseline = state.baseline.as_ref();
    plot.show(ui, |p| {
        p.set_plot_bounds_x(range.0..=range.1);
        p.set_auto_bounds([false, true]);
        for n in nodes {
            let live = window(state.sim.series(n), range);
            let ghost = baseline.map(|b| window(b.sim.series(n), range));
            for m in &measures {
                let (colour, style) = if single {
                    (m.colour, LineStyle::Solid)
                } else if state.colours.dashed(n) {
                    (state.colours.colour(n), LineStyle::dashed_dense())
                } else {
                    (state.colours.colour(n), LineStyle::Solid)
                };
                let name = if single { m.label.to_string() } else { format!("{n} {}", m.label) };
                if let Some(ghost) = ghost {
                    let pts: Vec<[f64; 2]> = ghost.iter().map(|q| [q.t, (m.get)(q)]).collect();
                    p.line(
                        Line::new(format!("{name} (baseline)"), PlotPoints::new(pts))
                            .color(colour.gamma_multiply(0.45))
                            .style(LineStyle::dashed_loose())
                            .width(1.5),
                    );
                }
                let pts: Vec<[f64; 2]> = live.iter().map(|q| [q.t, (m.get)(q)]).collect();
                p.line(Line::new(name, PlotPoints::new(pts)).color(colour).style(style).width(1.5));
            }
        }
        keep_zero(p, range);
    })
}

/// Each plotted node's policy readings as lines ("api tokens", "api load"), dashed in the
/// node's colour from the second reading on, so several readings of one node stay apart.
fn policy_lines(
    ui: &mut Ui,
    plot: Plot<'_>,
    state: &GuiState,
    nodes: &[String],
    range: (f64, f64),
) -> egui_plot::PlotResponse<()> {
    let plot = plot.legend(Legend::default().position(Corner::LeftTop));
    plot.show(ui, |p| {
        p.set_plot_bounds_x(range.0..=range.1);
        p.set_auto_bounds([false, true]);
        for n in nodes {
            let live = window(state.sim.series(n), range);
            for (i, (_, label)) in state.sim.reading_names(n).into_iter().enumerate() {
                let pts: Vec<[f64; 2]> = live.iter().filter_map(|q| q.readings.get(i).map(|v| [q.t, v])).collect();
                let style = if i == 0 { LineStyle::Solid } else { LineStyle::dashed_dense() };
                let line = Line::new(format!("{n} {label}"), PlotPoints::new(pts));
                p.line(line.color(state.colours.colour(n)).style(style).width(1.5));
            }
        }
        keep_zero(p, range);
    })
}

/// Keeps 0 on the y axis and gives an empty plot a sensible height.
fn keep_zero(p: &mut egui_plot::PlotUi<'_>, range: (f64, f64)) {
    p.line(Line::new("", PlotPoints::new(vec![[range.0, 0.0]])).color(Color32::TRANSPARENT));
}

/// The y axis's title: "title (unit)", or only the unit when that would not fit along a plot
/// `height` points tall at `text_size` (large type in presenter mode, short plots); the plot's
/// name is on its toggle above anyway.
pub fn axis_label(spec: &PlotSpec, height: f32, text_size: f32) -> String {
    let full = if spec.unit.is_empty() { spec.title.to_string() } else { format!("{} ({})", spec.title, spec.unit) };
    // An average glyph is a little over half the text size wide; leave a margin.
    let fits = |s: &str| s.chars().count() as f32 * text_size * 0.6 <= height * 0.9;
    if fits(&full) || spec.unit.is_empty() { full } else { spec.unit.to_string() }
}

/// One lane per node, banded red where its breakers were open and amber where half-open.
fn breaker_lanes(
    ui: &mut Ui,
    plot: Plot<'_>,
    state: &GuiState,
    nodes: &[String],
    range: (f64, f64),
) -> egui_plot::PlotResponse<()> {
    // Lanes only for nodes that call through a breaker now or had one open in the window.
    let lanes: Vec<String> = nodes
        .iter()
        .filter(|n| {
            let enabled = state.sim.node(n).is_some_and(|v| v.edges.iter().any(|e| e.breaker.is_some()));
            enabled || window(state.sim.series(n), range).iter().any(|q| q.breaker > 0.0)
        })
        .cloned()
        .collect();
    // Lane 0 is at the bottom, so the names read top-down in rank order.
    let names: Vec<String> = lanes.iter().rev().cloned().collect();
    let count = names.len().max(1);
    let plot = plot
        .y_grid_spacer(move |_| {
            (0..count).map(|i| egui_plot::GridMark { value: i as f64 + 0.5, step_size: 1.0 }).collect()
        })
        .y_axis_formatter(move |mark, _| {
            let lane = (mark.value - 0.5).round();
            if lane >= 0.0 && (lane as usize) < names.len() { names[lane as usize].clone() } else { String::new() }
        });
    plot.show(ui, |p| {
        p.set_plot_bounds_x(range.0..=range.1);
        p.set_plot_bounds_y(0.0..=count as f64);
        p.set_auto_bounds([false, false]);
        for (rank, n) in lanes.iter().enumerate() {
            let lane = lanes.len() - 1 - rank;
            for (from, to, level) in breaker_spans(window(state.sim.series(n), range)) {
                let (name, colour) = match level {
                    2 => ("open", palette::BAD),
                    _ => ("half-open", palette::WARN),
                };
                let (y0, y1) = (lane as f64 + 0.15, lane as f64 + 0.85);
                let corners = vec![[from, y0], [to, y0], [to, y1], [from, y1]];
                p.polygon(
                    Polygon::new(name, PlotPoints::new(corners))
                        .fill_color(colour.gamma_multiply(0.75))
                        .stroke(egui::Stroke::NONE),
                );
            }
        }
    })
}

/// The (from, to, state) intervals where a node's breakers were half-open (1) or open (2):
/// each point covers `(t − span, t]`, and neighbouring points in the same state merge.
pub fn breaker_spans(points: &[Point]) -> Vec<(f64, f64, u8)> {
    let mut spans: Vec<(f64, f64, u8)> = Vec::new();
    for p in points {
        let level = p.breaker.round() as u8;
        if level == 0 {
            continue;
        }
        let from = p.t - p.span;
        match spans.last_mut() {
            Some(last) if last.2 == level && (last.1 - from).abs() < 1e-9 => last.1 = p.t,
            _ => spans.push((from, p.t, level)),
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: f64, breaker: f64) -> Point {
        Point { t, span: 1.0, breaker, ..Point::default() }
    }

    #[test]
    fn neighbouring_points_in_one_state_merge_into_one_span() {
        let pts: Vec<Point> =
            [0.0, 2.0, 2.0, 1.0, 0.0, 2.0].iter().enumerate().map(|(i, &b)| point(i as f64 + 1.0, b)).collect();
        assert_eq!(breaker_spans(&pts), vec![(1.0, 3.0, 2), (3.0, 4.0, 1), (5.0, 6.0, 2)]);
    }

    #[test]
    fn a_gap_in_the_samples_splits_a_span() {
        let pts = vec![point(1.0, 2.0), point(3.0, 2.0)];
        assert_eq!(breaker_spans(&pts), vec![(0.0, 1.0, 2), (2.0, 3.0, 2)]);
    }

    #[test]
    fn an_axis_title_that_does_not_fit_keeps_only_its_unit() {
        assert_eq!(axis_label(&PLOTS[0], 300.0, 14.0), "throughput (requests/s)");
        assert_eq!(axis_label(&PLOTS[0], 160.0, 22.4), "requests/s");
        assert_eq!(axis_label(&PLOTS[BREAKERS], 50.0, 22.4), "breakers", "no unit: the title stays");
    }

    #[test]
    fn a_closed_breaker_has_no_span() {
        assert!(breaker_spans(&[point(1.0, 0.0), point(2.0, 0.0)]).is_empty());
    }

    #[test]
    fn trouble_ranks_a_full_queue_and_refusals_above_a_busy_healthy_node() {
        let busy = Point { t: 1.0, span: 1.0, arrivals: 900, completed: 900, utilization: 1.0, ..Point::default() };
        let full = Point { t: 1.0, span: 1.0, arrivals: 50, completed: 30, queue_len: 45.0, ..Point::default() };
        let refusing = Point { t: 1.0, span: 1.0, arrivals: 100, completed: 60, rejected: 40, ..Point::default() };
        assert_eq!(trouble(&[busy], Some(50)), 0.0);
        assert!((trouble(&[full], Some(50)) - 0.9).abs() < 1e-12);
        assert!((trouble(&[refusing], None) - 0.4).abs() < 1e-12);
        assert_eq!(trouble(&[point(1.0, 2.0)], Some(10)), 1.0, "an open breaker");
    }
}
