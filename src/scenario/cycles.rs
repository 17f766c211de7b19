//! Route loops that take no simulated time: refused when a scenario is checked.
//!
//! A service whose work takes no time (mean 0, or `slowdown: 0`) and that forwards every
//! request (a route with p = 1) to a service of the same kind, and so on back to itself, would
//! pass a request round forever at one instant. Where that is certain (no calls, no errors, a
//! worker to serve it), the checker says so with the loop's members; anything less certain is
//! left to the run's bound on events at one instant (`engine::limits`).

use super::schema::{NodeSpec, Scenario, ServiceSpec};

/// The next hop of a request through `s` when it is certain and instant.
fn instant_hop(s: &ServiceSpec) -> Option<&str> {
    let instant = s.service.mean() == 0.0 || s.slowdown == 0.0;
    let certain = s.calls.is_empty() && s.error_rate == 0.0 && s.up && s.workers > 0;
    if !(instant && certain) {
        return None;
    }
    s.routes.iter().find(|r| r.p >= 1.0).map(|r| r.to.as_str())
}

/// The first zero-time route loop, as node names from its start back to its start.
pub fn zero_time_route_cycle(scn: &Scenario) -> Option<Vec<String>> {
    let hop = |n: &str| match scn.nodes.get(n) {
        Some(NodeSpec::Service(s)) => instant_hop(s),
        _ => None,
    };
    for start in scn.nodes.keys() {
        // Each node has at most one certain hop: follow it, at most once per node.
        let mut path = vec![start.as_str()];
        let mut at = start.as_str();
        while let Some(next) = hop(at) {
            if let Some(i) = path.iter().position(|p| *p == next) {
                // Report the loop from its smallest name, so one loop gives one message.
                let lp = &path[i..];
                let min = lp.iter().enumerate().min_by_key(|(_, n)| **n).map_or(0, |(j, _)| j);
                let mut out: Vec<String> = lp[min..].iter().chain(&lp[..min]).map(|s| s.to_string()).collect();
                out.push(out[0].clone());
                return Some(out);
            }
            if path.len() > scn.nodes.len() {
                break;
            }
            path.push(next);
            at = next;
        }
    }
    None
}
