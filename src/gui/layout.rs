//! The canvas's automatic layout: layered, left to right, shaped to the canvas.
//!
//! Sugiyama-style: each node goes in the layer of its longest path from a source (calls and
//! routes both count; edges that close a cycle are ignored), nodes within a layer are ordered by
//! barycentre sweeps to reduce crossings, and a layer taller than the canvas allows is folded
//! into two staggered sub-columns, so a 30-node mesh fills a wide canvas instead of a thin
//! tall strip. Staggering by half a row leaves a free band at every card's centre height in the
//! neighbouring sub-column, which the edge router (see [`route`]) threads edges through.

use std::collections::BTreeMap;

use bevy_egui::egui::{Pos2, Rect, pos2, vec2};

use crate::engine::Sim;
use crate::scenario::schema::NodeSpec;

/// Card size in canvas units.
pub const CARD: (f32, f32) = (200.0, 120.0);
/// Gap between layers (room for edges to bend), between the two sub-columns of a folded
/// layer, and between rows.
const GAP_LAYER: f32 = 90.0;
const GAP_SUB: f32 = 40.0;
const GAP_ROW: f32 = 36.0;

/// The topology as the layout sees it: node names and directed edges between their indices.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub nodes: Vec<String>,
    pub edges: Vec<(usize, usize)>,
}

impl Graph {
    /// Every call and route of a run (a source's target included), in scenario order.
    pub fn of(sim: &Sim) -> Self {
        let nodes = sim.node_names();
        let at = |n: &str| nodes.iter().position(|m| m == n);
        let mut edges = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let targets: Vec<String> = match sim.scenario().nodes.get(n) {
                Some(NodeSpec::Source(s)) => vec![s.to.clone()],
                Some(NodeSpec::Service(s)) => {
                    s.calls.iter().map(|c| c.to.clone()).chain(s.routes.iter().map(|r| r.to.clone())).collect()
                }
                None => Vec::new(),
            };
            for t in targets.iter().filter_map(|t| at(t)) {
                if t != i && !edges.contains(&(i, t)) {
                    edges.push((i, t));
                }
            }
        }
        Self { nodes, edges }
    }

    /// The edges that close a cycle in a depth-first search from the nodes without callers.
    fn back_edges(&self) -> Vec<(usize, usize)> {
        let n = self.nodes.len();
        let mut has_caller = vec![false; n];
        for &(_, t) in &self.edges {
            has_caller[t] = true;
        }
        // 0 unvisited, 1 on the stack, 2 done.
        let mut mark = vec![0u8; n];
        let mut back = Vec::new();
        let roots: Vec<usize> = (0..n).filter(|&i| !has_caller[i]).chain(0..n).collect();
        for root in roots {
            if mark[root] != 0 {
                continue;
            }
            let mut stack = vec![(root, 0usize)];
            mark[root] = 1;
            while let Some(top) = stack.last_mut() {
                let (v, k) = *top;
                let out: Vec<usize> = self.edges.iter().filter(|e| e.0 == v).map(|e| e.1).collect();
                if k < out.len() {
                    let w = out[k];
                    top.1 += 1;
                    match mark[w] {
                        0 => {
                            mark[w] = 1;
                            stack.push((w, 0));
                        }
                        1 => back.push((v, w)),
                        _ => {}
                    }
                } else {
                    mark[v] = 2;
                    stack.pop();
                }
            }
        }
        back
    }

    /// Each node's layer: the longest path to it from a node without callers.
    pub fn layers(&self) -> Vec<usize> {
        let back = self.back_edges();
        let forward: Vec<(usize, usize)> = self.edges.iter().copied().filter(|e| !back.contains(e)).collect();
        let mut layer = vec![0usize; self.nodes.len()];
        // Relaxation terminates: without back edges the graph is acyclic.
        for _ in 0..self.nodes.len() {
            let mut changed = false;
            for &(a, b) in &forward {
                if layer[b] < layer[a] + 1 {
                    layer[b] = layer[a] + 1;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        layer
    }
}

/// Node order within each layer, crossings reduced by barycentre sweeps.
pub fn order(g: &Graph, layer: &[usize]) -> Vec<Vec<usize>> {
    let depth = layer.iter().max().map_or(0, |d| d + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); depth];
    // Start from a breadth-first order from the sources, so siblings start together.
    let mut seen = vec![false; g.nodes.len()];
    let mut queue: std::collections::VecDeque<usize> = (0..g.nodes.len()).filter(|&i| layer[i] == 0).collect();
    let mut bfs = Vec::new();
    while let Some(v) = queue.pop_front() {
        if std::mem::replace(&mut seen[v], true) {
            continue;
        }
        bfs.push(v);
        queue.extend(g.edges.iter().filter(|e| e.0 == v).map(|e| e.1));
    }
    bfs.extend((0..g.nodes.len()).filter(|&i| !seen[i]));
    for v in bfs {
        rows[layer[v]].push(v);
    }
    let position = |rows: &[Vec<usize>], v: usize| {
        let row = &rows[layer[v]];
        let i = row.iter().position(|&w| w == v).unwrap_or(0);
        (i as f32 + 0.5) / row.len() as f32
    };
    for sweep in 0..8 {
        let down = sweep % 2 == 0;
        let range: Vec<usize> = if down { (1..depth).collect() } else { (0..depth.saturating_sub(1)).rev().collect() };
        for l in range {
            let snapshot = rows.clone();
            let mut keyed: Vec<(f32, usize, usize)> = rows[l]
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let neighbours: Vec<f32> = g
                        .edges
                        .iter()
                        .filter_map(|&(a, b)| match down {
                            true if b == v && layer[a] < l => Some(a),
                            false if a == v && layer[b] > l => Some(b),
                            _ => None,
                        })
                        .map(|w| position(&snapshot, w))
                        .collect();
                    let own = (i as f32 + 0.5) / snapshot[l].len() as f32;
                    let key = if neighbours.is_empty() {
                        own
                    } else {
                        neighbours.iter().sum::<f32>() / neighbours.len() as f32
                    };
                    (key, i, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            rows[l] = keyed.into_iter().map(|k| k.2).collect();
        }
    }
    rows
}

/// Crossings between consecutive layers (for tests and for judging an order).
pub fn crossings(g: &Graph, layer: &[usize], rows: &[Vec<usize>]) -> usize {
    let pos = |v: usize| rows[layer[v]].iter().position(|&w| w == v).unwrap_or(0);
    let adjacent: Vec<(usize, usize)> = g.edges.iter().copied().filter(|&(a, b)| layer[b] == layer[a] + 1).collect();
    let mut n = 0;
    for (i, &(a, b)) in adjacent.iter().enumerate() {
        for &(c, d) in &adjacent[i + 1..] {
            if layer[a] == layer[c] && (pos(a) < pos(c)) != (pos(b) < pos(d)) && pos(a) != pos(c) && pos(b) != pos(d) {
                n += 1;
            }
        }
    }
    n
}

/// Positions (top-left corners, canvas units) for a canvas of width/height `aspect`.
pub fn layered(g: &Graph, aspect: f32) -> BTreeMap<String, (f32, f32)> {
    let layer = g.layers();
    let rows = order(g, &layer);
    let (w, h) = CARD;
    let pitch = h + GAP_ROW;
    let tallest = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    // Fold layers taller than `fold` rows into two sub-columns; pick the fold that lets the
    // whole graph be shown largest on this canvas.
    let shape = |fold: usize| {
        let mut width = 0.0;
        let mut height: f32 = 0.0;
        for row in &rows {
            let two = row.len() > fold;
            width += if two { 2.0 * w + GAP_SUB } else { w } + GAP_LAYER;
            let rows_used = if two { row.len().div_ceil(2) as f32 + 0.5 } else { row.len() as f32 };
            height = height.max(rows_used * pitch - GAP_ROW);
        }
        (width - GAP_LAYER, height)
    };
    let scale = |fold: usize| {
        let (width, height) = shape(fold);
        (aspect / width).min(1.0 / height)
    };
    // Ties go to the larger fold (fewer folded layers): `max_by` keeps the last maximum.
    let smallest = tallest.div_ceil(2);
    let fold = (smallest..=tallest).max_by(|&a, &b| scale(a).total_cmp(&scale(b))).unwrap_or(tallest);
    let (_, height) = shape(fold);
    let mut out = BTreeMap::new();
    let mut x = 0.0;
    for row in &rows {
        let two = row.len() > fold;
        let used = if two { row.len().div_ceil(2) as f32 + 0.5 } else { row.len() as f32 };
        let top = (height - (used * pitch - GAP_ROW)) / 2.0;
        for (i, &v) in row.iter().enumerate() {
            // Folded: alternate sub-columns, the second half a row lower, so the order reads
            // top to bottom in a zigzag.
            let (sub, slot) = if two { (i % 2, i as f32 / 2.0) } else { (0, i as f32) };
            let px = x + sub as f32 * (w + GAP_SUB);
            out.insert(g.nodes[v].clone(), (px, top + slot * pitch));
        }
        x += if two { 2.0 * w + GAP_SUB } else { w } + GAP_LAYER;
    }
    out
}

/// The scenario's saved layout if it has one, else the layered one for this aspect ratio.
pub fn auto_layout(sim: &Sim, aspect: f32) -> BTreeMap<String, (f32, f32)> {
    if !sim.scenario().layout.is_empty() {
        return sim.scenario().layout.clone();
    }
    layered(&Graph::of(sim), aspect)
}

/// A cubic Bézier with horizontal tangents from `a` to `b`, sampled at `n + 1` points.
fn bezier(a: Pos2, b: Pos2, n: usize, out: &mut Vec<Pos2>) {
    let dx = ((b.x - a.x) / 2.0).abs().max(30.0);
    let (c1, c2) = (a + vec2(dx, 0.0), b - vec2(dx, 0.0));
    for i in 0..=n {
        let t = i as f32 / n as f32;
        let u = 1.0 - t;
        let p = a.to_vec2() * (u * u * u)
            + c1.to_vec2() * (3.0 * u * u * t)
            + c2.to_vec2() * (3.0 * u * t * t)
            + b.to_vec2() * (t * t * t);
        out.push(p.to_pos2());
    }
}

/// An edge's path from the caller's right side to the callee's left side, as a polyline in
/// canvas units that goes around the other cards: where the curve would cross a card, it is
/// bent through a waypoint just above or below that card (recursively, a few levels deep).
/// An edge to a card on the left (a cycle) loops under both cards.
pub fn route(from: Rect, to: Rect, cards: &[Rect]) -> Vec<Pos2> {
    let a = pos2(from.right(), from.center().y);
    let b = pos2(to.left(), to.center().y);
    let mut out = Vec::new();
    if b.x < a.x + 20.0 {
        let below = from.bottom().max(to.bottom()) + GAP_ROW * 0.6;
        let ways = [a, pos2(a.x + 20.0, below), pos2(b.x - 20.0, below), b];
        for pair in ways.windows(2) {
            out.pop();
            bezier(pair[0], pair[1], 8, &mut out);
        }
        return out;
    }
    let others: Vec<Rect> = cards.iter().copied().filter(|r| *r != from && *r != to).map(|r| r.expand(4.0)).collect();
    let mut ways = vec![a];
    ways_between(a, b, &others, 3, &mut ways);
    ways.push(b);
    for pair in ways.windows(2) {
        out.pop();
        bezier(pair[0], pair[1], 12, &mut out);
    }
    out
}

fn ways_between(a: Pos2, b: Pos2, cards: &[Rect], depth: u32, out: &mut Vec<Pos2>) {
    let mut samples = Vec::new();
    bezier(a, b, 16, &mut samples);
    let hit = samples.iter().find_map(|p| cards.iter().find(|r| r.contains(*p)).map(|r| (*r, *p)));
    let Some((card, p)) = hit.filter(|_| depth > 0) else { return };
    let margin = GAP_ROW / 2.0 - 4.0;
    let y = if p.y < card.center().y { card.top() - margin } else { card.bottom() + margin };
    // Pass along the card's edge, from its left side to its right side.
    let left = pos2(card.left().max(a.x), y);
    let right = pos2(card.right().min(b.x), y);
    ways_between(a, left, cards, depth - 1, out);
    out.push(left);
    out.push(right);
    ways_between(right, b, cards, depth - 1, out);
}

/// The card rectangles of a layout, in canvas units.
pub fn card_rects(layout: &BTreeMap<String, (f32, f32)>) -> BTreeMap<String, Rect> {
    layout.iter().map(|(n, &(x, y))| (n.clone(), Rect::from_min_size(pos2(x, y), vec2(CARD.0, CARD.1)))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mesh() -> Sim {
        Sim::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/mesh-30.ron"), None).unwrap()
    }

    #[test]
    fn mesh_layers_run_left_to_right_and_no_cards_overlap() {
        let sim = mesh();
        let g = Graph::of(&sim);
        let layout = layered(&g, 2.0);
        assert_eq!(layout.len(), 30);
        let rects = card_rects(&layout);
        let all: Vec<(&String, &Rect)> = rects.iter().collect();
        for (i, (a, ra)) in all.iter().enumerate() {
            for (b, rb) in &all[i + 1..] {
                assert!(!ra.expand(1.0).intersects(**rb), "{a} overlaps {b}");
            }
        }
        // Every call and route goes rightwards: the callee's card starts right of the caller's.
        for &(a, b) in &g.edges {
            let (ra, rb) = (rects[&g.nodes[a]], rects[&g.nodes[b]]);
            assert!(rb.left() > ra.right(), "{} -> {} goes left", g.nodes[a], g.nodes[b]);
        }
        let x = |n: &str| layout[n].0;
        assert!(x("web") < x("gateway") && x("gateway") < x("front2") && x("front2") < x("back2"));
        assert!(x("back2") < x("shard2"));
    }

    #[test]
    fn a_wide_canvas_gets_a_wider_layout_than_a_tall_one() {
        let g = Graph::of(&mesh());
        let extent = |layout: &BTreeMap<String, (f32, f32)>| {
            let r = card_rects(layout).values().fold(Rect::NOTHING, |a, b| a.union(*b));
            r.width() / r.height()
        };
        let wide = extent(&layered(&g, 2.5));
        let tall = extent(&layered(&g, 0.8));
        assert!(wide > tall, "{wide} vs {tall}");
        assert!(wide > 1.2, "the mesh is folded to suit a wide canvas: {wide}");
    }

    #[test]
    fn barycentre_sweeps_do_not_add_crossings_in_the_mesh() {
        let g = Graph::of(&mesh());
        let layer = g.layers();
        let swept = order(&g, &layer);
        // The plain breadth-first order, for comparison.
        let mut plain: Vec<Vec<usize>> = vec![Vec::new(); swept.len()];
        for v in 0..g.nodes.len() {
            plain[layer[v]].push(v);
        }
        assert!(crossings(&g, &layer, &swept) <= crossings(&g, &layer, &plain));
    }

    #[test]
    fn cycles_do_not_stop_the_layering() {
        let g = Graph { nodes: vec!["a".into(), "b".into(), "c".into()], edges: vec![(0, 1), (1, 2), (2, 1)] };
        assert_eq!(g.layers(), [0, 1, 2]);
    }

    #[test]
    fn routes_go_around_cards_in_the_way() {
        let card = |x: f32, y: f32| Rect::from_min_size(pos2(x, y), vec2(CARD.0, CARD.1));
        let (from, blocker, to) = (card(0.0, 0.0), card(300.0, 0.0), card(600.0, 0.0));
        let path = route(from, to, &[from, blocker, to]);
        assert!(path.iter().all(|p| !blocker.contains(*p)), "the edge avoids the card between");
        assert_eq!(path.first(), Some(&pos2(200.0, 60.0)));
        assert_eq!(path.last(), Some(&pos2(600.0, 60.0)));
        // Nothing in the way: one smooth curve.
        let free = route(from, card(300.0, 200.0), &[from]);
        assert_eq!(free.len(), 13);
    }
}
