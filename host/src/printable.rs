//! Text that others chose — a guest's error or output, a name or reason from
//! a client or another host — made safe to print to a terminal or a log:
//! control characters (ANSI escapes, CR, NUL, newlines) and the characters
//! that reorder bidirectional text are written as Rust escapes, so such text
//! cannot move the cursor, recolour the screen, forge a log line or hide
//! what follows it.

/// Whether `c` reorders the text around it (bidirectional marks, embeddings and isolates).
fn reorders(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

/// `text` with every control and reordering character escaped (`\n`, `\u{1b}`, …).
pub fn neutralise(text: &str) -> String {
    if !text.chars().any(|c| c.is_control() || reorders(c)) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() || reorders(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`neutralise`] line by line: `text`'s own line breaks kept, every other control escaped
/// (for messages this program composed, which may quote text from elsewhere).
pub fn neutralise_lines(text: &str) -> String {
    text.split('\n').map(neutralise).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_control_sequences_line_breaks_and_reordering() {
        assert_eq!(neutralise("\u{1b}[2Jhi\r"), "\\u{1b}[2Jhi\\r");
        assert_eq!(neutralise("fine\n2026 INFO forged\0"), "fine\\n2026 INFO forged\\u{0}");
        assert_eq!(neutralise("abc\u{202e}def"), "abc\\u{202e}def");
        assert_eq!(neutralise("plain ünïcødé 🙂"), "plain ünïcødé 🙂");
        assert_eq!(neutralise_lines("one\ntwo\u{7}"), "one\ntwo\\u{7}");
    }
}
