//! ACL messages as clients write them: JSON objects built from the message's
//! own fields with values of every JSON type (numbers past every float and
//! integer range among them), and byte soup. Parsing never panics; an accepted
//! message carries its JSON content to the agent as the very text the client
//! wrote, and back out of the API unchanged.

use crate::fuzz;
use arbtest::arbitrary::{Result, Unstructured};
use caxton::acl::json::WireMessage;

const FIELDS: &[&str] = &[
    "performative",
    "sender",
    "receiver",
    "receivers",
    "content",
    "language",
    "encoding",
    "ontology",
    "protocol",
    "conversation_id",
    "reply_with",
    "in_reply_to",
    "reply_by",
    "hops",
];

/// A JSON number as text: integers and decimals of any length, exponents.
fn number(u: &mut Unstructured<'_>) -> Result<String> {
    let digits = |u: &mut Unstructured<'_>, n: usize| -> Result<String> {
        let mut s = String::from(*u.choose(&["1", "2", "3", "4", "5", "6", "7", "8", "9"])?);
        for _ in 1..n {
            s.push(char::from(b'0' + u.int_in_range(0..=9)?));
        }
        Ok(s)
    };
    let n = u.int_in_range(1..=60)?;
    let int = digits(u, n)?;
    let sign = if u.arbitrary()? { "-" } else { "" };
    Ok(match u.int_in_range(0..=3)? {
        0 => format!("{sign}{int}"),
        1 => {
            let n = u.int_in_range(1..=60)?;
            format!("{sign}{int}.{}", digits(u, n)?)
        }
        2 => format!("{sign}{int}e{}{}", u.choose(&["", "+", "-"])?, u.int_in_range(0..=999)?),
        _ => "0".to_string(),
    })
}

/// A JSON value as text, nested up to `depth`.
fn json(u: &mut Unstructured<'_>, depth: u32) -> Result<String> {
    let choices = if depth == 0 { 4 } else { 6 };
    Ok(match u.int_in_range(0..=choices)? {
        0 => number(u)?,
        1 => serde_json::to_string(&u.arbitrary::<String>()?).unwrap(),
        2 => u.choose(&["true", "false", "null"])?.to_string(),
        3 | 4 => format!("{:?}", u.choose(&["request", "inform", "text-processor", "a", ""])?),
        5 => {
            let items: Vec<String> = (0..u.int_in_range(0..=4)?).map(|_| json(u, depth - 1)).collect::<Result<_>>()?;
            format!("[{}]", items.join(","))
        }
        _ => {
            let n = u.int_in_range(0..=4)?;
            let items: Vec<String> = (0..n)
                .map(|_| Ok(format!("{:?}:{}", u.choose(FIELDS)?, json(u, depth - 1)?)))
                .collect::<Result<_>>()?;
            format!("{{{}}}", items.join(","))
        }
    })
}

#[test]
fn client_messages_parse_or_refuse_and_json_content_passes_through_as_written() {
    let mut accepted = 0u64;
    fuzz("acl-json", |u| {
        if u.ratio(1, 8)? {
            let soup: Vec<u8> = u.arbitrary()?;
            let _ = serde_json::from_slice::<WireMessage>(&soup);
            return Ok(());
        }
        let content = json(u, 3)?;
        let mut fields = vec![
            format!("\"performative\":{:?}", u.choose(&["request", "inform", "INFORM", "query_if", "shout"])?),
            format!("\"receiver\":{:?}", u.choose(&["b", "", "text-processor"])?),
            format!("\"content\":{content}"),
        ];
        for _ in 0..u.int_in_range(0..=3)? {
            let field = u.choose(FIELDS)?;
            if *field != "content" {
                fields.push(format!("{field:?}:{}", json(u, 1)?));
            }
        }
        let body = format!("{{{}}}", fields.join(","));
        let Ok(wire) = serde_json::from_str::<WireMessage>(&body) else { return Ok(()) };
        let json_language = wire
            .language
            .as_deref()
            .is_none_or(|l| l.eq_ignore_ascii_case("json") || l.eq_ignore_ascii_case("application/json"));
        let Ok(message) = wire.into_message("client".into()) else { return Ok(()) };
        assert_eq!(message.sender, "client", "the host names the sender");
        accepted += 1;
        let out = serde_json::to_string(&WireMessage::from(message.clone())).unwrap();
        // valid JSON whatever its numbers (a `Value` would refuse those past f64's range)
        let parsed = serde_json::from_str::<&serde_json::value::RawValue>(&out).expect("the API writes valid JSON");
        assert!(parsed.get().starts_with('{'), "{out}");
        if json_language {
            assert_eq!(message.content, content, "the agent gets the content as written: {body}");
            assert!(out.contains(&format!("\"content\":{content}")), "and the API returns it as written: {out}");
        }
        Ok(())
    });
    eprintln!("fuzz acl-json: {accepted} accepted");
}
