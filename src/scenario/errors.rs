//! Syntax errors in plain words: every message names the field and says what to write.
//!
//! The RON parser reports what it expected at a position (`Integer is out of bounds`,
//! `Invalid digit 'e' for base 10 integers`). The field being read is found by looking back from
//! that position for the nearest `name:`, and the message is built from the field's type:
//! counts are whole numbers with a known range, durations and rates are numbers, names are
//! quoted text.

use crate::params::suggest;

/// Whole-number fields of the format and their ranges (what `IntegerOutOfBounds` means).
const INTEGERS: &[(&str, &str, &str)] = &[
    ("workers", "0 to 4294967295", "4"),
    ("capacity", "0 to 4294967295 (or omit it for unbounded)", "10"),
    ("max_attempts", "1 to 4294967295", "3"),
    ("window", "1 to 1000000", "100"),
    ("min_calls", "1 to 4294967295", "100"),
    ("half_open_calls", "1 to 4294967295", "10"),
    ("clients", "0 to 1000000", "50"),
    ("k", "1 to 4294967295", "2"),
    ("priority", "0 to 255", "0"),
    ("seed", "0 to 18446744073709551615", "1"),
    ("max_population", "1 to 18446744073709551615", "5000000"),
];

/// The field whose value is being read at 1-based (`line`, `col`) of `text`: the last
/// `name:` before it, outside strings and comments.
pub fn field_at(text: &str, line: usize, col: usize) -> Option<String> {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            offset += l.char_indices().nth(col.saturating_sub(1)).map_or(l.len(), |(b, _)| b);
            break;
        }
        offset += l.len();
    }
    let before = text.get(..offset.min(text.len()))?;
    // Blank out strings and comments so a colon inside them is not taken for a field.
    let mut clean = String::with_capacity(before.len());
    let mut chars = before.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                clean.push(' ');
                while let Some(d) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == '"' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                clean.push('\n');
            }
            c => clean.push(c),
        }
    }
    let colon = clean.rfind(':')?;
    let head = clean[..colon].trim_end();
    let start = head.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
    let name = &head[start..];
    (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then(|| name.to_string())
}

/// The token that starts at the error position, for quoting it back.
fn token_at(text: &str, line: usize, col: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let rest: String = l.chars().skip(col.saturating_sub(1)).collect();
    let tok: String = rest.chars().take_while(|c| !matches!(c, ',' | ')' | ']' | '}' | ' ' | '\t')).collect();
    (!tok.is_empty()).then_some(tok)
}

/// Whether `text` contains `needle`, ignoring spaces (`Some( Precision (`).
fn text_has(text: &str, needle: &str) -> bool {
    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    squeezed.contains(needle)
}

/// Turns a RON error at (`line`, `col`) of `text` into a message that says what to write.
pub fn explain(code: &ron::Error, text: &str, line: usize, col: usize) -> String {
    use ron::Error as E;
    let list = |xs: &[&str]| xs.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(", ");
    let within = |outer: &Option<String>| outer.as_ref().map(|o| format!(" in `{o}`")).unwrap_or_default();
    let field = field_at(text, line, col);
    let got = token_at(text, line, col).map(|t| format!(", got `{}`", t.escape_debug())).unwrap_or_default();
    let f = field.as_deref().unwrap_or("value");
    let integer = || INTEGERS.iter().find(|(n, _, _)| *n == f);
    let whole = || match integer() {
        Some((n, range, ex)) => format!("`{n}` takes a whole number from {range}{got}; write e.g. `{n}: {ex}`"),
        None => format!("`{f}` takes a whole number{got}; write digits only, e.g. `{f}: 4`"),
    };
    match code {
        E::NoSuchStructField { expected, found, outer } => {
            // `precision: Some(Precision(…))`: the reader takes an optional block bare, and reads
            // the inner name as a field of the outer struct.
            if found.starts_with(|c: char| c.is_ascii_uppercase()) && text_has(text, &format!("Some({found}(")) {
                return format!(
                    "write the optional block without `Some(…)`: `{f}: {found}(…)`, not `Some({found}(…))`"
                );
            }
            let hint =
                suggest(found, expected.iter().copied()).map(|s| format!("did you mean `{s}`? ")).unwrap_or_default();
            format!("unknown field `{found}`{}; {hint}expected one of {}", within(outer), list(expected))
        }
        E::NoSuchEnumVariant { expected, found, outer } => {
            let hint =
                suggest(found, expected.iter().copied()).map(|s| format!("did you mean `{s}`? ")).unwrap_or_default();
            format!("unknown variant `{found}`{}; {hint}expected one of {}", within(outer), list(expected))
        }
        E::MissingStructField { field, outer } => {
            format!("missing field `{field}`{}; add `{field}: …`", within(outer))
        }
        E::DuplicateStructField { field, outer } => {
            format!("field `{field}` given twice{}; keep one", within(outer))
        }
        E::IntegerOutOfBounds | E::InvalidIntegerDigit { .. } | E::ExpectedInteger | E::UnderscoreAtBeginning => {
            whole()
        }
        E::ExpectedFloat | E::FloatUnderscore => {
            format!("`{f}` takes a number{got}; write e.g. `{f}: 1.5` (seconds, rates and factors are plain numbers)")
        }
        E::ExpectedBoolean => format!("`{f}` takes `true` or `false`{got}"),
        E::ExpectedString | E::ExpectedStringEnd => {
            format!("`{f}` takes text in double quotes{got}; write e.g. `{f}: \"api\"` and close the quote")
        }
        E::InvalidEscape(what) => {
            format!("invalid escape in the text of `{f}` ({what}); write `\\\\` for a backslash, `\\\"` for a quote")
        }
        E::ExpectedArray | E::ExpectedArrayEnd => {
            format!("`{f}` takes a list in square brackets{got}; write e.g. `{f}: [ … ]` and close it with `]`")
        }
        E::ExpectedMap | E::ExpectedMapEnd => {
            format!("`{f}` takes a map in braces{got}; write e.g. `{f}: {{ \"api\": Service(…) }}` and close it")
        }
        E::ExpectedMapColon => format!("expected `:` after the key in `{f}`; write `\"name\": Value`"),
        E::ExpectedComma => format!("expected `,` before this{got}; separate fields and items with commas"),
        E::ExpectedStructLike | E::ExpectedStructLikeEnd | E::ExpectedUnit => {
            format!("`{f}` takes a value like `Name(field: …)`{got}; check the brackets and write the variant name")
        }
        E::ExpectedNamedStructLike(name) => format!("expected `{name}( … )` here{got}"),
        E::ExpectedDifferentStructName { expected, found } => {
            format!("expected `{expected}( … )` here, got `{found}`; write `{expected}`")
        }
        E::ExpectedOption | E::ExpectedOptionEnd => format!("`{f}` takes a value or `None`{got}"),
        E::ExpectedDifferentLength { expected, found } => {
            format!("`{f}` expects {expected}, got {found} items; write e.g. `(0.0, 1.0)` for a (time, value) point")
        }
        E::InvalidValueForType { expected, found } => {
            if integer().is_some() || expected.contains("integer") {
                whole()
            } else {
                format!("`{f}` expects {expected}, got {found}; see the scenario format in the README")
            }
        }
        E::Eof => "the file ends too early; close every `(`, `[` and `{` and end strings with `\"`".into(),
        E::TrailingCharacters => "unexpected text after the scenario's closing `)`; remove it".into(),
        E::UnclosedBlockComment => "a `/*` comment is never closed; end it with `*/`".into(),
        E::UnclosedLineComment => "a `//` comment runs to the end of the file; end the line".into(),
        E::UnexpectedChar(c) => {
            format!(
                "unexpected `{}` in `{f}`; write a number, \"text\", `[list]`, `{{map}}` or `Name(…)`",
                c.escape_debug()
            )
        }
        E::ExpectedIdentifier | E::InvalidIdentifier(_) | E::SuggestRawIdentifier(_) => {
            format!("expected a field or variant name here{got}; names are letters, digits and `_`")
        }
        E::ExceededRecursionLimit => "the values nest too deep; a scenario needs a few levels at most".into(),
        other => format!("{other}; write `Scenario(title: \"…\", duration: 60.0, nodes: {{ … }})` as in the README"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_is_found_looking_back() {
        let text = "Scenario(\n  title: \"a: b\", // c: d\n  nodes: { \"x\": Service(workers: 1e9) },\n)";
        assert_eq!(field_at(text, 3, 34).as_deref(), Some("workers"));
        assert_eq!(field_at(text, 2, 16).as_deref(), Some("title"));
        assert_eq!(token_at(text, 3, 34).as_deref(), Some("1e9"));
    }
}
