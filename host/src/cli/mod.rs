//! The `caxton` command line: argument definitions and dispatch.
//!
//! `serve` runs the platform; `send` talks to a running server; `inspect` and
//! `policy check` work offline on files.

mod apply;
mod build;
mod client;
mod componentize;
mod compose;
mod deploy;
mod embedded;
mod inspect;
mod listing;
mod new;
mod progress;
mod serve;
mod standalone;
mod watch;

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
        /// Start only these agents of the deployment file (e.g. the share of one
        /// host of a cluster).
        #[arg(long, value_name = "NAME,…", value_delimiter = ',', requires = "deployment")]
        agents: Option<Vec<String>>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Directory for Caxton's state (kv-store, deployed agents, compile cache).
        #[arg(long, default_value = "./data")]
        data: PathBuf,
        /// File holding the admin token that every route but /healthz requires
        /// (default: the CAXTON_TOKEN environment variable; unset means no token).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// How long a client may take to send request headers, in milliseconds.
        #[arg(long, default_value_t = 10_000, value_name = "MS")]
        header_timeout_ms: u64,
        /// How long a client may take to send a request body, in milliseconds.
        #[arg(long, default_value_t = 30_000, value_name = "MS")]
        body_timeout_ms: u64,
        /// Largest component accepted (uploaded or read from a deployment file), in bytes.
        #[arg(long, default_value_t = crate::component::MAX_COMPONENT_BYTES, value_name = "BYTES")]
        max_component_bytes: usize,
        /// Most agents and agent-type instances in memory at once (the slots of the
        /// instance pool), up to 100,000. Beyond about 13,000, raise the kernel's `vm.max_map_count` too.
        #[arg(long, default_value_t = 1_000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
        instance_pool: u32,
        /// Export a span per handled message or timer to this OpenTelemetry
        /// collector over OTLP/HTTP, e.g. `http://127.0.0.1:4318` (spans go to
        /// `/v1/traces` under it). Without it no span is made.
        #[arg(long, value_name = "URL")]
        otlp_endpoint: Option<String>,
        /// Joining a cluster of hosts over NATS.
        #[command(flatten)]
        cluster: serve::ClusterArgs,
    },
    /// List the hosts of the server's cluster with their agents and last heartbeat.
    Cluster {
        /// Where the server is and how to print.
        #[command(flatten)]
        output: client::Remote,
    },
    /// Send a message to an agent on a running server.
    Send(client::SendArgs),
    /// List the deployed agents with their state and counters (`agents get NAME` for one).
    Agents {
        /// `get NAME` shows one agent in full; `types` lists the agent types.
        #[command(subcommand)]
        command: Option<AgentsCommand>,
        /// List the instances in memory of this agent type instead.
        #[arg(long = "type", value_name = "TYPE")]
        agent_type: Option<String>,
        /// Where the server is and how to print.
        #[command(flatten)]
        output: client::Remote,
    },
    /// Deploy (or redeploy) a component on a running server, with the grants and
    /// limits its deployment file gives the agent.
    Deploy {
        /// A deployment file (`.toml`) to apply, or a component (`.wasm`) to deploy as one agent.
        file: PathBuf,
        /// The agent's name (a component only; default: the file's stem, `_` as `-`).
        #[arg(long)]
        name: Option<String>,
        /// A deployment file with the agent's grants and limits (a component only).
        #[arg(long, value_name = "FILE.toml", conflicts_with = "grants")]
        policy: Option<PathBuf>,
        /// A capability to grant (a component only): `CAP` with its default grant, or
        /// `CAP = { … }` as in `[agent.grants]`. Repeat for each; without any, the component
        /// is granted what it imports, with default grants.
        #[arg(long = "grant", value_name = "CAP")]
        grants: Vec<String>,
        /// Print what applying the deployment file would do, and do nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also remove the server's agents the deployment file does not list.
        #[arg(long)]
        prune: bool,
        /// Where the server is and how to print.
        #[command(flatten)]
        output: client::Remote,
    },
    /// Remove an agent from a running server, deleting its kv-store and timers.
    Remove {
        /// The agent's name.
        name: String,
        /// Keep its kv-store and pending timers for the next agent deployed under this name.
        #[arg(long)]
        keep_state: bool,
        /// Where the server is and how to print.
        #[command(flatten)]
        output: client::Remote,
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
        output: client::Remote,
    },
    /// List the undeliverable messages the server kept, with their reasons.
    DeadLetters {
        /// Where the server is and how to print.
        #[command(flatten)]
        output: client::Remote,
    },
    /// List the conversations the server kept, or show one with its messages.
    Conversations {
        /// Show this conversation's messages in order, with what became of each.
        id: Option<String>,
        /// Only conversations this agent started or took part in.
        #[arg(long)]
        agent: Option<String>,
        /// Only conversations of this interaction protocol (e.g. fipa-contract-net).
        #[arg(long)]
        protocol: Option<String>,
        /// Only conversations in this state: open, done, failed or expired.
        #[arg(long)]
        state: Option<String>,
        /// Where the server is and how to print.
        #[command(flatten)]
        output: client::Remote,
    },
    /// Print what happens on a running server as it happens: messages (delivered,
    /// refused, dead-lettered), agents deployed, restarted, quarantined or removed,
    /// failures and log lines.
    Watch(watch::WatchArgs),
    /// Print an agent's recent log lines (its logging calls, stdout and stderr).
    Logs {
        /// The agent (`TYPE/KEY` for an instance of an agent type).
        name: String,
        /// Keep printing new lines as the agent writes them.
        #[arg(long, short)]
        follow: bool,
        /// Where the server is and how to print.
        #[command(flatten)]
        output: client::Remote,
    },
    /// Plug library components into an agent: each import of the agent that a library exports
    /// is filled by it. FILE is the agent's .wasm (with --plug and -o) or a recipe (.toml)
    /// listing compositions.
    Compose {
        /// The agent's component, or a recipe file.
        file: PathBuf,
        /// A library component to plug in (repeat for several).
        #[arg(long = "plug", value_name = "LIB.wasm")]
        plugs: Vec<PathBuf>,
        /// Where the composed agent goes.
        #[arg(long, short, value_name = "OUT.wasm")]
        output: Option<PathBuf>,
    },
    /// Build the agent project in DIR (made by `caxton new` outside a checkout) into the
    /// component its caxton.toml names, installing what the language's toolchain lacks.
    Build {
        /// The project's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Write the component here instead of where caxton.toml says (DIR then needs no caxton.toml).
        #[arg(long, short, value_name = "OUT.wasm")]
        output: Option<PathBuf>,
    },
    /// Scaffold a new agent (source, build wiring, a deployment file).
    New {
        /// The language to write it in.
        #[arg(long, value_enum, default_value = "rust")]
        lang: new::Lang,
        /// The agent's name.
        name: String,
        /// Where: in a Caxton checkout, its root (the agent goes under `guests/`); anywhere
        /// else, the directory to create the project `NAME/` in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The capabilities it may call (`messaging`, `timers`, `kv-store`, `logging`): its
        /// deployment grants exactly these, and a Python or JavaScript agent's world imports
        /// only these. `messaging` is always included: the scaffold answers requests.
        #[arg(long = "capability", value_name = "CAP,…", value_delimiter = ',', default_value = "messaging",
              value_parser = new::parse_capability)]
        capabilities: Vec<crate::interfaces::Capability>,
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

/// `caxton agents …`.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// One agent: grants, limits, state and statistics.
    Get {
        /// The agent's name.
        name: String,
    },
    /// The deployed agent types: instances in memory, activations, passivations.
    Types,
}

/// `caxton policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check every agent of a deployment file as a deploy would, without running
    /// it: imports against grants, exports, and types against the linker.
    Check {
        /// The deployment files.
        #[arg(required = true, value_name = "FILE.toml")]
        files: Vec<PathBuf>,
        /// The data directory whose compile cache to use (and fill), as `serve --data`.
        #[arg(long, default_value = "./data")]
        data: PathBuf,
        /// Largest component accepted, in bytes, as `serve --max-component-bytes`.
        #[arg(long, default_value_t = crate::component::MAX_COMPONENT_BYTES, value_name = "BYTES")]
        max_component_bytes: usize,
    },
}

/// A command that prints ends quietly when whoever reads its output goes away
/// (`caxton conversations | head`), as Unix tools do: SIGPIPE gets its default
/// action back (Rust ignores it, so a closed pipe would make `println!` panic).
/// Not for `serve`, whose closed sockets are ordinary errors.
#[cfg(unix)]
#[allow(unsafe_code)]
fn end_quietly_when_the_reader_goes() {
    // SAFETY: `signal` takes no pointer from us; it restores SIGPIPE's default disposition,
    // which nothing in a printing command relies on being ignored.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn end_quietly_when_the_reader_goes() {}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if !matches!(cli.command, Command::Serve { .. }) {
        end_quietly_when_the_reader_goes();
    }
    match cli.command {
        Command::Serve {
            deployment,
            agents,
            listen,
            data,
            token_file,
            header_timeout_ms,
            body_timeout_ms,
            max_component_bytes,
            instance_pool,
            otlp_endpoint,
            cluster,
        } => {
            let timeouts = crate::http::Timeouts {
                header: std::time::Duration::from_millis(header_timeout_ms.max(1)),
                body: std::time::Duration::from_millis(body_timeout_ms.max(1)),
            };
            serve::run(serve::Options {
                deployment,
                agents,
                listen,
                data,
                token_file,
                timeouts,
                max_component_bytes,
                instance_pool,
                otlp_endpoint,
                cluster,
            })
        }
        Command::Send(args) => client::send(args),
        Command::Directory { service, ontology, protocol, output } => {
            listing::directory(&output, [("service", service), ("ontology", ontology), ("protocol", protocol)])
        }
        Command::DeadLetters { output } => listing::dead_letters(&output),
        Command::Conversations { id: Some(id), output, .. } => listing::conversation(&id, &output),
        Command::Conversations { id: None, agent, protocol, state, output } => {
            listing::conversations(&output, [("agent", agent), ("protocol", protocol), ("state", state)])
        }
        Command::Cluster { output } => listing::cluster(&output),
        Command::Watch(args) => watch::watch(args),
        Command::Logs { name, follow, output } => watch::logs(&name, follow, &output),
        Command::Agents { command: None, agent_type: None, output } => listing::agents(&output),
        Command::Agents { command: None, agent_type: Some(t), output } => listing::instances(&t, &output),
        Command::Agents { command: Some(AgentsCommand::Get { name }), output, .. } => deploy::get(&name, &output),
        Command::Agents { command: Some(AgentsCommand::Types), output, .. } => listing::agent_types(&output),
        Command::Deploy { file, name, policy, grants, dry_run, prune, output } => {
            if file.extension().is_some_and(|e| e == "toml") {
                if name.is_some() || policy.is_some() || !grants.is_empty() {
                    anyhow::bail!("`--name`, `--policy` and `--grant` go with a component; a deployment file names its agents and grants")
                }
                apply::apply(&file, dry_run, prune, &output)
            } else {
                if dry_run || prune {
                    anyhow::bail!("`--dry-run` and `--prune` go with a deployment file (`caxton deploy FILE.toml`)")
                }
                let how = match policy {
                    Some(policy) => deploy::Grants::Policy(policy),
                    None => deploy::Grants::Listed(grants),
                };
                deploy::deploy(&file, name, how, &output)
            }
        }
        Command::Remove { name, keep_state, output } => deploy::remove(&name, keep_state, &output),
        Command::Inspect { file, json } => inspect::inspect(&file, json),
        Command::New { lang, name, dir, capabilities } => new::new(lang, &name, &dir, &capabilities),
        Command::Build { dir, output } => build::build(&dir, output.as_deref()),
        Command::Compose { file, plugs, output } => compose::compose(&file, &plugs, output.as_deref()),
        Command::Policy { command: PolicyCommand::Check { files, data, max_component_bytes } } => {
            inspect::policy_check(&files, &data, max_component_bytes)
        }
    }
}
