//! The desktop app's panels, driven without a window through `egui_kittest`, the record/replay
//! guarantee through the app's own commands, and a real-window smoke test under Xvfb.

use std::path::PathBuf;
use std::process::Command as Process;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use sluice::gui::files::file_browser_ui;
use sluice::gui::panels::{controls_ui, faults_ui, inspector_ui};
use sluice::gui::state::{Command, GuiState};
use sluice::params::Value;

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
}

/// A panel function, as the app draws them.
type Panel = fn(&mut egui::Ui, &mut GuiState, &mut Vec<Command>);

/// A harness around one panel; commands are applied after each frame, as in the app.
fn harness(state: GuiState, panel: Panel) -> Harness<'static, GuiState> {
    harness_stepping(state, panel, 0.25)
}

/// A harness whose frames last `step_dt` seconds (short ones fit a double-click in two frames).
fn harness_stepping(state: GuiState, panel: Panel, step_dt: f32) -> Harness<'static, GuiState> {
    Harness::builder().with_size(egui::vec2(900.0, 1400.0)).with_step_dt(step_dt).build_ui_state(
        move |ui, state: &mut GuiState| {
            let mut out = Vec::new();
            panel(ui, state, &mut out);
            for c in out {
                state.apply(c);
            }
        },
        state,
    )
}

#[test]
fn inspector_edits_queue_capacity_at_the_current_sim_time() {
    let mut state = GuiState::open(&scenario("mmck.ron"), None).unwrap();
    state.sim.run_until(100.0);
    state.selected = Some("server".into());
    let mut h = harness(state, inspector_ui);
    h.run();
    h.get_by_label("server.queue.capacity +").click();
    h.run();
    let state = h.state_mut();
    assert_eq!(state.sim.get("server.queue.capacity").unwrap(), Value::Count(6));
    let entry = state.sim.timeline().last().unwrap().clone();
    assert_eq!((entry.at, entry.path.as_str()), (100_000_000_000, "server.queue.capacity"));
    // The engine uses it from then on: the queue can now hold 6.
    state.sim.set("clients.rate", "20").unwrap();
    state.sim.run_until(150.0);
    assert_eq!(state.sim.node("server").unwrap().queue_len, 6);
    // Every parameter of the node is listed by the registry, including the edge's policy.
    assert!(h.query_by_label("server.workers +").is_some());
}

#[test]
fn scenario_picker_loads_a_scenario() {
    let mut state = GuiState::open(&scenario("mmck.ron"), None).unwrap();
    state.scan_catalog(&scenario(""));
    assert!(state.catalog.len() >= 3, "{:?}", state.catalog);
    let mut h = harness(state, controls_ui);
    h.run();
    h.get_by_label("scenario").click();
    h.run();
    h.get_by_label("Retry storm: the outage outlives its trigger").click();
    h.run();
    let state = h.state();
    assert!(state.scenario_name.ends_with("retry-storm.ron"), "{}", state.scenario_name);
    assert_eq!(state.sim.node_names(), ["clients", "server"]);
    assert!(state.catalog.len() >= 3, "the catalog survives a load");
}

#[test]
fn fault_buttons_put_the_right_entries_on_the_timeline() {
    let mut state = GuiState::open(&scenario("three-tier.ron"), None).unwrap();
    state.sim.run_until(30.0);
    state.selected = Some("db".into());
    let mut h = harness(state, faults_ui);
    h.run();
    h.get_by_label("Slow db ×3").click();
    h.run();
    h.get_by_label("Crash db").click();
    h.run();
    h.state_mut().selected = Some("clients".into());
    h.run();
    h.get_by_label("Spike clients ×3").click();
    h.run();
    h.get_by_label("Cut clients->api").click();
    h.run();
    let state = h.state();
    let user: Vec<(u64, String, String, Option<u64>)> = state
        .sim
        .timeline()
        .iter()
        .filter(|e| e.origin == sluice::engine::kernel::EntryOrigin::User)
        .map(|e| (e.at, e.path.clone(), e.value.to_string(), e.duration))
        .collect();
    let s = 1_000_000_000u64;
    assert_eq!(
        user,
        [
            (30 * s, "db.slowdown".to_string(), "3".to_string(), Some(20 * s)),
            (30 * s, "db.up".to_string(), "false".to_string(), Some(20 * s)),
            (30 * s, "clients.rate".to_string(), "240".to_string(), Some(20 * s)),
            (30 * s, "clients.cut".to_string(), "true".to_string(), None),
        ]
    );
    assert!(!state.sim.node("db").unwrap().up);
}

#[test]
fn a_saved_session_replays_the_live_ui_session_exactly() {
    let dir = std::env::temp_dir().join(format!("sluice-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut live = GuiState::open(&scenario("three-tier.ron"), Some(9)).unwrap();
    // Frames of various lengths, with UI actions at chosen sim times.
    live.playing = true;
    live.speed = 37.0;
    for frame in 0..200 {
        live.advance_frame(0.016 + (frame % 5) as f64 * 0.003, std::time::Duration::from_secs(1));
        match frame {
            40 => live.apply(Command::Set { path: "api.workers".into(), value: "24".into() }),
            90 => live.apply(Command::SetFor { path: "db.slowdown".into(), value: "4".into(), secs: 10.0 }),
            120 => live.apply(Command::Step),
            121 => live.apply(Command::Set { path: "api.calls.db.breaker.enabled".into(), value: "false".into() }),
            150 => live.apply(Command::TogglePlay),
            151 => live.apply(Command::Set { path: "clients.retry.max_attempts".into(), value: "1".into() }),
            152 => live.apply(Command::TogglePlay),
            _ => {}
        }
    }
    assert!(live.status.is_empty(), "{}", live.status);
    let path = dir.join("session.ron");
    live.apply(Command::SaveSession(path.clone()));
    let mut replayed = GuiState::open(&scenario("mmck.ron"), None).unwrap();
    replayed.apply(Command::LoadSession(path));
    assert!(replayed.status.is_empty(), "{}", replayed.status);
    assert_eq!(live.sim.report().to_json_without_wall(), replayed.sim.report().to_json_without_wall());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exported_scenario_keeps_changes_at_start_and_layout() {
    let mut state = GuiState::open(&scenario("three-tier.ron"), None).unwrap();
    state.apply(Command::Set { path: "api.calls.db.timeout".into(), value: "0.25".into() });
    state.apply(Command::Set { path: "db.queue.capacity".into(), value: "unbounded".into() });
    state.layout.insert("db".into(), (500.0, 77.0));
    let text = state.tweaked_scenario();
    let mut again = sluice::Sim::from_text("tweaked.ron", &text, None).unwrap_or_else(|e| panic!("{e}\n{text}"));
    // The changes are on the export's timeline at the time they were made: here, 0.
    again.run_until(0.0);
    assert_eq!(again.get("api.calls.db.timeout").unwrap(), Value::Real(0.25));
    assert_eq!(again.get("db.queue.capacity").unwrap(), Value::Unset);
    assert_eq!(again.scenario().layout.get("db"), Some(&(500.0, 77.0)));
}

/// Opens a real window under Xvfb, takes a screenshot with the app's own `--screenshot`, and
/// checks it has the requested size and is not blank. Skipped (loudly) without `xvfb-run`.
#[test]
fn real_window_screenshot_under_xvfb() {
    let Some(state) = crate::gui_room::real_window("smoke", &["scenarios/three-tier.ron", "--at", "150"]) else {
        return;
    };
    assert_eq!(state["now_s"], 150.0, "{state}");
}

#[test]
fn without_a_display_the_app_says_so_in_one_line() {
    let out = Process::new(env!("CARGO_BIN_EXE_sluice"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(i32::from(sluice::cli::exit::NO_DISPLAY)));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("no display") && err.contains("sluice run"), "{err}");
}

#[test]
fn clicking_an_edge_narrows_the_inspector_to_its_policy() {
    let mut state = GuiState::open(&scenario("three-tier.ron"), None).unwrap();
    state.apply(Command::SelectEdge("api->db".into()));
    assert_eq!(state.selected.as_deref(), Some("api"));
    let mut h = harness(state, inspector_ui);
    h.run();
    assert!(h.query_by_label("api.calls.db.retry.max_attempts +").is_some());
    assert!(h.query_by_label("api.workers +").is_none(), "the node's own fields are hidden");
    h.get_by_label("api.calls.db.retry.max_attempts +").click();
    h.run();
    assert_eq!(h.state_mut().sim.get("api.calls.db.retry.max_attempts").unwrap(), Value::Count(2));
}

#[test]
fn inspector_edits_a_rate_schedule_and_a_distribution_family() {
    let text = r#"Scenario(title: "sched", duration: 300.0, nodes: {
        "clients": Source(rate: 10.0, arrivals: Schedule(points: [(0.0, 1.0), (60.0, 2.0)]), to: "server"),
        "server": Service(workers: 4, service: Exponential(mean: 0.05)),
    })"#;
    let mut state = GuiState::new(sluice::Sim::from_text("sched.ron", text, None).unwrap(), "sched.ron", text);
    state.sim.run_until(30.0);
    state.selected = Some("clients".into());
    let mut h = harness(state, inspector_ui);
    h.run();
    h.get_by_label("clients.arrivals.points add").click();
    h.run();
    assert_eq!(
        h.state_mut().sim.get("clients.arrivals.points").unwrap(),
        Value::Points(vec![(0.0, 1.0), (60.0, 2.0), (70.0, 2.0)])
    );
    h.get_by_label("clients.arrivals.points remove 0").click();
    h.run();
    let state = h.state_mut();
    assert_eq!(state.sim.get("clients.arrivals.points").unwrap(), Value::Points(vec![(60.0, 2.0), (70.0, 2.0)]));
    let entry = state.sim.timeline().last().unwrap().clone();
    assert_eq!((entry.at, entry.path.as_str()), (30_000_000_000, "clients.arrivals.points"));
    // The service's family is a choice in the same registry.
    state.selected = Some("server".into());
    h.run();
    assert!(h.query_by_label("service.kind").is_some(), "the family is listed");
    h.get_by_value("exponential").click();
    h.run();
    h.get_by_label("deterministic").click();
    h.run();
    let state = h.state_mut();
    assert_eq!(state.sim.get("server.service.kind").unwrap(), Value::Choice("deterministic".into()));
    assert_eq!(state.sim.get("server.service.mean").unwrap(), Value::Real(0.05));
}

/// The top bar and the file browser window, drawn together as in the app.
fn controls_and_browser(ui: &mut egui::Ui, state: &mut GuiState, out: &mut Vec<Command>) {
    controls_ui(ui, state, out);
    file_browser_ui(ui, state, out);
}

/// A fresh folder under the system's temporary folder, removed when dropped (also when a test
/// fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sluice-gui-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(std::fs::canonicalize(&dir).unwrap())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_file_that_fails_to_open_keeps_the_browser_open_with_the_error() {
    let tmp = TempDir::new("broken");
    std::fs::write(tmp.0.join("broken.ron"), "Scenario(title: \"broken\", duration: 10.0, nodes: { \"a\": Sink })")
        .unwrap();
    let mut state = GuiState::open(&scenario("mmck.ron"), None).unwrap();
    state.last_dir = Some(tmp.0.clone());
    let mut h = harness(state, controls_and_browser);
    h.run();
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Open…").click();
    h.run();
    h.get_by_label("broken.ron").click();
    h.run();
    h.get_by_label("Open").click();
    h.run();
    let state = h.state();
    assert_eq!(state.sim.scenario().title, "M/M/c/K: a single bounded station", "the run is kept");
    let browser = state.browser.as_ref().expect("the browser comes back");
    assert_eq!(browser.dir, tmp.0, "where the user was");
    let message = browser.message.clone().unwrap_or_default();
    assert!(message.contains("broken.ron") && message.contains("Sink"), "{message}");
    assert!(state.confirmed_browser.is_none());
}

#[test]
fn opening_a_scenario_through_the_file_browser() {
    let tmp = TempDir::new("open");
    std::fs::copy(scenario("mmck.ron"), tmp.0.join("mmck.ron")).unwrap();
    std::fs::create_dir(tmp.0.join("sub")).unwrap();
    std::fs::write(tmp.0.join("sub").join("notes.txt"), "not a scenario").unwrap();
    let mut state = GuiState::open(&scenario("three-tier.ron"), None).unwrap();
    state.last_dir = Some(tmp.0.clone());
    let mut h = harness(state, controls_and_browser);
    h.run();
    assert!(h.query_by_label("Open a scenario").is_none(), "no browser before the button");
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Open…").click();
    h.run();
    assert!(h.query_by_label("Open a scenario").is_some(), "the browser's window");
    assert_eq!(h.state().browser.as_ref().unwrap().dir, tmp.0);
    // The listing shows the folder and the scenario with its title.
    assert!(h.query_by_label("M/M/c/K: a single bounded station").is_some());
    h.get_by_label("sub/").click();
    h.run();
    assert_eq!(h.state().browser.as_ref().unwrap().dir, tmp.0.join("sub"));
    assert!(h.query_by_label("notes.txt").is_none(), "only scenario files are listed");
    assert!(h.query_by_label("mmck.ron").is_none());
    h.get_by_label("..").click();
    h.run();
    assert_eq!(h.state().browser.as_ref().unwrap().dir, tmp.0);
    h.get_by_label("mmck.ron").click();
    h.run();
    assert_eq!(
        h.state().sim.scenario().title,
        "Three-tier cascade: a slow database takes down the API",
        "picking a file does not open it"
    );
    h.get_by_label("Open").click();
    h.run();
    let state = h.state();
    assert!(state.status.is_empty(), "{}", state.status);
    assert_eq!(state.scenario_name, tmp.0.join("mmck.ron").display().to_string());
    assert_eq!(state.sim.scenario().title, "M/M/c/K: a single bounded station");
    assert_eq!(state.sim.node_names(), ["clients", "server"]);
    assert!(state.browser.is_none(), "confirming closes the browser");
    assert!(h.query_by_label("Open a scenario").is_none());
}

#[test]
fn saving_a_session_through_the_file_browser() {
    let tmp = TempDir::new("save");
    let mut state = GuiState::open(&scenario("mmck.ron"), Some(4)).unwrap();
    state.sim.run_until(50.0);
    state.apply(Command::Set { path: "server.workers".into(), value: "3".into() });
    state.sim.run_until(80.0);
    state.last_dir = Some(tmp.0.clone());
    let mut h = harness(state, controls_and_browser);
    h.run();
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Save session…").click();
    h.run();
    assert!(h.query_by_label("Save the session").is_some());
    let field = h.get_by_label("File name");
    assert_eq!(field.value().as_deref(), Some("session.ron"), "the default name");
    field.focus();
    h.run();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("File name").type_text("monday.ron");
    h.run();
    h.get_by_label("Save").click();
    h.run();
    let saved = tmp.0.join("monday.ron");
    assert!(h.state().status.is_empty(), "{}", h.state().status);
    assert!(h.state().browser.is_none());
    assert!(saved.is_file(), "the session is written under the typed name in the browsed folder");
    assert_eq!(h.state().notice, format!("saved the session to {}", saved.display()), "and the user is told where");
    assert!(!tmp.0.join("session.ron").exists());

    // Saving again under the same name asks first.
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Save session…").click();
    h.run();
    h.get_by_label("monday.ron").click();
    h.run();
    h.get_by_label("Save").click();
    h.run();
    assert!(h.query_by_label("“monday.ron” already exists. Replace it?").is_some());
    h.get_by_label("Keep it").click();
    h.run();
    assert!(h.query_by_label("Replace").is_none());
    h.get_by_label("Cancel").click();
    h.run();
    assert!(h.state().browser.is_none());

    // It loads back into a different app state, through the browser too.
    let live = h.state().sim.report().to_json_without_wall();
    let mut other = GuiState::open(&scenario("three-tier.ron"), None).unwrap();
    other.last_dir = Some(tmp.0.clone());
    let mut h = harness(other, controls_and_browser);
    h.run();
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Load session…").click();
    h.run();
    assert!(h.query_by_label("session: M/M/c/K: a single bounded station").is_some());
    h.get_by_label("monday.ron").click();
    h.run();
    h.get_by_label("Load").click();
    h.run();
    let state = h.state_mut();
    assert!(state.status.is_empty(), "{}", state.status);
    assert_eq!(state.sim.seed(), 4);
    assert_eq!(state.sim.get("server.workers").unwrap(), Value::Count(3));
    assert_eq!(state.sim.report().to_json_without_wall(), live);
    assert_eq!(state.last_dir.as_deref(), Some(tmp.0.as_path()), "a load keeps the folder last browsed");
}

/// Presses and releases the primary button at `pos`.
fn click_at(h: &Harness<'static, GuiState>, pos: egui::Pos2) {
    h.event(egui::Event::PointerMoved(pos));
    for pressed in [true, false] {
        let button = egui::PointerButton::Primary;
        h.event(egui::Event::PointerButton { pos, button, pressed, modifiers: egui::Modifiers::default() });
    }
}

#[test]
fn double_clicking_a_file_opens_it_but_double_clicking_a_folder_only_enters_it() {
    let tmp = TempDir::new("double");
    std::fs::create_dir(tmp.0.join("sub")).unwrap();
    // In `sub`, the scenario sits on the row where `sub/` was, under a double-click's second
    // click.
    std::fs::copy(scenario("mmck.ron"), tmp.0.join("sub").join("x.ron")).unwrap();
    let mut state = GuiState::open(&scenario("three-tier.ron"), None).unwrap();
    state.last_dir = Some(tmp.0.clone());
    let mut h = harness_stepping(state, controls_and_browser, 0.05);
    h.run();
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Open…").click();
    h.run();
    let folder = h.get_by_label("sub/").rect().center();
    click_at(&h, folder);
    // One frame handles the click, the next shows the folder entered.
    h.step();
    h.step();
    assert!(h.get_by_label("x.ron").rect().contains(folder), "the test needs x.ron under the pointer");
    click_at(&h, folder);
    h.run();
    let browser = h.state().browser.as_ref().expect("the browser stays open");
    assert_eq!((browser.dir.as_path(), browser.name.as_str()), (tmp.0.join("sub").as_path(), ""));
    assert!(h.state().scenario_name.ends_with("three-tier.ron"), "{}", h.state().scenario_name);
    // Wait out the double-click delay, then double-click the file.
    h.run_steps(10);
    let file = h.get_by_label("x.ron").rect().center();
    click_at(&h, file);
    h.step();
    h.step();
    click_at(&h, file);
    h.run();
    let state = h.state();
    assert!(state.status.is_empty(), "{}", state.status);
    assert_eq!(state.scenario_name, tmp.0.join("sub").join("x.ron").display().to_string());
    assert!(state.browser.is_none());
}
