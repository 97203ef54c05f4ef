//! `caxton serve`: start the runtime, deploy a deployment file, serve HTTP.

use crate::cluster::Cluster;
use crate::http::{self, ApiState};
use crate::journal::DeadLetterJournal;
use crate::platform::Platform;
use crate::policy::Deployment;
use crate::registry::Registry;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::sqlite::SqliteStore;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The admin token: from `--token-file`, else `CAXTON_TOKEN`, else none.
fn read_token(token_file: Option<&Path>) -> anyhow::Result<Option<String>> {
    let token = match token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file `{}`", path.display()))?
                .trim()
                .to_string(),
        ),
        None => std::env::var("CAXTON_TOKEN").ok().map(|t| t.trim().to_string()),
    };
    match token {
        Some(t) if t.is_empty() => anyhow::bail!("the admin token is empty; put a secret in it or leave it unset"),
        Some(t) if t.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            anyhow::bail!("the admin token must not contain spaces or control characters")
        }
        other => Ok(other),
    }
}

/// `caxton serve`'s flags for joining a cluster.
#[derive(clap::Args, Debug, Default)]
pub struct ClusterArgs {
    /// Join a cluster of hosts through this NATS server, e.g. `nats://127.0.0.1:4222`
    /// (without it the server runs alone).
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
    /// This host's id, unique in the cluster (a-z A-Z 0-9 - _).
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub host_id: Option<String>,
    /// The cluster's name: hosts on one NATS server see only their own cluster.
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub cluster_name: Option<String>,
    /// A NATS credentials file (JWT and NKey seed) to authenticate with.
    #[arg(long, value_name = "FILE", requires = "cluster", conflicts_with = "nats_token_file")]
    pub nats_creds: Option<PathBuf>,
    /// A file holding the NATS token to authenticate with.
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub nats_token_file: Option<PathBuf>,
    /// A file holding the cluster key (at least 32 bytes; every host of the
    /// cluster has the same) that signs the envelopes between hosts.
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub cluster_key_file: Option<PathBuf>,
}

impl ClusterArgs {
    /// The cluster to join, if `--cluster` was given.
    fn config(&self) -> anyhow::Result<Option<crate::cluster::ClusterConfig>> {
        let Some(url) = &self.cluster else { return Ok(None) };
        let Some(host) = self.host_id.clone() else {
            anyhow::bail!("`--cluster` needs `--host-id NAME`, this host's id in the cluster")
        };
        let Some(key_file) = &self.cluster_key_file else {
            anyhow::bail!(
                "`--cluster` needs `--cluster-key-file FILE`: the secret every host signs its envelopes with \
                 (make one with `openssl rand -hex 32 > cluster.key`)"
            )
        };
        let key = std::fs::read(key_file)
            .with_context(|| format!("cannot read the cluster key `{}`", key_file.display()))?
            .trim_ascii()
            .to_vec();
        let auth = match (&self.nats_creds, &self.nats_token_file) {
            (Some(creds), _) => crate::cluster::NatsAuth::Creds(creds.clone()),
            (None, Some(file)) => crate::cluster::NatsAuth::Token(
                std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read the NATS token file `{}`", file.display()))?
                    .trim()
                    .to_string(),
            ),
            (None, None) => crate::cluster::NatsAuth::None,
        };
        let name = self.cluster_name.clone().unwrap_or_else(|| "caxton".to_string());
        Ok(Some(crate::cluster::ClusterConfig { url: url.clone(), host, name, auth, key }))
    }
}

/// What `caxton serve` was asked to do.
pub struct Options {
    pub deployment: Option<PathBuf>,
    pub agents: Option<Vec<String>>,
    pub listen: String,
    pub data: PathBuf,
    pub token_file: Option<PathBuf>,
    pub timeouts: crate::http::Timeouts,
    pub max_component_bytes: usize,
    pub instance_pool: u32,
    pub otlp_endpoint: Option<String>,
    pub cluster: ClusterArgs,
}

pub fn run(options: Options) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // colour codes only for a terminal, not in a log file or a journal
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // made before tokio starts: the exporter's HTTP client runs its own
    let traces = match &options.otlp_endpoint {
        Some(url) => {
            // the host id in a cluster, else an id of this process (unique, as the OTel conventions ask)
            let instance = options.cluster.host_id.clone().unwrap_or_else(|| crate::ids::fresh("caxton"));
            let export = crate::traces::TraceExport::start(url, &instance)?;
            tracing::info!("exporting a span per handled message to {}", export.endpoint());
            Some(export)
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start tokio")?;
    let served = runtime.block_on(serve(options, traces.as_ref().map(crate::traces::TraceExport::tracer)));
    drop(runtime);
    // after the agents stopped: the spans of their last events are sent too
    if let Some(traces) = traces {
        traces.shutdown();
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(options: Options, traces: Option<crate::traces::Tracer>) -> anyhow::Result<()> {
    let token = read_token(options.token_file.as_deref())?;
    let cluster_config = options.cluster.config()?;
    let (deployment, listen, data) = (options.deployment.clone(), options.listen.as_str(), options.data.as_path());
    std::fs::create_dir_all(data).with_context(|| format!("cannot create data directory `{}`", data.display()))?;
    let _owner = crate::datadir::DataDirLock::acquire(data)?;
    let kv_path = data.join("kv.sqlite");
    let kv =
        SqliteStore::open(&kv_path).with_context(|| format!("cannot open the kv-store `{}`", kv_path.display()))?;
    let registry = Arc::new(Registry::open(data)?);
    let journal = Arc::new(DeadLetterJournal::open(data).map_err(anyhow::Error::msg)?);
    let runtime = Arc::new(Runtime::new(RuntimeConfig {
        cache_dir: Some(data.join("cache")),
        timer_log: Some(registry.clone()),
        dead_letter_log: Some(journal.clone()),
        max_component_bytes: options.max_component_bytes,
        pool: crate::runtime::engine::PoolSize { instances: options.instance_pool },
        traces,
        ..RuntimeConfig::new(Arc::new(kv))
    })?);
    let cluster = match cluster_config {
        Some(config) => {
            let (url, host) = (config.url.clone(), config.host.clone());
            let cluster = Cluster::join(config, runtime.bus()).await.context("cannot join the cluster")?;
            // hear the other hosts before restoring or deploying, so a name another host runs is refused
            tokio::time::sleep(crate::cluster::presence::HEARTBEAT + std::time::Duration::from_millis(200)).await;
            let others = cluster.other_hosts();
            tracing::info!(host = %host, "joined the cluster through {url}; {others} other hosts");
            Some(cluster)
        }
        None => None,
    };
    let platform = Arc::new(Platform::new(runtime.clone(), registry));
    // what the file deploys is not restored first
    let file_agents = match &deployment {
        Some(path) => {
            let file = Deployment::load(path)?;
            let agents = file.agents.into_iter().map(|a| a.name);
            let mut names: Vec<String> =
                agents.filter(|n| options.agents.as_ref().is_none_or(|only| only.contains(n))).collect();
            names.extend(file.types.iter().map(|t| t.name().to_string()));
            names
        }
        None => Vec::new(),
    };
    for (agent, e) in platform.restore(&file_agents).await {
        tracing::error!(agent = %agent, "cannot restore: {e}");
        eprintln!("warning: agent `{agent}` was not restored: {e}");
    }
    if let Some(path) = deployment {
        let started = std::time::Instant::now();
        let names = platform
            .deploy_file(&path, options.agents.as_deref())
            .await
            .with_context(|| format!("cannot deploy `{}`", path.display()))?;
        tracing::info!(
            agents = names.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "deployed {}",
            path.display()
        );
    }
    match platform.registry.collect_garbage() {
        Ok(0) => {}
        Ok(n) => tracing::info!("removed {n} components no deployed agent uses"),
        Err(e) => tracing::warn!("cannot clean the stored components: {e}"),
    }
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on `{listen}`"))?;
    let addr = listener.local_addr().context("cannot read the listening address")?;
    tracing::info!("caxton listening on http://{addr}");
    eprintln!("caxton listening on http://{addr}");
    if token.is_none() && !addr.ip().is_loopback() {
        tracing::warn!("listening on {addr} without a token: anyone who can reach it can deploy code");
    }
    let loopback_only = token.is_none() && addr.ip().is_loopback();
    let state = ApiState { loopback_only, ..ApiState::new(platform, token, options.timeouts, cluster.clone()) };
    http::serve(listener, Arc::new(state), shutdown_signal()).await;
    tracing::info!("shutting down");
    if let Some(cluster) = &cluster {
        cluster.leave().await;
    }
    runtime.shutdown(std::time::Duration::from_secs(10)).await;
    journal.flush(std::time::Duration::from_secs(5));
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
