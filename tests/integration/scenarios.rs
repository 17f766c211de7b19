//! Every shipped scenario validates and runs to its end without timeline errors, and the
//! M/M/c/K scenario responds to the `--set` paths the documentation promises.

use sluice::Sim;

#[test]
fn every_shipped_scenario_runs() {
    let mut count = 0;
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "ron") {
            continue;
        }
        let mut sim = Sim::from_file(&path, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(!sim.scenario().description.is_empty(), "{}: needs a description", path.display());
        assert!(!sim.scenario().watch.is_empty(), "{}: needs `watch` notes", path.display());
        sim.run_to_end();
        let r = sim.report();
        assert!(r.errors.is_empty(), "{}: {:?}", path.display(), r.errors);
        assert!(r.nodes.values().any(|n| n.completed > 0), "{}: nothing completed", path.display());
        count += 1;
    }
    assert!(count >= 2);
}

#[test]
fn mmck_answers_to_the_documented_paths() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/mmck.ron");
    let mut sim = Sim::from_file(path, Some(3)).unwrap();
    for (p, v) in [
        ("clients.rate", "2.5"),
        ("server.workers", "3"),
        ("server.queue.capacity", "4"),
        ("server.service.mean", "0.9"),
    ] {
        sim.set(p, v).unwrap();
        assert_eq!(sim.get(p).unwrap().to_string(), v, "{p}");
    }
    sim.run_until(5000.0);
    let n = sim.node("server").unwrap();
    assert!(n.queue_len <= 4 && n.busy <= 3);
    assert_eq!(sim.report().nodes["server"].queue_len_max, 4);
}
