//! The plot dock: one metric over a shared time axis, one line per node, following the clock
//! (rolling window) or parked where the user pointed (pause-to-scroll).

use bevy_egui::egui;
use bevy_egui::egui::Ui;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::state::{GuiState, METRICS};
use crate::metrics::series::Point;

type Getter = fn(&Point) -> f64;

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
    let names = state.sim.node_names();
    let selected = state.selected.clone();
    plot.show(ui, |p| {
        for n in &names {
            if selected.as_ref().is_some_and(|s| s != n) {
                continue;
            }
            let series = state.sim.series(n);
            for (suffix, get) in lines(state.plot_metric) {
                let pts: Vec<[f64; 2]> =
                    series.iter().filter(|q| q.t >= start && q.t <= end + 1e-9).map(|q| [q.t, get(q)]).collect();
                p.line(Line::new(format!("{n} {suffix}"), PlotPoints::new(pts)));
            }
        }
    });
}
