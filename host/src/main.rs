//! The `caxton` command: parse the arguments, run, map the outcome to an exit code.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = caxton::cli::Cli::parse();
    match caxton::cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
