//! The desktop app (feature `gui`): a Bevy window with egui panels over the same [`Sim`] the
//! CLI and the tests drive.
//!
//! Frame by frame, [`advance_clock`] moves sim time by wall time × speed, as far as the
//! engine's share of the frame allows ([`FrameBudget`] holds frames near 30 ms), always through
//! `Sim::run`, so a session's results depend only on the sim times of its changes, never on
//! the frame rate. The panels ([`panels`], [`canvas`], [`plots`]) and the file browser
//! ([`files`]) read [`state::GuiState`] and emit commands that are applied after the frame.
//!
//! [`Sim`]: crate::Sim

pub mod baseline;
pub mod canvas;
pub mod changes;
pub mod files;
pub mod health;
pub mod layout;
pub mod palette;
pub mod panels;
pub mod plots;
pub mod presenter;
pub mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use bevy::app::AppExit;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy::window::{PresentMode, PrimaryWindow, WindowResolution};
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};

use state::{Command, FrameBudget, GuiState};

/// egui's dark `panel_fill`, drawn by the camera's clear pass behind transparent panels.
const PANEL_BACKDROP: Color = Color::srgb_u8(27, 27, 27);

/// The app's state lives outside Bevy's Send world (a `Sim` owns its own `App`).
struct AppState(GuiState);

/// Frame bookkeeping for `--screenshot` and `--bench-frames`.
#[derive(Resource, Default)]
struct Capture {
    screenshot: Option<PathBuf>,
    /// Where to write the app's state beside the screenshot.
    state_json: Option<PathBuf>,
    /// Where to export the scenario when capturing.
    export: Option<PathBuf>,
    /// Capture only once the clock has reached this sim time (the app plays until then).
    play_to: Option<f64>,
    /// Frames drawn since the clock reached `play_to` (or since start).
    settled: u32,
    requested: bool,
    bench_frames: Option<u32>,
    frame: u32,
    frame_times: Vec<f64>,
    /// Main-thread milliseconds per benchmarked frame spent stepping the engine and building
    /// the interface (the rest of a frame is bevy's render thread and the GPU driver).
    engine_ms: Vec<f64>,
    ui_ms: Vec<f64>,
    /// Screenshots asked for from the app, with the frames still to wait: the frame that
    /// closed the file browser must be drawn before one is captured.
    waiting: Vec<(PathBuf, u32)>,
}

/// Screenshots written, for the top bar's notice (set only after the capture, so a
/// screenshot never shows its own notice).
#[derive(Resource, Default)]
struct Written(Vec<PathBuf>);

/// Marks a finished screenshot (set by the capture observer).
#[derive(Resource, Default)]
struct CaptureDone(bool);

/// True when a window can be opened (an X11 or Wayland display is set).
pub fn display_available() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Opens the desktop app. Without a display it says so in one line and returns 1.
pub fn run(opts: crate::cli::GuiArgs) -> ExitCode {
    if !display_available() {
        eprintln!("sluice: no display found (DISPLAY/WAYLAND_DISPLAY unset); run headless with `sluice run SCENARIO`");
        return ExitCode::from(crate::cli::exit::NO_DISPLAY);
    }
    let mut state = match &opts.scenario {
        Some(path) => match GuiState::open(path, opts.seed) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        },
        None => {
            let (name, text) = crate::cli::DEFAULT_SCENARIO;
            match crate::Sim::from_text(name, text, opts.seed) {
                Ok(sim) => GuiState::new(sim, name, text),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            }
        }
    };
    state.scan_catalog(std::path::Path::new("scenarios"));
    if let Some(t) = opts.at {
        state.sim.run_until(t);
        state.plot_focus = None;
    }
    if opts.pin {
        state.apply(Command::TogglePin);
    }
    for set in &opts.sets {
        let Some((path, value)) = set.split_once('=') else {
            eprintln!("sluice: --set wants PATH=VALUE, got `{set}`");
            return ExitCode::from(2);
        };
        state.apply(Command::Set { path: path.trim().to_string(), value: value.trim().to_string() });
        if !state.status.is_empty() {
            eprintln!("sluice: --set {set}: {}", state.status);
            return ExitCode::from(1);
        }
    }
    if let Some(s) = opts.speed {
        state.speed = s;
    }
    if let Some(n) = &opts.select {
        state.selected = Some(n.clone());
    }
    state.presenter = opts.presenter;
    state.playing = opts.play || opts.bench_frames.is_some() || opts.play_to.is_some();
    if let Some(t) = opts.play_to {
        state.run_limit = t;
    }
    if opts.bench_frames.is_some() {
        // The benchmark keeps the model running past the scenario's end.
        state.speed = 1000.0;
        state.stop_at_end = false;
    }
    let window = Window {
        title: window_title(&state),
        resolution: WindowResolution::new(opts.width.max(640), opts.height.max(480)),
        present_mode: if opts.bench_frames.is_some() { PresentMode::AutoNoVsync } else { PresentMode::AutoVsync },
        ..default()
    };
    let mut app = App::new();
    app.add_plugins(DefaultPlugins.set(WindowPlugin { primary_window: Some(window), ..default() }))
        .add_plugins(EguiPlugin::default())
        .insert_resource(ClearColor(PANEL_BACKDROP))
        .insert_non_send(AppState(state))
        .insert_resource(Capture {
            screenshot: opts.screenshot.clone(),
            state_json: opts.state.clone(),
            export: opts.export.clone(),
            play_to: opts.play_to,
            bench_frames: opts.bench_frames,
            ..default()
        })
        .init_resource::<CaptureDone>()
        .init_resource::<Written>()
        .add_systems(Startup, |mut commands: Commands| {
            // egui draws everything; multisampling would only multiply the fill cost, which is
            // what bounds the frame rate on software renderers.
            // The final blit overwrites every pixel, so clearing the window first is wasted fill.
            let output_mode =
                bevy::camera::CameraOutputMode::Write { blend_state: None, clear_color: ClearColorConfig::None };
            commands.spawn((Camera2d, Camera { output_mode, ..default() }, Msaa::Off));
        })
        .add_systems(Update, (advance_clock, capture, sync_title).chain())
        .add_systems(EguiPrimaryContextPass, ui);
    match app.run() {
        AppExit::Success => ExitCode::SUCCESS,
        AppExit::Error(code) => ExitCode::from(code.get()),
    }
}

/// The window's title: the app and the loaded scenario.
fn window_title(state: &GuiState) -> String {
    format!("Sluice — {}", state.sim.scenario().title)
}

/// Keeps the title on the loaded scenario when the picker, Open… or Load session… replace it.
fn sync_title(app: NonSend<AppState>, mut windows: Query<&mut Window, With<PrimaryWindow>>) {
    let title = window_title(&app.0);
    for mut window in &mut windows {
        // Compare first: assigning would mark the window changed and resend it every frame.
        if window.title != title {
            window.title = title.clone();
        }
    }
}

/// Moves sim time by wall time × speed, within a per-frame budget.
fn advance_clock(
    mut app: NonSendMut<AppState>,
    time: Res<Time<Real>>,
    mut cap: ResMut<Capture>,
    mut budget: Local<FrameBudget>,
) {
    let frame = time.delta_secs_f64();
    let start = std::time::Instant::now();
    app.0.advance_frame(frame.min(0.25), budget.next(frame));
    if cap.bench_frames.is_some() && cap.frame > 30 {
        cap.engine_ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
}

/// Takes the requested screenshots and runs the frame benchmark.
fn capture(
    mut commands: Commands,
    mut cap: ResMut<Capture>,
    done: Res<CaptureDone>,
    mut written: ResMut<Written>,
    mut app: NonSendMut<AppState>,
    time: Res<Time<Real>>,
    mut exit: MessageWriter<AppExit>,
) {
    cap.frame += 1;
    for path in app.0.screenshot_requests.drain(..) {
        cap.waiting.push((path, 2));
    }
    for (path, frames) in std::mem::take(&mut cap.waiting) {
        if frames > 0 {
            cap.waiting.push((path, frames - 1));
            continue;
        }
        let shown = path.clone();
        commands
            .spawn(Screenshot::primary_window())
            .observe(save_to_disk(path))
            .observe(move |_: On<ScreenshotCaptured>, mut written: ResMut<Written>| written.0.push(shown.clone()));
    }
    for path in written.0.drain(..) {
        app.0.notice = format!("saved the screenshot to {}", path.display());
    }
    if let Some(n) = cap.bench_frames {
        if cap.frame > 30 {
            let dt = time.delta_secs_f64();
            cap.frame_times.push(dt);
        }
        if cap.frame_times.len() as u32 >= n {
            print_frame_histogram(&cap, &app.0);
            exit.write(AppExit::Success);
        }
    }
    // Let egui lay out and the plots fill for a few frames before capturing.
    let arrived = cap.play_to.is_none_or(|t| app.0.now() >= t - 1e-9);
    if arrived {
        cap.settled += 1;
    }
    if let Some(path) = cap.screenshot.clone() {
        if !cap.requested && cap.frame >= 20 && cap.settled >= 5 {
            cap.requested = true;
            if let Some(ron) = cap.export.clone() {
                app.0.apply(Command::ExportScenario(ron));
            }
            if let Some(json) = &cap.state_json
                && let Err(e) = std::fs::write(json, state_json(&app.0))
            {
                eprintln!("sluice: {}: {e}", json.display());
            }
            commands
                .spawn(Screenshot::primary_window())
                .observe(save_to_disk(path))
                .observe(|_: On<ScreenshotCaptured>, mut done: ResMut<CaptureDone>| done.0 = true);
        }
        if done.0 {
            // The PNG is written by the observer; give it a frame to finish, then exit.
            exit.write(AppExit::Success);
        }
    }
}

/// What the app shows, for scripted checks of a real window: the clock, the x range the plots
/// drew, and each node's card lines.
fn state_json(state: &GuiState) -> String {
    let cards: serde_json::Map<String, serde_json::Value> = state
        .sim
        .node_names()
        .into_iter()
        .map(|n| {
            let lines = canvas::card_text(state, &n);
            (n, serde_json::Value::from(lines))
        })
        .collect();
    serde_json::json!({
        "now_s": state.now(),
        "playing": state.playing,
        "plot_x": state.plot_x_drawn.map(|(a, b)| vec![a, b]),
        "plot_focus": state.plot_focus,
        "baseline": state.baseline.is_some(),
        "presenter": state.presenter,
        "cards": cards,
        "report": serde_json::from_str::<serde_json::Value>(&state.sim.report().to_json_without_wall())
            .unwrap_or_default(),
    })
    .to_string()
}

fn print_frame_histogram(cap: &Capture, state: &GuiState) {
    let mut ms: Vec<f64> = cap.frame_times.iter().map(|t| t * 1000.0).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| ms[((p * (ms.len() - 1) as f64).round() as usize).min(ms.len() - 1)];
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    println!(
        "frames={} nodes={} fps_mean={:.1} frame_ms p50={:.1} p90={:.1} p99={:.1} max={:.1} sim_t={:.1}s events={}",
        ms.len(),
        state.sim.node_names().len(),
        1000.0 / mean,
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0),
        state.now(),
        state.sim.events()
    );
    if state.now() > state.sim.duration() {
        println!(
            "  the benchmark ran on past the scenario's end ({:.0} s) to keep the engine busy",
            state.sim.duration()
        );
    }
    for (lo, hi) in [(0.0, 16.7), (16.7, 33.3), (33.3, 50.0), (50.0, 100.0), (100.0, f64::INFINITY)] {
        let n = ms.iter().filter(|m| **m >= lo && **m < hi).count();
        println!("  {lo:>5.1}–{hi:<5.1} ms {:>5} {}", n, "#".repeat(n * 60 / ms.len().max(1)));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "  main thread per frame: engine {:.1} ms, interface {:.1} ms (the rest is rendering)",
        mean(&cap.engine_ms),
        mean(&cap.ui_ms)
    );
}

/// Draws the whole interface and applies the commands it produced.
fn ui(
    mut contexts: EguiContexts,
    mut app: NonSendMut<AppState>,
    mut styled: Local<bool>,
    mut cap: ResMut<Capture>,
) -> Result {
    let start = std::time::Instant::now();
    let ctx = contexts.ctx_mut()?;
    if !*styled {
        *styled = true;
        // Panels are painted by the camera's clear colour instead of by egui: on a software
        // renderer every blended egui fragment is costly, and full-window panel fills cost
        // about 9 ms of a 60 ms frame at 1600×1000 on llvmpipe.
        ctx.set_theme(egui::Theme::Dark);
        ctx.all_styles_mut(|style| style.visuals.panel_fill = egui::Color32::TRANSPARENT);
    }
    let mut root = egui::Ui::new(
        ctx.clone(),
        "viewport".into(),
        egui::UiBuilder::new().layer_id(egui::LayerId::background()).max_rect(ctx.viewport_rect()),
    );
    frame_ui(&mut root, &mut app.0);
    if app.0.playing {
        ctx.request_repaint();
    }
    if cap.bench_frames.is_some() && cap.frame > 30 {
        cap.ui_ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(())
}

/// The full layout: controls on top, story and inspector left, plots and timeline at the
/// bottom, the canvas in the middle.
pub fn frame_ui(root: &mut egui::Ui, state: &mut GuiState) {
    let mut commands: Vec<Command> = Vec::new();
    presenter::apply_style(root.ctx(), state.presenter);
    presenter::keyboard(root.ctx(), state, &mut commands);
    egui::Panel::top("controls").show(root, |ui| panels::controls_ui(ui, state, &mut commands));
    // The side panel keeps the width the user dragged it to: its contents scroll rather than
    // widen it (a wide inspector row once grew it for good).
    let side = if state.presenter { 380.0 } else { 330.0 };
    egui::Panel::left(if state.presenter { "side-presenter" } else { "side" })
        .resizable(true)
        .default_size(side)
        .size_range(220.0..=900.0)
        .show(root, |ui| {
            egui::ScrollArea::both().auto_shrink([false, false]).show(ui, |ui| {
                panels::teaching_ui(ui, state);
                ui.separator();
                panels::faults_ui(ui, state, &mut commands);
                ui.separator();
                panels::session_ui(ui, state, &mut commands);
                ui.separator();
                panels::inspector_ui(ui, state, &mut commands);
            });
        });
    egui::Panel::bottom("dock").resizable(true).default_size(280.0).show(root, |ui| {
        panels::timeline_ui(ui, state, &mut commands);
        plots::plots_ui(ui, state);
    });
    egui::CentralPanel::default().show(root, |ui| canvas::canvas_ui(ui, state, &mut commands));
    files::file_browser_ui(root, state, &mut commands);
    for c in commands {
        state.apply(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::ecs::system::RunSystemOnce as _;

    /// A character missing from egui's bundled fonts is drawn as an empty box (the schedule
    /// row's remove button once was), so every non-ASCII character in the interface's string
    /// literals must have a glyph.
    #[test]
    fn every_symbol_the_interface_draws_is_in_the_bundled_fonts() {
        let sources = [
            include_str!("baseline.rs"),
            include_str!("canvas.rs"),
            include_str!("changes.rs"),
            include_str!("files.rs"),
            include_str!("health.rs"),
            include_str!("layout.rs"),
            include_str!("../engine/live.rs"),
            include_str!("mod.rs"),
            include_str!("palette.rs"),
            include_str!("panels.rs"),
            include_str!("plots.rs"),
            include_str!("presenter.rs"),
            include_str!("state.rs"),
        ];
        // egui's own `has_glyph` answers per font face, not per glyph, so it reports symbols of
        // the emoji faces as missing: read the character maps instead.
        use skrifa::MetadataProvider as _;
        let defs = egui::FontDefinitions::default();
        let faces: Vec<skrifa::FontRef> = defs.families[&egui::FontFamily::Proportional]
            .iter()
            .map(|name| skrifa::FontRef::new(&defs.font_data[name].font).expect("egui's bundled fonts parse"))
            .collect();
        let has_glyph = |c: char| faces.iter().any(|f| f.charmap().map(c).is_some());
        let mut checked = 0;
        for line in sources.iter().flat_map(|s| s.lines()).filter(|l| !l.trim_start().starts_with("//")) {
            // Odd pieces between quotes are the literals (good enough for one-line literals).
            for literal in line.split('"').skip(1).step_by(2) {
                for c in literal.chars().filter(|c| !c.is_ascii()) {
                    assert!(has_glyph(c), "no glyph for {c:?} in {literal:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 10, "the scan found the interface's symbols ({checked})");
        // The shipped scenarios' titles, descriptions and notes are drawn in the side panel.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "ron")) {
            let text = std::fs::read_to_string(file).unwrap();
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for c in line.chars().filter(|c| !c.is_ascii()) {
                    assert!(has_glyph(c), "{}: no glyph for {c:?} in {line:?}", file.display());
                }
            }
        }
    }

    #[test]
    fn window_title_follows_the_loaded_scenario() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let state = GuiState::open(&dir.join("mmck.ron"), None).unwrap();
        let first = state.sim.scenario().title.clone();
        let mut world = World::new();
        world.insert_non_send(AppState(state));
        let window = world.spawn((Window::default(), PrimaryWindow)).id();
        let title = |world: &World| world.get::<Window>(window).unwrap().title.clone();
        world.run_system_once(sync_title).unwrap();
        assert_eq!(title(&world), format!("Sluice — {first}"));
        world.non_send_mut::<AppState>().0.apply(Command::Load(dir.join("three-tier.ron")));
        world.run_system_once(sync_title).unwrap();
        let second = world.non_send_mut::<AppState>().0.sim.scenario().title.clone();
        assert_ne!(first, second);
        assert_eq!(title(&world), format!("Sluice — {second}"));
    }
}
