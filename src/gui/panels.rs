//! The side and top panels: run controls, the teaching notes, the inspector, fault injection
//! and the timeline strip. Each panel is a plain function of (`Ui`, state) that pushes
//! [`Command`]s, so it can be driven by `egui_kittest` without a window.

use bevy_egui::egui;
use bevy_egui::egui::{Color32, RichText, Ui};

use super::files::Purpose;
use super::palette;
use super::presenter::KEY_HELP;
use super::state::{Command, GuiState, MAX_SPEED};
use crate::engine::kernel::{EntryOrigin, LogEvent};
use crate::engine::sim::NodeKind;
use crate::params::{Kind, Value};

/// Play/pause, stepping, speed, clock, the end-of-run cue, then the scenario picker, the file
/// menu, seed, run-until, the A/B baseline and presenter mode. Two fixed rows: nothing in them
/// wraps, and messages are cut to one line, so the layout under the bar never jumps.
pub fn controls_ui(ui: &mut Ui, state: &mut GuiState, out: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let label = if state.playing { "⏸ Pause" } else { "▶ Play" };
        if ui.button(label).on_hover_text("Space").clicked() {
            out.push(Command::TogglePlay);
        }
        if ui.button("Step").on_hover_text("handle one event (right arrow key)").clicked() {
            out.push(Command::Step);
        }
        if let Some(sel) = state.selected.clone()
            && ui.button(format!("Step {sel}")).on_hover_text("run until something changes at this node").clicked()
        {
            out.push(Command::StepNode(sel));
        }
        ui.separator();
        let mut speed = state.speed;
        ui.spacing_mut().slider_width = 110.0;
        let slider = egui::Slider::new(&mut speed, 0.1..=MAX_SPEED).logarithmic(true).text("×");
        if ui.add_enabled(!state.fastest, slider).on_hover_text("speed: sim seconds per wall second (1–9)").changed()
        {
            out.push(Command::SetSpeed(speed));
        }
        let mut fastest = state.fastest;
        if ui.checkbox(&mut fastest, "fastest").on_hover_text("as fast as the frame allows (0)").changed() {
            out.push(Command::SetFastest(fastest));
        }
        ui.separator();
        ui.label(RichText::new(format!("t = {:.1} s / {:.0} s", state.now(), state.run_limit)).monospace().strong());
        ui.label(RichText::new(format!("{} events", state.sim.events())).weak());
        if state.finished() {
            // A run stopped short of the scenario's end (`--play-to`) has not finished its story.
            let what = if state.run_limit < state.sim.duration() { "stopped" } else { "finished" };
            ui.label(RichText::new(format!("{what} at t = {:.0} s", state.now())).color(palette::WARN).strong());
            let more = state.sim.duration();
            if ui.button(format!("Extend +{more:.0} s")).on_hover_text("let the run go on past its end").clicked() {
                out.push(Command::Extend(more));
            }
        } else if state.playing && state.achieved_speed > 0.0 {
            // Say so when the engine cannot keep the requested pace within its frame budget.
            let behind = !state.fastest && state.achieved_speed < 0.9 * state.speed;
            let text = RichText::new(format!("running ×{}", speed_text(state.achieved_speed))).monospace();
            let text = if behind { text.color(palette::WARN) } else { text };
            ui.label(text).on_hover_text(if behind {
                "the engine cannot keep this pace within its share of each frame"
            } else {
                "sim seconds per wall second, measured"
            });
        }
    });
    ui.horizontal(|ui| {
        let current = state.scenario_name.clone();
        // In presenter mode the type is larger: the picker is narrower and the seed and
        // run-until fields give way, so the row still fits a 1280-pixel window.
        let picker = if state.presenter { 230.0 } else { 250.0 };
        // Tall enough for every shipped story at once (egui's default shows about eight).
        egui::ComboBox::from_label("scenario")
            .selected_text(state.sim.scenario().title.clone())
            .width(picker)
            .height(700.0)
            .show_ui(ui, |ui| {
                for entry in &state.catalog {
                    let selected = entry.path.display().to_string() == current;
                    if ui.selectable_label(selected, &entry.title).clicked() {
                        out.push(Command::Load(entry.path.clone()));
                    }
                }
            });
        ui.menu_button("File", |ui| {
            // The browser, once a path is chosen, pushes the file command these used to push.
            let buttons = [
                ("Open…", "open a scenario file", Purpose::OpenScenario),
                ("Save session…", "scenario + seed + your changes, replayable", Purpose::SaveSession),
                ("Load session…", "replay a saved session", Purpose::LoadSession),
                ("Export CSV…", "each node's time series, one CSV per node", Purpose::ExportCsv),
                (
                    "Export scenario…",
                    "the scenario with its timeline, your changes and the layout",
                    Purpose::ExportScenario,
                ),
                ("Screenshot…", "save the window as a PNG", Purpose::Screenshot),
            ];
            for (label, hover, purpose) in buttons {
                if ui.button(label).on_hover_text(hover).clicked() {
                    out.push(Command::Browse(purpose));
                    ui.close();
                }
            }
        });
        ui.separator();
        let mut seed = state.sim.seed();
        if !state.presenter {
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut seed).speed(1.0));
        }
        if ui.button("Reset").clicked() || seed != state.sim.seed() {
            out.push(Command::Reset { seed });
        }
        if !state.presenter {
            ui.separator();
            ui.add(egui::TextEdit::singleline(&mut state.run_until_text).desired_width(50.0).hint_text("time s"));
            if ui.button("Run until").clicked() {
                match state.run_until_text.trim().parse::<f64>() {
                    Ok(t) if t.is_finite() && t >= 0.0 => out.push(Command::RunUntil(t)),
                    _ => state.status = "run until: type a time in seconds".into(),
                }
            }
        }
        ui.separator();
        let pinned = state.baseline.is_some();
        let pin_label = if pinned { "Unpin baseline" } else { "Pin as baseline" };
        let pin_hover = "run a copy of this run on the same seed beside it, without your later changes, and \
                         draw it as a ghost (B)";
        if ui.selectable_label(pinned, pin_label).on_hover_text(pin_hover).clicked() {
            out.push(Command::TogglePin);
        }
        if ui.selectable_label(state.presenter, "Presenter").on_hover_text(KEY_HELP).clicked() {
            out.push(Command::TogglePresenter);
        }
        // One line, cut to the space left: a long message never wraps the bar.
        if !state.status.is_empty() {
            ui.add(egui::Label::new(RichText::new(&state.status).color(Color32::from_rgb(230, 120, 90))).truncate())
                .on_hover_text(&state.status);
        } else if !state.notice.is_empty() {
            ui.add(egui::Label::new(RichText::new(&state.notice).weak()).truncate()).on_hover_text(&state.notice);
        }
    });
}

/// The scenario's story: title, description and what to watch.
pub fn teaching_ui(ui: &mut Ui, state: &GuiState) {
    let scn = state.sim.scenario();
    ui.heading(&scn.title);
    ui.label(&scn.description);
    if !scn.watch.is_empty() {
        ui.add_space(4.0);
        ui.label(RichText::new("What to watch").strong());
        for w in &scn.watch {
            ui.horizontal_wrapped(|ui| {
                ui.label("•");
                ui.label(w);
            });
        }
    }
}

/// Every parameter of the selected node, from the parameter registry (no per-field code).
pub fn inspector_ui(ui: &mut Ui, state: &mut GuiState, out: &mut Vec<Command>) {
    let Some(name) = state.selected.clone() else {
        ui.label("Click a node to inspect and edit it.");
        return;
    };
    let Some(view) = state.sim.node(&name) else { return };
    ui.heading(&name);
    match view.kind {
        NodeKind::Source => {
            ui.label(format!("source · {} sent · {} retries", view.counters.arrivals, view.counters.retries))
        }
        NodeKind::Service => ui.label(format!(
            "service · queue {}/{} · busy {}/{} · {}",
            view.queue_len,
            view.capacity.map_or("∞".to_string(), |c| c.to_string()),
            view.busy,
            view.workers,
            if view.up { "up" } else { "DOWN" }
        )),
    };
    // An edge selected on the canvas narrows the list to its policy.
    let edge_prefix = state.selected_edge.as_ref().and_then(|edge| {
        let (_, to) = edge.split_once("->")?;
        Some(match view.kind {
            NodeKind::Source => String::new(),
            NodeKind::Service => format!("calls.{to}."),
        })
    });
    if let Some(edge) = &state.selected_edge {
        ui.label(RichText::new(format!("edge {edge}")).strong());
    }
    let source_own = |short: &str| short == "rate" || short.starts_with("arrivals.");
    let params = state.sim.params(&name);
    // A policy switched off (a group whose `enabled` flag is false: a breaker, a rate limit,
    // shedding…) shows only its switch, so a service's dozen optional controllers take a line
    // each until one is turned on.
    let off_groups: Vec<String> = params
        .iter()
        .filter(|p| p.path.ends_with(".enabled") && p.value == Value::Flag(false))
        .map(|p| p.path.trim_end_matches("enabled").to_string())
        .collect();
    ui.separator();
    egui::Grid::new("inspector").num_columns(2).striped(true).show(ui, |ui| {
        for p in params {
            let short = p.path[name.len() + 1..].to_string();
            let shown = match &edge_prefix {
                None => true,
                Some(prefix) if prefix.is_empty() => !source_own(&short),
                Some(prefix) => short.starts_with(prefix.as_str()),
            };
            let switched_off =
                off_groups.iter().any(|g| p.path.starts_with(g.as_str()) && !p.path.ends_with(".enabled"));
            if !shown || switched_off {
                continue;
            }
            ui.label(&short).on_hover_text(p.help);
            if let Some(value) = param_widget(ui, &p.path, &p.kind, &p.value) {
                out.push(Command::Set { path: p.path.clone(), value });
            }
            ui.end_row();
        }
    });
}

/// One editor per parameter kind; returns the new value's text when changed.
fn param_widget(ui: &mut Ui, path: &str, kind: &Kind, value: &Value) -> Option<String> {
    let id = ui.make_persistent_id(path);
    ui.push_id(id, |ui| match (kind, value) {
        (Kind::Count { min }, Value::Count(n)) => {
            let mut v = *n;
            let r = ui.add(egui::DragValue::new(&mut v).range(*min..=1_000_000).speed(0.2));
            stepper(ui, path, v, *min).or((r.changed() && v != *n).then(|| v.to_string()))
        }
        (Kind::OptionalCount, value) => {
            let mut bounded = matches!(value, Value::Count(_));
            let mut v = if let Value::Count(n) = value { *n } else { 10 };
            let mut changed = ui.checkbox(&mut bounded, "bounded").changed();
            if bounded {
                changed |= ui.add(egui::DragValue::new(&mut v).range(0..=1_000_000).speed(0.2)).changed();
                if let Some(s) = stepper(ui, path, v, 0) {
                    return Some(s);
                }
            }
            changed.then(|| if bounded { v.to_string() } else { "unbounded".into() })
        }
        (Kind::Real { min, max }, Value::Real(x)) => {
            let mut v = *x;
            let hi = if max.is_finite() { *max } else { f64::MAX };
            ui.add(egui::DragValue::new(&mut v).range(*min..=hi).speed((x.abs() * 0.01).max(0.001)))
                .changed()
                .then(|| v.to_string())
        }
        (Kind::Seconds, Value::Real(x)) => {
            let mut v = *x;
            ui.add(egui::DragValue::new(&mut v).range(0.0..=1e9).speed((x.abs() * 0.01).max(0.001)).suffix(" s"))
                .changed()
                .then(|| v.to_string())
        }
        (Kind::OptionalSeconds, value) => {
            let mut on = matches!(value, Value::Real(_));
            let mut v = if let Value::Real(x) = value { *x } else { 1.0 };
            let mut changed = ui.checkbox(&mut on, "").changed();
            if on {
                let speed = (v * 0.01).max(0.001);
                changed |=
                    ui.add(egui::DragValue::new(&mut v).range(0.000_001..=1e9).speed(speed).suffix(" s")).changed();
            }
            changed.then(|| if on { v.to_string() } else { "none".into() })
        }
        (Kind::Flag, Value::Flag(b)) => {
            let mut v = *b;
            ui.checkbox(&mut v, "").changed().then(|| v.to_string())
        }
        (Kind::Choice(names), Value::Choice(current)) => {
            let mut chosen = None;
            egui::ComboBox::from_id_salt(path).selected_text(current.as_str()).show_ui(ui, |ui| {
                for n in names.iter() {
                    if ui.selectable_label(current == n, *n).clicked() && current != n {
                        chosen = Some(n.to_string());
                    }
                }
            });
            chosen
        }
        (Kind::Points, Value::Points(points)) => points_editor(ui, path, points),
        _ => {
            ui.label(value.to_string());
            None
        }
    })
    .inner
}

/// A schedule's (time, multiplier) rows: drag either number, remove a row, add one after the
/// last. Times are clamped between their neighbours so every edit is a valid schedule.
fn points_editor(ui: &mut Ui, path: &str, points: &[(f64, f64)]) -> Option<String> {
    const GAP: f64 = 1e-3;
    let mut edited = points.to_vec();
    let mut changed = false;
    let mut remove = None;
    ui.vertical(|ui| {
        for i in 0..edited.len() {
            let lo = if i == 0 { 0.0 } else { edited[i - 1].0 + GAP };
            let hi = edited.get(i + 1).map_or(1e9, |p| p.0 - GAP);
            ui.horizontal(|ui| {
                let (t, m) = &mut edited[i];
                let speed = (t.abs() * 0.01).max(0.01);
                changed |= ui
                    .add(egui::DragValue::new(t).range(lo..=hi.max(lo)).speed(speed).prefix("at ").suffix(" s"))
                    .changed();
                changed |= ui.add(egui::DragValue::new(m).range(0.0..=1e6).speed(0.01).prefix("×")).changed();
                if edited.len() > 1 {
                    let r = ui.small_button("🗑");
                    r.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::WidgetType::Button, true, format!("{path} remove {i}"))
                    });
                    if r.on_hover_text("remove this point").clicked() {
                        remove = Some(i);
                    }
                }
            });
        }
        let add = ui.small_button("+ point");
        add.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Button, true, format!("{path} add")));
        if add.on_hover_text("a point 10 s after the last, same multiplier").clicked()
            && let Some(&(t, m)) = edited.last()
        {
            edited.push((t + 10.0, m));
            changed = true;
        }
    });
    if let Some(i) = remove {
        edited.remove(i);
        changed = true;
    }
    (changed && edited != points && crate::params::check_points(&edited).is_ok())
        .then(|| Value::Points(edited).to_string())
}

/// − and + buttons for counts, labelled with the path for screen readers and tests.
fn stepper(ui: &mut Ui, path: &str, v: u64, min: u64) -> Option<String> {
    let minus = ui.small_button("−");
    minus.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Button, true, format!("{path} −")));
    let plus = ui.small_button("+");
    plus.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Button, true, format!("{path} +")));
    if minus.clicked() && v > min {
        return Some((v - 1).to_string());
    }
    plus.clicked().then(|| (v + 1).to_string())
}

/// Fault injection for the selected node, recorded on the timeline like any change.
pub fn faults_ui(ui: &mut Ui, state: &mut GuiState, out: &mut Vec<Command>) {
    ui.label(RichText::new("Inject a fault").strong());
    ui.horizontal(|ui| {
        ui.label("×");
        ui.add(egui::DragValue::new(&mut state.fault_factor).range(1.0..=100.0).speed(0.1));
        ui.label("for");
        ui.add(egui::DragValue::new(&mut state.fault_seconds).range(0.1..=1e6).speed(0.5).suffix(" s"));
    });
    let Some(name) = state.selected.clone() else {
        ui.label("(select a node)");
        return;
    };
    let Some(view) = state.sim.node(&name) else { return };
    let (factor, secs) = (state.fault_factor, state.fault_seconds);
    ui.horizontal_wrapped(|ui| match view.kind {
        NodeKind::Source => {
            if ui.button(format!("Spike {name} ×{factor}")).clicked()
                && let Ok(Value::Real(rate)) = state.sim.get(&format!("{name}.rate"))
            {
                out.push(Command::SetFor { path: format!("{name}.rate"), value: (rate * factor).to_string(), secs });
            }
        }
        NodeKind::Service => {
            if ui.button(format!("Slow {name} ×{factor}")).clicked() {
                out.push(Command::SetFor { path: format!("{name}.slowdown"), value: factor.to_string(), secs });
            }
            if ui.button(format!("Crash {name}")).clicked() {
                out.push(Command::SetFor { path: format!("{name}.up"), value: "false".into(), secs });
            }
        }
    });
    ui.horizontal_wrapped(|ui| {
        for edge in &view.edges {
            let path = match view.kind {
                NodeKind::Source => format!("{name}.cut"),
                NodeKind::Service => format!("{name}.calls.{}.cut", edge.to),
            };
            let label = if edge.cut { format!("Restore {}", edge.name) } else { format!("Cut {}", edge.name) };
            if ui.button(label).clicked() {
                out.push(Command::Set { path, value: (!edge.cut).to_string() });
            }
        }
    });
}

/// The timeline strip: scripted changes, the user's changes and engine events (breaker
/// transitions, crashes) as ticks, queue-full episodes as a band along the bottom, and the
/// facilitator's bookmarks as flags, over the whole run. Marks closer than one bin share a
/// tick coloured by the most serious of them, so a long run draws a few hundred rectangles
/// rather than one per event; hovering a tick lists what it holds, clicking it moves the plots
/// there.
pub fn timeline_ui(ui: &mut Ui, state: &GuiState, out: &mut Vec<Command>) {
    /// Pixels per tick.
    const BIN: f32 = 4.0;
    /// Lines listed when hovering one tick.
    const HOVER_LINES: usize = 12;
    let now = state.now();
    let duration = state.run_limit.max(now).max(1e-9);
    let (rect, _) = ui.allocate_exact_size(egui::vec2(ui.available_width(), 30.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let x = |t: f64| rect.left() + (t / duration) as f32 * rect.width();
    // Elapsed and remaining parts side by side (not one over the other: fill is what a
    // software renderer pays for).
    let (elapsed, remaining) = rect.split_left_right_at_x(x(now).clamp(rect.left(), rect.right()));
    painter.rect_filled(elapsed, egui::CornerRadius { nw: 3, sw: 3, ne: 0, se: 0 }, Color32::from_gray(48));
    painter.rect_filled(remaining, egui::CornerRadius { nw: 0, sw: 0, ne: 3, se: 3 }, Color32::from_gray(30));
    let ticks = egui::Rect::from_min_max(rect.min + egui::vec2(0.0, 8.0), rect.max - egui::vec2(0.0, 7.0));
    let timeline = state.sim.timeline();
    let log = state.sim.log();
    episode_bands(ui, &painter, rect, &x, log, now);
    // (time, severity, what): severity orders colours within a tick.
    let mut marks: Vec<(f64, u8, Mark)> = Vec::with_capacity(timeline.len() + log.len());
    for (i, e) in timeline.iter().enumerate() {
        let severity = match e.origin {
            EntryOrigin::User => 3,
            EntryOrigin::Scenario => 2,
            EntryOrigin::Revert => 0,
        };
        marks.push((crate::engine::time::nanos_to_secs(e.at), severity, Mark::Change(i)));
    }
    for (i, e) in log.iter().enumerate() {
        let severity = match e.event {
            // Changes are drawn from the timeline, queue-full and shedding episodes as bands.
            LogEvent::Changed { .. } | LogEvent::QueueFull | LogEvent::QueueRoom | LogEvent::Shedding { .. } => {
                continue;
            }
            ref other if other.severity() >= 2 => 4,
            _ => 1,
        };
        marks.push((crate::engine::time::nanos_to_secs(e.at), severity, Mark::Event(i)));
    }
    marks.sort_by(|a, b| a.0.total_cmp(&b.0));
    let colour = |m: &Mark, severity: u8| match (m, severity) {
        (Mark::Change(i), _) => match timeline[*i].origin {
            EntryOrigin::Scenario => palette::SCRIPTED,
            EntryOrigin::User => palette::USER,
            EntryOrigin::Revert => Color32::from_gray(150),
        },
        (Mark::Event(_), 4) => palette::BAD,
        (Mark::Event(_), _) => palette::OK,
    };
    let describe = |t: f64, m: &Mark| match m {
        Mark::Change(i) => format!("t = {t:.2} s  {} = {}", timeline[*i].path, timeline[*i].value),
        Mark::Event(i) => format!("t = {t:.2} s  {}: {}", log[*i].subject, log[*i].event),
    };
    let mut rest = &marks[..];
    while let Some(&(t0, _, _)) = rest.first() {
        let bin = ((x(t0) - rect.left()) / BIN).floor();
        let len = rest.iter().take_while(|(t, _, _)| ((x(*t) - rect.left()) / BIN).floor() == bin).count();
        let (tick, tail) = rest.split_at(len);
        rest = tail;
        let worst = tick.iter().max_by_key(|(_, severity, _)| *severity).expect("a tick holds at least one mark");
        let left = rect.left() + bin * BIN;
        let r = egui::Rect::from_min_max(egui::pos2(left, ticks.top()), egui::pos2(left + BIN - 1.0, ticks.bottom()));
        painter.rect_filled(r, 0.0, colour(&worst.2, worst.1));
        let resp =
            ui.interact(r.expand2(egui::vec2(0.5, 3.0)), ui.id().with(("tick", bin as i64)), egui::Sense::click());
        if resp.clicked() {
            out.push(Command::Focus(t0));
        }
        resp.on_hover_ui(|ui| {
            for (t, _, m) in tick.iter().take(HOVER_LINES) {
                ui.label(describe(*t, m));
            }
            if tick.len() > HOVER_LINES {
                ui.label(format!("… and {} more", tick.len() - HOVER_LINES));
            }
        });
    }
    // Bookmarks: a flag on the top edge.
    for (i, b) in state.bookmarks.iter().enumerate() {
        let bx = x(b.t);
        let flag =
            vec![egui::pos2(bx, rect.top()), egui::pos2(bx + 7.0, rect.top() + 4.0), egui::pos2(bx, rect.top() + 8.0)];
        painter.add(egui::Shape::convex_polygon(flag, palette::BOOKMARK, egui::Stroke::NONE));
        painter.line_segment([egui::pos2(bx, rect.top()), egui::pos2(bx, rect.bottom())], (1.0, palette::BOOKMARK));
        let hit = egui::Rect::from_min_max(egui::pos2(bx - 2.0, rect.top()), egui::pos2(bx + 8.0, rect.top() + 9.0));
        let resp = ui.interact(hit, ui.id().with(("bookmark", i)), egui::Sense::click());
        if resp.clicked() {
            out.push(Command::Focus(b.t));
        }
        resp.on_hover_text(format!("t = {:.1} s  {}", b.t, b.note));
    }
}

/// Episodes as bands along the bottom of the strip, hovering one names its nodes: queue-full
/// (from a node's first refusal for lack of room until it has room again) in amber at the very
/// bottom, priority shedding (from its first shed until it admits everything again) in red
/// just above.
fn episode_bands(
    ui: &Ui,
    painter: &egui::Painter,
    rect: egui::Rect,
    x: &dyn Fn(f64) -> f32,
    log: &[crate::engine::kernel::LogEntry],
    now: f64,
) {
    let lanes = [
        ("queue full", queue_full_episodes(log, now), palette::WARN, 0.0),
        ("shedding", shedding_episodes(log, now), palette::BAD, 7.0),
    ];
    let pointer = ui.ctx().pointer_hover_pos();
    for (what, episodes, colour, lift) in lanes {
        let bottom = rect.bottom() - lift;
        let lane = egui::Rect::from_min_max(egui::pos2(rect.left(), bottom - 6.0), egui::pos2(rect.right(), bottom));
        let mut hovered: Vec<String> = Vec::new();
        for (subject, from, to) in &episodes {
            let band = egui::Rect::from_x_y_ranges(x(*from)..=x(*to).max(x(*from) + 1.0), lane.y_range());
            painter.rect_filled(band, 0.0, colour.gamma_multiply(0.8));
            if pointer.is_some_and(|p| band.expand2(egui::vec2(1.0, 2.0)).contains(p)) && !hovered.contains(subject) {
                hovered.push(subject.clone());
            }
        }
        if !hovered.is_empty() {
            egui::Tooltip::always_open(ui.ctx().clone(), ui.layer_id(), ui.id().with(what), lane)
                .show(|ui| ui.label(format!("{what}: {}", hovered.join(", "))));
        }
    }
}

/// (node, from, to) for every queue-full episode in the log, seconds; an episode still going on
/// ends at `now`.
pub fn queue_full_episodes(log: &[crate::engine::kernel::LogEntry], now: f64) -> Vec<(String, f64, f64)> {
    episodes(log, now, |e| match e {
        LogEvent::QueueFull => Some(true),
        LogEvent::QueueRoom => Some(false),
        _ => None,
    })
}

/// (node, from, to) for every episode of priority shedding in the log, seconds.
pub fn shedding_episodes(log: &[crate::engine::kernel::LogEntry], now: f64) -> Vec<(String, f64, f64)> {
    use crate::station::shed::ShedState;
    episodes(log, now, |e| match e {
        LogEvent::Shedding { to: ShedState::AdmittingAll, .. } => Some(false),
        LogEvent::Shedding { .. } => Some(true),
        _ => None,
    })
}

/// Episodes per subject: `edge` says whether an event opens one (`Some(true)`), closes it
/// (`Some(false)`) or neither; one still open ends at `now`.
fn episodes(
    log: &[crate::engine::kernel::LogEntry],
    now: f64,
    edge: impl Fn(&LogEvent) -> Option<bool>,
) -> Vec<(String, f64, f64)> {
    let mut open: Vec<(String, f64)> = Vec::new();
    let mut done = Vec::new();
    for e in log {
        let t = crate::engine::time::nanos_to_secs(e.at);
        match edge(&e.event) {
            Some(true) if !open.iter().any(|(s, _)| *s == e.subject) => open.push((e.subject.clone(), t)),
            Some(false) => {
                if let Some(i) = open.iter().position(|(s, _)| *s == e.subject) {
                    let (s, from) = open.swap_remove(i);
                    done.push((s, from, t));
                }
            }
            _ => {}
        }
    }
    done.extend(open.into_iter().map(|(s, from)| (s, from, now)));
    done
}

/// What a timeline tick refers to: a parameter change or an engine log entry (by index).
enum Mark {
    Change(usize),
    Event(usize),
}

/// The session so far: the changes made from the app (the last one in force can be undone)
/// and the facilitator's bookmarks.
pub fn session_ui(ui: &mut Ui, state: &mut GuiState, out: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("Your changes").strong());
        let now = state.now();
        let undoable = super::changes::last_undoable(&state.changes, now).is_some();
        if ui.add_enabled(undoable, egui::Button::new("Undo last")).on_hover_text("Ctrl+Z").clicked() {
            out.push(Command::UndoLast);
        }
    });
    if state.changes.is_empty() {
        ui.label(RichText::new("none yet: edit a parameter or inject a fault").weak());
    }
    for c in state.changes.iter().rev().take(8) {
        let text = RichText::new(c.describe());
        ui.label(if c.in_force(state.now()) { text } else { text.weak() });
    }
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.label(RichText::new("Bookmarks").strong());
        ui.add(egui::TextEdit::singleline(&mut state.bookmark_text).desired_width(140.0).hint_text("note"));
        if ui.button("Bookmark").on_hover_text("mark this moment on the timeline (M)").clicked() {
            out.push(Command::Bookmark(state.bookmark_text.clone()));
        }
    });
    for b in &state.bookmarks {
        if ui.link(format!("t = {:.1} s  {}", b.t, b.note)).clicked() {
            out.push(Command::Focus(b.t));
        }
    }
}

/// A speed factor with sensible digits: ×0.25, ×3.2, ×48, ×1250.
fn speed_text(x: f64) -> String {
    match x {
        x if x < 1.0 => format!("{x:.2}"),
        x if x < 10.0 => format!("{x:.1}"),
        x => format!("{x:.0}"),
    }
}
