//! Broken scenarios: each gives `file:line:col: message` pointing at the mistake with a fix,
//! and nothing panics — not even on truncated or garbled files.

use sluice::Sim;

const GOOD: &str = r#"Scenario(
    title: "ok",
    duration: 100.0,
    nodes: {
        "clients": Source(rate: 1.0, to: "server", timeout: 1.0),
        "server": Service(workers: 2, queue: Queue(capacity: 5), service: Exponential(mean: 0.5)),
    },
    timeline: ["at 10 set server.workers = 3"],
)"#;

/// What is broken, the text replaced in GOOD and its replacement, where the error must point
/// (line, column), and a fragment the message must contain.
type Case = (&'static str, &'static str, &'static str, (usize, usize), &'static str);

const CORPUS: &[Case] = &[
    ("unknown field", "workers: 2,", "wrokers: 2,", (6, 27), "did you mean `workers`"),
    ("unknown variant", "Exponential(mean: 0.5)", "Exponental(mean: 0.5)", (6, 75), "did you mean `Exponential`"),
    ("missing field", "service: Exponential(mean: 0.5)", "error_rate: 0.1", (6, 81), "missing field `service`"),
    ("unknown target", "to: \"server\"", "to: \"sever\"", (5, 38), "did you mean `server`"),
    ("source as target", "to: \"server\"", "to: \"clients\"", (5, 38), "cannot send to itself"),
    ("negative duration", "duration: 100.0", "duration: -5.0", (3, 5), "above 0"),
    ("warmup too long", "duration: 100.0,", "duration: 100.0, warmup: 200.0,", (3, 22), "warmup"),
    ("bad probability", "workers: 2,", "workers: 2, error_rate: 1.5,", (6, 39), "`error_rate` must be between 0 and 1"),
    ("bad timeout", "timeout: 1.0", "timeout: 0.0", (5, 52), "`timeout` must be a number of seconds above 0"),
    (
        "pareto alpha",
        "Exponential(mean: 0.5)",
        "Pareto(mean: 0.5, alpha: 0.9)",
        (6, 93),
        "`alpha` must be between 1.0001 and 100",
    ),
    ("bad timeline syntax", "at 10 set server.workers = 3", "at ten set server.workers = 3", (8, 16), "not a time"),
    ("timeline typo", "server.workers = 3", "server.wokers = 3", (8, 16), "did you mean `server.workers`"),
    ("timeline bad value", "server.workers = 3", "server.workers = many", (8, 16), "expects an integer"),
    ("timeline unknown node", "server.workers = 3", "srv.workers = 3", (8, 16), "no node named `srv`"),
    ("syntax error", "title: \"ok\",", "title: \"ok\" duration: 1.0,", (2, 17), ""),
    ("unclosed string", "title: \"ok\",", "title: \"ok,", (5, 10), ""),
    (
        "route sum",
        "service: Exponential(mean: 0.5))",
        "service: Exponential(mean: 0.5), routes: [Route(to: \"server\", p: 0.7), Route(to: \"server\", p: 0.6)])",
        (6, 99),
        "add up to",
    ),
    (
        "call cycle",
        "\"server\": Service(workers: 2,",
        "\"a\": Service(service: Deterministic(mean: 0.1), calls: [Call(to: \"server\")]), \"server\": Service(workers: 2, calls: [Call(to: \"a\")],",
        (6, 57),
        "cycle",
    ),
    ("retry attempts", "timeout: 1.0", "timeout: 1.0, retry: Retry(max_attempts: 0)", (5, 79), "max_attempts"),
    (
        "breaker rate",
        "timeout: 1.0",
        "timeout: 1.0, breaker: Breaker(failure_rate: 150.0)",
        (5, 83),
        "`failure_rate` must be between 0 and 100",
    ),
];

#[test]
fn every_broken_scenario_gets_a_located_actionable_error() {
    assert!(Sim::from_text("good.ron", GOOD, None).is_ok(), "the base scenario must be valid");
    for (what, from, to, (line, col), fragment) in CORPUS {
        assert!(GOOD.contains(from), "{what}: pattern not in the base scenario");
        let text = GOOD.replacen(from, to, 1);
        let err = match Sim::from_text("bad.ron", &text, None) {
            Ok(_) => panic!("{what}: accepted\n{text}"),
            Err(e) => e,
        };
        let d = &err.diagnostics[0];
        let shown = err.to_string();
        assert!(shown.starts_with(&format!("bad.ron:{}:{}: ", d.line, d.col)), "{what}: {shown}");
        assert_eq!((d.line, d.col), (*line, *col), "{what}: located at {shown}\n{text}");
        assert!(d.message.contains(fragment), "{what}: message `{}` lacks `{fragment}`", d.message);
        assert!(d.message.len() > 20, "{what}: message too terse: {}", d.message);
    }
}

#[test]
fn truncated_and_garbled_files_never_panic() {
    let chars: Vec<char> = GOOD.chars().collect();
    for cut in 0..chars.len() {
        let text: String = chars[..cut].iter().collect();
        let r = Sim::from_text("cut.ron", &text, None);
        if let Err(e) = r {
            let d = &e.diagnostics[0];
            assert!(d.line >= 1 && d.col >= 1);
        }
    }
    // Swap pairs of characters everywhere: arbitrary local damage.
    for i in (0..chars.len() - 1).step_by(3) {
        let mut c = chars.clone();
        c.swap(i, i + 1);
        let text: String = c.into_iter().collect();
        let _ = Sim::from_text("swap.ron", &text, None);
    }
    for text in ["", "()", "Scenario()", "[]", "Scenario(title: 1)", "\u{0}\u{1}", "Scenario(nodes: {\"a\": 3})"] {
        assert!(Sim::from_text("x.ron", text, None).is_err(), "{text:?} accepted");
    }
}

#[test]
fn a_missing_file_is_a_located_error_too() {
    let err = Sim::from_file("does/not/exist.ron", None).err().expect("missing file accepted");
    assert!(err.to_string().starts_with("does/not/exist.ron:1:1: cannot read the scenario"));
}

#[test]
fn live_sets_are_checked_with_suggestions() {
    let mut s = Sim::from_text("good.ron", GOOD, None).unwrap();
    assert!(s.set("server.queue.capacty", "3").unwrap_err().contains("did you mean `server.queue.capacity`"));
    assert!(s.set("server.workers", "-1").is_err());
    assert!(s.set("server.queue.overflow", "sometimes").unwrap_err().contains("drop_oldest"));
    assert!(s.set("nobody.workers", "1").unwrap_err().contains("no node named"));
    assert!(s.set("clients.retry.jitter", "full").is_ok());
    assert_eq!(s.get("clients.retry.jitter").unwrap().to_string(), "full");
}

/// The file checker applies exactly the registry's bounds: a value is refused in a file if and
/// only if `--set` refuses it, with the same words. These three once disagreed (a retry's
/// `multiplier` was "≥ 1" in the checker but [1, 100] in the registry; a Retry-After of 0 was
/// allowed by one and not the other; on/off periods of 0 passed the registry but not the file).
#[test]
fn file_and_registry_judge_bounds_alike() {
    let base = |clients: &str, queue: &str| {
        format!(
            r#"Scenario(title: "b", duration: 10.0, nodes: {{
                "clients": Source({clients}to: "server"),
                "server": Service(queue: Queue({queue}), service: Exponential(mean: 0.5)),
            }})"#
        )
    };
    // (source fields, queue fields, the same change as a path and value, accepted?)
    let cases: &[(&str, &str, &str, &str, bool)] = &[
        ("retry: Retry(multiplier: 101.0), ", "", "clients.retry.multiplier", "101", false),
        ("retry: Retry(multiplier: 0.5), ", "", "clients.retry.multiplier", "0.5", false),
        ("retry: Retry(multiplier: 100.0), ", "", "clients.retry.multiplier", "100", true),
        ("", "retry_after: Some(0.0)", "server.queue.retry_after", "0", true),
        ("", "retry_after: Some(-1.0)", "server.queue.retry_after", "-1", false),
        ("arrivals: OnOff(on: 0.0, off: 5.0), ", "", "clients.arrivals.on", "0", false),
        ("arrivals: OnOff(on: 1.0, off: 0.0), ", "", "clients.arrivals.off", "0", false),
        ("arrivals: OnOff(on: 0.5, off: 5.0), ", "", "clients.arrivals.on", "0.5", true),
    ];
    for &(clients, queue, path, value, ok) in cases {
        let file = Sim::from_text("<test>", &base(clients, queue), Some(1));
        // The same change through the registry, on a sim of the neutral base (with an on/off
        // source where the path needs one).
        let neutral = if path.contains("arrivals") { "arrivals: OnOff(on: 1.0, off: 1.0), " } else { "" };
        let mut live = Sim::from_text("<test>", &base(neutral, ""), Some(1)).expect("the base is valid");
        let set = live.set(path, value);
        assert_eq!(file.is_ok(), ok, "{path} = {value} in a file");
        assert_eq!(set.is_ok(), ok, "{path} = {value} by --set: {set:?}");
        if let (Err(file), Err(set)) = (file, set) {
            let (file, set) = (file.to_string(), set.to_string());
            let words = set.rsplit(": ").next().unwrap_or(&set).trim_start_matches('`');
            assert!(
                file.contains(words.split(", got").next().unwrap_or(words)),
                "{path} = {value}: the file says\n{file}\nbut --set says\n{set}"
            );
        }
    }
}

#[test]
fn feedback_loop_rules_across_fields_point_at_their_block() {
    // (what is broken, replacement for the server's `workers: 2,`, the path the error names,
    // a fragment of the fix it suggests)
    let cases = [
        (
            "memory base above its limit",
            "workers: 2, memory: Memory(base: 900.0, limit: Some(800.0)),",
            "memory",
            "raise limit",
        ),
        ("GC slowdown without a limit", "workers: 2, memory: Memory(gc_slowdown: 2.0),", "memory", "gc_slowdown: 0.0"),
        (
            "autoscaler bounds crossed",
            "workers: 2, autoscale: Autoscale(min_workers: 9, max_workers: 3),",
            "autoscale",
            "max_workers",
        ),
        (
            "adaptive rate bounds crossed",
            "workers: 2, adaptive_rate: AdaptiveRate(slo: 0.5, initial_rate: 5.0, min_rate: 10.0),",
            "adaptive_rate",
            "min_rate",
        ),
        (
            "adaptive limit bounds crossed",
            "workers: 2, adaptive_limit: AdaptiveLimit(algorithm: Aimd, min_limit: Some(50), max_limit: Some(10)),",
            "adaptive_limit",
            "max_limit",
        ),
        (
            "an edge's adaptive limit",
            "workers: 2, calls: [Call(to: \"db\", adaptive_limit: AdaptiveLimit(min_limit: Some(50), max_limit: Some(10)))],",
            "adaptive_limit",
            "max_limit",
        ),
    ];
    let with_db = GOOD.replace(
        "    },\n    timeline",
        "        \"db\": Service(service: Exponential(mean: 0.1)),\n    },\n    timeline",
    );
    for (what, replacement, block, fix) in cases {
        let text = with_db.replacen("workers: 2,", replacement, 1);
        let err = match Sim::from_text("bad.ron", &text, None) {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => e.to_string(),
        };
        // Located at the block's key on the server's line (line 6, columns from 1).
        let line = text.lines().nth(5).unwrap();
        let col = line.find(&format!("{block}:")).or_else(|| line.find(block)).unwrap() + 1;
        assert!(err.starts_with(&format!("bad.ron:6:{col}: ")), "{what}: not at its block (6:{col}): {err}");
        assert!(err.contains(fix), "{what}: no fix in {err}");
    }
}
