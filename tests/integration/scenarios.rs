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

/// A rate schedule and a distribution's family are parameters like any other: settable live,
/// from the timeline, and written back when the tweaked scenario is exported.
#[test]
fn schedules_and_distribution_families_are_live_parameters() {
    let text = r#"Scenario(title: "sched", duration: 300.0, nodes: {
        "clients": Source(rate: 10.0, arrivals: Schedule(points: [(0.0, 1.0)]), to: "server"),
        "server": Service(workers: 4, service: Exponential(mean: 0.05)),
    }, timeline: ["at 200 set clients.arrivals.points = [(0, 1), (200, 3)]"])"#;
    let mut sim = crate::util::sim(text, 7);
    sim.run_until(100.0);
    let arrivals = |sim: &mut Sim| sim.node("clients").unwrap().counters.arrivals;
    let at_100 = arrivals(&mut sim);
    // From 100 s on the schedule is silent: not one more request.
    sim.set("clients.arrivals.points", "[(0, 1), (100, 0)]").unwrap();
    assert_eq!(sim.get("clients.arrivals.points").unwrap().to_string(), "[(0, 1), (100, 0)]");
    sim.run_until(199.0);
    assert_eq!(arrivals(&mut sim), at_100);
    // The scripted entry restores it at three times the rate: about 3000 in the last 100 s.
    sim.run_until(300.0);
    let late = arrivals(&mut sim) - at_100;
    assert!((2700..3300).contains(&late), "{late} requests in the last 100 s, expected about 3000");

    // Invalid schedules are refused with the form to write.
    let err = sim.set("clients.arrivals.points", "[(5, 1), (2, 1)]").unwrap_err();
    assert!(err.contains("increasing times"), "{err}");
    assert!(sim.set("clients.arrivals.shape", "linear").is_ok());

    // Switching the family keeps the mean; the new family's shape fields are then editable.
    sim.set("server.service.kind", "lognormal").unwrap();
    sim.set("server.service.cv", "3").unwrap();
    assert_eq!(sim.get("server.service.mean").unwrap().to_string(), "0.05");
    assert!(sim.set("server.service.kind", "weibull").unwrap_err().contains("lognormal"));
    let exported = sim.current_scenario();
    let sluice::scenario::schema::NodeSpec::Service(server) = &exported.nodes["server"] else { panic!() };
    assert_eq!(server.service, sluice::model::dist::Dist::LogNormal { mean: 0.05, cv: 3.0 });
    let sluice::scenario::schema::NodeSpec::Source(clients) = &exported.nodes["clients"] else { panic!() };
    let sluice::scenario::schema::Arrivals::Schedule { points, shape } = &clients.arrivals else { panic!() };
    assert_eq!((points.as_slice(), *shape), (&[(0.0, 1.0), (200.0, 3.0)][..], sluice::scenario::schema::Shape::Linear));
}

/// The open-loop arrival process switches live: constant spacing is exact, on/off starts its
/// phases (about half the load), and back to Poisson restores the full rate.
#[test]
fn arrival_kind_switches_live() {
    let text = r#"Scenario(title: "kinds", duration: 600.0, nodes: {
        "clients": Source(rate: 10.0, to: "server"),
        "server": Service(workers: 8, service: Exponential(mean: 0.05)),
    })"#;
    let mut sim = crate::util::sim(text, 11);
    let arrivals = |sim: &mut Sim| sim.node("clients").unwrap().counters.arrivals;
    sim.run_until(100.0);
    sim.set("clients.arrivals.kind", "constant").unwrap();
    let before = arrivals(&mut sim);
    sim.run_until(200.0);
    let constant = arrivals(&mut sim) - before;
    assert!((999..=1001).contains(&constant), "{constant} requests in 100 s at a constant 10/s");

    sim.set("clients.arrivals.kind", "onoff").unwrap();
    assert_eq!(sim.get("clients.arrivals.on").unwrap().to_string(), "10");
    let before = arrivals(&mut sim);
    sim.run_until(400.0);
    let onoff = arrivals(&mut sim) - before;
    assert!((300..1700).contains(&onoff), "{onoff} requests in 200 s of 10 s ON / 10 s OFF at 10/s");

    sim.set("clients.arrivals.kind", "poisson").unwrap();
    let before = arrivals(&mut sim);
    sim.run_until(600.0);
    let poisson = arrivals(&mut sim) - before;
    assert!((1800..2200).contains(&poisson), "{poisson} requests in 200 s of Poisson at 10/s");

    // A closed loop is another model: no kind to switch, and the error lists what there is.
    let err = sim.set("clients.arrivals.kind", "closed").unwrap_err();
    assert!(err.contains("poisson, constant, onoff, schedule"), "{err}");
}

/// A scripted family switch neither disturbs the shape before it happens (the scenario check
/// must not mutate) nor loses it when a timed change is undone.
#[test]
fn a_timed_family_switch_restores_the_old_shape() {
    let text = r#"Scenario(title: "family", duration: 60.0, nodes: {
        "clients": Source(rate: 5.0, arrivals: Schedule(points: [(0.0, 1.0), (30.0, 2.0)]), to: "server"),
        "server": Service(workers: 2, service: LogNormal(mean: 0.1, cv: 3.0)),
    }, timeline: [
        "at 10 for 10 set server.service.kind = deterministic",
        "at 12 for 5 set clients.arrivals.kind = poisson",
    ])"#;
    let mut sim = crate::util::sim(text, 5);
    sim.run_until(5.0);
    assert_eq!(sim.get("server.service.cv").unwrap().to_string(), "3");
    assert_eq!(sim.get("clients.arrivals.points").unwrap().to_string(), "[(0, 1), (30, 2)]");
    sim.run_until(15.0);
    assert_eq!(sim.get("server.service.kind").unwrap().to_string(), "deterministic");
    assert_eq!(sim.get("clients.arrivals.kind").unwrap().to_string(), "poisson");
    sim.run_until(25.0);
    assert_eq!(sim.get("server.service.kind").unwrap().to_string(), "lognormal");
    assert_eq!(sim.get("server.service.cv").unwrap().to_string(), "3");
    assert_eq!(sim.get("clients.arrivals.points").unwrap().to_string(), "[(0, 1), (30, 2)]");
    sim.run_to_end();
    assert!(sim.report().errors.is_empty(), "{:?}", sim.report().errors);
}

/// Rules across fields hold for live changes as they do in files: a uniform's half-width
/// cannot exceed its mean, whichever of the two is changed, and a refused change leaves both.
#[test]
fn a_live_change_that_breaks_a_rule_across_fields_is_refused() {
    let text = r#"Scenario(title: "uniform", duration: 60.0, nodes: {
        "clients": Source(rate: 5.0, to: "server"),
        "server": Service(workers: 2, service: Uniform(mean: 0.2, half_width: 0.1)),
    })"#;
    let mut sim = crate::util::sim(text, 5);
    sim.run_until(5.0);
    let err = sim.set("server.service.half_width", "0.3").unwrap_err();
    assert!(err.contains("half_width must be between 0 and the mean"), "{err}");
    let err = sim.set("server.service.mean", "0.05").unwrap_err();
    assert!(err.contains("half_width"), "{err}");
    assert_eq!(sim.get("server.service.mean").unwrap().to_string(), "0.2");
    assert_eq!(sim.get("server.service.half_width").unwrap().to_string(), "0.1");
    // Allowed in order: widen the mean first, then the half-width.
    sim.set("server.service.mean", "0.5").unwrap();
    sim.set("server.service.half_width", "0.3").unwrap();
    assert_eq!(sim.get("server.service.half_width").unwrap().to_string(), "0.3");
    assert!(sim.report().errors.is_empty());

    // In a file, entries are judged in order when they come due: widening the mean first
    // lets a wider half-width through; narrowing the mean below it afterwards is refused,
    // reported, and changes nothing.
    let scripted = r#"Scenario(title: "uniform", duration: 60.0, nodes: {
        "clients": Source(rate: 5.0, to: "server"),
        "server": Service(workers: 2, service: Uniform(mean: 0.2, half_width: 0.1)),
    }, timeline: [
        "at 10 set server.service.mean = 0.5",
        "at 20 set server.service.half_width = 0.4",
        "at 30 set server.service.mean = 0.3",
    ])"#;
    let mut sim = crate::util::sim(scripted, 5);
    sim.run_to_end();
    let errors = &sim.report().errors;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("at 30s") && errors[0].contains("not applied"), "{errors:?}");
    assert_eq!(sim.get("server.service.mean").unwrap().to_string(), "0.5");
    assert_eq!(sim.get("server.service.half_width").unwrap().to_string(), "0.4");
}
