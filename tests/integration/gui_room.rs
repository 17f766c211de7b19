//! The app as a room sees it: plots that follow the clock past the first window, fixed node
//! colours, the A/B baseline against a headless run, keyboard transport, presenter mode, the
//! session's changes with undo, exports that keep the story — through egui_kittest and the
//! app's commands — and a real window under Xvfb played past two plot windows.

use std::path::PathBuf;
use std::process::Command as Process;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use sluice::Sim;
use sluice::gui::frame_ui;
use sluice::gui::plots::{nodes_to_plot, plots_ui, x_range};
use sluice::gui::state::{Command, GuiState};
use sluice::params::Value;

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
}

/// The whole app's layout in a 1280×800 harness, commands applied as in the app.
fn app(state: GuiState) -> Harness<'static, GuiState> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .with_step_dt(0.25)
        .build_ui_state(|ui, state: &mut GuiState| frame_ui(ui, state), state)
}

/// Only the plot dock.
fn dock(state: GuiState) -> Harness<'static, GuiState> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 300.0))
        .with_step_dt(0.25)
        .build_ui_state(|ui, state: &mut GuiState| plots_ui(ui, state), state)
}

fn close(a: Option<(f64, f64)>, b: (f64, f64)) -> bool {
    a.is_some_and(|a| (a.0 - b.0).abs() < 1e-6 && (a.1 - b.1).abs() < 1e-6)
}

#[test]
fn the_plots_follow_the_clock_past_two_windows_and_park_where_asked() {
    let mut state = GuiState::open(&scenario("three-tier.ron"), None).unwrap();
    state.sim.run_until(30.0);
    let mut h = dock(state);
    h.run();
    assert!(close(h.state().plot_x_drawn, (0.0, 120.0)), "the first window: {:?}", h.state().plot_x_drawn);
    for t in [130.0, 250.0, 400.0] {
        h.state_mut().sim.run_until(t);
        h.run();
        assert!(close(h.state().plot_x_drawn, (t - 120.0, t)), "at t = {t}: {:?}", h.state().plot_x_drawn);
    }
    h.state_mut().apply(Command::Focus(127.8));
    h.run();
    assert!(close(h.state().plot_x_drawn, (7.8, 127.8)), "parked: {:?}", h.state().plot_x_drawn);
    // Following again jumps back to the clock.
    h.state_mut().plot_focus = None;
    h.run();
    assert!(close(h.state().plot_x_drawn, (280.0, 400.0)));
}

#[test]
fn a_node_keeps_its_colour_and_the_plots_show_the_nodes_in_trouble() {
    let mut state = GuiState::open(&scenario("mesh-30.ron"), None).unwrap();
    state.sim.run_until(60.0);
    let before = state.colours.colour("cache1");
    let shown_healthy = nodes_to_plot(&state, x_range(&state));
    // The health the cards show, as the canvas advances it each frame.
    for t in 61..=95 {
        state.sim.run_until(f64::from(t));
        state.canvas.update(&state.sim);
    }
    assert_eq!(state.colours.colour("cache1"), before);
    let names = state.sim.node_names();
    let distinct: std::collections::BTreeSet<_> = names.iter().map(|n| state.colours.colour(n).to_array()).collect();
    assert!(distinct.len() >= 12, "colours repeat only past twelve nodes");
    state.plot_window = 20.0;
    let shown = nodes_to_plot(&state, x_range(&state));
    assert!(shown.len() <= 5, "{shown:?}");
    assert!(shown.iter().any(|n| n == "shard2"), "the slowed shard is plotted: {shown:?} (healthy: {shown_healthy:?})");
    assert!(!shown.iter().any(|n| n == "gateway" || n.starts_with("cache")), "healthy busy nodes are not: {shown:?}");
}

#[test]
fn the_baseline_ghost_is_a_headless_run_of_the_baseline() {
    let mut live = GuiState::open(&scenario("retry-storm.ron"), None).unwrap();
    live.apply(Command::RunUntil(40.0));
    live.apply(Command::TogglePin);
    assert!(live.baseline.is_some(), "{}", live.status);
    live.apply(Command::Set { path: "clients.retry.max_attempts".into(), value: "1".into() });
    // Frames as the app plays them.
    live.playing = true;
    live.speed = 50.0;
    while live.now() < 110.0 {
        live.advance_frame(0.05, std::time::Duration::from_secs(1));
    }
    let base = live.baseline.as_ref().unwrap();
    assert_eq!(base.sim.now_nanos(), live.sim.now_nanos(), "the baseline keeps the live clock");
    let mut headless = Sim::from_file(scenario("retry-storm.ron"), None).unwrap();
    headless.run(live.sim.now_nanos(), None);
    assert_eq!(base.sim.series("server"), headless.series("server"));
    assert_eq!(base.sim.report().to_json_without_wall(), headless.report().to_json_without_wall());
    assert_ne!(live.sim.series("server"), headless.series("server"), "the change made a difference");
    // The card says what the change did: the storm is gone, so goodput is higher.
    let note = base.card_note(&live.sim, "clients").expect("the runs differ");
    assert!(note.contains("ok/s +") && note.ends_with("vs baseline"), "{note}");
    // Reset drops the pin.
    live.apply(Command::Reset { seed: 1 });
    assert!(live.baseline.is_none());
}

#[test]
fn keyboard_transport_drives_the_same_commands_as_the_buttons() {
    let state = GuiState::open(&scenario("three-tier.ron"), None).unwrap();
    let mut h = app(state);
    h.run();
    h.key_press(egui::Key::Space);
    h.run();
    assert!(h.state().playing, "Space plays");
    h.key_press(egui::Key::Space);
    h.run();
    assert!(!h.state().playing, "and pauses");
    h.key_press(egui::Key::Num3);
    h.run();
    assert_eq!(h.state().speed, 5.0);
    let events = h.state().sim.events();
    h.key_press(egui::Key::ArrowRight);
    h.run();
    assert_eq!(h.state().sim.events(), events + 1, "→ handles one event");
    h.key_press(egui::Key::B);
    h.run();
    assert!(h.state().baseline.is_some(), "B pins a baseline");
    h.key_press(egui::Key::M);
    h.run();
    assert_eq!(h.state().bookmarks.len(), 1, "M drops a bookmark");
    h.state_mut().apply(Command::Set { path: "api.workers".into(), value: "20".into() });
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run();
    assert_eq!(h.state_mut().sim.get("api.workers").unwrap(), Value::Count(16), "Ctrl+Z undoes");
    assert!(h.state().changes[0].undone_at.is_some());
}

#[test]
fn presenter_mode_makes_the_type_large() {
    let state = GuiState::open(&scenario("three-tier.ron"), None).unwrap();
    let mut h = app(state);
    h.run();
    let small = h.get_by_label("Presenter").rect().height();
    let body = |h: &Harness<'static, GuiState>| h.ctx.global_style().text_styles[&egui::TextStyle::Body].size;
    assert!(body(&h) < 14.0);
    h.key_press(egui::Key::P);
    h.run();
    h.run();
    assert!(h.state().presenter);
    assert!(body(&h) >= 20.0, "presenter body text {}", body(&h));
    let large = h.get_by_label("Presenter").rect().height();
    assert!(large > small * 1.3, "buttons grow with the type: {small} → {large}");
    h.get_by_label("Presenter").click();
    h.run();
    h.run();
    assert!(body(&h) < 14.0, "and back");
}

#[test]
fn the_last_change_in_force_can_be_undone_and_the_list_shows_it() {
    let mut state = GuiState::open(&scenario("three-tier.ron"), None).unwrap();
    state.sim.run_until(10.0);
    state.apply(Command::Set { path: "api.workers".into(), value: "17".into() });
    state.apply(Command::Set { path: "api.workers".into(), value: "18".into() });
    state.apply(Command::SetFor { path: "db.slowdown".into(), value: "3".into(), secs: 5.0 });
    assert_eq!(state.changes.len(), 2, "two edits of one field are one change");
    state.apply(Command::UndoLast);
    assert_eq!(state.sim.get("db.slowdown").unwrap(), Value::Real(1.0));
    state.apply(Command::UndoLast);
    assert_eq!(state.sim.get("api.workers").unwrap(), Value::Count(16), "back to before the first edit");
    state.apply(Command::UndoLast);
    assert!(state.status.contains("no change"), "{}", state.status);
    let mut h = app(state);
    h.run();
    assert!(h.query_by_label_contains("api.workers = 18 (was 16), undone at 10.0 s").is_some());
}

#[test]
fn play_stops_at_the_end_with_a_cue_and_extend_runs_on() {
    let mut state = GuiState::open(&scenario("retry-storm.ron"), None).unwrap();
    state.sim.run_until(state.sim.duration() - 0.5);
    state.playing = true;
    state.speed = 100.0;
    for _ in 0..10 {
        state.advance_frame(0.05, std::time::Duration::from_secs(1));
    }
    assert_eq!(state.now(), state.sim.duration(), "it stops exactly at the end");
    assert!(!state.playing && state.finished());
    state.apply(Command::TogglePlay);
    assert!(!state.playing && state.status.contains("finished"), "{}", state.status);
    let mut h = app(state);
    h.run();
    let end = h.state().sim.duration();
    h.get_by_label(&format!("Extend +{end:.0} s")).click();
    h.run();
    h.state_mut().apply(Command::TogglePlay);
    assert!(h.state().playing);
    assert_eq!(h.state().run_limit, 2.0 * end);
}

#[test]
fn an_export_keeps_the_story_and_replays_the_session() {
    let mut live = GuiState::open(&scenario("three-tier.ron"), None).unwrap();
    live.playing = true;
    live.speed = 40.0;
    let mut made = [false; 3];
    while live.now() < 200.0 {
        live.advance_frame(0.05, std::time::Duration::from_secs(1));
        let t = live.now();
        if t > 50.0 && !made[0] {
            made[0] = true;
            live.apply(Command::Set { path: "api.calls.db.timeout".into(), value: "0.3".into() });
        }
        if t > 90.0 && !made[1] {
            made[1] = true;
            live.apply(Command::SetFor { path: "clients.rate".into(), value: "80".into(), secs: 15.0 });
        }
        if t > 130.0 && !made[2] {
            made[2] = true;
            live.apply(Command::Set { path: "db.queue.capacity".into(), value: "unbounded".into() });
        }
    }
    assert!(live.status.is_empty(), "{}", live.status);
    let text = live.tweaked_scenario();
    assert!(text.contains("at 120 for 120 set db.slowdown = 6"), "the scripted incident stays:\n{text}");
    let mut again = Sim::from_text("export.ron", &text, None).unwrap_or_else(|e| panic!("{e}\n{text}"));
    again.run(live.sim.now_nanos(), None);
    let (a, b) = (live.sim.report(), again.report());
    let json = |r: &sluice::metrics::report::Report| {
        (serde_json::to_string(&r.nodes).unwrap(), serde_json::to_string(&r.links).unwrap(), r.events)
    };
    assert_eq!(json(&a), json(&b), "the export replays the session");
    let changes =
        |r: &sluice::metrics::report::Report| r.timeline.iter().map(|c| (c.at_s, c.set.clone())).collect::<Vec<_>>();
    assert_eq!(changes(&a), changes(&b));
}

/// Runs the app in a real window under Xvfb with `args`, checks its screenshot has the window's
/// size and is not blank, and returns the state JSON it wrote beside it; `None` (loudly)
/// without `xvfb-run`.
pub(crate) fn real_window(name: &str, args: &[&str]) -> Option<serde_json::Value> {
    let has_xvfb = Process::new("sh").args(["-c", "command -v xvfb-run"]).output().is_ok_and(|o| o.status.success());
    if !has_xvfb {
        eprintln!("\n*** SKIPPED {name}: xvfb-run not found (apt-get install -y xvfb mesa-vulkan-drivers) ***\n");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("sluice-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (png, json) = (dir.join("shot.png"), dir.join("state.json"));
    let out = Process::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_sluice"))
        .arg("gui")
        .args(args)
        .arg("--screenshot")
        .arg(&png)
        .arg("--state")
        .arg(&json)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("xvfb-run runs");
    assert!(
        out.status.success(),
        "app failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&png).expect("a PNG was written").to_rgb8();
    assert_eq!(img.dimensions(), (1280, 800));
    let distinct: std::collections::BTreeSet<[u8; 3]> = img.pixels().step_by(97).map(|p| p.0).collect();
    assert!(distinct.len() > 20, "the screenshot looks blank ({} distinct colours)", distinct.len());
    let state = serde_json::from_str(&std::fs::read_to_string(&json).expect("the state was written")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    Some(state)
}

/// Plays a real window from 0 past two plot windows: the plots' x range follows the clock.
/// Then, in a second window, the scripted slowdown of the database (t = 120–240 s) shows on its
/// card while it is in force.
#[test]
fn a_real_window_played_past_two_windows_follows_the_clock_and_shows_the_slowdown() {
    let Some(state) = real_window("follow", &["scenarios/three-tier.ron", "--speed", "400", "--play-to", "250"]) else {
        return;
    };
    assert_eq!(state["now_s"], 250.0, "{state}");
    assert_eq!(state["plot_x"], serde_json::json!([130.0, 250.0]), "{state}");
    assert!(!state["cards"]["db"].to_string().contains("slower"), "the slowdown ended at 240 s: {state}");
    let Some(state) = real_window("slowdown", &["scenarios/three-tier.ron", "--speed", "400", "--play-to", "160"])
    else {
        return;
    };
    let db = state["cards"]["db"].to_string();
    assert!(db.contains("×6 slower for 80 s more"), "the slowdown is on db's card: {db}");
    assert_eq!(state["plot_x"], serde_json::json!([40.0, 160.0]), "{state}");
}

/// What File → Export scenario… writes from a real window replays the window's run.
#[test]
fn a_real_window_export_replays_its_report() {
    let dir = std::env::temp_dir().join(format!("sluice-exported-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ron = dir.join("export.ron");
    let args = [
        "scenarios/three-tier.ron",
        "--at",
        "100",
        "--set",
        "api.calls.db.timeout=0.25",
        "--speed",
        "300",
        "--play-to",
        "180",
        "--export",
        ron.to_str().unwrap(),
    ];
    let Some(state) = real_window("export", &args) else { return };
    let out = Process::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", ron.to_str().unwrap(), "--until", "180", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let window = &state["report"];
    assert_eq!(window["nodes"], run["nodes"]);
    assert_eq!(window["links"], run["links"]);
    assert_eq!(window["events"], run["events"]);
    let _ = std::fs::remove_dir_all(&dir);
}
