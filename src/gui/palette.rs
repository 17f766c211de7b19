//! Fixed colours: one per node for the whole session (a node never changes colour between
//! frames, whichever nodes a plot shows), and the meanings shared by the canvas, the plots,
//! the timeline and the README (green ok, amber warning or half-open, red failure or open).

use std::collections::BTreeMap;

use bevy_egui::egui::Color32;

/// Healthy, closed breaker, completed work.
pub const OK: Color32 = Color32::from_rgb(70, 170, 90);
/// A warning: half-open breaker, a node under strain, a retry.
pub const WARN: Color32 = Color32::from_rgb(230, 180, 40);
/// A failure: open breaker, a crash, a node in trouble, a refusal.
pub const BAD: Color32 = Color32::from_rgb(220, 60, 60);
/// Scripted changes on the timeline.
pub const SCRIPTED: Color32 = Color32::from_rgb(90, 160, 255);
/// The user's changes on the timeline.
pub const USER: Color32 = Color32::from_rgb(255, 140, 40);
/// Bookmarks on the timeline.
pub const BOOKMARK: Color32 = Color32::from_rgb(235, 235, 235);

/// Twelve colours far apart in hue and lightness (Tableau's and ColorBrewer's qualitative sets,
/// without the greens and reds that mean health), readable on the dark theme.
const NODE_COLOURS: [Color32; 12] = [
    Color32::from_rgb(78, 154, 230),  // blue
    Color32::from_rgb(245, 133, 24),  // orange
    Color32::from_rgb(188, 128, 236), // violet
    Color32::from_rgb(64, 200, 200),  // teal
    Color32::from_rgb(240, 110, 170), // pink
    Color32::from_rgb(200, 200, 90),  // olive
    Color32::from_rgb(160, 120, 90),  // brown
    Color32::from_rgb(150, 190, 255), // light blue
    Color32::from_rgb(255, 200, 140), // peach
    Color32::from_rgb(120, 120, 220), // indigo
    Color32::from_rgb(190, 190, 190), // grey
    Color32::from_rgb(255, 120, 90),  // coral
];

/// A colour per node, assigned once from the scenario's node order (names sorted), so it
/// depends on nothing that changes while the session runs.
#[derive(Clone, Debug, Default)]
pub struct NodePalette {
    colours: BTreeMap<String, (Color32, bool)>,
}

impl NodePalette {
    pub fn new(names: &[String]) -> Self {
        let colours = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), (NODE_COLOURS[i % NODE_COLOURS.len()], i / NODE_COLOURS.len() % 2 == 1)))
            .collect();
        Self { colours }
    }

    /// The node's colour (grey for a name the palette was not built with).
    pub fn colour(&self, name: &str) -> Color32 {
        self.colours.get(name).map_or(Color32::GRAY, |c| c.0)
    }

    /// Past twelve nodes colours repeat; every second round is drawn dashed to tell them apart.
    pub fn dashed(&self, name: &str) -> bool {
        self.colours.get(name).is_some_and(|c| c.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_keeps_its_colour_and_neighbours_differ() {
        let names: Vec<String> = (0..30).map(|i| format!("n{i:02}")).collect();
        let p = NodePalette::new(&names);
        assert_eq!(p.colour("n05"), NodePalette::new(&names).colour("n05"));
        for pair in names.windows(2) {
            assert_ne!(p.colour(&pair[0]), p.colour(&pair[1]));
        }
        assert!(!p.dashed("n00") && p.dashed("n12") && !p.dashed("n24"));
    }
}
