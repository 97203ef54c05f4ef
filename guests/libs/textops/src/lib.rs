//! A library component: text operations for agents composed with it.
mod bindings {
    wit_bindgen::generate!({ path: "../../../wit", world: "caxton:textops/library", generate_all });
}

use bindings::exports::caxton::textops::ops::Guest;

/// Apply a text operation.
pub fn apply(operation: &str, text: &str) -> Result<String, String> {
    Ok(match operation {
        "uppercase" => text.to_uppercase(),
        "lowercase" => text.to_lowercase(),
        "reverse" => text.chars().rev().collect(),
        other => return Err(format!("unknown operation `{other}`; use uppercase, lowercase or reverse")),
    })
}

struct TextOps;

impl Guest for TextOps {
    fn transform(operation: String, text: String) -> Result<String, String> {
        apply(&operation, &text)
    }
}

bindings::export!(TextOps with_types_in bindings);
