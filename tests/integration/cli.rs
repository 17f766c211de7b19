//! The `sluice` binary as users and CI scripts call it: output formats, the JSON contract,
//! `--set`, `--csv`, `check`, and the documented exit codes.

use std::path::Path;

use crate::util::{sluice, text};

/// The keys DESIGN.md promises to outside tools.
#[test]
fn json_report_has_the_documented_keys() {
    let out = sluice(&["run", "scenarios/mmck.ron", "--json", "--until", "2000"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    for key in ["seed", "sim_time_s", "events", "wall_s"] {
        assert!(v.get(key).is_some(), "missing top-level `{key}`");
    }
    let server = &v["nodes"]["server"];
    for key in [
        "arrivals",
        "completed",
        "errors",
        "rejected",
        "dropped",
        "timed_out",
        "retries",
        "throughput_per_s",
        "utilization",
        "queue_len_mean",
        "queue_len_max",
    ] {
        assert!(server.get(key).is_some_and(|x| x.is_number()), "missing nodes.server.{key}");
    }
    for key in ["mean", "p50", "p95", "p99", "p999"] {
        assert!(server["latency_s"][key].is_number(), "missing nodes.server.latency_s.{key}");
    }
    for key in ["mean", "p50", "p99"] {
        assert!(server["wait_s"][key].is_number(), "missing nodes.server.wait_s.{key}");
    }
    assert_eq!(v["sim_time_s"], 2000.0);
    assert_eq!(v["seed"], 1);
}

#[test]
fn set_and_seed_change_the_run_and_show_on_the_timeline() {
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "scenarios/mmck.ron", "--json", "--until", "3000"];
        args.extend_from_slice(extra);
        let out = sluice(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let base = run(&[]);
    let more = run(&["--set", "server.workers=6", "--set", "server.queue.capacity=unbounded"]);
    assert_eq!(more["nodes"]["server"]["rejected"], 0, "unbounded queue never rejects");
    assert!(more["nodes"]["server"]["utilization"].as_f64() < base["nodes"]["server"]["utilization"].as_f64());
    assert_eq!(more["timeline"].as_array().map(Vec::len), Some(2));
    let other_seed = run(&["--seed", "99"]);
    assert_eq!(other_seed["seed"], 99);
    assert_ne!(other_seed["nodes"]["server"]["arrivals"], base["nodes"]["server"]["arrivals"]);
}

#[test]
fn table_is_the_default_and_csv_writes_series() {
    let dir = std::env::temp_dir().join(format!("sluice-csv-{}", std::process::id()));
    let out = sluice(&["run", "scenarios/mmck.ron", "--until", "500", "--csv", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains("server") && table.contains("arrivals"), "{table}");
    let csv = std::fs::read_to_string(dir.join("server.csv")).expect("server.csv written");
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("t,span,arrivals,completed"));
    assert_eq!(lines.count(), 50, "500 s sampled every 10 s");
    assert!(Path::new(&dir.join("clients.csv")).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exit_codes_are_as_documented() {
    // 1: invalid scenario, with a located message on stderr.
    let bad = std::env::temp_dir().join(format!("sluice-bad-{}.ron", std::process::id()));
    std::fs::write(&bad, "Scenario(title: \"x\", duration: 1.0, nodes: {}, colour: 3)").unwrap();
    let out = sluice(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:1:", bad.display())) && err.contains("unknown field `colour`"), "{err}");
    let out = sluice(&["run", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_file(&bad);
    // 1: a --set that does not fit the model.
    let out = sluice(&["run", "scenarios/mmck.ron", "--set", "server.wrokers=2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("did you mean `server.workers`"));
    // 2: usage errors.
    assert_eq!(sluice(&["run", "scenarios/mmck.ron", "--bogus"]).status.code(), Some(2));
    assert_eq!(sluice(&["run", "scenarios/mmck.ron", "--set", "novalue"]).status.code(), Some(2));
    // 3: output cannot be written.
    let out = sluice(&["run", "scenarios/mmck.ron", "--until", "10", "--csv", "/proc/forbidden/dir"]);
    assert_eq!(out.status.code(), Some(3));
    // 0: check of every shipped scenario.
    let all: Vec<String> = std::fs::read_dir("scenarios")
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".ron"))
        .collect();
    let mut args = vec!["check"];
    args.extend(all.iter().map(String::as_str));
    let out = sluice(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn params_lists_every_path() {
    let out = sluice(&["params", "scenarios/mmck.ron"]);
    assert!(out.status.success());
    let listing = text(&out.stdout);
    for path in
        ["clients.rate", "server.workers", "server.queue.capacity", "server.service.mean", "clients.retry.jitter"]
    {
        assert!(listing.lines().any(|l| l.starts_with(path)), "`{path}` not listed:\n{listing}");
    }
}
