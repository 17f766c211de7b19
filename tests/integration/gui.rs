//! The desktop app's panels, driven without a window through `egui_kittest`, the record/replay
//! guarantee through the app's own commands, and a real-window smoke test under Xvfb.

use std::path::PathBuf;
use std::process::Command as Process;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use sluice::gui::panels::{controls_ui, faults_ui, inspector_ui};
use sluice::gui::state::{Command, GuiState};
use sluice::params::Value;

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
}

/// A harness around one panel; commands are applied after each frame, as in the app.
fn harness(state: GuiState, panel: fn(&mut egui::Ui, &mut GuiState, &mut Vec<Command>)) -> Harness<'static, GuiState> {
    Harness::builder().with_size(egui::vec2(900.0, 1400.0)).build_ui_state(
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
fn exported_scenario_keeps_live_changes_and_layout() {
    let mut state = GuiState::open(&scenario("three-tier.ron"), None).unwrap();
    state.apply(Command::Set { path: "api.calls.db.timeout".into(), value: "0.25".into() });
    state.apply(Command::Set { path: "db.queue.capacity".into(), value: "unbounded".into() });
    state.layout.insert("db".into(), (500.0, 77.0));
    let text = state.tweaked_scenario();
    let mut again = sluice::Sim::from_text("tweaked.ron", &text, None).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(again.get("api.calls.db.timeout").unwrap(), Value::Real(0.25));
    assert_eq!(again.get("db.queue.capacity").unwrap(), Value::Unset);
    assert_eq!(again.scenario().layout.get("db"), Some(&(500.0, 77.0)));
}

/// Opens a real window under Xvfb, takes a screenshot with the app's own `--screenshot`, and
/// checks it has the requested size and is not blank. Skipped (loudly) without `xvfb-run`.
#[test]
fn real_window_screenshot_under_xvfb() {
    let has_xvfb = Process::new("sh").args(["-c", "command -v xvfb-run"]).output().is_ok_and(|o| o.status.success());
    if !has_xvfb {
        eprintln!(
            "\n*** SKIPPED real_window_screenshot_under_xvfb: xvfb-run not found (apt-get install -y xvfb mesa-vulkan-drivers) ***\n"
        );
        return;
    }
    let png = std::env::temp_dir().join(format!("sluice-smoke-{}.png", std::process::id()));
    let out = Process::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_sluice"))
        .args(["gui", "scenarios/three-tier.ron", "--at", "150", "--width", "1280", "--height", "800", "--screenshot"])
        .arg(&png)
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
    let mut distinct = std::collections::BTreeSet::new();
    for p in img.pixels().step_by(97) {
        distinct.insert(p.0);
    }
    assert!(distinct.len() > 20, "the screenshot looks blank ({} distinct colours)", distinct.len());
    let _ = std::fs::remove_file(&png);
}

#[test]
fn without_a_display_the_app_says_so_in_one_line() {
    let out = Process::new(env!("CARGO_BIN_EXE_sluice"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
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
