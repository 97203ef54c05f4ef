//! The `caxton` command line: argument definitions and dispatch.
//!
//! `serve` runs the platform; `send` talks to a running server; `inspect` and
//! `policy check` work offline on files.

mod client;
mod inspect;
mod listing;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Run untrusted agents as WebAssembly components that talk FIPA ACL.
#[derive(Debug, Parser)]
#[command(name = "caxton", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the HTTP API and run the agents of a deployment file.
    Serve {
        /// The deployment file whose agents to start.
        #[arg(long, value_name = "FILE")]
        deployment: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Directory for Caxton's state (compiled-component cache, …).
        #[arg(long, default_value = "./data")]
        data: PathBuf,
    },
    /// Send a message to an agent on a running server.
    Send(client::SendArgs),
    /// List the deployed agents with their state and counters.
    Agents {
        /// Where the server is and how to print.
        #[command(flatten)]
        output: listing::Remote,
    },
    /// List the agents in the directory, optionally filtered.
    Directory {
        /// Only agents offering this service.
        #[arg(long)]
        service: Option<String>,
        /// Only agents listing this ontology.
        #[arg(long)]
        ontology: Option<String>,
        /// Only agents taking part in this protocol.
        #[arg(long)]
        protocol: Option<String>,
        /// Where the server is and how to print.
        #[command(flatten)]
        output: listing::Remote,
    },
    /// List the undeliverable messages the server kept, with their reasons.
    DeadLetters {
        /// Where the server is and how to print.
        #[command(flatten)]
        output: listing::Remote,
    },
    /// Show a component's imports (with the capability each needs) and exports.
    Inspect {
        /// The component file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Work with deployment files.
    Policy {
        /// What to do with it.
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

/// `caxton policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Compare each agent's imports with its grants; fail if an import is not granted.
    Check {
        /// The deployment file.
        file: PathBuf,
    },
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { deployment, listen, data } => serve::run(deployment, &listen, &data),
        Command::Send(args) => client::send(args),
        Command::Directory { service, ontology, protocol, output } => {
            listing::directory(&output, [("service", service), ("ontology", ontology), ("protocol", protocol)])
        }
        Command::DeadLetters { output } => listing::dead_letters(&output),
        Command::Agents { output } => listing::agents(&output),
        Command::Inspect { file, json } => inspect::inspect(&file, json),
        Command::Policy { command: PolicyCommand::Check { file } } => inspect::policy_check(&file),
    }
}
