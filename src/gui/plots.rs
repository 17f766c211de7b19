//! The plot dock: one metric over a shared time axis, one line per node, following the clock
//! (rolling window) or parked where the user pointed (pause-to-scroll).

use bevy_egui::egui;
use bevy_egui::egui::Ui;
use egui_plot::{Legend, Line, Plot, PlotPoints, Polygon};

use super::state::{GuiState, METRICS};
use crate::metrics::series::Point;

type Getter = fn(&Point) -> f64;

/// Most lines drawn at once when comparing nodes: more is unreadable, and every line costs
/// tessellation and fill each frame.
const MAX_LINES: usize = 8;

fn per_second(x: u64, p: &Point) -> f64 {
    if p.span > 0.0 { x as f64 / p.span } else { 0.0 }
}

/// Lines for metric `m`: (suffix, getter).
fn lines(m: usize) -> Vec<(&'static str, Getter)> {
    match m {
        0 => vec![("ok/s", Point::goodput)],
        1 => vec![("p50", |p| p.latency_p50), ("p95", |p| p.latency_p95), ("p99", |p| p.latency_p99)],
        2 => vec![("queue", |p| p.queue_len)],
        3 => vec![
            ("rejects/s", |p| per_second(p.rejected, p)),
            ("drops/s", |p| per_second(p.dropped, p)),
            ("timeouts/s", |p| per_second(p.timed_out, p)),
            ("retries/s", |p| per_second(p.retries, p)),
        ],
        4 => vec![("utilization", |p| p.utilization)],
        5 => vec![("breaker", |p| p.breaker)],
        _ => vec![("arrivals/s", |p| per_second(p.arrivals, p))],
    }
}

pub fn plots_ui(ui: &mut Ui, state: &mut GuiState) {
    ui.horizontal(|ui| {
        egui::ComboBox::from_id_salt("metric").selected_text(METRICS[state.plot_metric].0).show_ui(ui, |ui| {
            for (i, (name, _)) in METRICS.iter().enumerate() {
                ui.selectable_value(&mut state.plot_metric, i, *name);
            }
        });
        ui.label("window");
        ui.add(egui::DragValue::new(&mut state.plot_window).range(1.0..=1e7).speed(1.0).suffix(" s"));
        match state.plot_focus {
            Some(t) => {
                ui.label(format!("viewing t = {t:.1} s (paused)"));
                if ui.button("Follow clock").clicked() {
                    state.plot_focus = None;
                }
            }
            None => {
                ui.label("following the clock");
            }
        }
    });
    let (name, unit) = METRICS[state.plot_metric];
    let end = state.plot_focus.unwrap_or_else(|| state.now()).max(state.plot_window.min(state.sim.duration()));
    let start = end - state.plot_window;
    let mut plot = Plot::new("series")
        // The dock's backdrop shows through: a filled plot area was a sixth of each frame's
        // fill on software renderers, and the grid alone frames the data.
        .show_background(false)
        .legend(Legend::default())
        .x_axis_label("sim time (s)")
        .y_axis_label(format!("{name} [{unit}]"))
        .include_y(0.0)
        .allow_scroll(state.plot_focus.is_some())
        .allow_drag(state.plot_focus.is_some());
    if !state.playing || state.plot_focus.is_none() {
        plot = plot.include_x(start).include_x(end);
    }
    if state.plot_focus.is_none() {
        plot = plot.auto_bounds(egui::Vec2b::new(false, true));
        plot = plot.default_x_bounds(start, end);
    }
    let getters = lines(state.plot_metric);
    let window = |n: &str| -> Vec<Point> {
        state.sim.series(n).iter().filter(|q| q.t >= start && q.t <= end + 1e-9).copied().collect()
    };
    // One node when one is selected; otherwise the nodes with the highest peaks in the window,
    // as many as keep the plot readable (a line per node and sub-metric).
    let mut names = state.sim.node_names();
    if state.plot_metric == BREAKER_METRIC {
        // Lanes only for nodes that call through a breaker now or had one open in the window.
        names.retain(|n| {
            let enabled = state.sim.node(n).is_some_and(|v| v.edges.iter().any(|e| e.breaker.is_some()));
            enabled || window(n).iter().any(|q| q.breaker > 0.0)
        });
        if names.is_empty() {
            ui.label("No node calls through a circuit breaker: enable one on an edge in the inspector.");
            return;
        }
    }
    let shown: Vec<(String, Vec<Point>)> = match &state.selected {
        Some(sel) if names.contains(sel) => vec![(sel.clone(), window(sel))],
        _ => {
            let mut ranked: Vec<(f64, String, Vec<Point>)> = names
                .iter()
                .map(|n| {
                    let pts = window(n);
                    let peak = pts.iter().flat_map(|q| getters.iter().map(move |(_, get)| get(q))).fold(0.0, f64::max);
                    (peak, n.clone(), pts)
                })
                .collect();
            // Highest peak first; names break ties so the choice never flickers.
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            let keep = (MAX_LINES / getters.len()).max(1);
            if ranked.len() > keep {
                ui.label(format!(
                    "comparing the {keep} of {} nodes with the highest peak here; click a node to plot it alone",
                    ranked.len()
                ));
            }
            ranked.into_iter().take(keep).map(|(_, n, pts)| (n, pts)).collect()
        }
    };
    if state.plot_metric == BREAKER_METRIC {
        breaker_bands(plot, &shown).show(ui, |p| {
            // The first (highest-ranked) node takes the top lane.
            for (rank, (_, pts)) in shown.iter().enumerate() {
                let lane = shown.len() - 1 - rank;
                for (from, to, level) in breaker_spans(pts) {
                    let (name, colour) = match level {
                        2 => ("open", egui::Color32::from_rgba_unmultiplied(220, 60, 60, 170)),
                        _ => ("half-open", egui::Color32::from_rgba_unmultiplied(230, 180, 40, 170)),
                    };
                    let (y0, y1) = (lane as f64 + 0.15, lane as f64 + 0.85);
                    let corners = vec![[from, y0], [to, y0], [to, y1], [from, y1]];
                    p.polygon(
                        Polygon::new(name, PlotPoints::new(corners)).fill_color(colour).stroke(egui::Stroke::NONE),
                    );
                }
            }
        });
        return;
    }
    plot.show(ui, |p| {
        for (n, pts) in &shown {
            for (suffix, get) in &getters {
                let line: Vec<[f64; 2]> = pts.iter().map(|q| [q.t, get(q)]).collect();
                p.line(Line::new(format!("{n} {suffix}"), PlotPoints::new(line)));
            }
        }
    });
}

/// Index of the breaker-state metric in [`METRICS`], drawn as bands rather than a line.
const BREAKER_METRIC: usize = 5;

/// Configures `plot` as one lane per node (labelled with its name) for breaker bands.
fn breaker_bands<'a>(plot: Plot<'a>, shown: &[(String, Vec<Point>)]) -> Plot<'a> {
    // Lane 0 is at the bottom, so the names read top-down in rank order.
    let names: Vec<String> = shown.iter().rev().map(|(n, _)| n.clone()).collect();
    let lanes = names.len();
    plot.legend(Legend::default())
        .y_axis_label("breaker state")
        .include_y(0.0)
        .include_y(lanes as f64)
        .auto_bounds(egui::Vec2b::new(false, false))
        .default_y_bounds(0.0, lanes as f64)
        .allow_zoom(egui::Vec2b::new(true, false))
        .y_grid_spacer(move |_| {
            (0..lanes).map(|i| egui_plot::GridMark { value: i as f64 + 0.5, step_size: 1.0 }).collect()
        })
        .y_axis_formatter(move |mark, _| {
            let lane = (mark.value - 0.5).round();
            if lane >= 0.0 && (lane as usize) < names.len() { names[lane as usize].clone() } else { String::new() }
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
    fn a_closed_breaker_has_no_span() {
        assert!(breaker_spans(&[point(1.0, 0.0), point(2.0, 0.0)]).is_empty());
    }
}
