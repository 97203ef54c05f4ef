//! `caxton deploy FILE.toml`: apply a deployment file to a running server.
//!
//! The plan compares each `[[agent]]` of the file with what the server says it
//! deployed (`deployed` in `GET /v1/agents`: the component's SHA-256 and the
//! grants and limits as written): a new name is deployed, one whose component,
//! grants or limits differ is redeployed, an equal one is left alone; with
//! `--prune` the agents of the same deployment (`[deployment] name`) that the
//! file no longer lists are removed, with their kv-stores and timers. Every
//! agent is checked as a deploy would be (its imports against its grants)
//! before anything changes. The plan is printed first; `--dry-run` stops there.

use super::client::{print_json, Remote};
use crate::policy::definition::AgentDefinition;
use crate::policy::Deployment;
use anyhow::{bail, Context};
use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What applying the file does to one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Not on the server: deploy it.
    Deploy,
    /// On the server, differing in these parts (`component`, `grants`, `limits`): redeploy it.
    Redeploy(Vec<&'static str>),
    /// On the server as the file has it.
    Unchanged,
    /// On the server, not in the file, and `--prune` given.
    Remove,
    /// On the server, not in the file, no `--prune`.
    Keep,
}

impl Action {
    fn word(&self) -> &'static str {
        match self {
            Action::Deploy => "deploy",
            Action::Redeploy(_) => "redeploy",
            Action::Unchanged => "unchanged",
            Action::Remove => "remove",
            Action::Keep => "keep",
        }
    }
}

/// An agent of the file, read locally.
struct Wanted {
    name: String,
    component: PathBuf,
    sha: String,
    definition: AgentDefinition,
}

/// One line of the plan.
struct Step {
    name: String,
    action: Action,
    wanted: Option<Wanted>,
}

/// Apply the deployment file at `file` to the server `remote` talks to.
pub fn apply(file: &Path, dry_run: bool, prune: bool, remote: &Remote) -> anyhow::Result<ExitCode> {
    // absolute, so what the file's paths mean travels to the server
    let file = &file.canonicalize().with_context(|| format!("cannot open `{}`", file.display()))?;
    let (wanted, types, deployment) = read_file(file)?;
    if wanted.is_empty() && !types.is_empty() {
        bail!(
            "`{}` has only agent types ({}), which are not applied over HTTP: deploy them with \
             `caxton serve --deployment {}`",
            file.display(),
            types.join(", "),
            file.display()
        );
    }
    let listed = remote.expect(Method::GET, "/v1/agents", None)?;
    let plan = plan(wanted, &listed, &deployment, prune)?;
    if !remote.json {
        print_plan(file, &plan);
        for t in &types {
            println!("  note: agent type `{t}` is not applied over HTTP; `caxton serve --deployment` deploys types");
        }
    }
    let done = if dry_run { None } else { Some(execute(&plan, &deployment, remote)?) };
    if remote.json {
        // after the work: what was planned and, unless a dry run, what was done
        let steps: Vec<Value> = plan.iter().map(step_json).collect();
        let applied = done.as_ref().map(|d| d.counts());
        print_json(&json!({ "plan": steps, "dry_run": dry_run, "applied": applied }))?;
    } else {
        match done {
            None => println!("dry run: nothing changed"),
            Some(done) => println!("{}", done.sentence()),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What carrying a plan out did.
#[derive(Default)]
struct Done {
    deployed: usize,
    redeployed: usize,
    unchanged: usize,
    removed: usize,
}

impl Done {
    fn counts(&self) -> Value {
        json!({ "deployed": self.deployed, "redeployed": self.redeployed,
                "unchanged": self.unchanged, "removed": self.removed })
    }

    fn sentence(&self) -> String {
        format!(
            "applied: {} deployed, {} redeployed, {} unchanged, {} removed",
            self.deployed, self.redeployed, self.unchanged, self.removed
        )
    }
}

/// The file's agents with their components' digests, the names of its agent
/// types and its deployment's name. The file is validated as the server would,
/// and each agent checked as a deploy would check it: nothing is applied from
/// a file with an agent that would be refused.
fn read_file(file: &Path) -> anyhow::Result<(Vec<Wanted>, Vec<String>, String)> {
    let deployment = Deployment::load(file)?;
    let types = deployment.types.iter().map(|t| t.name().to_string()).collect();
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let (mut wanted, mut refused) = (Vec::new(), Vec::new());
    for spec in deployment.agents {
        let bytes = crate::component::read(&spec.component, usize::MAX).with_context(|| {
            format!("agent `{}` of `{}` (is its component built? `caxton build`)", spec.name, file.display())
        })?;
        crate::component::check(&bytes, usize::MAX)
            .with_context(|| format!("`{}` cannot be deployed", spec.component.display()))?;
        let info = crate::component::inspect(&bytes)
            .with_context(|| format!("cannot inspect `{}`", spec.component.display()))?;
        if let Err(e) = crate::policy::check::preflight(&spec, &info) {
            refused.push(e.to_string());
        }
        let sha = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        let definition = AgentDefinition::of(&text, &spec.name, base)
            .with_context(|| format!("cannot read agent `{}` of `{}`", spec.name, file.display()))?;
        wanted.push(Wanted { name: spec.name, component: spec.component, sha, definition });
    }
    if !refused.is_empty() {
        bail!("nothing applied: the server would refuse {}:\n  {}", refused.len(), refused.join("\n  "));
    }
    Ok((wanted, types, deployment.name))
}

/// One agent the server runs: the deployment it came with (`None` when the server does not
/// remember how it deployed it), its component and definition, and whether it is quarantined
/// (then only a redeploy brings it back, so the plan redeploys it even when nothing changed).
struct Runs {
    deployment: Option<String>,
    definition: Option<(String, AgentDefinition)>,
    quarantined: bool,
}

/// What the server runs, by name.
type Running = BTreeMap<String, Runs>;

fn running(listed: &Value) -> anyhow::Result<Running> {
    let agents = listed.get("agents").and_then(Value::as_array).context("the server's agent list has no `agents`")?;
    let mut running = BTreeMap::new();
    for agent in agents {
        let Some(name) = agent.get("name").and_then(Value::as_str) else { continue };
        let deployed = agent.get("deployed");
        let deployment = deployed.and_then(|d| d.get("deployment")?.as_str()).map(str::to_string);
        let definition = deployed.and_then(|d| {
            let component = d.get("component")?.as_str()?.to_string();
            let definition = serde_json::from_value(d.clone()).ok()?;
            Some((component, definition))
        });
        let state = agent.pointer("/stats/status/state").and_then(Value::as_str);
        running.insert(name.to_string(), Runs { deployment, definition, quarantined: state == Some("quarantined") });
    }
    Ok(running)
}

fn plan(wanted: Vec<Wanted>, listed: &Value, deployment: &str, prune: bool) -> anyhow::Result<Vec<Step>> {
    let mut running = running(listed)?;
    let mut plan = Vec::new();
    for w in wanted {
        let action = match running.remove(&w.name) {
            None => Action::Deploy,
            // the server cannot say what it runs: deploying again makes it the file's
            Some(Runs { definition: None, .. }) => Action::Redeploy(vec!["unknown"]),
            Some(Runs { definition: Some((component, definition)), quarantined, .. }) => {
                let mut changed = definition.differences(&w.definition);
                if component != w.sha {
                    changed.insert(0, "component");
                }
                if quarantined {
                    changed.push("quarantined");
                }
                if changed.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Redeploy(changed)
                }
            }
        };
        plan.push(Step { name: w.name.clone(), action, wanted: Some(w) });
    }
    // only what this deployment put there is the file's to keep or remove
    for (name, runs) in running {
        if runs.deployment.as_deref() == Some(deployment) {
            let action = if prune { Action::Remove } else { Action::Keep };
            plan.push(Step { name, action, wanted: None });
        }
    }
    Ok(plan)
}

fn print_plan(file: &Path, plan: &[Step]) {
    println!("plan for `{}`:", file.display());
    for step in plan {
        let why = match &step.action {
            Action::Deploy => "new".to_string(),
            Action::Redeploy(parts) => {
                let changed: Vec<&str> = parts.iter().copied().filter(|p| *p != "quarantined").collect();
                let mut why = Vec::new();
                if !changed.is_empty() {
                    why.push(format!("{} changed", changed.join(", ")));
                }
                if parts.contains(&"quarantined") {
                    why.push("quarantined: redeploying starts it afresh".to_string());
                }
                why.join("; ")
            }
            Action::Unchanged => "as the file has it".to_string(),
            Action::Remove => "not in the file: removed with its kv-store and timers (--prune)".to_string(),
            Action::Keep => "not in the file; --prune removes it with its kv-store and timers".to_string(),
        };
        println!("  {:<10} {:<24} {why}", step.action.word(), step.name);
    }
}

fn step_json(step: &Step) -> Value {
    let changed = match &step.action {
        Action::Redeploy(parts) => json!(parts),
        _ => json!([]),
    };
    json!({ "agent": step.name, "action": step.action.word(), "changed": changed })
}

/// Carry the plan out, uploading each component once; a summary of what was done.
fn execute(plan: &[Step], deployment: &str, remote: &Remote) -> anyhow::Result<Done> {
    let mut uploaded = HashSet::new();
    let mut done = Done::default();
    for step in plan {
        let failed = |what: &str| format!("cannot {what} `{}` (the steps before it are done)", step.name);
        match (&step.action, &step.wanted) {
            (Action::Deploy | Action::Redeploy(_), Some(w)) => {
                if uploaded.insert(w.sha.clone()) {
                    upload(w, remote).with_context(|| failed("upload the component of"))?;
                }
                let verb = if step.action == Action::Deploy { "deploying" } else { "redeploying" };
                let _working = super::progress::Working::start(format!(
                    "{verb} `{}`: a component new to the server is compiled first",
                    step.name
                ));
                let request = json!({
                    "name": w.name, "component": w.sha, "deployment": deployment,
                    "grants": w.definition.grants, "limits": w.definition.limits,
                });
                remote
                    .expect(Method::POST, "/v1/agents", Remote::json_body(&request))
                    .with_context(|| failed("deploy"))?;
                if step.action == Action::Deploy {
                    done.deployed += 1;
                } else {
                    done.redeployed += 1;
                }
            }
            (Action::Remove, _) => {
                let path = format!("/v1/agents/{}", super::deploy::encode(&step.name));
                remote.expect(Method::DELETE, &path, None).with_context(|| failed("remove"))?;
                done.removed += 1;
            }
            (Action::Unchanged, _) => done.unchanged += 1,
            _ => {}
        }
    }
    Ok(done)
}

fn upload(w: &Wanted, remote: &Remote) -> anyhow::Result<()> {
    let bytes = crate::component::read(&w.component, usize::MAX)?;
    if !remote.json {
        println!("  uploading {} ({:.1} MB)…", w.component.display(), bytes.len() as f64 / 1e6);
    }
    let _working = super::progress::Working::start(format!("uploading {}", w.component.display()));
    let answer = remote.expect(Method::POST, "/v1/components", Some((Bytes::from(bytes), "application/wasm")))?;
    match answer.get("component").and_then(Value::as_str) {
        Some(sha) if sha == w.sha => Ok(()),
        Some(sha) => bail!("the server stored it as {sha}, not {}: did the file change meanwhile?", w.sha),
        None => bail!("the server did not say where the component went"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(name: &str, sha: &str, grants: Value) -> Wanted {
        Wanted {
            name: name.into(),
            component: PathBuf::from("x.wasm"),
            sha: sha.into(),
            definition: AgentDefinition { grants, limits: json!({}) },
        }
    }

    #[test]
    fn the_plan_deploys_new_redeploys_changed_and_prunes_only_its_own_and_only_when_asked() {
        let deployed = |component: &str, deployment: &str, grants: Value| json!({ "component": component, "deployment": deployment, "grants": grants, "limits": {} });
        let listed = json!({ "agents": [
            { "name": "same", "deployed": deployed("aa", "d", json!({ "messaging": {} })) },
            { "name": "stuck", "deployed": deployed("aa", "d", json!({})),
              "stats": { "status": { "state": "quarantined", "reason": "trapped" } } },
            { "name": "regranted", "deployed": deployed("aa", "d", json!({})) },
            { "name": "rebuilt", "deployed": deployed("bb", "d", json!({})) },
            { "name": "forgotten" },
            { "name": "dropped", "deployed": deployed("aa", "d", json!({})) },
            { "name": "someone-elses", "deployed": deployed("aa", "other", json!({})) },
        ]});
        let file = || {
            vec![
                wanted("same", "aa", json!({ "messaging": {} })),
                wanted("stuck", "aa", json!({})),
                wanted("regranted", "aa", json!({ "kv-store": {} })),
                wanted("rebuilt", "cc", json!({})),
                wanted("forgotten", "aa", json!({})),
                wanted("new", "aa", json!({})),
            ]
        };
        let actions = |prune| -> Vec<(String, Action)> {
            plan(file(), &listed, "d", prune).unwrap().into_iter().map(|s| (s.name, s.action)).collect()
        };
        let kept = actions(false);
        assert_eq!(
            kept,
            [
                ("same".into(), Action::Unchanged),
                ("stuck".into(), Action::Redeploy(vec!["quarantined"])),
                ("regranted".into(), Action::Redeploy(vec!["grants"])),
                ("rebuilt".into(), Action::Redeploy(vec!["component"])),
                ("forgotten".into(), Action::Redeploy(vec!["unknown"])),
                ("new".into(), Action::Deploy),
                ("dropped".into(), Action::Keep),
            ]
        );
        assert_eq!(actions(true).last().unwrap(), &("dropped".to_string(), Action::Remove));
    }
}
