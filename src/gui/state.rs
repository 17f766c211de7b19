//! The desktop app's state and the commands its panels emit.
//!
//! Panels never touch the engine directly: they read [`GuiState`] and push [`Command`]s, which
//! [`GuiState::apply`] executes after the frame (rerun's command pattern). So every change a user
//! makes goes through `Sim::set` at the current sim time and lands on the run's timeline, and the
//! panels can be tested without a window (see `gui::tests`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::baseline::Baseline;
use super::changes::{self, Bookmark, ChangeRecord};
use super::files::{FileBrowser, Purpose};
use super::palette::NodePalette;
use crate::engine::Sim;
use crate::engine::time::{nanos_to_secs, secs_to_nanos};
use crate::scenario::session::Session;

/// Fastest selectable speed below "as fast as possible", in sim seconds per wall second.
pub const MAX_SPEED: f64 = 10_000.0;

/// Something the user asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    TogglePlay,
    /// Handle one event.
    Step,
    /// Run until something changes at this node.
    StepNode(String),
    SetSpeed(f64),
    SetFastest(bool),
    /// Rebuild the run with this seed.
    Reset {
        seed: u64,
    },
    RunUntil(f64),
    /// Change a parameter now.
    Set {
        path: String,
        value: String,
    },
    /// Change a parameter now and undo it after `secs`.
    SetFor {
        path: String,
        value: String,
        secs: f64,
    },
    /// Select a node (or nothing).
    Select(Option<String>),
    /// Select an edge (`from->to`): the inspector shows its policy.
    SelectEdge(String),
    /// Open the file browser for this purpose (it pushes one of the file commands below).
    Browse(Purpose),
    /// Load a scenario file (picker or browser).
    Load(PathBuf),
    SaveSession(PathBuf),
    LoadSession(PathBuf),
    ExportCsv(PathBuf),
    ExportScenario(PathBuf),
    /// Move the plots' view to this sim time (and pause).
    Focus(f64),
    Screenshot(PathBuf),
    /// Let the clock run this many sim seconds past where it stops now.
    Extend(f64),
    /// Pin the run as it is now as the A/B baseline, or unpin it.
    TogglePin,
    /// Large type and high contrast for a room.
    TogglePresenter,
    /// Revert the most recent change that is still in force.
    UndoLast,
    /// Drop a bookmark with this note at the current sim time.
    Bookmark(String),
    /// Fit the whole topology in the canvas.
    Fit,
}

/// A scenario found in `scenarios/`, for the picker.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioEntry {
    pub path: PathBuf,
    pub title: String,
}

/// Everything the app shows and edits.
pub struct GuiState {
    pub sim: Sim,
    /// Name (path) and text of the loaded scenario, for sessions and exports.
    pub scenario_name: String,
    pub scenario_text: String,
    pub playing: bool,
    /// Sim seconds per wall second.
    pub speed: f64,
    /// Run as fast as the frame budget allows.
    pub fastest: bool,
    pub selected: Option<String>,
    /// The edge shown in the inspector (`from->to`), if an edge was clicked.
    pub selected_edge: Option<String>,
    /// Node positions on the canvas (logical points).
    pub layout: BTreeMap<String, (f32, f32)>,
    pub catalog: Vec<ScenarioEntry>,
    /// The last command's error, shown in the top bar until the next command.
    pub status: String,
    /// Where the last save or export went ("saved session.ron"), shown in a neutral colour.
    pub notice: String,
    /// Plot view: follow the clock, or show the window ending at this time.
    pub plot_focus: Option<f64>,
    /// Plot window length, sim seconds.
    pub plot_window: f64,
    /// The plots the dock shows, indices into [`super::plots::PLOTS`], left to right.
    pub plots_shown: Vec<usize>,
    /// The x range the plots drew in the last frame (sim seconds): what a user saw.
    pub plot_x_drawn: Option<(f64, f64)>,
    /// One colour per node for the whole session.
    pub colours: NodePalette,
    /// The pinned A/B baseline, advanced with the live run.
    pub baseline: Option<Baseline>,
    /// Presenter mode: large type, high contrast.
    pub presenter: bool,
    /// Changes made from the app this session, oldest first.
    pub changes: Vec<ChangeRecord>,
    /// The facilitator's bookmarks, by time.
    pub bookmarks: Vec<Bookmark>,
    /// The bookmark note being typed.
    pub bookmark_text: String,
    /// Sim time at which playing stops: the scenario's duration unless the user extends it.
    pub run_limit: f64,
    /// Screenshot requests for the window layer to fulfil.
    pub screenshot_requests: Vec<PathBuf>,
    /// The file browser, while it is open.
    pub browser: Option<FileBrowser>,
    /// The browser whose confirmed command is about to run: it comes back, showing the error,
    /// if that command fails (an invalid scenario, an unwritable folder), so the user can pick
    /// again where they were.
    pub confirmed_browser: Option<FileBrowser>,
    /// The folder the last confirmed browser was in, where the next one starts.
    pub last_dir: Option<PathBuf>,
    /// The control bar's run-until field.
    pub run_until_text: String,
    pub fault_factor: f64,
    pub fault_seconds: f64,
    /// Pause when the clock reaches the scenario's duration.
    pub stop_at_end: bool,
    /// Sim seconds per wall second actually achieved (smoothed over recent frames): below
    /// `speed` when the engine cannot keep up within its frame budget.
    pub achieved_speed: f64,
    /// The canvas's view, health and caches (fresh with each run, so a new scenario is fitted).
    pub canvas: super::canvas::CanvasState,
}

impl GuiState {
    /// A state around an already built run.
    pub fn new(sim: Sim, name: &str, text: &str) -> Self {
        let layout = auto_layout(&sim);
        let colours = NodePalette::new(&sim.node_names());
        let run_limit = sim.duration();
        let mut plots_shown = super::plots::DEFAULT_PLOTS.to_vec();
        if super::plots::has_policies(&sim) {
            plots_shown.push(super::plots::POLICIES);
        }
        Self {
            sim,
            scenario_name: name.to_string(),
            scenario_text: text.to_string(),
            playing: false,
            speed: 1.0,
            fastest: false,
            selected: None,
            selected_edge: None,
            layout,
            catalog: Vec::new(),
            status: String::new(),
            notice: String::new(),
            plot_focus: None,
            plot_window: 120.0,
            plots_shown,
            plot_x_drawn: None,
            colours,
            baseline: None,
            presenter: false,
            changes: Vec::new(),
            bookmarks: Vec::new(),
            bookmark_text: String::new(),
            run_limit,
            screenshot_requests: Vec::new(),
            browser: None,
            confirmed_browser: None,
            last_dir: None,
            run_until_text: String::new(),
            fault_factor: 3.0,
            fault_seconds: 20.0,
            stop_at_end: true,
            achieved_speed: 0.0,
            canvas: Default::default(),
        }
    }

    /// Loads a scenario file into a fresh state.
    pub fn open(path: &Path, seed: Option<u64>) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path.display().to_string();
        let sim = Sim::from_text(&name, &text, seed).map_err(|e| e.to_string())?;
        Ok(Self::new(sim, &name, &text))
    }

    /// Lists `dir/*.ron` with their titles (unreadable files are skipped).
    pub fn scan_catalog(&mut self, dir: &Path) {
        let mut entries: Vec<ScenarioEntry> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "ron"))
            .filter_map(|path| {
                let title = super::files::scenario_title(std::fs::read_to_string(&path).ok()?)?;
                Some(ScenarioEntry { path, title })
            })
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        self.catalog = entries;
    }

    /// Advances the clock for a frame that lasted `wall_dt` seconds, spending at most
    /// `budget` wall seconds in the engine. Returns the events handled.
    pub fn advance_frame(&mut self, wall_dt: f64, budget: std::time::Duration) -> u64 {
        if !self.playing {
            self.achieved_speed = 0.0;
            return 0;
        }
        let start = std::time::Instant::now();
        let before = self.sim.now_nanos();
        let mut target = if self.fastest {
            u64::MAX
        } else {
            self.sim.now_nanos().saturating_add(secs_to_nanos(wall_dt * self.speed))
        };
        let end = secs_to_nanos(self.run_limit);
        if self.stop_at_end {
            target = target.min(end.max(self.sim.now_nanos()));
        }
        let mut handled = 0;
        // Chunks of events until the horizon or the budget: results depend only on sim time.
        // A chunk is well under a millisecond, so the budget is kept to within one.
        const CHUNK: u64 = 4096;
        loop {
            let n = self.sim.run(target, Some(CHUNK));
            handled += n;
            if n < CHUNK || start.elapsed() >= budget {
                break;
            }
        }
        if wall_dt > 0.0 {
            let speed = nanos_to_secs(self.sim.now_nanos().saturating_sub(before)) / wall_dt;
            self.achieved_speed += 0.1 * (speed - self.achieved_speed);
        }
        self.follow_baseline();
        if self.finished() || (self.fastest && self.sim.next_event_time().is_none()) {
            self.playing = false;
        }
        handled
    }

    /// Executes one command.
    pub fn apply(&mut self, command: Command) {
        // Files written are confirmed, so a user knows where their save went.
        let written = match &command {
            Command::SaveSession(p) => Some(format!("saved the session to {}", p.display())),
            Command::ExportCsv(dir) => Some(format!("wrote the time series to {}", dir.display())),
            Command::ExportScenario(p) => Some(format!("exported the scenario to {}", p.display())),
            _ => None,
        };
        let reads_or_writes = written.is_some() || matches!(command, Command::Load(_) | Command::LoadSession(_));
        let confirmed = if reads_or_writes { self.confirmed_browser.take() } else { None };
        let result = match command {
            Command::TogglePlay if !self.playing && self.finished() => {
                Err(format!("the run finished at t = {:.0} s; press Extend to let it run on", self.run_limit))
            }
            Command::TogglePlay => {
                self.playing = !self.playing;
                self.plot_focus = None;
                Ok(())
            }
            Command::Step => {
                self.playing = false;
                self.sim.step();
                Ok(())
            }
            Command::StepNode(name) => {
                self.playing = false;
                let before = self.sim.node(&name);
                for _ in 0..1_000_000 {
                    if !self.sim.step() || self.sim.node(&name) != before {
                        break;
                    }
                }
                Ok(())
            }
            Command::SetSpeed(s) => {
                self.speed = s.clamp(0.1, MAX_SPEED);
                Ok(())
            }
            Command::SetFastest(f) => {
                self.fastest = f;
                Ok(())
            }
            Command::Reset { seed } => Sim::from_text(&self.scenario_name, &self.scenario_text, Some(seed))
                .map(|sim| {
                    self.sim = sim;
                    self.plot_focus = None;
                    self.baseline = None;
                    self.changes.clear();
                    self.run_limit = self.sim.duration();
                })
                .map_err(|e| e.to_string()),
            Command::RunUntil(t) => {
                self.playing = false;
                self.sim.run_until(t);
                // Running on past the end on purpose extends the run.
                self.run_limit = self.run_limit.max(self.now());
                Ok(())
            }
            Command::Set { path, value } => self.change(path, value, None),
            Command::SetFor { path, value, secs } => self.change(path, value, Some(secs)),
            Command::Select(s) => {
                self.selected = s;
                self.selected_edge = None;
                Ok(())
            }
            Command::SelectEdge(edge) => {
                self.selected = edge.split_once("->").map(|(from, _)| from.to_string());
                self.selected_edge = Some(edge);
                Ok(())
            }
            Command::Browse(purpose) => {
                self.browser = Some(FileBrowser::new(purpose, &self.browse_start()));
                Ok(())
            }
            Command::Load(path) => GuiState::open(&path, None).map(|fresh| self.replace_run(fresh)),
            Command::SaveSession(path) => {
                let s = Session::record(&self.scenario_name, &self.scenario_text, &self.sim);
                std::fs::write(&path, s.to_ron()).map_err(|e| format!("{}: {e}", path.display()))
            }
            Command::LoadSession(path) => std::fs::read_to_string(&path)
                .map_err(|e| format!("{}: {e}", path.display()))
                .and_then(|text| Session::from_ron(&path.display().to_string(), &text).map_err(|e| e.to_string()))
                .and_then(|s| {
                    let sim = s.replay().map_err(|e| e.to_string())?;
                    self.replace_run(GuiState::new(sim, &s.scenario_name, &s.scenario_text));
                    Ok(())
                }),
            Command::ExportCsv(dir) => crate::cli::write_csv(&self.sim, &dir).map_err(|e| e.to_string()),
            Command::ExportScenario(path) => self.export_scenario(&path),
            Command::Focus(t) => {
                self.playing = false;
                self.plot_focus = Some(t);
                Ok(())
            }
            Command::Screenshot(path) => {
                self.screenshot_requests.push(path);
                Ok(())
            }
            Command::Extend(secs) => {
                self.run_limit = self.run_limit.max(self.now()) + secs.max(0.0);
                Ok(())
            }
            Command::TogglePin => match self.baseline.take() {
                Some(_) => Ok(()),
                None => Baseline::pin(&self.scenario_name, &self.scenario_text, &self.sim).map(|b| {
                    self.baseline = Some(b);
                }),
            },
            Command::TogglePresenter => {
                self.presenter = !self.presenter;
                // Cards may grow in presenter mode: fit again.
                self.canvas.fit_requested = true;
                Ok(())
            }
            Command::UndoLast => self.undo_last(),
            Command::Fit => {
                self.canvas.fit_requested = true;
                Ok(())
            }
            Command::Bookmark(note) => {
                let t = self.now();
                let note = if note.trim().is_empty() { format!("bookmark {}", self.bookmarks.len() + 1) } else { note };
                let at = self.bookmarks.partition_point(|b| b.t <= t);
                self.bookmarks.insert(at, Bookmark { t, note });
                self.bookmark_text.clear();
                Ok(())
            }
        };
        self.follow_baseline();
        match result {
            Ok(()) => {
                self.status.clear();
                if let Some(w) = written {
                    self.notice = w;
                }
            }
            Err(e) => {
                if let Some(mut browser) = confirmed {
                    browser.message = Some(e.clone());
                    self.browser = Some(browser);
                }
                self.status = e;
                self.notice.clear();
            }
        }
    }

    /// True when the clock has reached where playing stops (the scenario's end unless extended).
    pub fn finished(&self) -> bool {
        self.stop_at_end && self.sim.now_nanos() >= secs_to_nanos(self.run_limit)
    }

    /// Applies a change from the app now (for `secs` if given) and lists it, with the value it
    /// replaced, among the session's changes.
    fn change(&mut self, path: String, value: String, secs: Option<f64>) -> Result<(), String> {
        let previous = self.sim.get(&path).map(|v| v.to_string()).unwrap_or_default();
        match secs {
            Some(s) => self.sim.set_for(&path, &value, s)?,
            None => self.sim.set(&path, &value)?,
        }
        let record = ChangeRecord { at: self.now(), path, value, previous, secs, undone_at: None };
        changes::record(&mut self.changes, record);
        Ok(())
    }

    /// Reverts the most recent change still in force by setting its field back, now: time
    /// does not run backwards, so what happened meanwhile stays on the timeline.
    fn undo_last(&mut self) -> Result<(), String> {
        let now = self.now();
        let Some(i) = changes::last_undoable(&self.changes, now) else {
            return Err("no change of yours is in force to undo".into());
        };
        let (path, previous) = (self.changes[i].path.clone(), self.changes[i].previous.clone());
        self.sim.set(&path, &previous)?;
        self.changes[i].undone_at = Some(now);
        Ok(())
    }

    /// Keeps the pinned baseline at the live run's clock.
    fn follow_baseline(&mut self) {
        if let Some(b) = &mut self.baseline {
            b.follow(&self.sim);
        }
    }

    /// Swaps in a fresh run, keeping what belongs to the app rather than to the run: the
    /// scenario catalog, an open file browser, the folder last browsed, the plots chosen,
    /// presenter mode and the speed.
    fn replace_run(&mut self, fresh: GuiState) {
        let catalog = std::mem::take(&mut self.catalog);
        let browser = self.browser.take();
        let last_dir = self.last_dir.take();
        let plots_shown = std::mem::take(&mut self.plots_shown);
        let (presenter, speed, stop_at_end) = (self.presenter, self.speed, self.stop_at_end);
        *self = fresh;
        self.catalog = catalog;
        self.browser = browser;
        self.last_dir = last_dir;
        let policies = self.plots_shown.contains(&super::plots::POLICIES);
        self.plots_shown = plots_shown;
        // A scenario with admission controllers shows their plot, whatever was chosen before.
        if policies && !self.plots_shown.contains(&super::plots::POLICIES) {
            self.plots_shown.push(super::plots::POLICIES);
        }
        (self.presenter, self.speed, self.stop_at_end) = (presenter, speed, stop_at_end);
    }

    /// Where a new file browser starts: the folder last browsed to a confirm, else the loaded
    /// scenario's folder, else the working directory.
    pub fn browse_start(&self) -> PathBuf {
        let scenario_dir = Path::new(&self.scenario_name).parent().filter(|d| !d.as_os_str().is_empty());
        self.last_dir
            .iter()
            .map(PathBuf::as_path)
            .chain(scenario_dir)
            .find(|d| d.is_dir())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    /// The scenario as loaded with the run's seed, every scripted and user change on its
    /// timeline at its sim time, and the canvas layout, as RON: `sluice run` on it replays the
    /// session.
    pub fn tweaked_scenario(&mut self) -> String {
        let mut scn = crate::scenario::export::with_history(&self.sim);
        scn.layout = self.layout.clone();
        crate::scenario::to_ron(&scn)
    }

    fn export_scenario(&mut self, path: &Path) -> Result<(), String> {
        let text = self.tweaked_scenario();
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Sim time, seconds.
    pub fn now(&self) -> f64 {
        nanos_to_secs(self.sim.now_nanos())
    }
}

/// The layered layout (see `layout`) for a canvas twice as wide as tall; the canvas redoes it
/// for its real shape when it first fits the view.
pub fn auto_layout(sim: &Sim) -> BTreeMap<String, (f32, f32)> {
    super::layout::auto_layout(sim, 2.0)
}

/// How much of each frame the engine may spend, adjusted frame by frame to hold a frame-time
/// target.
///
/// A fixed budget is wrong on both ends: on a fast GPU it caps the engine below what the frame
/// could hold, and on a software renderer the engine's thread competes with the rasterizer's for
/// the same cores, so every engine millisecond costs frame rate. Frame time is not simply
/// rendering plus engine (bevy renders the previous frame on another thread while the engine
/// runs), so rather than model it, this is an integral controller on the measured frame time:
/// a frame under the target grows the budget, one over it shrinks it. Only how far the clock
/// gets per frame changes, never what happens at a given sim time.
#[derive(Clone, Debug)]
pub struct FrameBudget {
    /// The frame time aimed at, seconds (30 ms: 33 fps, a margin above the 30 fps bar).
    pub target: f64,
    /// Least engine time per frame, so a slow renderer never stalls the simulation.
    pub min: f64,
    /// Most engine time per frame.
    pub max: f64,
    /// Budget change per second of frame-time error.
    pub gain: f64,
    budget: f64,
}

impl Default for FrameBudget {
    fn default() -> Self {
        Self { target: 0.030, min: 0.002, max: 0.020, gain: 0.25, budget: 0.008 }
    }
}

impl FrameBudget {
    /// The engine's budget for the next frame, given how long the last frame took (seconds).
    pub fn next(&mut self, last_frame: f64) -> std::time::Duration {
        // A frame over 100 ms is a hitch (window moved, system busy), not a cost to correct.
        let error = self.target - last_frame.clamp(0.0, 0.1);
        self.budget = (self.budget + self.gain * error).clamp(self.min, self.max);
        std::time::Duration::from_secs_f64(self.budget)
    }
}

#[cfg(test)]
mod tests {
    use super::FrameBudget;

    /// Runs the controller against a renderer model `frame(budget)` and returns the settled
    /// budget in milliseconds.
    fn settle(b: &mut FrameBudget, frame: impl Fn(f64) -> f64) -> f64 {
        let mut budget = b.budget;
        for _ in 0..400 {
            budget = b.next(frame(budget)).as_secs_f64();
        }
        budget * 1000.0
    }

    #[test]
    fn the_engine_gets_what_the_frame_target_leaves() {
        // Rendering 15 ms after the engine: the engine settles on 30 − 15 = 15 ms.
        let settled = settle(&mut FrameBudget::default(), |b| 0.015 + b);
        assert!((settled - 15.0).abs() < 0.01, "{settled}");
        // Pipelined rendering of 24 ms, slowed by 0.8 ms per engine ms of shared cores.
        let settled = settle(&mut FrameBudget::default(), |b| 0.024_f64.max(b) + 0.8 * b);
        assert!((settled - 7.5).abs() < 0.01, "{settled}");
    }

    #[test]
    fn budgets_stay_within_bounds() {
        assert!((settle(&mut FrameBudget::default(), |b| 0.001 + b) - 20.0).abs() < 1e-9, "fast GPU: the cap");
        assert!((settle(&mut FrameBudget::default(), |b| 0.040 + b) - 2.0).abs() < 1e-9, "slow renderer: the floor");
    }

    #[test]
    fn a_hitch_squeezes_the_engine_briefly() {
        let mut b = FrameBudget::default();
        let settled = settle(&mut b, |b| 0.015 + b);
        let squeezed = b.next(5.0).as_secs_f64() * 1000.0;
        assert!(squeezed < settled && squeezed >= 2.0);
        assert!((settle(&mut b, |b| 0.015 + b) - settled).abs() < 0.01, "and then recovers");
    }
}
