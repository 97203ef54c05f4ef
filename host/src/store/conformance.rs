//! The contract every [`KvBackend`] meets, run against each implementation.

use super::{bucket_namespace, KvBackend, Op, Outcome, Quota, StoreError, Usage};

const ROOMY: Quota = Quota { bytes: 1 << 20, keys: 1000 };

fn put(s: &dyn KvBackend, ns: &str, k: &str, v: &[u8], q: Quota) -> Result<Outcome, StoreError> {
    s.apply(ns, k, Op::Put(v.to_vec()), q)
}

/// Run every check against `s` (which must be empty).
pub fn run(s: &dyn KvBackend) {
    namespaces_never_meet(s);
    quota_counts_keys_and_bytes(s);
    lists_by_prefix_in_pages(s);
    read_modify_writes(s);
    clearing_an_owner_empties_its_namespaces_and_nothing_else(s);
}

fn clearing_an_owner_empties_its_namespaces_and_nothing_else(s: &dyn KvBackend) {
    let q = Quota { bytes: 100, keys: 2 };
    let bucket = bucket_namespace("gone", "cache");
    for ns in ["gone", bucket.as_str(), "gone-2", "gon"] {
        put(s, ns, "k1", b"v", q).unwrap();
        put(s, ns, "k2", b"v", q).unwrap();
    }
    assert_eq!(s.clear("gone").unwrap(), 4);
    for ns in ["gone", bucket.as_str()] {
        assert!(s.list(ns, "", None, 10).unwrap().is_empty(), "{ns:?} is empty");
        assert_eq!(s.usage(ns).unwrap(), Usage::default(), "{ns:?} uses nothing");
        put(s, ns, "k3", b"v", q).unwrap();
        put(s, ns, "k4", b"v", q).unwrap();
    }
    for ns in ["gone-2", "gon"] {
        assert_eq!(s.list(ns, "", None, 10).unwrap(), ["k1", "k2"], "{ns} is untouched");
    }
    assert_eq!(s.clear("nobody").unwrap(), 0);
}

fn namespaces_never_meet(s: &dyn KvBackend) {
    put(s, "a", "b/c", b"1", ROOMY).unwrap();
    put(s, "a/b", "c", b"2", ROOMY).unwrap();
    assert_eq!(s.get("a", "b/c").unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.get("a/b", "c").unwrap(), Some(b"2".to_vec()));
    assert_eq!(s.get("a", "c").unwrap(), None);
    assert_eq!(s.list("a", "", None, 10).unwrap(), vec!["b/c".to_string()]);
}

fn quota_counts_keys_and_bytes(s: &dyn KvBackend) {
    let q = Quota { bytes: 10, keys: 2 };
    put(s, "n", "k1", b"123", q).unwrap();
    put(s, "n", "k2", b"1", q).unwrap();
    assert!(matches!(put(s, "n", "k3", b"", q), Err(StoreError::QuotaExceeded(_))));
    assert!(matches!(put(s, "n", "k1", b"12345678", q), Err(StoreError::QuotaExceeded(_))));
    assert_eq!(s.usage("n").unwrap(), Usage { bytes: 8, keys: 2 });
    assert_eq!(s.apply("n", "k1", Op::Delete, q).unwrap(), Outcome::Written { existed: true });
    assert_eq!(s.usage("n").unwrap(), Usage { bytes: 3, keys: 1 });
    put(s, "n", "k3", b"", q).unwrap();
}

fn lists_by_prefix_in_pages(s: &dyn KvBackend) {
    for k in ["p1", "p2", "p3", "q1"] {
        put(s, "l", k, b"", ROOMY).unwrap();
    }
    assert_eq!(s.list("l", "p", None, 2).unwrap(), vec!["p1", "p2"]);
    assert_eq!(s.list("l", "p", Some("p2"), 2).unwrap(), vec!["p3"]);
    assert!(s.list("l", "r", None, 2).unwrap().is_empty());
    assert_eq!(s.list("l", "", None, 10).unwrap().len(), 4);
}

fn read_modify_writes(s: &dyn KvBackend) {
    assert_eq!(s.apply("r", "n", Op::Increment(5), ROOMY).unwrap(), Outcome::Counter(5));
    assert_eq!(s.apply("r", "n", Op::Increment(-2), ROOMY).unwrap(), Outcome::Counter(3));
    put(s, "r", "t", b"text", ROOMY).unwrap();
    assert_eq!(s.apply("r", "t", Op::Increment(1), ROOMY), Err(StoreError::NotANumber));
    let cas = |expected: Option<&[u8]>, new: Option<&[u8]>| {
        s.apply(
            "r",
            "c",
            Op::CompareAndSwap { expected: expected.map(<[u8]>::to_vec), new: new.map(<[u8]>::to_vec) },
            ROOMY,
        )
    };
    assert_eq!(cas(None, Some(b"1")).unwrap(), Outcome::Swapped(true));
    assert_eq!(cas(None, Some(b"2")).unwrap(), Outcome::Swapped(false));
    assert_eq!(cas(Some(b"1"), None).unwrap(), Outcome::Swapped(true));
    assert_eq!(s.get("r", "c").unwrap(), None);
}

/// Many random (namespace, key) pairs built from separator-like characters:
/// every write is read back from its own pair and from no other.
pub fn namespaces_are_injective(s: &dyn KvBackend, seed: u64, pairs: usize) {
    let mut state = seed | 1;
    let mut next = |below: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below as u64) as usize
    };
    let alphabet = ["a", "b", "/", ":", "\0", "%", ".", "ab", "a/b", "é", " "];
    let mut word = |max: usize| (0..1 + next(max)).map(|_| alphabet[next(alphabet.len())]).collect::<String>();
    let mut written: std::collections::HashMap<(String, String), Vec<u8>> = std::collections::HashMap::new();
    for i in 0..pairs {
        let (ns, key) = (word(3), word(3));
        let value = format!("{i}").into_bytes();
        s.apply(&ns, &key, Op::Put(value.clone()), ROOMY).unwrap();
        written.insert((ns, key), value);
    }
    for ((ns, key), value) in &written {
        assert_eq!(s.get(ns, key).unwrap().as_ref(), Some(value), "({ns:?}, {key:?})");
        // the same characters split differently name a different pair
        let joined = format!("{ns}{key}");
        for cut in 1..joined.len() {
            if !joined.is_char_boundary(cut) {
                continue;
            }
            let (other_ns, other_key) = joined.split_at(cut);
            if (other_ns, other_key) != (ns.as_str(), key.as_str()) {
                let expected = written.get(&(other_ns.to_string(), other_key.to_string()));
                assert_eq!(s.get(other_ns, other_key).unwrap().as_ref(), expected, "({other_ns:?}, {other_key:?})");
            }
        }
    }
}
