//! The topology canvas: node cards with live queue, worker and breaker state, and edges whose
//! moving particles show flow (density follows throughput, colour follows outcome).
//! Pan by dragging the background, zoom with the scroll wheel, drag cards to rearrange.

use bevy_egui::egui;
use bevy_egui::egui::{Color32, Pos2, Rect, Sense, Stroke, Ui, Vec2, pos2, vec2};

use super::state::{Command, GuiState};
use crate::engine::sim::{NodeKind, NodeView};
use crate::model::policy::BreakerState;

/// Card size in canvas units.
const CARD: Vec2 = vec2(180.0, 96.0);

/// Smallest zoom the scroll wheel reaches.
const MIN_ZOOM: f32 = 0.3;

/// Smallest zoom fitting the view chooses: below it the card text is too small to read.
const FIT_MIN_ZOOM: f32 = 0.6;

/// Canvas view transform (kept in egui memory between frames).
#[derive(Clone, Copy, Debug)]
struct View {
    offset: Vec2,
    zoom: f32,
}

impl Default for View {
    fn default() -> Self {
        Self { offset: vec2(0.0, 0.0), zoom: 1.0 }
    }
}

/// Colour from green (idle) through amber to red (saturated).
pub fn health(load: f32) -> Color32 {
    let l = load.clamp(0.0, 1.0);
    if l < 0.6 {
        Color32::from_rgb(60, 150, 90)
    } else if l < 0.85 {
        Color32::from_rgb(200, 160, 50)
    } else {
        Color32::from_rgb(200, 70, 60)
    }
}

fn breaker_colour(state: BreakerState) -> Color32 {
    match state {
        BreakerState::Closed => Color32::from_rgb(70, 170, 90),
        BreakerState::HalfOpen => Color32::from_rgb(230, 180, 40),
        BreakerState::Open => Color32::from_rgb(220, 60, 60),
    }
}

pub fn canvas_ui(ui: &mut Ui, state: &mut GuiState, out: &mut Vec<Command>) {
    let (rect, bg) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
    let id = ui.id().with("canvas_view");
    // The first frame, and a double click on the background, fit the whole topology in view.
    let mut view: View = match ui.data(|d| d.get_temp(id)) {
        Some(v) if !bg.double_clicked() => v,
        _ => fit_view(rect, state.layout.values()),
    };
    if bg.dragged() {
        view.offset += bg.drag_delta();
    }
    if bg.hovered() {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if scroll != 0.0 {
            view.zoom = (view.zoom * (1.0 + scroll * 0.001)).clamp(MIN_ZOOM, 3.0);
        }
    }
    let mut edge_clicked = None;
    let painter = ui.painter_at(rect);
    let to_screen = |p: (f32, f32)| rect.min + view.offset + vec2(p.0, p.1) * view.zoom;
    let names = state.sim.node_names();
    let views: Vec<NodeView> = names.iter().filter_map(|n| state.sim.node(n)).collect();
    let time = ui.input(|i| i.time);
    // Edges first (under the cards).
    for v in &views {
        let Some(&from) = state.layout.get(&v.name) else { continue };
        let series = state.sim.series(&v.name);
        let last = series.last().copied().unwrap_or_default();
        for e in &v.edges {
            let Some(&to) = state.layout.get(&e.to) else { continue };
            let a = to_screen(from) + vec2(CARD.x, CARD.y / 2.0) * view.zoom;
            let b = to_screen(to) + vec2(0.0, CARD.y / 2.0) * view.zoom;
            let colour = if e.cut { Color32::from_rgb(220, 60, 60) } else { Color32::from_gray(110) };
            let selected = state.selected_edge.as_deref() == Some(e.name.as_str());
            let width = if selected { 4.0 } else { 2.0 };
            painter.line_segment([a, b], Stroke::new(width * view.zoom, colour));
            arrow_head(&painter, a, b, colour, view.zoom);
            // Clicking near the line selects the edge (its policy in the inspector).
            if bg.clicked() && bg.interact_pointer_pos().is_some_and(|p| distance_to_segment(p, a, b) < 6.0) {
                edge_clicked = Some(e.name.clone());
            }
            // Particles: about one per 5 requests/s, moving at a fixed speed; colour by the
            // share of retries and failures in the last sample.
            let rate = if last.span > 0.0 { last.arrivals as f64 / last.span } else { 0.0 };
            let n = ((rate / 5.0).ceil() as usize).min(40);
            let bad = (last.errors + last.rejected + last.dropped + last.timed_out) as f64;
            let total = (last.arrivals as f64).max(1.0);
            for k in 0..n {
                let phase = ((time * 0.4 + k as f64 / n as f64) % 1.0) as f32;
                let p = a + (b - a) * phase;
                let pick = (k as f64 + 0.5) / n as f64;
                let c = if pick < bad / total {
                    Color32::from_rgb(230, 80, 70)
                } else if pick < (bad + last.retries as f64) / total {
                    Color32::from_rgb(240, 170, 50)
                } else {
                    Color32::from_rgb(90, 200, 120)
                };
                painter.circle_filled(p, 3.0 * view.zoom, c);
            }
        }
    }
    match edge_clicked {
        Some(edge) => out.push(Command::SelectEdge(edge)),
        None if bg.clicked() => out.push(Command::Select(None)),
        None => {}
    }
    // Cards.
    for v in &views {
        let pos = *state.layout.get(&v.name).unwrap_or(&(0.0, 0.0));
        let card = Rect::from_min_size(to_screen(pos), CARD * view.zoom);
        let resp = ui.interact(card, ui.id().with(("card", &v.name)), Sense::click_and_drag());
        if resp.dragged() {
            let d = resp.drag_delta() / view.zoom;
            state.layout.insert(v.name.clone(), (pos.0 + d.x, pos.1 + d.y));
        }
        if resp.clicked() {
            out.push(Command::Select(Some(v.name.clone())));
        }
        draw_card(&painter, card, v, state.selected.as_deref() == Some(v.name.as_str()), view.zoom);
    }
    ui.data_mut(|d| d.insert_temp(id, view));
}

/// The view that shows as many cards as fit at a readable zoom (at most 1), centred in `rect`.
fn fit_view<'a>(rect: Rect, positions: impl Iterator<Item = &'a (f32, f32)>) -> View {
    let mut bounds = Rect::NOTHING;
    for &(x, y) in positions {
        bounds = bounds.union(Rect::from_min_size(pos2(x, y), CARD));
    }
    if !bounds.is_positive() {
        return View::default();
    }
    let margin = 24.0;
    let fit = ((rect.width() - 2.0 * margin) / bounds.width()).min((rect.height() - 2.0 * margin) / bounds.height());
    let zoom = fit.clamp(FIT_MIN_ZOOM, 1.0);
    // Centre along an axis where everything fits; otherwise start at the top left, where the
    // sources are.
    let spare = rect.size() - bounds.size() * zoom;
    let lead = |spare: f32| if spare >= 2.0 * margin { spare / 2.0 } else { margin };
    let offset = vec2(lead(spare.x), lead(spare.y)) - bounds.min.to_vec2() * zoom;
    View { offset, zoom }
}

fn distance_to_segment(p: Pos2, a: Pos2, b: Pos2) -> f32 {
    let ab = b - a;
    let t = ((p - a).dot(ab) / ab.length_sq().max(1e-6)).clamp(0.0, 1.0);
    (a + ab * t).distance(p)
}

fn arrow_head(painter: &egui::Painter, a: Pos2, b: Pos2, colour: Color32, zoom: f32) {
    let dir = (b - a).normalized();
    let n = vec2(-dir.y, dir.x);
    let tip = b;
    let s = 9.0 * zoom;
    painter.add(egui::Shape::convex_polygon(
        vec![tip, tip - dir * s + n * s * 0.5, tip - dir * s - n * s * 0.5],
        colour,
        Stroke::NONE,
    ));
}

/// The text lines a node's card shows now (for scripted checks of a real window).
pub fn card_text(state: &GuiState, name: &str) -> Vec<String> {
    let Some(v) = state.sim.node(name) else { return Vec::new() };
    let c = &v.counters;
    let mut lines = vec![v.name.clone()];
    if v.kind == NodeKind::Service {
        let cap = v.capacity.map_or("∞".to_string(), |c| c.to_string());
        lines.push(format!("queue {}/{cap}   busy {}/{}   inside {}", v.queue_len, v.busy, v.workers, v.inside));
    }
    lines.push(format!("rej {}  drop {}  t/o {}  err {}", c.rejected, c.dropped, c.timed_out, c.errors));
    lines
}

fn draw_card(painter: &egui::Painter, r: Rect, v: &NodeView, selected: bool, zoom: f32) {
    let fill = match v.capacity {
        Some(c) if c > 0 => v.queue_len as f32 / c as f32,
        _ => 0.0,
    };
    let util = if v.workers > 0 { v.busy as f32 / v.workers as f32 } else { 0.0 };
    let load = util.max(fill);
    let border = if selected { Color32::WHITE } else { health(load) };
    let bg = if v.up { Color32::from_rgb(36, 40, 48) } else { Color32::from_rgb(70, 25, 25) };
    painter.rect_filled(r, 6.0 * zoom, bg);
    painter.rect_stroke(r, 6.0 * zoom, Stroke::new(2.0 * zoom, border), egui::StrokeKind::Inside);
    let font = |s: f32| egui::FontId::proportional(s * zoom);
    let text = Color32::from_gray(230);
    let x = r.left() + 8.0 * zoom;
    let kind = match v.kind {
        NodeKind::Source => "source",
        NodeKind::Service if v.up => "service",
        NodeKind::Service => "service · DOWN",
    };
    painter.text(pos2(x, r.top() + 6.0 * zoom), egui::Align2::LEFT_TOP, &v.name, font(15.0), text);
    painter.text(
        pos2(r.right() - 8.0 * zoom, r.top() + 8.0 * zoom),
        egui::Align2::RIGHT_TOP,
        kind,
        font(10.0),
        Color32::GRAY,
    );
    if v.kind == NodeKind::Service {
        // Queue bar.
        let bar = Rect::from_min_size(pos2(x, r.top() + 30.0 * zoom), vec2(r.width() - 16.0 * zoom, 10.0 * zoom));
        painter.rect_filled(bar, 2.0, Color32::from_gray(60));
        let shown = match v.capacity {
            Some(c) if c > 0 => fill,
            Some(_) => 0.0,
            None => (v.queue_len as f32 / 100.0).min(1.0),
        };
        let mut filled = bar;
        filled.set_width(bar.width() * shown);
        painter.rect_filled(
            filled,
            2.0,
            if shown > 0.8 { Color32::from_rgb(220, 60, 60) } else { Color32::from_rgb(80, 140, 220) },
        );
        let cap = v.capacity.map_or("∞".to_string(), |c| c.to_string());
        painter.text(
            pos2(x, r.top() + 44.0 * zoom),
            egui::Align2::LEFT_TOP,
            format!("queue {}/{cap}   busy {}/{}   inside {}", v.queue_len, v.busy, v.workers, v.inside),
            font(11.0),
            text,
        );
    } else {
        let in_flight: u64 = v.edges.iter().map(|e| e.in_flight).sum();
        painter.text(
            pos2(x, r.top() + 30.0 * zoom),
            egui::Align2::LEFT_TOP,
            format!("in flight {in_flight}"),
            font(11.0),
            text,
        );
    }
    let c = &v.counters;
    painter.text(
        pos2(x, r.top() + 60.0 * zoom),
        egui::Align2::LEFT_TOP,
        format!("rej {}  drop {}  t/o {}  err {}", c.rejected, c.dropped, c.timed_out, c.errors),
        font(10.5),
        Color32::from_gray(190),
    );
    // Breaker badges for outgoing edges.
    let mut bx = x;
    for e in &v.edges {
        if let Some(b) = e.breaker {
            let badge = Rect::from_min_size(pos2(bx, r.bottom() - 18.0 * zoom), vec2(70.0 * zoom, 13.0 * zoom));
            painter.rect_filled(badge, 3.0, breaker_colour(b));
            painter.text(
                badge.center(),
                egui::Align2::CENTER_CENTER,
                format!("->{} {}", e.to, b.name()),
                font(9.0),
                Color32::BLACK,
            );
            bx += 74.0 * zoom;
        }
    }
}
