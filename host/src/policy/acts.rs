//! Act-level policy: which communicative acts an agent may send to whom.
//!
//! A `messaging` grant may carry `acts = { "bank-*" = ["query-ref", "request"],
//! "*" = ["inform", "failure", "not-understood"] }`. For each receiver the
//! most specific pattern that matches it decides: the one with the most
//! characters other than `*` (then the longer, then the first in byte order),
//! so `bank-*` speaks for `bank-1` and `*` for everyone else. With `acts`, a
//! receiver no pattern matches may be sent nothing; without it, every act is
//! allowed. The rules apply to messages addressed to agents (`send`,
//! `broadcast`); topics have their own `publish` patterns.

use crate::acl::Performative;
use crate::protocol::{steps, Protocol, Role};
use std::collections::BTreeMap;

/// The acts allowed to receivers matching one pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActRule {
    /// The receiver pattern; `*` matches any run of characters.
    pub pattern: String,
    /// The acts allowed to those receivers.
    pub acts: Vec<Performative>,
}

impl ActRule {
    /// How specific the pattern is: characters other than `*`, then length.
    fn specificity(&self) -> (usize, usize) {
        (self.pattern.chars().filter(|c| *c != '*').count(), self.pattern.len())
    }
}

/// The rules of the `acts` table, checked: patterns non-empty and without
/// spaces, acts among the 22 FIPA performatives. Sorted most specific first.
pub fn parse(table: BTreeMap<String, Vec<String>>) -> Result<Vec<ActRule>, String> {
    let mut rules = Vec::with_capacity(table.len());
    for (pattern, names) in table {
        if pattern.is_empty() || pattern.chars().any(char::is_whitespace) {
            return Err(format!("messaging.acts pattern `{pattern}` must be non-empty and without spaces"));
        }
        let mut acts = Vec::with_capacity(names.len());
        for name in &names {
            let act = name.parse::<Performative>().map_err(|e| format!("messaging.acts.\"{pattern}\": {e}"))?;
            if !acts.contains(&act) {
                acts.push(act);
            }
        }
        rules.push(ActRule { pattern, acts });
    }
    rules.sort_by(|a, b| b.specificity().cmp(&a.specificity()).then_with(|| a.pattern.cmp(&b.pattern)));
    Ok(rules)
}

/// The rule that decides for `receiver`: the most specific one matching it.
pub fn rule_for<'a>(rules: &'a [ActRule], receiver: &str) -> Option<&'a ActRule> {
    rules.iter().find(|r| crate::glob::matches(&r.pattern, receiver))
}

/// The acts `role` sends in `protocol` (leaving out the optional `cancel`) that
/// `rules` allow to no receiver at all.
pub fn missing(rules: &[ActRule], protocol: Protocol, role: Role) -> Vec<Performative> {
    let needed = steps::acts_of(protocol, role).into_iter().filter(|act| *act != Performative::Cancel);
    needed.filter(|act| !rules.iter().any(|r| r.acts.contains(act))).collect()
}

/// When `rules` leave an agent unable to play either side of `protocol`: the acts
/// each side misses, `(initiator, participant)`; `None` when it can play one.
pub fn protocol_gap(rules: &[ActRule], protocol: Protocol) -> Option<(Vec<Performative>, Vec<Performative>)> {
    let initiator = missing(rules, protocol, Role::Initiator);
    let participant = missing(rules, protocol, Role::Participant);
    (!initiator.is_empty() && !participant.is_empty()).then_some((initiator, participant))
}

/// The rules as one line, e.g. `bank-* → query-ref, request; * → inform`.
pub fn describe(rules: &[ActRule]) -> String {
    let rule = |r: &ActRule| {
        let acts: Vec<&str> = r.acts.iter().map(|a| a.as_str()).collect();
        format!("{} → {}", r.pattern, if acts.is_empty() { "nothing".to_string() } else { acts.join(", ") })
    };
    if rules.is_empty() {
        return "nothing to anyone".to_string();
    }
    rules.iter().map(rule).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use Performative::*;

    fn rules() -> Vec<ActRule> {
        let table = [
            ("*", vec!["inform", "failure", "not-understood"]),
            ("bank-*", vec!["query-ref", "request"]),
            ("bank-audit", vec![]),
        ];
        parse(table.into_iter().map(|(p, a)| (p.to_string(), a.into_iter().map(String::from).collect())).collect())
            .unwrap()
    }

    #[test]
    fn the_most_specific_matching_pattern_decides() {
        let rules = rules();
        let acts = |r: &str| rule_for(&rules, r).map(|rule| rule.acts.clone());
        assert_eq!(acts("bank-1"), Some(vec![QueryRef, Request]));
        assert_eq!(acts("bank-audit"), Some(vec![]));
        assert_eq!(acts("shop"), Some(vec![Inform, Failure, NotUnderstood]));
        assert_eq!(
            describe(&rules),
            "bank-audit → nothing; bank-* → query-ref, request; * → inform, failure, not-understood"
        );
        let only_banks = parse([("bank-*".to_string(), vec!["request".to_string()])].into()).unwrap();
        assert_eq!(rule_for(&only_banks, "shop"), None, "no pattern matches: nothing may be sent");
    }

    #[test]
    fn unknown_acts_and_bad_patterns_are_refused_with_a_sentence() {
        let bad = parse([("*".to_string(), vec!["infrom".to_string()])].into()).unwrap_err();
        assert!(bad.contains("`infrom` is not a FIPA performative"), "{bad}");
        let bad = parse([("a b".to_string(), vec![])].into()).unwrap_err();
        assert!(bad.contains("without spaces"), "{bad}");
        let twice = parse([("*".to_string(), vec!["inform".to_string(), "INFORM".to_string()])].into()).unwrap();
        assert_eq!(describe(&twice), "* → inform");
        assert_eq!(describe(&[]), "nothing to anyone");
    }

    #[test]
    fn an_agent_must_be_able_to_play_one_side_of_each_protocol_it_lists() {
        let rules = rules();
        // it may request, so it can initiate fipa-request, though it could not answer one
        assert_eq!(missing(&rules, Protocol::Request, Role::Participant), [Agree, Refuse]);
        assert_eq!(protocol_gap(&rules, Protocol::Request), None);
        assert_eq!(
            protocol_gap(&rules, Protocol::ContractNet),
            Some((vec![AcceptProposal, Cfp, RejectProposal], vec![Propose, Refuse]))
        );
    }
}
