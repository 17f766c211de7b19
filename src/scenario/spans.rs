//! Where each field of a RON file is: a small token scanner that maps paths
//! (`nodes.server.queue.capacity`, `timeline.2`) to line and column.
//!
//! serde hands the validator values without positions; this index lets semantic errors (an
//! unknown route target, a probability above 1) point at the exact place in the file.

use std::collections::BTreeMap;

/// 1-based line and column.
pub type Pos = (usize, usize);

#[derive(Debug)]
enum Frame {
    /// `( … )` or `{ … }`: named fields or map keys.
    Keyed { key: Option<String> },
    /// `[ … ]`: indexed elements.
    Seq { index: usize, started: bool },
}

/// Path → position of the field's key (or of a sequence element's first token).
#[derive(Debug, Default)]
pub struct SpanIndex {
    spans: BTreeMap<String, Pos>,
}

impl SpanIndex {
    /// Scans `text`; never fails (unbalanced input just yields fewer entries).
    pub fn scan(text: &str) -> Self {
        let mut spans = BTreeMap::new();
        let chars: Vec<char> = text.chars().collect();
        let mut stack: Vec<(String, Frame)> = vec![("".into(), Frame::Keyed { key: None })];
        let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
        let mut last_word: Option<(String, Pos)> = None;
        let advance = |i: &mut usize, line: &mut usize, col: &mut usize, c: char| {
            *i += 1;
            if c == '\n' {
                *line += 1;
                *col = 1;
            } else {
                *col += 1;
            }
        };
        let path_of = |stack: &[(String, Frame)]| -> String {
            let (prefix, frame) = stack.last().expect("stack never empty");
            let leaf = match frame {
                Frame::Keyed { key } => key.clone(),
                Frame::Seq { index, .. } => Some(index.to_string()),
            };
            match (prefix.is_empty(), leaf) {
                (_, None) => prefix.clone(),
                (true, Some(l)) => l,
                (false, Some(l)) => format!("{prefix}.{l}"),
            }
        };
        while i < chars.len() {
            let c = chars[i];
            let pos = (line, col);
            // Sequence element start.
            if !c.is_whitespace()
                && !matches!(c, ']' | ',' | '/')
                && let Some((_, Frame::Seq { started, .. })) = stack.last_mut()
                && !*started
            {
                *started = true;
                let p = path_of(&stack);
                spans.entry(p).or_insert(pos);
            }
            match c {
                '/' if chars.get(i + 1) == Some(&'/') => {
                    while i < chars.len() && chars[i] != '\n' {
                        let ch = chars[i];
                        advance(&mut i, &mut line, &mut col, ch);
                    }
                    continue;
                }
                '/' if chars.get(i + 1) == Some(&'*') => {
                    while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                        let ch = chars[i];
                        advance(&mut i, &mut line, &mut col, ch);
                    }
                    advance(&mut i, &mut line, &mut col, '*');
                    advance(&mut i, &mut line, &mut col, '/');
                    continue;
                }
                '"' => {
                    let mut s = String::new();
                    advance(&mut i, &mut line, &mut col, c);
                    while i < chars.len() && chars[i] != '"' {
                        if chars[i] == '\\' && i + 1 < chars.len() {
                            advance(&mut i, &mut line, &mut col, '\\');
                        }
                        s.push(chars[i]);
                        let ch = chars[i];
                        advance(&mut i, &mut line, &mut col, ch);
                    }
                    advance(&mut i, &mut line, &mut col, '"');
                    last_word = Some((s, pos));
                    continue;
                }
                c if c.is_alphanumeric() || c == '_' => {
                    let mut s = String::new();
                    while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '-' | '+')) {
                        s.push(chars[i]);
                        let ch = chars[i];
                        advance(&mut i, &mut line, &mut col, ch);
                    }
                    last_word = Some((s, pos));
                    continue;
                }
                ':' => {
                    if let (Some((w, p)), Some((_, Frame::Keyed { key }))) = (last_word.take(), stack.last_mut()) {
                        *key = Some(w);
                        let path = path_of(&stack);
                        spans.entry(path).or_insert(p);
                    }
                }
                '(' | '{' | '[' => {
                    let prefix = path_of(&stack);
                    let frame =
                        if c == '[' { Frame::Seq { index: 0, started: false } } else { Frame::Keyed { key: None } };
                    stack.push((prefix, frame));
                    last_word = None;
                }
                ')' | '}' | ']' => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    last_word = None;
                }
                ',' => {
                    match stack.last_mut() {
                        Some((_, Frame::Keyed { key })) => *key = None,
                        Some((_, Frame::Seq { index, started })) => {
                            *index += 1;
                            *started = false;
                        }
                        None => {}
                    }
                    last_word = None;
                }
                _ => {}
            }
            advance(&mut i, &mut line, &mut col, c);
        }
        Self { spans }
    }

    /// Position of `path`, or of its nearest ancestor that has one.
    pub fn find(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.spans.get(p) {
                return *pos;
            }
            match p.rsplit_once('.') {
                Some((parent, _)) => p = parent,
                None => return (1, 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_fields_map_keys_and_list_items() {
        let text = r#"Scenario(
  title: "x",
  nodes: {
    "server": Service(
      queue: Queue(capacity: 3), // comment: with a colon
    ),
  },
  timeline: ["at 1 set a.b = 1", "at 2 set c = 2"],
)"#;
        let idx = SpanIndex::scan(text);
        assert_eq!(idx.find("title"), (2, 3));
        assert_eq!(idx.find("nodes.server"), (4, 5));
        assert_eq!(idx.find("nodes.server.queue.capacity"), (5, 20));
        assert_eq!(idx.find("timeline.1"), (8, 34));
        assert_eq!(idx.find("nodes.server.queue.discipline"), (5, 7));
    }
}
