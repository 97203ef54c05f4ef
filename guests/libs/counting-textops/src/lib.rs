//! The text-operations library, counting its calls in the kv-store of the
//! agent it is composed into: composing it brings in a `kv-store` import.
mod bindings {
    wit_bindgen::generate!({ path: "../../../wit", world: "caxton:agent/counting-textops", generate_all });
}

use bindings::caxton::agent::kv_store;
use bindings::exports::caxton::textops::ops::Guest;

struct CountingTextOps;

impl Guest for CountingTextOps {
    fn transform(operation: String, text: String) -> Result<String, String> {
        kv_store::increment("textops-calls", 1).map_err(|e| format!("{e:?}"))?;
        Ok(match operation.as_str() {
            "uppercase" => text.to_uppercase(),
            "lowercase" => text.to_lowercase(),
            "reverse" => text.chars().rev().collect(),
            other => return Err(format!("unknown operation `{other}`")),
        })
    }
}

bindings::export!(CountingTextOps with_types_in bindings);
