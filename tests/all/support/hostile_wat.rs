//! Hand-written component-model fixtures: a minimal agent in WAT whose pieces
//! a test replaces to misbehave in ways a compiler would not produce.

/// What a WAT agent is made of; every field has a harmless default.
pub struct WatAgent {
    /// Items at the top of the component (imports, and core funcs lowered from them).
    pub imports: &'static str,
    /// Arguments the core module is instantiated with, e.g. `(with "host" (instance …))`.
    pub instantiate_with: &'static str,
    /// Imports of the core module (they must come first in it).
    pub core_imports: &'static str,
    /// Extra items inside the core module (functions, tables, a `start`).
    pub core: String,
    /// The core module's memory declaration.
    pub memory: String,
    /// Instructions run by `init` before it succeeds.
    pub init: &'static str,
    /// Instructions run by `handle-message` before it succeeds.
    pub handle: &'static str,
}

impl Default for WatAgent {
    fn default() -> Self {
        WatAgent {
            imports: "",
            instantiate_with: "",
            core_imports: "",
            core: String::new(),
            memory: "(memory (export \"memory\") 1)".into(),
            init: "",
            handle: "",
        }
    }
}

const PERFORMATIVES: &str = r#""accept-proposal" "agree" "cancel" "cfp" "confirm" "disconfirm" "failure" "inform" "inform-if" "inform-ref" "not-understood" "propagate" "propose" "proxy" "query-if" "query-ref" "refuse" "reject-proposal" "request" "request-when" "request-whenever" "subscribe""#;

impl WatAgent {
    /// The component's text.
    pub fn wat(&self) -> String {
        let WatAgent { imports, instantiate_with, core_imports, core, memory, init, handle } = self;
        format!(
            r#"(component
  {imports}
  (core module $m
    {core_imports}
    {memory}
    (global $bump (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.const 7)) (i32.const -8)))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (if (i32.gt_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536)))
        (then (if (i32.eq (memory.grow (i32.add (i32.div_u (global.get $bump) (i32.const 65536)) (i32.const 1))) (i32.const -1))
          (then unreachable))))
      (local.get $p))
    (func (export "init") (result i32) {init} (i32.const 0))
    (func (export "handle-message") (param i32) (result i32) {handle} (i32.const 0))
    (func (export "handle-timer") (param i64) (result i32) (i32.const 0))
    (func (export "shutdown"))
    (func (export "capabilities") (result i32) (i32.const 16))
    {core}
  )
  (core instance $i (instantiate $m {instantiate_with}))
  (alias core export $i "memory" (core memory $mem))
  (type $perf (enum {PERFORMATIVES}))
  (export $perf-e "performative" (type $perf))
  (type $msg (record
    (field "performative" $perf-e) (field "sender" string) (field "receivers" (list string))
    (field "content" string) (field "language" (option string)) (field "encoding" (option string))
    (field "ontology" (option string)) (field "protocol" (option string))
    (field "conversation-id" (option string)) (field "reply-with" (option string))
    (field "in-reply-to" (option string)) (field "reply-by" (option u64))))
  (export $msg-e "message" (type $msg))
  (type $service (record (field "name" string) (field "description" string)))
  (export $service-e "service-description" (type $service))
  (type $caps (record
    (field "version" string) (field "performatives" (list $perf-e)) (field "protocols" (list string))
    (field "ontologies" (list string)) (field "services" (list $service-e))))
  (export $caps-e "agent-profile" (type $caps))
  (func $init (result (result (error string)))
    (canon lift (core func $i "init") (memory $mem) (realloc (func $i "realloc"))))
  (func $handle (param "msg" $msg-e) (result (result (error string)))
    (canon lift (core func $i "handle-message") (memory $mem) (realloc (func $i "realloc"))))
  (func $timer (param "id" u64) (result (result (error string)))
    (canon lift (core func $i "handle-timer") (memory $mem) (realloc (func $i "realloc"))))
  (func $shutdown (canon lift (core func $i "shutdown")))
  (func $capabilities (result $caps-e)
    (canon lift (core func $i "capabilities") (memory $mem) (realloc (func $i "realloc"))))
  (instance $guest
    (export "message" (type $msg-e))
    (export "agent-profile" (type $caps-e))
    (export "init" (func $init))
    (export "handle-message" (func $handle))
    (export "handle-timer" (func $timer))
    (export "shutdown" (func $shutdown))
    (export "capabilities" (func $capabilities))
  )
  (export "caxton:agent/guest@0.1.0" (instance $guest))
)"#
        )
    }

    /// The component's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        wat::parse_str(self.wat()).unwrap_or_else(|e| panic!("fixture does not assemble: {e}\n{}", self.wat()))
    }
}
