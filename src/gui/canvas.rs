//! The topology canvas: one card per node and edges whose moving particles show the flow.
//!
//! * Cards are drawn from [`Sim::live`]'s generic fields (gauges as bars, or as slots in the
//!   selected card; states as badges; counts and rates as text), so new policies appear with
//!   no drawing code here. The border is the node's [`health`](super::health) colour; faults in
//!   force (`×6 slower for 80 s more`) and the reason for the colour (`degraded via db`) are
//!   written on the card.
//! * When the zoom would make card text smaller than [`MIN_TEXT`], cards shrink to a summary
//!   (name, health, one key number) and the hovered or selected card is drawn in full on top.
//! * Edges leave a card's right side and enter the callee's left side, bent around the cards in
//!   between ([`layout::route`]); particles per edge are capped and fade as they get denser, so
//!   heavy traffic never merges into a solid bar.
//! * The view fits the whole topology on load, when the canvas is resized, on a double click on
//!   the background and when [`CanvasState::fit_requested`] is set (the F key); the automatic
//!   layout is redone for the canvas's shape each time, until the user drags a card.
//!
//! Pan by dragging the background, zoom with the scroll wheel, drag cards to rearrange.
//!
//! [`Sim::live`]: crate::Sim::live

use std::collections::BTreeMap;

use bevy_egui::egui;
use bevy_egui::egui::{Color32, FontId, Pos2, Rect, Sense, Stroke, Ui, Vec2, pos2, vec2};

use super::health::{Health, Level};
use super::layout::{self, CARD};
use super::state::{Command, GuiState};
use crate::engine::Sim;
use crate::engine::live::{LiveField, LiveValue};
use crate::engine::sim::NodeView;
use crate::scenario::schema::NodeSpec;

/// Smallest text drawn on the canvas, in points: below it, cards summarise.
pub const MIN_TEXT: f32 = 9.0;
/// Zoom limits of the scroll wheel and of fitting.
const MIN_ZOOM: f32 = 0.2;
const MAX_ZOOM: f32 = 3.0;
/// Fitting never enlarges past 1: a small topology stays at its natural size.
const FIT_MAX_ZOOM: f32 = 1.0;
/// The full card's body text size at zoom 1; below `MIN_TEXT` on screen cards summarise.
const BODY_TEXT: f32 = 11.0;

/// Health colours (the legend shows the same): the app's one palette, shared with the plots,
/// the breaker lanes and the timeline.
pub const GREEN: Color32 = super::palette::OK;
pub const AMBER: Color32 = super::palette::WARN;
pub const RED: Color32 = super::palette::BAD;
/// Particle colours: a success, a retry attempt, a failure.
const FLOW_OK: Color32 = Color32::from_rgb(110, 210, 140);
const FLOW_RETRY: Color32 = Color32::from_rgb(240, 175, 60);
const FLOW_FAIL: Color32 = Color32::from_rgb(235, 85, 75);
const TEXT: Color32 = Color32::from_gray(230);
const DIM: Color32 = Color32::from_gray(165);

/// Colour of a health level.
pub fn level_colour(level: Level) -> Color32 {
    match level {
        Level::Green => GREEN,
        Level::Amber => AMBER,
        Level::Red => RED,
    }
}

/// Colour of a state badge by its severity (0 normal, 1 warning such as half-open, 2 bad).
fn severity_colour(level: u8) -> Color32 {
    match level {
        0 => GREEN,
        1 => AMBER,
        _ => RED,
    }
}

/// Canvas view transform: screen = canvas rect min + offset + position × zoom.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    pub offset: Vec2,
    pub zoom: f32,
}

/// Per-second rate of a growing total, from snapshots taken at sim times over a short window.
#[derive(Clone, Debug, Default)]
struct RateMeter {
    snapshots: std::collections::VecDeque<(f64, u64)>,
}

impl RateMeter {
    /// Sim seconds the rate is measured over.
    const WINDOW: f64 = 5.0;

    fn record(&mut self, t: f64, total: u64) {
        if self.snapshots.back().is_some_and(|&(last, n)| t < last || total < n) {
            // The clock went back (a reset): start again.
            self.snapshots.clear();
        }
        if self.snapshots.back().is_none_or(|&(last, _)| t > last) {
            self.snapshots.push_back((t, total));
        }
        while self.snapshots.len() > 2 && self.snapshots[1].0 <= t - Self::WINDOW {
            self.snapshots.pop_front();
        }
    }

    /// None until the snapshots span at least a second.
    fn rate(&self) -> Option<f64> {
        let (&(t0, n0), &(t1, n1)) = (self.snapshots.front()?, self.snapshots.back()?);
        (t1 - t0 >= 1.0).then(|| (n1 - n0) as f64 / (t1 - t0))
    }
}

/// Card positions by node name, in canvas units.
type Positions = BTreeMap<String, (f32, f32)>;

/// What the canvas keeps between frames. A fresh [`GuiState`] (another scenario loaded) has a
/// fresh one, so the view is fitted again.
#[derive(Clone, Debug, Default)]
pub struct CanvasState {
    /// Set to fit the whole topology in view on the next frame (the F key does).
    pub fit_requested: bool,
    /// The view; None until the first frame fits it.
    pub view: Option<View>,
    /// The canvas's size at the last fit, to refit when the window or a panel resizes it.
    fitted_size: Option<Vec2>,
    /// A card was dragged: the layout is the user's, so fitting no longer redoes it.
    pub user_layout: bool,
    /// Health of every node (sim time driven).
    pub health: Health,
    /// Abandoned work per node (finished after the caller gave up), for its rate.
    abandoned: BTreeMap<String, RateMeter>,
    /// Edge paths in canvas units, for the layout they were routed on.
    routes: Option<(Positions, BTreeMap<String, Vec<Pos2>>)>,
}

impl CanvasState {
    /// Advances what depends on the run: health (from the series) and the rate meters.
    /// Called once per frame; cheap when the clock has not moved.
    pub fn update(&mut self, sim: &Sim) {
        self.health.update(sim);
        let now = sim.now();
        for name in sim.node_names() {
            if let Some(v) = sim.node(&name) {
                self.abandoned.entry(name).or_default().record(now, v.counters.abandoned);
            }
        }
    }

    /// Abandoned work per second at `node` over the last few sim seconds, once measured.
    pub fn abandoned_rate(&self, node: &str) -> Option<f64> {
        self.abandoned.get(node).and_then(RateMeter::rate)
    }
}

/// The canvas: fit, pan, zoom, edges, cards, legend.
pub fn canvas_ui(ui: &mut Ui, state: &mut GuiState, out: &mut Vec<Command>) {
    let (rect, bg) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
    state.canvas.update(&state.sim);
    let resized = state.canvas.fitted_size.is_some_and(|s| (s - rect.size()).length() > 1.0);
    if state.canvas.view.is_none() || state.canvas.fit_requested || bg.double_clicked() || resized {
        fit(state, rect);
    }
    let mut view = state.canvas.view.unwrap_or(View { offset: Vec2::ZERO, zoom: 1.0 });
    if bg.dragged() {
        view.offset += bg.drag_delta();
    }
    if bg.hovered() {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if scroll != 0.0 {
            // Zoom about the pointer, so what is under it stays put.
            let anchor = ui.input(|i| i.pointer.hover_pos()).unwrap_or(rect.center());
            let old = view.zoom;
            view.zoom = (view.zoom * (1.0 + scroll * 0.001)).clamp(MIN_ZOOM, MAX_ZOOM);
            let canvas_at = (anchor - rect.min - view.offset) / old;
            view.offset = anchor - rect.min - canvas_at * view.zoom;
        }
    }
    state.canvas.view = Some(view);
    let painter = ui.painter_at(rect);
    let to_screen = |p: Pos2| rect.min + view.offset + p.to_vec2() * view.zoom;
    let views: Vec<NodeView> = state.sim.node_names().iter().filter_map(|n| state.sim.node(n)).collect();
    let routes = routes(state);
    let time = ui.input(|i| i.time);
    let mut edge_clicked = None;
    for e in edges(state, &views) {
        let Some(path) = routes.get(&e.name) else { continue };
        let screen: Vec<Pos2> = path.iter().map(|p| to_screen(*p)).collect();
        let selected = state.selected_edge.as_deref() == Some(e.name.as_str());
        let colour = if e.cut { RED } else { Color32::from_gray(if e.route { 90 } else { 115 }) };
        let width = if selected { 3.5 } else { 1.6 };
        painter.line(screen.clone(), Stroke::new(width, colour));
        arrow_head(&painter, &screen, colour);
        if bg.clicked() && bg.interact_pointer_pos().is_some_and(|p| near_path(p, &screen, 6.0)) {
            edge_clicked = Some(e.name.clone());
        }
        particles(&painter, &screen, &e, time);
    }
    match edge_clicked {
        Some(edge) => out.push(Command::SelectEdge(edge)),
        None if bg.clicked() => out.push(Command::Select(None)),
        None => {}
    }
    let summary = view.zoom * BODY_TEXT < MIN_TEXT;
    let mut on_top = None;
    for v in &views {
        let pos = state.layout.get(&v.name).copied().unwrap_or((0.0, 0.0));
        let card = Rect::from_min_size(to_screen(pos2(pos.0, pos.1)), vec2(CARD.0, CARD.1) * view.zoom);
        let resp = ui.interact(card, ui.id().with(("card", &v.name)), Sense::click_and_drag());
        let content = CardContent::of(state, v);
        resp.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Button, true, content.describe()));
        if resp.dragged() {
            let d = resp.drag_delta() / view.zoom;
            state.layout.insert(v.name.clone(), (pos.0 + d.x, pos.1 + d.y));
            state.canvas.user_layout = true;
        }
        if resp.clicked() {
            out.push(Command::Select(Some(v.name.clone())));
        }
        let selected = state.selected.as_deref() == Some(v.name.as_str());
        if summary {
            draw_summary(&painter, card, &content, selected, view.zoom);
            if resp.hovered() || (selected && on_top.is_none()) {
                on_top = Some((card, content));
            }
        } else {
            draw_card(&painter, card, &content, selected, view.zoom);
        }
    }
    // The hovered (or selected) card in full, over its summary, kept inside the canvas.
    if let Some((at, content)) = on_top {
        let size = vec2(CARD.0, CARD.1);
        let mut full = Rect::from_center_size(at.center(), size);
        full = full.translate(vec2(
            (rect.left() + 4.0 - full.left()).max(0.0) - (full.right() - rect.right() + 4.0).max(0.0),
            (rect.top() + 4.0 - full.top()).max(0.0) - (full.bottom() - rect.bottom() + 4.0).max(0.0),
        ));
        painter.rect_filled(full.expand(3.0), 8.0, Color32::from_black_alpha(120));
        draw_card(&painter, full, &content, true, 1.0);
    }
    legend(&painter, rect);
}

/// Redoes the automatic layout for the canvas's shape (unless the layout is the user's or the
/// scenario's) and fits it in view.
fn fit(state: &mut GuiState, rect: Rect) {
    // Fit above the legend's strip, so no card sits under it (same origin as the canvas).
    let mut room = rect;
    room.set_bottom(rect.bottom() - LEGEND_HEIGHT);
    let c = &mut state.canvas;
    c.fit_requested = false;
    c.fitted_size = Some(rect.size());
    if !c.user_layout && state.sim.scenario().layout.is_empty() && room.height() > 1.0 {
        state.layout = layout::auto_layout(&state.sim, room.width() / room.height());
    }
    // Presenter mode lets cards grow past their natural size where the canvas has room.
    let max_zoom = if state.presenter { FIT_MAX_ZOOM * super::presenter::PRESENTER_SCALE } else { FIT_MAX_ZOOM };
    state.canvas.view = Some(fit_view(room, &state.layout, max_zoom));
}

/// The view showing every card, as large as fits (at most `max_zoom` × natural size), centred.
pub fn fit_view(rect: Rect, positions: &BTreeMap<String, (f32, f32)>, max_zoom: f32) -> View {
    let bounds = layout::card_rects(positions).values().fold(Rect::NOTHING, |a, b| a.union(*b));
    if !bounds.is_positive() {
        return View { offset: vec2(24.0, 24.0), zoom: 1.0 };
    }
    let margin = 16.0;
    let fit = ((rect.width() - 2.0 * margin) / bounds.width()).min((rect.height() - 2.0 * margin) / bounds.height());
    let zoom = fit.clamp(MIN_ZOOM, max_zoom);
    let offset = (rect.size() - bounds.size() * zoom) / 2.0 - bounds.min.to_vec2() * zoom;
    View { offset, zoom }
}

/// One edge as drawn: a call (with its live state) or a route.
struct EdgeDraw {
    name: String,
    cut: bool,
    route: bool,
    /// Requests per second entering the edge.
    rate: f64,
    /// Shares of the callee's arrivals that failed and that were retries.
    bad: f64,
    retry: f64,
    /// The caller's breaker on this edge is open: calls fail fast at the caller.
    open: bool,
}

/// Calls and routes of every node, with the rates their particles show.
fn edges(state: &GuiState, views: &[NodeView]) -> Vec<EdgeDraw> {
    let last = |n: &str| state.sim.series(n).last().copied().unwrap_or_default();
    let per_s = |n: u64, span: f64| if span > 0.0 { n as f64 / span } else { 0.0 };
    let mut out = Vec::new();
    for v in views {
        let own = last(&v.name);
        for e in &v.edges {
            let callee = last(&e.to);
            let arrivals = callee.arrivals.max(1) as f64;
            out.push(EdgeDraw {
                name: e.name.clone(),
                cut: e.cut,
                route: false,
                rate: per_s(own.arrivals, own.span),
                bad: (callee.rejected + callee.dropped + callee.timed_out + callee.errors) as f64 / arrivals,
                retry: callee.retries as f64 / arrivals,
                open: e.breaker.is_some_and(|b| b.level() >= 2.0),
            });
        }
        if let Some(NodeSpec::Service(s)) = state.sim.scenario().nodes.get(&v.name) {
            for r in &s.routes {
                out.push(EdgeDraw {
                    name: format!("{}=>{}", v.name, r.to),
                    cut: false,
                    route: true,
                    rate: per_s(own.completed, own.span) * r.p,
                    bad: 0.0,
                    retry: 0.0,
                    open: false,
                });
            }
        }
    }
    out
}

/// Edge paths in canvas units, routed again only when the layout changed.
fn routes(state: &mut GuiState) -> BTreeMap<String, Vec<Pos2>> {
    if let Some((layout, routes)) = &state.canvas.routes
        && *layout == state.layout
    {
        return routes.clone();
    }
    let rects = layout::card_rects(&state.layout);
    let all: Vec<Rect> = rects.values().copied().collect();
    let mut routes = BTreeMap::new();
    let names = state.sim.node_names();
    for n in &names {
        let Some(from) = rects.get(n) else { continue };
        let mut targets: Vec<(String, String)> = Vec::new();
        if let Some(v) = state.sim.node(n) {
            targets.extend(v.edges.iter().map(|e| (e.name.clone(), e.to.clone())));
        }
        if let Some(NodeSpec::Service(s)) = state.sim.scenario().nodes.get(n) {
            targets.extend(s.routes.iter().map(|r| (format!("{n}=>{}", r.to), r.to.clone())));
        }
        for (name, to) in targets {
            if let Some(to) = rects.get(&to) {
                routes.insert(name, layout::route(*from, *to, &all));
            }
        }
    }
    state.canvas.routes = Some((state.layout.clone(), routes.clone()));
    routes
}

fn near_path(p: Pos2, path: &[Pos2], tolerance: f32) -> bool {
    path.windows(2).any(|s| {
        let ab = s[1] - s[0];
        let t = ((p - s[0]).dot(ab) / ab.length_sq().max(1e-6)).clamp(0.0, 1.0);
        (s[0] + ab * t).distance(p) < tolerance
    })
}

fn arrow_head(painter: &egui::Painter, path: &[Pos2], colour: Color32) {
    let [.., a, tip] = path else { return };
    let dir = (*tip - *a).normalized();
    let n = vec2(-dir.y, dir.x);
    let s = 8.0;
    painter.add(egui::Shape::convex_polygon(
        vec![*tip, *tip - dir * s + n * s * 0.45, *tip - dir * s - n * s * 0.45],
        colour,
        Stroke::NONE,
    ));
}

/// The point at `frac` of a polyline's length.
fn along(path: &[Pos2], lengths: &[f32], frac: f32) -> Pos2 {
    let total = *lengths.last().unwrap_or(&0.0);
    let target = frac * total;
    let i = lengths.partition_point(|l| *l < target).clamp(1, path.len() - 1);
    let seg = (lengths[i] - lengths[i - 1]).max(1e-6);
    path[i - 1] + (path[i] - path[i - 1]) * ((target - lengths[i - 1]) / seg)
}

/// Moving dots along an edge: about one per 5 requests/s, at most one per 10 screen pixels
/// (so they never merge into a bar), fading as they crowd; coloured by the callee's shares of
/// failures and retries. Calls refused by an open breaker bounce back near the caller.
fn particles(painter: &egui::Painter, path: &[Pos2], e: &EdgeDraw, time: f64) {
    if path.len() < 2 || e.rate <= 0.0 || e.cut {
        return;
    }
    let mut lengths = vec![0.0];
    for s in path.windows(2) {
        lengths.push(lengths.last().unwrap_or(&0.0) + s[0].distance(s[1]));
    }
    let len = *lengths.last().unwrap_or(&0.0);
    let wanted = (e.rate / 5.0).ceil() as usize;
    // At most one dot per 18 px of path and 24 per edge: on a software renderer every dot is
    // a tessellated, blended circle, and the 30-node mesh has over fifty edges.
    let n = wanted.min((len / 18.0) as usize).clamp(1, 24);
    // The more of the line the dots cover, the fainter each is.
    let spacing = len / n as f32;
    let alpha = ((spacing - 6.0) / 24.0).clamp(0.35, 1.0);
    let reach = if e.open { 0.18 } else { 1.0 };
    for k in 0..n {
        let phase = ((time * 0.35 + k as f64 / n as f64) % 1.0) as f32;
        let pick = (k as f64 + 0.5) / n as f64;
        let colour = if e.open || pick < e.bad {
            FLOW_FAIL
        } else if pick < e.bad + e.retry {
            FLOW_RETRY
        } else {
            FLOW_OK
        };
        let p = along(path, &lengths, phase * reach);
        painter.circle_filled(p, 2.6, colour.gamma_multiply(alpha));
    }
}

/// The colour of a card's comparison with the pinned baseline.
const VERSUS: Color32 = Color32::from_rgb(150, 200, 255);

/// The lines a node's card says now (its accessibility label, split), for scripted checks of
/// a real window (`sluice gui … --state`).
pub fn card_text(state: &GuiState, name: &str) -> Vec<String> {
    let Some(v) = state.sim.node(name) else { return Vec::new() };
    CardContent::of(state, &v).describe().split("; ").map(str::to_string).collect()
}

/// What a card shows, gathered once per frame.
struct CardContent {
    name: String,
    kind: &'static str,
    up: bool,
    level: Level,
    reason: String,
    faults: Vec<String>,
    fields: Vec<LiveField>,
    abandoned_rate: Option<f64>,
    /// How the live run differs from the pinned baseline ("p99 −420 ms vs baseline").
    versus: Option<String>,
    /// Presenter mode: high contrast.
    presenter: bool,
}

impl CardContent {
    fn of(state: &GuiState, v: &NodeView) -> Self {
        let health = state.canvas.health.get(&v.name);
        Self {
            name: v.name.clone(),
            kind: match v.kind {
                crate::engine::sim::NodeKind::Source => "source",
                crate::engine::sim::NodeKind::Service => "service",
            },
            up: v.up,
            level: state.canvas.health.level(&v.name),
            reason: health.map_or_else(|| "healthy".to_string(), |h| h.reason()),
            faults: state.sim.faults(&v.name).iter().map(|f| f.text()).collect(),
            fields: state.sim.live(&v.name),
            abandoned_rate: state.canvas.abandoned_rate(&v.name),
            versus: state.baseline.as_ref().and_then(|b| b.card_note(&state.sim, &v.name)),
            presenter: state.presenter,
        }
    }

    /// The card as one line of text (its accessibility label, read by tests).
    fn describe(&self) -> String {
        let mut s = format!("{}: {}", self.name, self.reason);
        for f in self.faults.iter().chain(&self.versus) {
            s.push_str("; ");
            s.push_str(f);
        }
        for f in &self.fields {
            s.push_str("; ");
            s.push_str(&format!("{} {}", f.label, value_text(f.key, &f.value)));
        }
        s
    }

    /// The one number a summary card shows: a fault, else the trouble, else throughput.
    fn key_line(&self) -> String {
        if let Some(f) = self.faults.first() {
            return f.clone();
        }
        if self.level != Level::Green {
            // "via db" says it in the room a small card has.
            return self.reason.strip_prefix("degraded ").unwrap_or(&self.reason).to_string();
        }
        match self.fields.iter().find(|f| f.key == "ok_rate").map(|f| &f.value) {
            Some(LiveValue::Rate(r)) => format!("{} ok/s", number(*r)),
            _ => "healthy".to_string(),
        }
    }

    /// Counts and rates as `label value` pieces; zeros are left out, except ok/s.
    fn text_items(&self) -> Vec<(String, Color32)> {
        let mut items = Vec::new();
        for f in &self.fields {
            match f.value {
                LiveValue::Rate(r) if r > 0.0 || f.key == "ok_rate" => {
                    let bad = f.key != "ok_rate" && f.key != "retry_rate";
                    items.push((format!("{} {}", f.label, number(r)), if bad { AMBER } else { DIM }));
                }
                LiveValue::Count(n) if f.key == "abandoned" && n > 0 => {
                    let rate = self.abandoned_rate.map(|r| format!(" ({}/s)", number(r))).unwrap_or_default();
                    items.push((format!("abandoned {}{rate}", number(n as f64)), FLOW_RETRY));
                }
                LiveValue::Count(n) if n > 0 => items.push((format!("{} {}", f.label, number(n as f64)), DIM)),
                _ => {}
            }
        }
        items
    }
}

/// A value as the card writes it (`key` is the field's: an unbounded queue reads `/∞`, a
/// reading without a ceiling — a rate, workers starting — just its value).
fn value_text(key: &str, v: &LiveValue) -> String {
    match v {
        LiveValue::Gauge { value, max: Some(m) } => format!("{}/{}", number(*value), number(*m)),
        LiveValue::Gauge { value, max: None } if key == "queue" => format!("{}/∞", number(*value)),
        LiveValue::Gauge { value, max: None } => number(*value),
        LiveValue::Count(n) => number(*n as f64),
        LiveValue::Rate(r) => format!("{}/s", number(*r)),
        LiveValue::State { name, .. } => (*name).to_string(),
    }
}

/// A number in at most four characters or so: 7, 12.5, 310, 4.2k.
fn number(x: f64) -> String {
    if x >= 10_000.0 {
        format!("{:.0}k", x / 1000.0)
    } else if x >= 1000.0 {
        format!("{:.1}k", x / 1000.0)
    } else if x >= 10.0 || x == x.round() {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// Text that never leaves `width`: elided with "…" (at least [`MIN_TEXT`] points).
fn text_in(
    painter: &egui::Painter,
    pos: Pos2,
    text: String,
    size: f32,
    colour: Color32,
    width: f32,
    rows: usize,
) -> f32 {
    let mut job = egui::text::LayoutJob::simple(text, FontId::proportional(size.max(MIN_TEXT)), colour, width);
    job.wrap.max_rows = rows;
    job.wrap.break_anywhere = rows == 1;
    let galley = painter.layout_job(job);
    let h = galley.size().y;
    painter.galley(pos, galley, colour);
    h
}

fn card_frame(painter: &egui::Painter, r: Rect, c: &CardContent, selected: bool, zoom: f32) {
    // Presenter mode: a darker card and a heavier border, for contrast on a projector.
    let fill = match (c.up, c.presenter) {
        (true, false) => Color32::from_rgb(34, 38, 46),
        (true, true) => Color32::from_rgb(12, 14, 18),
        (false, _) => Color32::from_rgb(80, 26, 26),
    };
    let radius = (6.0 * zoom).max(3.0);
    painter.rect_filled(r, radius, fill);
    let border = level_colour(c.level);
    let width = if c.presenter { (4.0 * zoom).max(3.0) } else { (2.5 * zoom).max(2.0) };
    painter.rect_stroke(r, radius, Stroke::new(width, border), egui::StrokeKind::Inside);
    if selected {
        painter.rect_stroke(r.expand(2.0), radius + 2.0, Stroke::new(1.5, Color32::WHITE), egui::StrokeKind::Outside);
    }
}

/// The small card: name, one key line, and the queue's fill as a thin bar.
fn draw_summary(painter: &egui::Painter, r: Rect, c: &CardContent, selected: bool, zoom: f32) {
    card_frame(painter, r, c, selected, zoom);
    // Presenter mode: full-white secondary text for the back row.
    let dim = if c.presenter { TEXT } else { DIM };
    let pad = (6.0 * zoom).max(3.0);
    let inner = r.width() - 2.0 * pad;
    let mut y = r.top() + pad;
    y += text_in(painter, pos2(r.left() + pad, y), c.name.clone(), 14.0 * zoom, TEXT, inner, 1);
    let colour =
        if c.faults.is_empty() && c.level == Level::Green { dim } else { level_colour(c.level.max(Level::Amber)) };
    // The key line wraps onto a second row when the card has room for it (above the bar).
    let size = (11.0 * zoom).max(MIN_TEXT);
    let rows = ((r.bottom() - pad - 4.0 - y) / (size * 1.25)).floor().clamp(0.0, 2.0) as usize;
    if rows > 0 {
        text_in(painter, pos2(r.left() + pad, y), c.key_line(), size, colour, inner, rows);
    }
    if let Some(LiveValue::Gauge { value, max: Some(m) }) = c.fields.iter().find(|f| f.key == "queue").map(|f| &f.value)
    {
        let bar = Rect::from_min_size(pos2(r.left() + pad, r.bottom() - pad - 3.0), vec2(inner, 3.0));
        gauge_bar(painter, bar, *value, *m);
    }
}

fn gauge_bar(painter: &egui::Painter, bar: Rect, value: f64, max: f64) {
    let share = if max > 0.0 { (value / max).clamp(0.0, 1.0) as f32 } else { 0.0 };
    painter.rect_filled(bar, 2.0, Color32::from_gray(62));
    let mut filled = bar;
    filled.set_width(bar.width() * share);
    painter.rect_filled(filled, 2.0, fill_colour(share));
}

fn fill_colour(share: f32) -> Color32 {
    if share > 0.9 {
        RED
    } else if share > 0.75 {
        AMBER
    } else {
        Color32::from_rgb(80, 140, 220)
    }
}

/// Slots that fill and drain, one per place (two rows past 24 places): a queue you can count.
fn gauge_slots(painter: &egui::Painter, bar: Rect, value: f64, max: usize) {
    let rows = if max > 24 { 2 } else { 1 };
    let per_row = max.div_ceil(rows);
    let w = bar.width() / per_row as f32;
    let h = bar.height() / rows as f32;
    let filled = value.round() as usize;
    let colour = fill_colour(value as f32 / max as f32);
    for i in 0..max {
        let (row, col) = (i / per_row, i % per_row);
        let slot = Rect::from_min_size(pos2(bar.left() + col as f32 * w, bar.top() + row as f32 * h), vec2(w, h))
            .shrink2(vec2((w * 0.15).min(1.0), 0.75));
        if i < filled {
            painter.rect_filled(slot, 1.0, colour);
        } else {
            painter.rect_stroke(slot, 1.0, Stroke::new(0.8, Color32::from_gray(90)), egui::StrokeKind::Inside);
        }
    }
}

/// The full card: name and kind, faults or health, gauges, state badges, counts and rates.
/// Everything is laid out top-down and clipped to the card, so nothing spills out.
fn draw_card(painter: &egui::Painter, r: Rect, c: &CardContent, selected: bool, zoom: f32) {
    card_frame(painter, r, c, selected, zoom);
    // Presenter mode: full-white secondary text for the back row.
    let dim = if c.presenter { TEXT } else { DIM };
    let painter = painter.with_clip_rect(r.intersect(painter.clip_rect()));
    let z = zoom;
    let pad = 8.0 * z;
    let inner = r.width() - 2.0 * pad;
    let x = r.left() + pad;
    let bottom = r.bottom() - 5.0 * z;
    let mut y = r.top() + 5.0 * z;
    let kind = painter.layout_no_wrap(c.kind.to_string(), FontId::proportional((9.5 * z).max(MIN_TEXT)), dim);
    let kind_w = kind.size().x;
    painter.galley(pos2(r.right() - pad - kind_w, y + 3.0 * z), kind, dim);
    y += text_in(&painter, pos2(x, y), c.name.clone(), 14.5 * z, TEXT, inner - kind_w - 6.0, 1) + 1.0 * z;
    // Faults in force, then what the colour means.
    if !c.faults.is_empty() {
        y += text_in(&painter, pos2(x, y), c.faults.join(" · "), BODY_TEXT * z, FLOW_RETRY, inner, 1);
    }
    let colour = if c.level == Level::Green { dim } else { level_colour(c.level) };
    y += text_in(&painter, pos2(x, y), c.reason.clone(), BODY_TEXT * z, colour, inner, 1) + 3.0 * z;
    if let Some(versus) = &c.versus {
        y += text_in(&painter, pos2(x, y), versus.clone(), BODY_TEXT * z, VERSUS, inner, 1) + 2.0 * z;
    }
    // Gauges: label, bar (slots when selected and small enough to count), value. The label
    // column is as wide as the card's longest label ("pool batch", "tokens"), within limits.
    let size = (10.0 * z).max(MIN_TEXT);
    let widest = c
        .fields
        .iter()
        .filter(|f| matches!(f.value, LiveValue::Gauge { .. }))
        .map(|f| painter.layout_no_wrap(f.label.clone(), FontId::proportional(size), dim).size().x)
        .fold(0.0, f32::max);
    let label_w = (widest + 4.0 * z).clamp(34.0 * z, (inner * 0.45).max(34.0 * z));
    let value_w = 42.0 * z;
    for f in &c.fields {
        let LiveValue::Gauge { value, max } = f.value else { continue };
        if y + 11.0 * z > bottom {
            break;
        }
        text_in(&painter, pos2(x, y), f.label.clone(), size, dim, label_w, 1);
        let bar = Rect::from_min_size(pos2(x + label_w, y + 2.0 * z), vec2(inner - label_w - value_w, 9.0 * z));
        match max {
            Some(m) if selected && (1.0..=48.0).contains(&m) => gauge_slots(&painter, bar, value, m as usize),
            Some(m) => gauge_bar(&painter, bar, value, m),
            None => gauge_bar(&painter, bar, value, value.max(100.0)),
        }
        let text = painter.layout_no_wrap(value_text(f.key, &f.value), FontId::proportional(size), TEXT);
        painter.galley(pos2(r.right() - pad - text.size().x, y), text, TEXT);
        y += 14.0 * z;
    }
    // States as badges, wrapping to a new row when the card is full.
    let mut bx = x;
    let badge_h = 13.0 * z;
    let mut any = false;
    for f in &c.fields {
        let LiveValue::State { name, level } = f.value else { continue };
        let text = painter.layout_no_wrap(
            format!("{} {name}", f.label),
            FontId::proportional((9.5 * z).max(MIN_TEXT)),
            Color32::BLACK,
        );
        let w = (text.size().x + 8.0 * z).min(inner);
        if bx + w > r.right() - pad {
            bx = x;
            y += badge_h + 2.0 * z;
        }
        if y + badge_h > bottom {
            break;
        }
        let badge = Rect::from_min_size(pos2(bx, y), vec2(w, badge_h));
        painter.rect_filled(badge, 3.0 * z, severity_colour(level));
        painter.with_clip_rect(badge).galley(
            badge.left_center() + vec2(4.0 * z, -text.size().y / 2.0),
            text,
            Color32::BLACK,
        );
        bx += w + 4.0 * z;
        any = true;
    }
    if any {
        y += badge_h + 3.0 * z;
    }
    // Counts and rates as flowing text, as many rows as are left.
    let size = (10.5 * z).max(MIN_TEXT);
    let items = c.text_items();
    let mut job = egui::text::LayoutJob::default();
    for (i, (text, colour)) in items.iter().enumerate() {
        let sep = if i == 0 { "" } else { "   " };
        job.append(&format!("{sep}{text}"), 0.0, egui::TextFormat::simple(FontId::proportional(size), *colour));
    }
    job.wrap.max_width = inner;
    job.wrap.max_rows = ((bottom - y) / (size * 1.2)).floor() as usize;
    if job.wrap.max_rows > 0 {
        painter.galley(pos2(x, y), painter.layout_job(job), TEXT);
    }
}

/// Height of the legend in the canvas's bottom-right corner, with its margin.
const LEGEND_HEIGHT: f32 = 3.0 * 14.0 + 14.0;

/// The key to the colours, in the canvas's bottom-right corner.
fn legend(painter: &egui::Painter, canvas: Rect) {
    let font = FontId::proportional(10.0);
    let rows: [(&str, [(Color32, &str); 3]); 3] = [
        ("health", [(GREEN, "healthy"), (AMBER, "strained"), (RED, "failing")]),
        ("breaker", [(GREEN, "closed"), (AMBER, "half-open"), (RED, "open")]),
        ("flow", [(FLOW_OK, "ok"), (FLOW_RETRY, "retry"), (FLOW_FAIL, "failed")]),
    ];
    let row_h = 14.0;
    let width = 232.0;
    let area = Rect::from_min_size(
        canvas.right_bottom() - vec2(width + 8.0, rows.len() as f32 * row_h + 10.0),
        vec2(width, rows.len() as f32 * row_h + 6.0),
    );
    painter.rect_filled(area, 4.0, Color32::from_black_alpha(150));
    for (i, (title, keys)) in rows.iter().enumerate() {
        let y = area.top() + 3.0 + i as f32 * row_h + row_h / 2.0;
        painter.text(pos2(area.left() + 6.0, y), egui::Align2::LEFT_CENTER, title, font.clone(), DIM);
        let mut x = area.left() + 54.0;
        for (colour, name) in keys {
            if *title == "breaker" {
                painter.rect_filled(Rect::from_center_size(pos2(x + 4.0, y), vec2(9.0, 7.0)), 2.0, *colour);
            } else if *title == "flow" {
                painter.circle_filled(pos2(x + 4.0, y), 2.8, *colour);
            } else {
                painter.rect_stroke(
                    Rect::from_center_size(pos2(x + 4.0, y), vec2(9.0, 7.0)),
                    2.0,
                    Stroke::new(2.0, *colour),
                    egui::StrokeKind::Inside,
                );
            }
            let r = painter.text(pos2(x + 12.0, y), egui::Align2::LEFT_CENTER, name, font.clone(), TEXT);
            x = r.right() + 9.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_short() {
        assert_eq!(number(7.0), "7");
        assert_eq!(number(2.345), "2.3");
        assert_eq!(number(310.0), "310");
        assert_eq!(number(4210.0), "4.2k");
        assert_eq!(number(123_456.0), "123k");
    }

    #[test]
    fn a_rate_meter_measures_over_sim_time_and_restarts_after_a_reset() {
        let mut m = RateMeter::default();
        m.record(10.0, 100);
        assert_eq!(m.rate(), None, "one snapshot is no rate");
        for t in 11..=20 {
            m.record(f64::from(t), 100 + 12 * (t - 10) as u64);
        }
        assert!((m.rate().unwrap() - 12.0).abs() < 1e-9);
        m.record(0.0, 0);
        assert_eq!(m.rate(), None);
    }

    #[test]
    fn fitting_centres_the_cards_inside_the_canvas() {
        let rect = Rect::from_min_size(pos2(100.0, 50.0), vec2(900.0, 450.0));
        let layout: BTreeMap<String, (f32, f32)> =
            [("a".to_string(), (0.0, 0.0)), ("b".to_string(), (2000.0, 900.0))].into_iter().collect();
        let v = fit_view(rect, &layout, FIT_MAX_ZOOM);
        let corner = |p: (f32, f32)| rect.min + v.offset + vec2(p.0, p.1) * v.zoom;
        let (a, b) = (corner((0.0, 0.0)), corner((2000.0 + CARD.0, 900.0 + CARD.1)));
        assert!(rect.contains(a) && rect.contains(b), "{a:?} {b:?} in {rect:?}");
        assert!(((a.x - rect.left()) - (rect.right() - b.x)).abs() < 1.0, "centred");
    }
    use crate::gui::state::GuiState;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    fn open(name: &str) -> GuiState {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name);
        GuiState::open(&path, None).unwrap()
    }

    /// The canvas alone, at a size like the app's central panel on a 1280×800 window.
    fn canvas(state: GuiState) -> Harness<'static, GuiState> {
        Harness::builder().with_size(egui::vec2(950.0, 480.0)).build_ui_state(
            |ui, state: &mut GuiState| {
                let mut out = Vec::new();
                canvas_ui(ui, state, &mut out);
                for c in out {
                    state.apply(c);
                }
            },
            state,
        )
    }

    /// The accessibility label of `node`'s card ("db: queue 90 % full; ×6 slower …").
    fn card(h: &Harness<'static, GuiState>, node: &str) -> String {
        let prefix = format!("{node}: ");
        let n = h.get_by(|n| n.label().is_some_and(|l| l.starts_with(&prefix)));
        use egui_kittest::kittest::NodeT as _;
        n.accesskit_node().label().unwrap_or_default()
    }

    #[test]
    fn a_scripted_slowdown_shows_on_the_card_with_the_time_it_has_left() {
        let mut state = open("three-tier.ron");
        state.sim.run_until(160.0);
        let mut h = canvas(state);
        h.run();
        let db = card(&h, "db");
        assert!(db.contains("×6 slower for 80 s more"), "{db}");
        assert!(!card(&h, "api").contains("slower"), "only the slowed node says so");
    }

    #[test]
    fn three_tier_health_is_green_when_healthy_and_not_during_the_incident() {
        let mut h = canvas(open("three-tier.ron"));
        // Frame by frame through the healthy minutes, as the app plays: never a warning, even
        // when api's 16 workers are all busy for an instant (t = 5 s, t = 119 s).
        for t in (1..=119).map(f64::from) {
            h.state_mut().sim.run_until(t);
            h.run();
            for node in ["clients", "api", "db"] {
                assert_eq!(h.state().canvas.health.level(node), Level::Green, "{node} at t = {t}");
            }
        }
        assert!(card(&h, "api").starts_with("api: healthy"));
        h.state_mut().sim.run_until(130.0);
        h.run();
        let health = &h.state().canvas.health;
        assert_eq!(health.level("db"), Level::Red, "db 6× slower, its queue full");
        assert_ne!(health.level("api"), Level::Green);
        assert!(card(&h, "api").starts_with("api: degraded via db"), "{}", card(&h, "api"));
    }

    #[test]
    fn retry_storm_server_is_not_red_at_eighty_percent_and_red_in_the_storm() {
        let mut h = canvas(open("retry-storm.ron"));
        h.state_mut().sim.run_until(50.0);
        h.run();
        assert_ne!(h.state().canvas.health.level("server"), Level::Red);
        h.state_mut().sim.run_until(90.0);
        h.run();
        assert_eq!(h.state().canvas.health.level("server"), Level::Red);
    }

    #[test]
    fn health_at_a_sim_time_does_not_depend_on_how_often_frames_came() {
        let mut every_second = canvas(open("three-tier.ron"));
        for t in (100..=140).map(f64::from) {
            every_second.state_mut().sim.run_until(t);
            every_second.run();
        }
        let mut one_jump = canvas(open("three-tier.ron"));
        one_jump.state_mut().sim.run_until(140.0);
        one_jump.run();
        for node in ["clients", "api", "db"] {
            let a = every_second.state().canvas.health.get(node).cloned();
            let b = one_jump.state().canvas.health.get(node).cloned();
            assert_eq!(a, b, "{node}");
        }
    }

    #[test]
    fn a_new_scenario_is_fitted_again_and_the_f_request_refits() {
        let mut h = canvas(open("three-tier.ron"));
        h.run();
        let first = h.state().canvas.view.unwrap();
        h.state_mut().canvas.view = Some(View { offset: vec2(-4000.0, 0.0), zoom: 2.5 });
        h.state_mut().canvas.fit_requested = true;
        h.run();
        assert_eq!(h.state().canvas.view, Some(first), "F fits again");
        h.state_mut().canvas.view = Some(View { offset: vec2(-4000.0, 0.0), zoom: 2.5 });
        let mesh = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/mesh-30.ron");
        h.state_mut().apply(Command::Load(mesh));
        h.run();
        let view = h.state().canvas.view.unwrap();
        assert!(view.zoom < 1.0, "the mesh is fitted, not left at the old zoom: {view:?}");
        // Every card is inside the canvas.
        let rect = Rect::from_min_size(Pos2::ZERO, vec2(950.0, 480.0));
        for (name, r) in layout::card_rects(&h.state().layout) {
            let on_screen =
                Rect::from_min_size(rect.min + view.offset + r.min.to_vec2() * view.zoom, r.size() * view.zoom);
            assert!(rect.expand(1.0).contains_rect(on_screen), "{name} at {on_screen:?}");
        }
    }
    /// Every text the canvas drew in the last frame, with its size in points.
    fn texts(h: &Harness<'static, GuiState>) -> Vec<(String, f32)> {
        let mut out = Vec::new();
        for clipped in &h.output().shapes {
            if let egui::Shape::Text(t) = &clipped.shape {
                for section in &t.galley.job.sections {
                    let r = &section.byte_range;
                    out.push((t.galley.job.text[r.start.0..r.end.0].to_string(), section.format.font_id.size));
                }
            }
        }
        out
    }

    #[test]
    fn thirty_nodes_on_a_small_canvas_summarise_with_no_text_under_the_floor() {
        let mut state = open("mesh-30.ron");
        state.sim.run_until(90.0);
        let mut h = Harness::builder()
            .with_size(egui::vec2(640.0, 360.0))
            .build_ui_state(|ui, state: &mut GuiState| canvas_ui(ui, state, &mut Vec::new()), state);
        h.run();
        let texts = texts(&h);
        assert!(texts.iter().any(|(t, _)| t == "shard2"), "every card is named");
        for (text, size) in &texts {
            assert!(*size >= MIN_TEXT, "{text:?} drawn at {size} pt");
        }
        // Summaries: the full cards' gauge labels are not drawn at this zoom.
        assert!(!texts.iter().any(|(t, _)| t == "busy"), "small cards summarise");
        assert!(texts.iter().any(|(t, _)| t.starts_with("×8 slower")), "shard2's fault is its key line");
    }
}
