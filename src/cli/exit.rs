//! How the binary ends: one exit code per meaning, and output that never panics.
//!
//! `println!` panics when stdout is closed (`sluice params … | head -1`) or full (`> /dev/full`);
//! every line the CLI prints goes through [`print`] instead, which turns those into an exit code.
//! The table is in the README ("Exit codes"); a test runs each way of ending and checks its code.

use std::io::{ErrorKind, Write as _};
use std::process::ExitCode;

/// Success: the command did what it was asked and everything was written.
pub const OK: u8 = 0;
/// The scenario is invalid, or a `--set`/timeline change does not fit the model.
pub const INVALID: u8 = 1;
/// Bad command-line usage (unknown flag, malformed `--set`, `--until` out of range).
pub const USAGE: u8 = 2;
/// An output (a CSV file, the screenshot, or standard output itself) could not be written.
pub const OUTPUT: u8 = 3;
/// The run reached its population cap (requests and clients alive at once) and stopped early;
/// the report up to that point was printed.
pub const POPULATION_CAP: u8 = 4;
/// The run stopped because simulated time stopped advancing: a loop kept handling events at one
/// instant; the report up to that point was printed.
pub const TIME_STOPPED: u8 = 5;
/// The desktop app cannot open here: no display, or a build without the app.
pub const NO_DISPLAY: u8 = 6;
/// Standard output was closed by its reader before everything was written (`| head`): not an
/// error of the run, but not a complete output either. 141 is what a shell reports for a
/// program ended by SIGPIPE, which is what a C tool would have died of here.
pub const CLOSED_PIPE: u8 = 141;

/// An exit code from one of the constants above.
pub fn code(c: u8) -> ExitCode {
    ExitCode::from(c)
}

/// Writes `text` to standard output. A closed pipe ends the program quietly with
/// [`CLOSED_PIPE`]; any other failure (a full disk) is reported and ends it with [`OUTPUT`].
pub fn print(text: &str) -> Result<(), ExitCode> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(code(CLOSED_PIPE)),
        Err(e) => {
            say(&format!("sluice: cannot write to standard output: {e}; redirect it to a file on a disk with space"));
            Err(code(OUTPUT))
        }
    }
}

/// Writes one line to standard error. Failures are ignored: with stderr closed there is no
/// one left to tell, and the exit code still says what happened.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
