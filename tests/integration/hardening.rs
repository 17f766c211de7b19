//! Hostile input (issue 12): one regression test per way a scenario, a flag or an output used to
//! crash, hang, write outside its folder, grow without bound, or fail without saying how to fix
//! it. Each test names its item.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sluice::{Sim, Stop};

use crate::util::{sluice, text};

/// A scratch file or folder unique to this test process.
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sluice-hardening-{}-{name}", std::process::id()))
}

fn write(name: &str, text: &str) -> PathBuf {
    let p = scratch(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// An M/M/1-like scenario with `source` and `server` fields spliced in (the service time is
/// exponential with mean 0.5 unless `server` names one).
fn scenario(source: &str, server: &str) -> String {
    let server = if server.contains("service:") {
        server.to_string()
    } else {
        format!("service: Exponential(mean: 0.5), {server}")
    };
    format!(
        r#"Scenario(
    title: "t",
    duration: 10.0,
    nodes: {{
        "c": Source(to: "s", {source}),
        "s": Service({server}),
    }},
)"#
    )
}

fn error_of(text: &str) -> String {
    match Sim::from_text("f.ron", text, None) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Item 1: a closed loop's clients are bounded by the registry, and checking allocates nothing.
#[test]
fn item01_huge_closed_loops_are_refused_and_check_allocates_no_clients() {
    let huge = scenario("arrivals: Closed(clients: 4294967295, think: Exponential(mean: 1.0))", "");
    let e = error_of(&huge);
    assert!(e.starts_with("f.ron:5:") && e.contains("`clients` must be between 0 and 1000000"), "{e}");
    // The largest allowed population is checked at once: nothing is scheduled by `check`.
    let big = write("big.ron", &scenario("arrivals: Closed(clients: 1000000, think: Exponential(mean: 1.0))", ""));
    let t = Instant::now();
    assert_eq!(Sim::check_file(&big).unwrap(), "t");
    assert!(t.elapsed() < Duration::from_secs(2), "check took {:?}", t.elapsed());
    let out = sluice(&["run", big.to_str().unwrap(), "--until", "0", "--set", "c.arrivals.clients=4294967295"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("must be between 0 and 1000000"), "{}", text(&out.stderr));
    let _ = std::fs::remove_file(big);
}

/// Item 2: a full or closed stdout ends the program with its exit code, never a panic.
#[test]
fn item02_full_or_closed_stdout_is_an_exit_code_not_a_panic() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    if let Ok(full) = full {
        for args in [&["check", "scenarios/mmck.ron"][..], &["params", "scenarios/mesh-30.ron"]] {
            let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
                .args(args)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .stdout(full.try_clone().unwrap())
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(3), "{args:?}: {}", text(&out.stderr));
            assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
        }
    }
    // The reader closes the pipe before anything is written (`| head` that has had enough).
    // `params` of the mesh writes more than a pipe holds, so it must meet the closed end even
    // if a child forked meanwhile by another test briefly holds it too; for small outputs a
    // clean 0 is possible then, a panic never.
    for (args, codes) in [
        (&["params", "scenarios/mesh-30.ron"][..], &[141][..]),
        (&["check", "scenarios/mmck.ron"], &[0, 141]),
        (&["--help"], &[0, 141]),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(codes.contains(&out.status.code().unwrap_or(-1)), "{args:?}: {:?} {}", out.status, text(&out.stderr));
        assert!(out.stderr.is_empty(), "a closed pipe is a quiet end: {}", text(&out.stderr));
    }
}

/// Item 3: a loop that takes no time is refused when certain, and stopped when it happens.
#[test]
fn item03_zero_time_loops_are_refused_or_stopped() {
    let self_loop = scenario("rate: 1.0", r#"service: Deterministic(mean: 0.0), routes: [Route(to: "s", p: 1.0)]"#);
    let e = error_of(&self_loop);
    assert!(e.contains("routes form a loop s → s that takes no simulated time"), "{e}");
    let two = r#"Scenario(title: "t", duration: 10.0, nodes: {
        "c": Source(to: "a"),
        "a": Service(service: Deterministic(mean: 0.0), routes: [Route(to: "b", p: 1.0)]),
        "b": Service(service: Exponential(mean: 1.0), slowdown: 0.0, routes: [Route(to: "a", p: 1.0)]),
    })"#;
    let e = error_of(two);
    assert!(e.starts_with("f.ron:3:") && e.contains("a → b → a"), "{e}");
    // Not certain at check time (a closed loop that thinks and is served in no time): the
    // run's bound on events at one instant stops it, naming the nodes involved.
    let closed =
        scenario("arrivals: Closed(clients: 3, think: Deterministic(mean: 0.0))", "service: Deterministic(mean: 0.0)");
    let mut sim = Sim::from_text("f.ron", &closed, None).unwrap();
    sim.set_max_events_at_instant(100_000);
    let t = Instant::now();
    sim.run_until(3.0);
    assert!(t.elapsed() < Duration::from_secs(10));
    let stop = sim.stopped().expect("the run stops").clone();
    assert!(matches!(&stop, Stop::TimeStopped { at: 0, nodes, .. } if nodes == &["c", "s"]), "{stop:?}");
    assert!(stop.to_string().contains("through `c`, `s`"), "{stop}");
    let report = sim.report();
    assert_eq!(report.stopped.as_deref(), Some(stop.to_string().as_str()));
    // The CLI prints the report so far and ends with its own code.
    let f = write("closed.ron", &closed);
    let out = sluice(&["run", f.to_str().unwrap(), "--json", "--until", "3"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["stopped"].as_str().unwrap().contains("time stopped advancing"));
    let _ = std::fs::remove_file(f);
}

/// Item 4: times past the clock's range are refused; the largest allowed return at once.
#[test]
fn item04_huge_times_are_refused_or_return() {
    for until in ["1e308", "9.3e9", "inf", "-1"] {
        let out = sluice(&["run", "scenarios/mmck.ron", &format!("--until={until}")]);
        assert_eq!(out.status.code(), Some(2), "--until {until}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("from 0 to 9.2e9"), "{}", text(&out.stderr));
    }
    let e = error_of(&scenario("rate: 1.0", "").replace("duration: 10.0", "duration: 1e10"));
    assert!(e.starts_with("f.ron:3:5:") && e.contains("at most 9.2e9"), "{e}");
    let e =
        error_of(&scenario("rate: 1.0", "").replace("nodes:", r#"timeline: ["at 1e12 set s.workers = 2"], nodes:"#));
    assert!(e.contains("from 0 to 9.2e9"), "{e}");
    // A silent model to the end of the clock's range: every step sampled, in no time.
    let quiet = write("quiet.ron", &scenario("rate: 0.0", ""));
    let t = Instant::now();
    let out = sluice(&["run", quiet.to_str().unwrap(), "--until", "9.2e9", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(t.elapsed() < Duration::from_secs(20), "took {:?}", t.elapsed());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sim_time_s"].as_f64(), Some(9.2e9));
    // Stepping an empty calendar returns too.
    let mut sim = Sim::from_file(&quiet, None).unwrap();
    assert!(!sim.step());
    let _ = std::fs::remove_file(quiet);
}

/// Item 5: rates the 1 ns clock cannot represent are refused, in files and live.
#[test]
fn item05_rates_above_one_per_nanosecond_are_refused() {
    for (source, fragment) in [
        ("rate: 1e10", "`rate` must be between 0 and 1000000000"),
        ("rate: 3e9, arrivals: Constant", "`rate` must be between 0 and 1000000000"),
        ("rate: 1e8, arrivals: Schedule(points: [(0.0, 1.0), (5.0, 20.0)])", "peak multiplier is 2e9"),
    ] {
        let e = error_of(&scenario(source, ""));
        assert!(e.starts_with("f.ron:5:") && e.contains(fragment), "{source}: {e}");
    }
    let mut sim = Sim::from_text("f.ron", &scenario("rate: 1e9, arrivals: Constant", ""), None).unwrap();
    assert!(sim.set("c.rate", "2e9").unwrap_err().contains("between 0 and 1000000000"));
    sim.set("c.arrivals.kind", "schedule").unwrap();
    let e = sim.set("c.arrivals.points", "[(0, 1), (1, 3)]").unwrap_err();
    assert!(e.contains("one per nanosecond"), "{e}");
    // At the limit a constant source is exact: one arrival per nanosecond.
    sim.set("c.arrivals.kind", "constant").unwrap();
    sim.run_until(0.000_01);
    assert!(sim.report().nodes["c"].arrivals >= 9_999);
}

/// Item 6: names are restricted to a safe set; files go only inside the folder given.
#[test]
fn item06_names_are_safe_and_csv_stays_in_its_folder() {
    for name in ["s\\nv", "/tmp/x", "..", "a b", "", "é"] {
        let text = scenario("rate: 1.0", "").replace("\"s\": Service(", &format!("\"{name}\": Service("));
        let text = text.replace("to: \"s\"", &format!("to: \"{name}\""));
        let e = error_of(&text);
        assert!(e.contains("is not allowed: use 1 to 64 letters, digits, `_` or `-`"), "{name}: {e}");
        assert!(e.lines().all(|l| l.starts_with("f.ron:")), "one problem per line: {e}");
    }
    let dir = scratch("csv");
    let out = sluice(&["run", "scenarios/mmck.ron", "--until", "10", "--csv", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["clients.csv", "server.csv"]);
    assert_eq!(sluice::cli::files::file_name("/tmp/x"), "%2Ftmp%2Fx.csv");
    let _ = std::fs::remove_dir_all(dir);
}

/// Item 7: one set of bounds for files and live changes.
#[test]
fn item07_files_and_live_changes_share_one_set_of_bounds() {
    let cases = [
        ("rate: 1.0", "slowdown: 2e6", "s.slowdown", "2e6"),
        ("rate: 1.0, retry: Retry(multiplier: 1000.0)", "", "c.retry.multiplier", "1000"),
        ("rate: 1.0", "service: LogNormal(mean: 1.0, cv: 1000.0)", "s.service.cv", "1000"),
        ("rate: 1.0", "queue: Queue(retry_after: -1.0)", "s.queue.retry_after", "-1"),
        ("rate: 1.0", "queue: Queue(block_timeout: 0.0)", "s.queue.block_timeout", "0"),
    ];
    for (source, server, path, value) in cases {
        let file = error_of(&scenario(source, server));
        let mut sim =
            Sim::from_text("f.ron", &scenario("rate: 1.0", "service: LogNormal(mean: 1.0, cv: 1.0)"), None).unwrap();
        let live = sim.set(path, value).unwrap_err();
        // The file's message quotes the live one: the same bound, said the same way.
        assert!(file.contains(&live), "{path}: file `{file}` vs live `{live}`");
        // A legal change is never refused because of the value held before.
        let legal = if path.ends_with("retry_after") || path.ends_with("timeout") { "1" } else { "2" };
        assert!(sim.set(path, legal).is_ok(), "{path} = {legal}");
    }
}

/// Item 8: `none` is a valid choice where a choice is named `none`.
#[test]
fn item08_none_is_a_choice_where_one_is_named_none() {
    let mut sim = Sim::from_text("f.ron", &scenario("rate: 1.0, retry: Retry(jitter: Full)", ""), None).unwrap();
    sim.set("c.retry.jitter", "none").unwrap();
    assert_eq!(sim.get("c.retry.jitter").unwrap().to_string(), "none");
    sim.set("c.retry.jitter", "full").unwrap();
    // The timeline reads it the same way, and `none` still unsets optional values.
    let file = scenario("rate: 1.0, timeout: 1.0, retry: Retry(jitter: Full)", "")
        .replace("nodes:", r#"timeline: ["at 1 set c.retry.jitter = none", "at 2 set c.timeout = none"], nodes:"#);
    let mut sim = Sim::from_text("f.ron", &file, None).unwrap();
    sim.run_until(3.0);
    assert!(sim.report().errors.is_empty(), "{:?}", sim.report().errors);
    assert_eq!(sim.get("c.retry.jitter").unwrap().to_string(), "none");
    assert_eq!(sim.get("c.timeout").unwrap().to_string(), "none");
    let out = sluice(&["run", "scenarios/retry-storm.ron", "--until", "1", "--set", "clients.retry.jitter=none"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Item 9: a long timeline of `at T for D` entries costs n log n, not n².
#[test]
fn item09_long_timelines_of_timed_changes_are_not_quadratic() {
    let build_and_run = |n: usize| {
        let entries: Vec<String> = (0..n).map(|i| format!("\"at {} for 0.5 set s.workers = 2\"", i % 1000)).collect();
        let text = scenario("rate: 0.0", "")
            .replace("duration: 10.0", "duration: 1000.0")
            .replace("nodes:", &format!("timeline: [{}], nodes:", entries.join(",")));
        let t = Instant::now();
        let mut sim = Sim::from_text("f.ron", &text, None).unwrap();
        sim.run_to_end();
        assert_eq!(sim.report().timeline.len(), 2 * n, "every change and its undo applied");
        t.elapsed()
    };
    let small = build_and_run(10_000);
    let large = build_and_run(80_000);
    // 8× the entries: linearithmic is about 9×, quadratic 64×. Generous for a loaded machine.
    assert!(large < small * 30 + Duration::from_secs(1), "10k: {small:?}, 80k: {large:?}");
}

/// Item 10: the simulator's memory is bounded by the population cap, with a clear stop.
#[test]
fn item10_population_cap_stops_unbounded_growth_with_a_report() {
    for server in [
        "service: Exponential(mean: 2.0)",
        "service: Exponential(mean: 2.0), queue: Queue(capacity: 0, overflow: Block)",
    ] {
        let text = scenario("rate: 1.0", server).replace("duration: 10.0", "duration: 1e7, max_population: 5000");
        let mut sim = Sim::from_text("f.ron", &text, None).unwrap();
        sim.run_to_end();
        let Some(Stop::PopulationCap { population, cap: 5000, at }) = sim.stopped().cloned() else {
            panic!("{server}: not stopped: {:?}", sim.stopped())
        };
        assert!(population > 5000 && population < 5000 + 2 * 4096, "{population}");
        assert!(at < 1_000_000 * 1_000_000_000, "stopped early, at {at}");
        let r = sim.report();
        let n = &r.nodes["s"];
        assert_eq!(n.arrivals, n.completed + n.errors + n.rejected + n.dropped + n.timed_out + n.in_system);
    }
    let f = write("grow.ron", &scenario("rate: 1.0", "service: Exponential(mean: 2.0)"));
    let out = sluice(&["run", f.to_str().unwrap(), "--until", "1e6", "--max-population", "3000"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("population cap of 3000") && err.contains("--max-population"), "{err}");
    assert!(text(&out.stdout).contains("population cap"), "the table says why it stopped");
    let _ = std::fs::remove_file(f);
}

/// Item 11: syntax errors name the field and what to write; no spurious follow-ups.
#[test]
fn item11_every_message_names_the_field_and_the_fix() {
    let cases = [
        ("workers: 4294967296", "`workers` takes a whole number from 0 to 4294967295, got `4294967296`"),
        ("workers: 1e9", "`workers` takes a whole number from 0 to 4294967295, got `1e9`"),
        ("workers: -1", "`workers` takes a whole number"),
        ("workers: \"4\"", "`workers` takes a whole number"),
        ("error_rate: \"x\"", "`error_rate` takes a number"),
        ("up: 1", "`up` takes `true` or `false`"),
    ];
    for (server, fragment) in cases {
        let e = error_of(&scenario("rate: 1.0", server));
        assert!(e.starts_with("f.ron:6:") && e.contains(fragment), "{server}: {e}");
        assert!(!e.contains("see the scenario format"), "{server}: {e}");
    }
    let e = error_of(&scenario("rate: 1.0", "").replace("duration: 10.0", "duration: -1.0"));
    assert_eq!(e.lines().count(), 1, "no spurious warm-up error: {e}");
    let latin1 = scratch("latin1.ron");
    std::fs::write(&latin1, b"Scenario(title: \"caf\xe9\", duration: 1.0, nodes: {})").unwrap();
    let e = Sim::from_file(&latin1, None).err().unwrap().to_string();
    assert!(e.contains(":1:21: the scenario is not UTF-8 text") && e.contains("save the file as UTF-8"), "{e}");
    let _ = std::fs::remove_file(latin1);
}

/// Item 12: sampling costs nothing per step without events, and stays exact.
#[test]
fn item12_quiet_steps_cost_nothing_and_change_nothing() {
    // Sparse traffic on a fine step: most steps see no event.
    let text = scenario("rate: 0.01", "service: Exponential(mean: 1.0)")
        .replace("duration: 10.0", "duration: 1e7, sample_every: 0.1");
    let mut straight = Sim::from_text("f.ron", &text, None).unwrap();
    let t = Instant::now();
    straight.run_to_end();
    assert!(t.elapsed() < Duration::from_secs(20), "10⁸ steps took {:?}", t.elapsed());
    let covered: f64 = straight.series("s").iter().map(|p| p.span).sum();
    assert!(covered > 0.99e7 && straight.series("s").len() <= 2048, "{covered}");
    // The same run in uneven chunks (so quiet stretches are cut differently): identical.
    let mut chunked = Sim::from_text("f.ron", &text, None).unwrap();
    let mut t = 0.0f64;
    while t < 1e7 {
        t += 12_345.678;
        chunked.run_until(t.min(1e7));
    }
    chunked.run_to_end();
    assert_eq!(straight.report().to_json_without_wall(), chunked.report().to_json_without_wall());
    for node in ["c", "s"] {
        assert_eq!(straight.series(node), chunked.series(node), "{node}");
    }
}

/// Found by the fuzzer: crashing a node whose worker waits on a call that a route brought back
/// into the same node handled that call twice (a slot freed twice, the slab corrupted).
#[test]
fn fuzz_regression_a_crash_ends_each_request_inside_once() {
    let text = r#"Scenario(title: "t", duration: 22.3640, sample_every: 0.1351,
  classes: [Class(name: "a", weight: 1.3134), Class(name: "b", priority: 1)],
  nodes: {
    "n0": Source(rate: 39.6086, arrivals: Schedule(points: [(0.0, 1.0915), (2.5627, 2.3023)], shape: Step), to: "n3"),
    "n1": Source(rate: 41.7741, arrivals: Schedule(points: [(0.0, 0.7731), (5.4404, 2.8073)], shape: Step), to: "n2", timeout: 0.7079, cancel_on_timeout: true),
    "n2": Service(workers: 2, service: Exponential(mean: 0.2096), calls: [Call(to: "n3", retry: Retry(max_attempts: 3, backoff: 0.0639, multiplier: 2.5477, jitter: Decorrelated, honour_retry_after: false))], routes: [Route(to: "n3", p: 0.5048)]),
    "n3": Service(workers: 3, service: LogNormal(mean: 0.1761, cv: 1.0646), queue: Queue(capacity: 6, discipline: Lifo, overflow: Block), routes: [Route(to: "n2", p: 0.5760)]),
  },
  timeline: ["at 6.5607 for 4.0615 set n2.slowdown = 3", "at 16.9746 set n2.up = false"],
)"#;
    let mut sim = Sim::from_text("f.ron", text, Some(7)).unwrap();
    sim.run_to_end();
    let audit = sim.audit_in_system();
    for (name, n) in &sim.report().nodes {
        assert_eq!(n.arrivals, n.completed + n.errors + n.rejected + n.dropped + n.timed_out + n.in_system, "{name}");
        assert_eq!(n.in_system, audit[name], "{name}: counted vs present");
    }
}
