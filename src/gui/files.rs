//! The in-app file browser behind the top bar's Open…, Save session…, Load session…, Export…
//! and Screenshot… buttons.
//!
//! A native file dialog needs a desktop portal or GTK at run time and a crate to reach it; the
//! app promises to run with nothing but a display, so it browses the file system itself. The
//! browser is plain data ([`FileBrowser`]: a purpose, a folder, its listing and a name field)
//! whose decisions (what is listed, what confirming means, when to ask before replacing a file)
//! are methods testable without a window. [`file_browser_ui`] only draws it, and on confirm
//! pushes the same [`Command`] the top bar used to push with a typed path, so loading, saving
//! and exporting behave exactly as before.

use std::path::{Path, PathBuf};

use bevy_egui::egui;
use bevy_egui::egui::{Color32, RichText, Ui};

use super::state::{Command, GuiState};
use crate::scenario::Source;
use crate::scenario::session::Session;

/// Files larger than this are listed without a title: reading them on every listing would make
/// browsing a folder of big files slow, and no scenario is anywhere near this size.
const TITLE_MAX_BYTES: u64 = 256 * 1024;

/// What the browser was opened for: it decides the listing, the confirm button and the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    OpenScenario,
    LoadSession,
    SaveSession,
    ExportScenario,
    /// A folder to write one CSV per node into.
    ExportCsv,
    Screenshot,
}

impl Purpose {
    /// The window's title.
    pub fn title(self) -> &'static str {
        match self {
            Purpose::OpenScenario => "Open a scenario",
            Purpose::LoadSession => "Load a session",
            Purpose::SaveSession => "Save the session",
            Purpose::ExportScenario => "Export the scenario with your changes",
            Purpose::ExportCsv => "Export time series as CSV",
            Purpose::Screenshot => "Save a screenshot",
        }
    }

    /// The confirm button's label.
    pub fn confirm_label(self) -> &'static str {
        match self {
            Purpose::OpenScenario => "Open",
            Purpose::LoadSession => "Load",
            Purpose::SaveSession | Purpose::Screenshot => "Save",
            Purpose::ExportScenario | Purpose::ExportCsv => "Export",
        }
    }

    /// The extension of the files this purpose reads or writes; `None` when it picks a folder.
    pub fn extension(self) -> Option<&'static str> {
        match self {
            Purpose::OpenScenario | Purpose::LoadSession | Purpose::SaveSession | Purpose::ExportScenario => {
                Some("ron")
            }
            Purpose::Screenshot => Some("png"),
            Purpose::ExportCsv => None,
        }
    }

    /// True when confirming writes a file (which may replace an existing one).
    pub fn writes_file(self) -> bool {
        matches!(self, Purpose::SaveSession | Purpose::ExportScenario | Purpose::Screenshot)
    }

    /// True when confirming reads an existing file.
    fn reads_file(self) -> bool {
        matches!(self, Purpose::OpenScenario | Purpose::LoadSession)
    }

    /// The name offered when the browser opens (the defaults of the old path field).
    fn default_name(self) -> &'static str {
        match self {
            Purpose::OpenScenario | Purpose::LoadSession => "",
            Purpose::SaveSession => "session.ron",
            Purpose::ExportScenario => "tweaked.ron",
            Purpose::ExportCsv => "series",
            Purpose::Screenshot => "sluice.png",
        }
    }

    /// The command that carries out this purpose on `path`.
    pub fn command(self, path: PathBuf) -> Command {
        match self {
            Purpose::OpenScenario => Command::Load(path),
            Purpose::LoadSession => Command::LoadSession(path),
            Purpose::SaveSession => Command::SaveSession(path),
            Purpose::ExportScenario => Command::ExportScenario(path),
            Purpose::ExportCsv => Command::ExportCsv(path),
            Purpose::Screenshot => Command::Screenshot(path),
        }
    }
}

/// One line of a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The file name as shown (lossily decoded if not UTF-8; `path` keeps the real one).
    pub name: String,
    pub path: PathBuf,
    pub is_dir: bool,
    /// A scenario's title, or the title of a session's scenario, read from the file.
    pub title: Option<String>,
}

/// The folders of `dir`, then its files with the purpose's extension, each group by name
/// (case-insensitively, ties by exact name, so the order never depends on the file system).
/// Hidden entries (a leading dot) are left out; the path field still reaches them.
pub fn list_dir(dir: &Path, purpose: Purpose) -> Result<Vec<Entry>, String> {
    let read = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut entries = Vec::new();
    for item in read {
        // An entry that vanished or cannot be examined (a dangling link) hides only itself.
        let Ok(item) = item else { continue };
        let name = item.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = item.path();
        // `metadata` follows links, so a linked folder is browsed like a folder.
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_dir() {
            entries.push(Entry { name, path, is_dir: true, title: None });
            continue;
        }
        let Some(ext) = purpose.extension() else { continue };
        if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)) {
            continue;
        }
        let title = if ext == "ron" && meta.len() <= TITLE_MAX_BYTES { ron_title(&path) } else { None };
        entries.push(Entry { name, path, is_dir: false, title });
    }
    entries.sort_by(|a, b| {
        b.is_dir
            .cmp(&a.is_dir)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then(a.name.cmp(&b.name))
    });
    Ok(entries)
}

/// The title of a scenario file, or "session: title" for a session file; `None` for anything
/// else, so a broken file is still listed (opening it reports where it is broken).
fn ron_title(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    if let Some(title) = scenario_title(text.clone()) {
        return Some(title);
    }
    let session = Session::from_ron("", &text).ok()?;
    scenario_title(session.scenario_text).map(|t| format!("session: {t}"))
}

/// The title of a scenario's text, if it is a valid scenario (the picker and the browser).
pub(super) fn scenario_title(text: String) -> Option<String> {
    crate::scenario::parse(&Source { name: String::new(), text }).ok().map(|s| s.title)
}

/// A path as absolute and free of `.`, `..` and links, so the breadcrumb and "..", which work on
/// path components, always mean what they show. A path that cannot be resolved (it does not
/// exist) is kept as given: listing it then reports why.
fn resolve(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).or_else(|_| std::path::absolute(path)).unwrap_or_else(|_| path.to_path_buf())
}

/// A chosen path relative to the working directory when it lies inside it: the scenario's name
/// is recorded in sessions, shown in error locations and compared with the scenario picker's
/// `scenarios/…` entries, all of which read better (and match) relative.
fn relative_to_cwd(path: PathBuf) -> PathBuf {
    let Ok(cwd) = std::env::current_dir() else { return path };
    match path.strip_prefix(&cwd) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        Ok(_) => PathBuf::from("."),
        Err(_) => path,
    }
}

/// The browser's state: which folder is shown, what is typed, what is pending.
#[derive(Clone, Debug, PartialEq)]
pub struct FileBrowser {
    pub purpose: Purpose,
    /// The folder shown (absolute).
    pub dir: PathBuf,
    pub entries: Vec<Entry>,
    /// Why the folder could not be listed, or why the last confirm was refused.
    pub message: Option<String>,
    /// The file (or, for CSV, folder) name, relative to `dir`; an absolute path also works.
    pub name: String,
    /// The path field, for jumping anywhere by typing or pasting.
    pub path_text: String,
    /// A file that exists and would be overwritten, waiting for "Replace".
    pub replace: Option<PathBuf>,
}

impl FileBrowser {
    /// A browser for `purpose` showing `dir`.
    pub fn new(purpose: Purpose, dir: &Path) -> Self {
        let mut browser = Self {
            purpose,
            dir: PathBuf::new(),
            entries: Vec::new(),
            message: None,
            name: purpose.default_name().to_string(),
            path_text: String::new(),
            replace: None,
        };
        browser.enter(dir);
        browser
    }

    /// Shows `dir`. When it cannot be listed, the message says why and ".." leads back.
    pub fn enter(&mut self, dir: &Path) {
        self.dir = resolve(dir);
        self.path_text = self.dir.display().to_string();
        self.replace = None;
        // A file picked in the previous folder does not exist in this one; a name to save
        // under does, and is kept.
        if self.purpose.reads_file() {
            self.name.clear();
        }
        match list_dir(&self.dir, self.purpose) {
            Ok(entries) => {
                self.entries = entries;
                self.message = None;
            }
            Err(e) => {
                self.entries.clear();
                self.message = Some(e);
            }
        }
    }

    /// Lists the current folder again (files may have appeared or gone).
    pub fn refresh(&mut self) {
        let dir = self.dir.clone();
        let name = std::mem::take(&mut self.name);
        self.enter(&dir);
        self.name = name;
    }

    /// The parent folder, if there is one.
    pub fn parent(&self) -> Option<PathBuf> {
        self.dir.parent().map(Path::to_path_buf)
    }

    /// Goes to the parent folder (nothing at the root).
    pub fn up(&mut self) {
        if let Some(parent) = self.parent() {
            self.enter(&parent);
        }
    }

    /// A click on a listed entry: a folder is entered, a file's name goes into the name field.
    pub fn pick(&mut self, entry: &Entry) {
        if entry.is_dir {
            self.enter(&entry.path);
        } else {
            self.name = entry.name.clone();
            self.replace = None;
            self.message = None;
        }
    }

    /// Goes where the path field says: a folder is shown; a file (existing or not) in an
    /// existing folder shows that folder with the file's name in the name field. A relative
    /// path is taken from the folder shown, and `~` is the home folder.
    pub fn jump(&mut self) {
        let typed = self.path_text.trim();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let typed = match (typed.strip_prefix('~'), home) {
            (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                home.join(rest.trim_start_matches('/'))
            }
            _ => PathBuf::from(typed),
        };
        let path = self.dir.join(typed);
        if path.is_dir() {
            self.enter(&path);
            return;
        }
        match (path.parent().filter(|p| p.is_dir()), path.file_name()) {
            (Some(parent), Some(file)) => {
                let file = file.to_string_lossy().into_owned();
                self.enter(parent);
                self.name = file;
            }
            _ => self.message = Some(format!("{}: no such folder", path.display())),
        }
    }

    /// The path confirming would use: the name in the folder shown, with the purpose's
    /// extension added to a save name typed without one. For CSV an empty name is the folder
    /// itself.
    pub fn target(&self) -> Option<PathBuf> {
        let name = self.name.trim();
        if name.is_empty() {
            return (self.purpose == Purpose::ExportCsv).then(|| self.dir.clone());
        }
        let mut path = self.dir.join(name);
        if let Some(ext) = self.purpose.extension()
            && self.purpose.writes_file()
            && path.extension().is_none()
            && !path.is_dir()
        {
            path.set_extension(ext);
        }
        Some(path)
    }

    /// The confirm button: the command to run, or `None` with a message (or a pending
    /// "Replace?") when there is nothing to run yet. A folder typed as the name is entered.
    pub fn confirm(&mut self) -> Option<Command> {
        self.replace = None;
        let Some(path) = self.target() else {
            self.message = Some(if self.purpose.reads_file() { "choose a file" } else { "type a name" }.into());
            return None;
        };
        if self.purpose != Purpose::ExportCsv && path.is_dir() {
            self.enter(&path);
            if !self.purpose.reads_file() {
                self.name = self.purpose.default_name().to_string();
            }
            return None;
        }
        let refuse = |why: &str| Some(format!("{}: {why}", path.display()));
        self.message = if self.purpose.reads_file() {
            if path.is_file() { None } else { refuse("no such file") }
        } else if self.purpose == Purpose::ExportCsv {
            // The folder is created if need be; files in it named after nodes are replaced.
            if path.exists() && !path.is_dir() { refuse("is a file, not a folder") } else { None }
        } else if !path.parent().is_some_and(Path::is_dir) {
            refuse("no such folder")
        } else {
            None
        };
        if self.message.is_some() {
            return None;
        }
        if self.purpose.writes_file() && path.exists() {
            self.replace = Some(path);
            return None;
        }
        Some(self.purpose.command(relative_to_cwd(path)))
    }

    /// "Replace" after a confirm found the file already there.
    pub fn confirm_replace(&mut self) -> Option<Command> {
        self.replace.take().map(|path| self.purpose.command(relative_to_cwd(path)))
    }

    /// True when the name field names an existing file that saving would overwrite.
    pub fn target_exists(&self) -> bool {
        self.purpose.writes_file() && self.target().is_some_and(|p| p.is_file())
    }
}

/// What the user did in the browser this frame.
enum Outcome {
    Open,
    Run(Command),
    Close,
}

/// Draws the open browser (if any) as a window. Confirming pushes the purpose's command and
/// closes it (it comes back with the error if the command fails); the folder it was in becomes
/// the next browser's starting point.
pub fn file_browser_ui(ui: &mut Ui, state: &mut GuiState, out: &mut Vec<Command>) {
    let Some(mut browser) = state.browser.take() else { return };
    let mut open = true;
    let mut outcome = Outcome::Open;
    egui::Window::new(browser.purpose.title())
        .id(egui::Id::new("file_browser"))
        .open(&mut open)
        .collapsible(false)
        .resizable(true)
        .default_size(egui::vec2(560.0, 420.0))
        // Centred over the canvas on first showing, clear of the top bar's buttons.
        .pivot(egui::Align2::CENTER_CENTER)
        .default_pos(ui.ctx().viewport_rect().center())
        .show(ui.ctx(), |ui| outcome = browser_contents(ui, &mut browser));
    match outcome {
        Outcome::Run(command) => {
            state.last_dir = Some(browser.dir.clone());
            state.confirmed_browser = Some(browser);
            out.push(command);
        }
        Outcome::Open if open => state.browser = Some(browser),
        Outcome::Open | Outcome::Close => {}
    }
}

fn browser_contents(ui: &mut Ui, b: &mut FileBrowser) -> Outcome {
    let mut outcome = Outcome::Open;
    breadcrumb(ui, b);
    ui.horizontal(|ui| {
        let label = ui.label("Path");
        let field = ui.add(egui::TextEdit::singleline(&mut b.path_text).desired_width(360.0)).labelled_by(label.id);
        let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if ui.button("Go").clicked() || entered {
            b.jump();
        }
        if ui.button("⟳").on_hover_text("list the folder again").clicked() {
            b.refresh();
        }
    });
    ui.separator();
    let listing_height = (ui.available_height() - 110.0).max(120.0);
    egui::ScrollArea::vertical().max_height(listing_height).auto_shrink([false, true]).show(ui, |ui| {
        if b.parent().is_some() && ui.selectable_label(false, "..").on_hover_text("the parent folder").clicked() {
            b.up();
            return;
        }
        // The second click of a double-click on a folder lands on whatever the new listing
        // shows at that spot; only a double-click on the file the first click picked counts.
        // egui counts a third quick click as a triple click, which must count too.
        let double = ui.input(|i| {
            let primary = egui::PointerButton::Primary;
            i.pointer.button_double_clicked(primary) || i.pointer.button_triple_clicked(primary)
        });
        let mut picked = None;
        for entry in &b.entries {
            ui.horizontal(|ui| {
                let text = if entry.is_dir { format!("{}/", entry.name) } else { entry.name.clone() };
                let chosen = !entry.is_dir && b.name.trim() == entry.name;
                let row = ui.selectable_label(chosen, text);
                if let Some(title) = &entry.title {
                    ui.label(RichText::new(title).weak());
                }
                if row.clicked() && picked.is_none() {
                    picked = Some((entry.clone(), double));
                }
            });
        }
        match picked {
            Some((entry, true)) if !entry.is_dir && b.name.trim() == entry.name => {
                if let Some(command) = b.confirm() {
                    outcome = Outcome::Run(command);
                }
            }
            Some((_, true)) => {}
            Some((entry, false)) => b.pick(&entry),
            None => {}
        }
        if b.entries.is_empty() && b.message.is_none() {
            ui.label(RichText::new(empty_listing_note(b.purpose)).weak());
        }
    });
    ui.separator();
    if let Some(message) = &b.message {
        ui.colored_label(Color32::from_rgb(230, 120, 90), message);
    }
    ui.horizontal(|ui| {
        let label = ui.label(if b.purpose == Purpose::ExportCsv { "Folder name" } else { "File name" });
        let field = ui.add(egui::TextEdit::singleline(&mut b.name).desired_width(300.0)).labelled_by(label.id);
        if field.changed() {
            b.replace = None;
        }
        if field.lost_focus()
            && ui.input(|i| i.key_pressed(egui::Key::Enter))
            && b.replace.is_none()
            && let Some(command) = b.confirm()
        {
            outcome = Outcome::Run(command);
        }
    });
    if b.purpose == Purpose::ExportCsv {
        ui.label(
            RichText::new("one <node>.csv per node, into this folder (created if missing); empty: the folder shown")
                .weak(),
        );
    } else if b.replace.is_none() && b.target_exists() {
        ui.label(RichText::new("a file with this name exists").weak());
    }
    if let Some(path) = &b.replace {
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        ui.horizontal(|ui| {
            ui.colored_label(Color32::from_rgb(230, 180, 40), format!("“{name}” already exists. Replace it?"));
            if ui.button("Replace").clicked()
                && let Some(command) = b.confirm_replace()
            {
                outcome = Outcome::Run(command);
            }
            if ui.button("Keep it").clicked() {
                b.replace = None;
            }
        });
    }
    ui.horizontal(|ui| {
        if ui.button("Cancel").clicked() {
            outcome = Outcome::Close;
        }
        if ui.add_enabled(b.replace.is_none(), egui::Button::new(b.purpose.confirm_label())).clicked()
            && let Some(command) = b.confirm()
        {
            outcome = Outcome::Run(command);
        }
    });
    outcome
}

/// The folder's ancestors as buttons, root first, for going up several levels at once.
fn breadcrumb(ui: &mut Ui, b: &mut FileBrowser) {
    let mut target = None;
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 2.0;
        let mut so_far = PathBuf::new();
        // No "›" first, nor right after the root, whose name is already a separator.
        let mut after_separator = true;
        for part in b.dir.components() {
            so_far.push(part);
            let text = part.as_os_str().to_string_lossy().into_owned();
            if !after_separator {
                ui.label(RichText::new("›").weak());
            }
            after_separator = text.ends_with(std::path::MAIN_SEPARATOR);
            let here = so_far == b.dir;
            if ui.selectable_label(here, text).clicked() && !here {
                target = Some(so_far.clone());
            }
        }
    });
    if let Some(dir) = target {
        b.enter(&dir);
    }
}

fn empty_listing_note(purpose: Purpose) -> String {
    match purpose.extension() {
        Some(ext) => format!("(no folders or .{ext} files here)"),
        None => "(no folders here)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system's temporary folder, removed when dropped (also when a
    /// test fails).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("sluice-files-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            Self(resolve(&dir))
        }

        fn file(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).expect("write test file");
            path
        }

        fn folder(&self, name: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::create_dir_all(&path).expect("create test folder");
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const MMCK: &str = include_str!("../../scenarios/mmck.ron");

    fn names(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// A folder with a bit of everything.
    fn mixed(test: &str) -> TempDir {
        let t = TempDir::new(test);
        for name in ["b.ron", "A.ron", "a.ron", "shot.PNG", "c.png", "notes.txt", ".hidden.ron"] {
            t.file(name, "");
        }
        for name in ["zeta", "Alpha", ".git"] {
            t.folder(name);
        }
        t
    }

    #[test]
    fn folders_first_then_matching_files_by_name() {
        let t = mixed("order");
        let scenarios = list_dir(&t.0, Purpose::OpenScenario).unwrap();
        assert_eq!(names(&scenarios), ["Alpha", "zeta", "A.ron", "a.ron", "b.ron"]);
        assert_eq!(scenarios.iter().map(|e| e.is_dir).collect::<Vec<_>>(), [true, true, false, false, false]);
        assert_eq!(names(&list_dir(&t.0, Purpose::SaveSession).unwrap()), names(&scenarios));
        assert_eq!(names(&list_dir(&t.0, Purpose::Screenshot).unwrap()), ["Alpha", "zeta", "c.png", "shot.PNG"]);
        assert_eq!(names(&list_dir(&t.0, Purpose::ExportCsv).unwrap()), ["Alpha", "zeta"]);
    }

    #[test]
    fn scenario_and_session_files_show_their_titles() {
        let t = TempDir::new("titles");
        t.file("mmck.ron", MMCK);
        let session = Session {
            scenario_name: "mmck.ron".into(),
            scenario_text: MMCK.into(),
            seed: 1,
            tweaks: Vec::new(),
            until: 0,
        };
        t.file("run.ron", &session.to_ron());
        t.file("broken.ron", "Scenario(");
        let entries = list_dir(&t.0, Purpose::OpenScenario).unwrap();
        let titles: Vec<_> = entries.iter().map(|e| (e.name.as_str(), e.title.as_deref())).collect();
        assert_eq!(
            titles,
            [
                ("broken.ron", None),
                ("mmck.ron", Some("M/M/c/K: a single bounded station")),
                ("run.ron", Some("session: M/M/c/K: a single bounded station")),
            ]
        );
    }

    #[test]
    fn an_unreadable_folder_is_a_message_not_a_panic() {
        let t = TempDir::new("unreadable");
        let file = t.file("plain.txt", "");
        for dir in [t.0.join("missing"), file] {
            assert!(list_dir(&dir, Purpose::OpenScenario).is_err());
            let mut b = FileBrowser::new(Purpose::OpenScenario, &dir);
            assert!(b.entries.is_empty());
            assert!(b.message.as_deref().is_some_and(|m| m.starts_with("cannot list")), "{:?}", b.message);
            // ".." still leads back.
            b.up();
            assert_eq!((b.dir.as_path(), b.message.as_deref()), (t.0.as_path(), None));
        }
    }

    #[test]
    fn navigating_folders_and_picking_a_file_to_open() {
        let t = TempDir::new("navigate");
        let sub = t.folder("sub");
        let inner = t.0.join("sub").join("inner.ron");
        std::fs::write(&inner, MMCK).unwrap();
        let mut b = FileBrowser::new(Purpose::OpenScenario, &t.0);
        assert_eq!(names(&b.entries), ["sub"]);
        assert_eq!(b.confirm(), None, "nothing picked yet");
        assert_eq!(b.message.as_deref(), Some("choose a file"));
        let folder = b.entries[0].clone();
        b.pick(&folder);
        assert_eq!(b.dir, sub);
        let file = b.entries[0].clone();
        b.pick(&file);
        assert_eq!(b.name, "inner.ron");
        assert_eq!(b.confirm(), Some(Command::Load(inner)));
        b.up();
        assert_eq!((b.dir.as_path(), b.name.as_str()), (t.0.as_path(), ""), "the picked file stays behind");
        b.name = "nothing.ron".into();
        assert_eq!(b.confirm(), None);
        assert!(b.message.as_deref().is_some_and(|m| m.ends_with("nothing.ron: no such file")), "{:?}", b.message);
    }

    #[test]
    fn saving_adds_the_extension_and_asks_before_replacing() {
        let t = TempDir::new("save");
        let mut b = FileBrowser::new(Purpose::SaveSession, &t.0);
        assert_eq!(b.name, "session.ron");
        b.name = "monday".into();
        assert_eq!(b.confirm(), Some(Command::SaveSession(t.0.join("monday.ron"))));
        let existing = t.file("monday.ron", "");
        b.refresh();
        assert_eq!(b.name, "monday", "refreshing keeps the name");
        assert!(b.target_exists());
        assert_eq!(b.confirm(), None, "an existing file is not overwritten without asking");
        assert_eq!(b.replace.as_ref(), Some(&existing));
        assert_eq!(b.confirm_replace(), Some(Command::SaveSession(existing)));
        assert_eq!(b.replace, None);
        // A name of a missing folder is refused, not created.
        b.name = "no/such/place.ron".into();
        assert_eq!(b.confirm(), None);
        assert!(b.message.as_deref().is_some_and(|m| m.ends_with("no such folder")), "{:?}", b.message);
    }

    #[test]
    fn a_folder_typed_as_the_name_is_entered() {
        let t = TempDir::new("typed-folder");
        let sub = t.folder("sub");
        let mut b = FileBrowser::new(Purpose::ExportScenario, &t.0);
        b.name = "sub".into();
        assert_eq!(b.confirm(), None);
        assert_eq!((b.dir.as_path(), b.name.as_str()), (sub.as_path(), "tweaked.ron"));
    }

    #[test]
    fn csv_exports_into_the_named_or_the_shown_folder() {
        let t = TempDir::new("csv");
        let mut b = FileBrowser::new(Purpose::ExportCsv, &t.0);
        assert_eq!(b.confirm(), Some(Command::ExportCsv(t.0.join("series"))));
        b.name.clear();
        assert_eq!(b.confirm(), Some(Command::ExportCsv(t.0.clone())));
        t.file("taken", "");
        b.name = "taken".into();
        assert_eq!(b.confirm(), None);
        assert!(b.message.as_deref().is_some_and(|m| m.ends_with("is a file, not a folder")), "{:?}", b.message);
    }

    #[test]
    fn the_path_field_jumps_to_folders_and_files() {
        let t = TempDir::new("jump");
        let sub = t.folder("sub");
        let mut b = FileBrowser::new(Purpose::Screenshot, &std::env::temp_dir());
        b.path_text = sub.join("..").join("sub").display().to_string();
        b.jump();
        assert_eq!(b.dir, sub, "`..` is resolved");
        b.path_text = t.0.join("shot.png").display().to_string();
        b.jump();
        assert_eq!((b.dir.as_path(), b.name.as_str()), (t.0.as_path(), "shot.png"));
        b.path_text = "sub".into();
        b.jump();
        assert_eq!(b.dir, sub, "relative to the folder shown");
        b.path_text = t.0.join("missing").join("x.png").display().to_string();
        b.jump();
        assert_eq!(b.dir, sub);
        assert!(b.message.as_deref().is_some_and(|m| m.ends_with("no such folder")), "{:?}", b.message);
    }

    #[test]
    fn chosen_paths_inside_the_working_directory_are_relative() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(relative_to_cwd(cwd.join("scenarios").join("mmck.ron")), Path::new("scenarios/mmck.ron"));
        assert_eq!(relative_to_cwd(cwd.clone()), Path::new("."));
        let outside = cwd.parent().map_or_else(|| PathBuf::from("/x.ron"), |p| p.join("x.ron"));
        assert_eq!(relative_to_cwd(outside.clone()), outside);
    }
}
