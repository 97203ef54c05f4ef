//! A text processor whose operations come from a library component it is
//! composed with (`just compose` → `components/composed_text_full.wasm`).
//! Requests: `{"operation": …, "text": …}`; the answer is `{"result": …}`.
mod bindings {
    wit_bindgen::generate!({ path: "../../../wit", world: "caxton:agent/composed-agent", generate_all });
}

use bindings::caxton::agent::messaging;
use bindings::caxton::agent::types::{AgentProfile, Message, Performative};
use bindings::caxton::textops::ops;
use serde_json::{json, Value};

struct ComposedText;

impl bindings::exports::caxton::agent::guest::Guest for ComposedText {
    fn init() -> Result<(), String> {
        Ok(())
    }

    fn handle_message(msg: Message) -> Result<(), String> {
        let content: Value = serde_json::from_str(&msg.content).unwrap_or(Value::Null);
        let (act, body) = match ops::transform(
            content["operation"].as_str().unwrap_or_default(),
            content["text"].as_str().unwrap_or_default(),
        ) {
            Ok(result) => (Performative::Inform, json!({ "result": result })),
            Err(error) => (Performative::Failure, json!({ "error": error })),
        };
        let reply = Message {
            performative: act,
            sender: String::new(),
            receivers: vec![msg.sender.clone()],
            content: body.to_string(),
            language: None,
            encoding: None,
            ontology: None,
            protocol: msg.protocol.clone(),
            conversation_id: msg.conversation_id.clone(),
            reply_with: None,
            in_reply_to: msg.reply_with.clone(),
            reply_by: None,
        };
        messaging::send(&reply).map_err(|e| format!("{e:?}"))
    }

    fn handle_timer(_id: u64) -> Result<(), String> {
        Ok(())
    }

    fn shutdown() {}

    fn capabilities() -> AgentProfile {
        AgentProfile {
            version: "0.1.0".into(),
            performatives: vec![Performative::Request],
            protocols: vec!["fipa-request".into()],
            ontologies: Vec::new(),
            services: Vec::new(),
        }
    }
}

bindings::export!(ComposedText with_types_in bindings);
