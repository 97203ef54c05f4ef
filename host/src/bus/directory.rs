//! The directory facilitator: what each agent registered about itself at deploy,
//! and searches over it. Entries leave with their agent.

use crate::acl::Performative;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::RwLock;

/// A service an agent offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
}

/// What an agent registered about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The agent's own version string.
    pub version: String,
    /// Services it offers.
    pub services: Vec<Service>,
    /// Ontologies it understands.
    pub ontologies: Vec<String>,
    /// Protocols it takes part in.
    pub protocols: Vec<String>,
    /// Performatives it understands.
    #[serde(serialize_with = "performative_names", deserialize_with = "performatives_named")]
    pub performatives: Vec<Performative>,
}

fn performative_names<S: serde::Serializer>(p: &[Performative], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.iter().map(|p| p.as_str()))
}

fn performatives_named<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Performative>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    names.iter().map(|n| n.parse().map_err(serde::de::Error::custom)).collect()
}

/// A directory search; absent fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// A service of exactly this name.
    pub service: Option<String>,
    /// An ontology the agent lists.
    pub ontology: Option<String>,
    /// A protocol the agent lists.
    pub protocol: Option<String>,
}

impl Query {
    /// Whether `profile` satisfies every present field.
    pub fn matches(&self, profile: &Profile) -> bool {
        self.service.as_ref().is_none_or(|s| profile.services.iter().any(|x| &x.name == s))
            && self.ontology.as_ref().is_none_or(|o| profile.ontologies.contains(o))
            && self.protocol.as_ref().is_none_or(|p| profile.protocols.contains(p))
    }
}

/// Registered profiles by agent name.
#[derive(Default)]
pub struct Directory {
    entries: RwLock<HashMap<String, Profile>>,
}

impl Directory {
    /// Register (or replace) `agent`'s profile.
    pub fn insert(&self, agent: &str, profile: Profile) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).insert(agent.to_string(), profile);
    }

    /// Remove `agent`'s entry.
    pub fn remove(&self, agent: &str) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).remove(agent);
    }

    /// Matching agents with their profiles, sorted by name.
    pub fn search(&self, query: &Query) -> Vec<(String, Profile)> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<(String, Profile)> =
            entries.iter().filter(|(_, p)| query.matches(p)).map(|(n, p)| (n.clone(), p.clone())).collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(service: &str, ontology: &str) -> Profile {
        Profile {
            services: vec![Service { name: service.into(), description: String::new() }],
            ontologies: vec![ontology.into()],
            ..Profile::default()
        }
    }

    #[test]
    fn search_matches_every_present_field_and_entries_leave_with_their_agent() {
        let d = Directory::default();
        d.insert("b", profile("quote", "pricing"));
        d.insert("a", profile("quote", "shipping"));
        d.insert("c", profile("translate", "pricing"));
        let names = |q: &Query| d.search(q).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(names(&Query { service: Some("quote".into()), ..Query::default() }), ["a", "b"]);
        let both = Query { service: Some("quote".into()), ontology: Some("pricing".into()), protocol: None };
        assert_eq!(names(&both), ["b"]);
        assert_eq!(names(&Query::default()).len(), 3);
        d.remove("b");
        assert!(names(&both).is_empty());
    }
}
