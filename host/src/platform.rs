//! The platform a server runs: the runtime plus the durable registry of what
//! is deployed. Deploying through it is remembered; a restart restores it.

use crate::component;
use crate::policy::{AgentSpec, Deployment};
use crate::registry::{Registry, RegistryError};
use crate::runtime::{Runtime, RuntimeError};
use std::path::Path;
use std::sync::Arc;

/// Why a deployment through the platform failed.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The runtime refused the agent.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The deployment file is unusable.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// The registry could not record it.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// An agent asked for is not in the deployment file.
    #[error("the deployment file `{file}` has no agent named `{agent}`")]
    NotInFile {
        /// The agent.
        agent: String,
        /// The file.
        file: std::path::PathBuf,
    },
    /// The name is an agent type's, which cannot be removed like an agent.
    #[error(
        "`{0}` is an agent type: removing a type is not supported yet (the server remembers it across restarts, \
         with or without the deployment file); purge one instance's state with `DELETE /v1/agents/{0}/KEY`"
    )]
    AgentType(String),
    /// The component could not be read.
    #[error("agent `{agent}`: {source}")]
    Component {
        /// The agent.
        agent: String,
        /// What went wrong.
        #[source]
        source: component::ComponentError,
    },
}

/// What an agent was deployed from: the shape of a `POST /v1/agents` body
/// without the name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Deployed {
    /// The component's SHA-256, hex.
    pub component: String,
    /// The `[deployment] name` it came with.
    pub deployment: String,
    /// Its grants and limits as written.
    #[serde(flatten)]
    pub definition: crate::policy::definition::AgentDefinition,
}

/// A runtime whose deployments survive restarts.
pub struct Platform {
    /// The runtime.
    pub runtime: Arc<Runtime>,
    /// What is deployed, durably.
    pub registry: Arc<Registry>,
    /// Deploys and removals of one name, with their registry records, one at a time.
    lifecycle: crate::name_locks::NameLocks,
}

impl Platform {
    /// What each remembered agent was deployed from, by name (agent types and
    /// records that cannot be read are left out).
    pub fn deployed(&self) -> Result<std::collections::HashMap<String, Deployed>, RegistryError> {
        use crate::policy::definition::AgentDefinition;
        let records = self.registry.list()?;
        Ok(records
            .into_iter()
            .filter_map(|r| {
                let base = r.policy_path.parent().unwrap_or(Path::new(""));
                let definition = AgentDefinition::of(&r.policy_text, &r.name, base)?;
                let deployment = AgentDefinition::deployment_name(&r.policy_text)?;
                Some((r.name, Deployed { component: r.component_sha, deployment, definition }))
            })
            .collect())
    }

    /// The platform of `runtime`, remembering deployments in `registry`.
    pub fn new(runtime: Arc<Runtime>, registry: Arc<Registry>) -> Platform {
        Platform { runtime, registry, lifecycle: crate::name_locks::NameLocks::default() }
    }

    /// Bring back every remembered agent except those named in `skip`. An agent
    /// that cannot come back is reported and left out; the others still start.
    pub async fn restore(&self, skip: &[String]) -> Vec<(String, PlatformError)> {
        let records = match self.registry.list() {
            Ok(records) => records,
            Err(e) => return vec![(String::from("*"), e.into())],
        };
        let mut failed = Vec::new();
        for record in records.into_iter().filter(|r| !skip.contains(&r.name)) {
            let name = record.name.clone();
            let outcome = async {
                let deployment = Deployment::parse(&record.policy_text, &record.policy_path)?;
                let bytes = self.registry.component(&record.component_sha)?;
                match deployment.agents.into_iter().find(|a| a.name == record.name) {
                    Some(spec) => self.runtime.deploy_bytes(spec, bytes).await?,
                    None => match deployment.types.into_iter().find(|t| t.name() == record.name) {
                        Some(spec) => self.runtime.deploy_type(spec, bytes).await?,
                        None => return Ok(()),
                    },
                }
                tracing::info!(agent = %record.name, "restored");
                Ok::<(), PlatformError>(())
            }
            .await;
            if let Err(e) = outcome {
                failed.push((name, e));
            }
        }
        failed
    }

    /// Deploy every agent and agent type of the deployment file at `path`
    /// (or only the agents named in `only`, each of which the file must
    /// list, and every type) and remember them.
    pub async fn deploy_file(&self, path: &Path, only: Option<&[String]>) -> Result<Vec<String>, PlatformError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| crate::policy::PolicyError::Read { path: path.to_path_buf(), source })?;
        let deployment = Deployment::parse(&text, path)?;
        if let Some(missing) = only.into_iter().flatten().find(|n| !deployment.agents.iter().any(|a| &a.name == *n)) {
            return Err(PlatformError::NotInFile { agent: missing.clone(), file: path.to_path_buf() });
        }
        let mut names = Vec::new();
        for spec in deployment.agents.into_iter().filter(|a| only.is_none_or(|o| o.contains(&a.name))) {
            names.push(spec.name.clone());
            self.deploy(spec, path, &text).await?;
        }
        for spec in deployment.types {
            names.push(spec.name().to_string());
            self.deploy_type(spec, path, &text).await?;
        }
        Ok(names)
    }

    /// Deploy (or replace) an agent type of a deployment file, reading its
    /// component from disk, and remember it.
    pub async fn deploy_type(
        &self,
        spec: crate::policy::types::AgentTypeSpec,
        policy_path: &Path,
        policy_text: &str,
    ) -> Result<(), PlatformError> {
        let name = spec.name().to_string();
        let bytes = self.read_component(&spec.agent).await?;
        let _turn = self.lifecycle.lock(&name).await;
        self.runtime.deploy_type(spec, bytes.clone()).await?;
        self.registry.record(&name, policy_path, policy_text, &bytes)?;
        Ok(())
    }

    /// Deploy one agent of a deployment file, reading its component from disk.
    pub async fn deploy(&self, spec: AgentSpec, policy_path: &Path, policy_text: &str) -> Result<(), PlatformError> {
        let bytes = self.read_component(&spec).await?;
        self.deploy_bytes(spec, bytes, policy_path, policy_text).await
    }

    /// The component of `spec`, read from disk (at most the runtime's size limit) off the async threads.
    async fn read_component(&self, spec: &AgentSpec) -> Result<Vec<u8>, PlatformError> {
        let (path, limit) = (spec.component.clone(), self.runtime.max_component_bytes());
        tokio::task::spawn_blocking(move || component::read(&path, limit))
            .await
            .map_err(|e| RuntimeError::Internal(e.to_string()))?
            .map_err(|source| PlatformError::Component { agent: spec.name.clone(), source })
    }

    /// Deploy (or redeploy, swapping atomically and keeping its state) one
    /// agent with the given component, and remember it.
    pub async fn deploy_bytes(
        &self,
        spec: AgentSpec,
        bytes: Vec<u8>,
        policy_path: &Path,
        policy_text: &str,
    ) -> Result<(), PlatformError> {
        let name = spec.name.clone();
        let _turn = self.lifecycle.lock(&name).await;
        self.runtime.redeploy_bytes(spec, bytes.clone()).await?;
        self.registry.record(&name, policy_path, policy_text, &bytes)?;
        Ok(())
    }

    /// Remove an agent and forget it; its kv-store and timers go or stay as `state` says.
    pub async fn remove(&self, name: &str, state: crate::runtime::StateOnRemove) -> Result<(), PlatformError> {
        let _turn = self.lifecycle.lock(name).await;
        if self.runtime.agent_types().is_some_and(|t| t.contains(name)) {
            return Err(PlatformError::AgentType(name.to_string()));
        }
        match self.runtime.remove(name, state).await {
            Ok(()) => {}
            // remembered but not running (it could not be restored): forget it all the same
            Err(RuntimeError::NotDeployed(_)) if self.registry.contains(name)? => {
                if state == crate::runtime::StateOnRemove::Delete {
                    self.runtime.delete_state(name).await?;
                }
            }
            // it is gone from the runtime: it must not come back at the next start either
            Err(e @ RuntimeError::Storage { .. }) => {
                self.registry.forget(name)?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
        self.registry.forget(name)?;
        Ok(())
    }
}
