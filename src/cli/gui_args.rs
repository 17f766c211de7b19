//! The arguments of `sluice gui`: what a person opens, and what docs and tests script (run to a
//! time, pin a baseline, make changes, play on, capture the window and the app's state).

use std::path::PathBuf;

use super::DEFAULT_WINDOW;

/// Options of `sluice gui`.
#[derive(clap::Args, Clone, Debug)]
pub struct GuiArgs {
    /// Scenario file (default: the built-in default scenario).
    pub scenario: Option<PathBuf>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run to this sim time first (seconds).
    #[arg(long, value_name = "SECONDS")]
    pub at: Option<f64>,
    /// Pin the run as the A/B baseline after `--at` (before the `--set` changes).
    #[arg(long)]
    pub pin: bool,
    /// Change a parameter after `--at` (and after `--pin`), as the inspector would.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// Then play in the window until this sim time (seconds), at `--speed`.
    #[arg(long, value_name = "SECONDS")]
    pub play_to: Option<f64>,
    /// Save a screenshot of the window to this PNG, then exit (after `--play-to` if given).
    #[arg(long, value_name = "PNG")]
    pub screenshot: Option<PathBuf>,
    /// With `--screenshot`: also write what the app shows (clock, plot range, cards) as JSON.
    #[arg(long, value_name = "JSON")]
    pub state: Option<PathBuf>,
    /// With `--screenshot`: also export the scenario with its story here, as File → Export
    /// scenario… does.
    #[arg(long, value_name = "RON")]
    pub export: Option<PathBuf>,
    /// Play as fast as 1000× for N frames, print a frame-time histogram, exit.
    #[arg(long, value_name = "N")]
    pub bench_frames: Option<u32>,
    /// Initial speed in sim seconds per wall second.
    #[arg(long)]
    pub speed: Option<f64>,
    /// Start playing at once.
    #[arg(long)]
    pub play: bool,
    /// Start in presenter mode (large type, high contrast).
    #[arg(long)]
    pub presenter: bool,
    /// Select this node (inspector and plots).
    #[arg(long, value_name = "NODE")]
    pub select: Option<String>,
    /// Window width in logical pixels (the window can be resized afterwards).
    #[arg(long, default_value_t = DEFAULT_WINDOW.0)]
    pub width: u32,
    /// Window height in logical pixels.
    #[arg(long, default_value_t = DEFAULT_WINDOW.1)]
    pub height: u32,
}

impl Default for GuiArgs {
    /// `sluice` with no arguments: the default scenario, playing.
    fn default() -> Self {
        Self {
            scenario: None,
            seed: None,
            at: None,
            pin: false,
            sets: Vec::new(),
            play_to: None,
            screenshot: None,
            state: None,
            export: None,
            bench_frames: None,
            speed: None,
            play: true,
            presenter: false,
            select: None,
            width: DEFAULT_WINDOW.0,
            height: DEFAULT_WINDOW.1,
        }
    }
}
