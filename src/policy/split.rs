//! Splits a `.cedar` file into its policies, so each gets its own id and location.
//!
//! Cedar's parser numbers the policies of a text `policy0`, `policy1`…; officers need ids that
//! survive edits (from `@id`) and errors at the right line. A policy ends at a `;` outside a
//! string literal and outside a `//` comment; nothing else in the grammar contains one.

/// One policy's text and where it starts in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk<'a> {
    pub offset: usize,
    pub text: &'a str,
}

/// The policies of `text`, in order. Trailing text that is not only whitespace and comments
/// becomes a chunk of its own, so the parser reports it.
pub fn split_policies(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut in_comment = false;
    let mut previous = '\0';
    for (index, c) in text.char_indices() {
        if in_comment {
            in_comment = c != '\n';
        } else if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c == '/' && previous == '/' {
            in_comment = true;
        } else if c == ';' {
            chunks.push(Chunk {
                offset: start,
                text: &text[start..=index],
            });
            start = index + 1;
        }
        previous = if in_comment { '\0' } else { c };
    }
    let rest = &text[start..];
    if has_code(rest) {
        chunks.push(Chunk {
            offset: start,
            text: rest,
        });
    }
    chunks
}

/// Whether `text` holds anything but whitespace and `//` comments.
fn has_code(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with("//")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolons_in_strings_and_comments_do_not_split() {
        let text = "// a; comment\npermit(principal, action, resource) when { context.path == \"/a;b\\\";\" };\n\
                    forbid(principal, action, resource);\n// trailing; comment\n";
        let chunks = split_policies(text);
        assert_eq!(chunks.len(), 2);
        assert!(chunks[0].text.contains("/a;b"));
        assert!(chunks[1].text.trim().starts_with("forbid"));
        assert_eq!(
            &text[chunks[1].offset..][..chunks[1].text.len()],
            chunks[1].text
        );
    }

    #[test]
    fn unterminated_policy_is_kept_for_the_parser() {
        let chunks = split_policies("permit(principal, action, resource);\npermit(principal");
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].text.trim(), "permit(principal");
    }

    #[test]
    fn comment_only_file_has_no_policies() {
        assert!(split_policies("// nothing here\n\n").is_empty());
    }
}
