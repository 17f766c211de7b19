//! Presenter mode and keyboard transport, for a facilitator in front of a room.
//!
//! Presenter mode scales every text style (and so every widget sized by text) by
//! [`PRESENTER_SCALE`] and draws text at full white, so the back row can read the clock and the
//! cards. The keys drive the same [`Command`]s as the buttons, and do nothing while a text
//! field has the keyboard (typing a bookmark note must not start the run).

use bevy_egui::egui;
use bevy_egui::egui::{Key, TextStyle};

use super::state::{Command, GuiState, MAX_SPEED};

/// How much larger text is in presenter mode.
pub const PRESENTER_SCALE: f32 = 1.6;

/// Speeds on the number keys 1–9 (0 is "as fast as possible").
pub const SPEED_KEYS: [f64; 9] = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0, MAX_SPEED];

/// The keys, as the help line in the app lists them.
pub const KEY_HELP: &str = "Space play/pause · Right arrow step · 1–9 speed · 0 fastest · F fit · B baseline · M bookmark · \
                            Ctrl+Z undo · P presenter";

/// Turns this frame's key presses into commands.
pub fn keyboard(ctx: &egui::Context, state: &GuiState, out: &mut Vec<Command>) {
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    ctx.input_mut(|input| {
        let none = egui::Modifiers::NONE;
        if input.consume_key(egui::Modifiers::COMMAND, Key::Z) {
            out.push(Command::UndoLast);
        }
        if input.consume_key(none, Key::Space) {
            out.push(Command::TogglePlay);
        }
        if input.consume_key(none, Key::ArrowRight) {
            out.push(Command::Step);
        }
        let digits =
            [Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5, Key::Num6, Key::Num7, Key::Num8, Key::Num9];
        for (key, speed) in digits.into_iter().zip(SPEED_KEYS) {
            if input.consume_key(none, key) {
                out.push(Command::SetFastest(false));
                out.push(Command::SetSpeed(speed));
            }
        }
        if input.consume_key(none, Key::Num0) {
            out.push(Command::SetFastest(!state.fastest));
        }
        if input.consume_key(none, Key::F) {
            out.push(Command::Fit);
        }
        if input.consume_key(none, Key::B) {
            out.push(Command::TogglePin);
        }
        if input.consume_key(none, Key::M) {
            out.push(Command::Bookmark(state.bookmark_text.clone()));
        }
        if input.consume_key(none, Key::P) {
            out.push(Command::TogglePresenter);
        }
    });
}

/// Sets the text sizes and contrast for presenter mode on or off (cheap to call every frame:
/// it writes the style only when the mode changed).
pub fn apply_style(ctx: &egui::Context, presenter: bool) {
    let body = ctx.global_style().text_styles.get(&TextStyle::Body).map_or(0.0, |f| f.size);
    let want =
        egui::style::default_text_styles()[&TextStyle::Body].size * if presenter { PRESENTER_SCALE } else { 1.0 };
    if (body - want).abs() < 0.01 {
        return;
    }
    ctx.all_styles_mut(|style| {
        let scale = if presenter { PRESENTER_SCALE } else { 1.0 };
        style.text_styles = egui::style::default_text_styles()
            .into_iter()
            .map(|(k, mut f)| {
                f.size *= scale;
                (k, f)
            })
            .collect();
        style.visuals.override_text_color = presenter.then_some(egui::Color32::WHITE);
        style.spacing.interact_size.y = 20.0 * scale;
    });
}
