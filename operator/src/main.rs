//! `mysql-operator`: one binary for every role — the controller, the pod's agent sidecar
//! and init step, backup Jobs, and the user and plugin-author CLI.
//!
//! Each subcommand lives in its own module under `cli/`; this file only parses arguments,
//! sets up logging and dispatches. Errors become a message on stderr and exit code 1.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.log_format, &args.command);
    match cli::run(args.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
