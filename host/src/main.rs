//! The `caxton` command: parse the arguments, run, map the outcome to an exit code.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = caxton::cli::Cli::parse();
    match caxton::cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            // each cause once: a message that already quotes its cause is not followed by it again
            let mut text = err.to_string();
            for cause in err.chain().skip(1).map(ToString::to_string) {
                if !text.contains(&cause) {
                    text = format!("{text}: {cause}");
                }
            }
            // causes quote servers, guests and files: nothing in them may drive the terminal
            eprintln!("error: {}", caxton::printable::neutralise_lines(&text));
            ExitCode::FAILURE
        }
    }
}
