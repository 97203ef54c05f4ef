//! Written only against the standard `wasi:keyvalue` and `wasi:logging`
//! interfaces (it imports nothing of Caxton's but the types): each message
//! `{"bucket", "key", "value"}` stores the value, counts hits atomically,
//! swaps a value with compare-and-swap and writes a batch. A bucket it may not
//! open is recorded as `denied-<bucket>` in the `default` bucket.
use caxton_sdk::{Agent, Message};

mod standard {
    wit_bindgen::generate!({ path: "../../../wit", world: "standard-interfaces", generate_all });
}

use standard::wasi::keyvalue::{atomics, batch, store};
use standard::wasi::logging::logging::{log, Level};

fn fail(e: store::Error) -> String {
    format!("{e:?}")
}

struct StdKv;

impl Agent for StdKv {
    fn handle_message(msg: Message) -> Result<(), String> {
        let c = msg.json_value();
        let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
        let bucket = match store::open(&field("bucket")) {
            Ok(bucket) => bucket,
            Err(store::Error::AccessDenied) => {
                log(Level::Warn, "std-kv", &format!("bucket `{}` denied", field("bucket")));
                let default = store::open("default").map_err(fail)?;
                return default.set(&format!("denied-{}", field("bucket")), b"1").map_err(fail);
            }
            Err(e) => return Err(fail(e)),
        };
        bucket.set(&field("key"), field("value").as_bytes()).map_err(fail)?;
        atomics::increment(&bucket, "hits", 1).map_err(fail)?;
        let cas = atomics::Cas::new(&bucket, "swapped").map_err(fail)?;
        let next = cas.current().map_err(fail)?.map_or(1, |v| v.len() + 1);
        if atomics::swap(cas, &vec![b'x'; next]).is_err() {
            return Err("compare-and-swap lost a race it could not lose".into());
        }
        batch::set_many(&bucket, &[("batch-a".to_string(), b"1".to_vec()), ("batch-b".to_string(), b"2".to_vec())])
            .map_err(fail)?;
        let got = batch::get_many(&bucket, &["batch-a".to_string(), "missing".to_string()]).map_err(fail)?;
        if got.len() != 2 || got[1].1.is_some() {
            return Err(format!("get-many answered {got:?}"));
        }
        log(Level::Info, "std-kv", &format!("stored `{}`", field("key")));
        Ok(())
    }
}

caxton_sdk::agent!(StdKv);
