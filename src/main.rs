//! The `sluice` binary: parses the command line and hands over to [`sluice::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    sluice::cli::main()
}
