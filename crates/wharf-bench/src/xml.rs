//! Just enough XML to read awsQuery replies: find elements by local name and read leaf text.
//!
//! A peer may answer anything, so nothing here panics or trusts the input: a missing, unclosed
//! or oddly nested element is simply not found. Namespace prefixes are ignored (`<sns:TopicArn>`
//! matches `TopicArn`), comments, processing instructions, DOCTYPE and CDATA sections are
//! skipped when looking for tags, and leaf text is entity-decoded (CDATA kept verbatim).
//! Not a validating parser: attributes are not read and mismatched closing tags of other
//! elements are tolerated.

/// One tag found by [`next_tag`]: its local name, where it starts (`<`) and ends (after `>`).
struct Tag<'a> {
    local_name: &'a str,
    kind: TagKind,
    start: usize,
    end: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TagKind {
    Open,
    Close,
    /// `<name/>`
    Empty,
}

/// The next start, end or empty-element tag at or after `from`, skipping comments, CDATA,
/// processing instructions and declarations; `None` when there is none (or it is unclosed).
fn next_tag(document: &str, mut from: usize) -> Option<Tag<'_>> {
    loop {
        let start = from + document.get(from..)?.find('<')?;
        let rest = document.get(start..)?;
        let skip_to = |terminator: &str| rest.find(terminator).map(|at| start + at + terminator.len());
        if rest.starts_with("<!--") {
            from = skip_to("-->")?;
            continue;
        }
        if rest.starts_with("<![CDATA[") {
            from = skip_to("]]>")?;
            continue;
        }
        if rest.starts_with("<?") || rest.starts_with("<!") {
            from = skip_to(">")?;
            continue;
        }
        let end = start + rest.find('>')? + 1;
        // `<` and `>` are ASCII, so these indexes are character boundaries.
        let inner = document.get(start + 1..end - 1)?;
        let (kind, inner) = if let Some(name) = inner.strip_prefix('/') {
            (TagKind::Close, name)
        } else if let Some(name) = inner.strip_suffix('/') {
            (TagKind::Empty, name)
        } else {
            (TagKind::Open, inner)
        };
        let qualified_name = inner.split(|c: char| c.is_ascii_whitespace()).next().unwrap_or("");
        let local_name = qualified_name.rsplit(':').next().unwrap_or(qualified_name);
        if local_name.is_empty() {
            // A stray `<` in malformed input: look past it.
            from = start + 1;
            continue;
        }
        return Some(Tag { local_name, kind, start, end });
    }
}

/// The raw content of every element named `name` (local name) that is not inside another one,
/// in document order; `""` for `<name/>`. Elements of the same name nested inside a match are
/// part of its content. An element whose closing tag is missing ends the search.
pub fn elements<'a>(document: &'a str, name: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut position = 0;
    while let Some(tag) = next_tag(document, position) {
        position = tag.end;
        if tag.local_name != name {
            continue;
        }
        match tag.kind {
            TagKind::Empty => found.push(""),
            TagKind::Close => {}
            TagKind::Open => {
                let content_start = tag.end;
                let mut depth = 1usize;
                let mut closed = None;
                while let Some(inner) = next_tag(document, position) {
                    position = inner.end;
                    if inner.local_name != name {
                        continue;
                    }
                    match inner.kind {
                        TagKind::Open => depth += 1,
                        TagKind::Close => {
                            depth -= 1;
                            if depth == 0 {
                                closed = Some(inner.start);
                                break;
                            }
                        }
                        TagKind::Empty => {}
                    }
                }
                match closed.and_then(|content_end| document.get(content_start..content_end)) {
                    Some(content) => found.push(content),
                    None => break,
                }
            }
        }
    }
    found
}

/// The raw content of the first element named `name`.
pub fn first_element<'a>(document: &'a str, name: &str) -> Option<&'a str> {
    elements(document, name).into_iter().next()
}

/// The decoded, trimmed text of the first element named `name`; `None` when there is no such
/// element or it has child elements.
pub fn first_text(document: &str, name: &str) -> Option<String> {
    first_element(document, name).and_then(leaf_text)
}

/// Decodes an element's content as text: entities (`&lt;`, `&#38;`, `&#x26;`, ...) are
/// replaced, CDATA sections kept verbatim, comments dropped, surrounding whitespace trimmed.
/// `None` if the content holds an element. An unknown or malformed entity is kept as written.
pub fn leaf_text(content: &str) -> Option<String> {
    let mut text = String::with_capacity(content.len());
    let mut rest = content;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>")?;
            text.push_str(after.get(..end)?);
            rest = after.get(end + 3..)?;
        } else if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->")?;
            rest = after.get(end + 3..)?;
        } else if rest.starts_with('<') {
            return None;
        } else if rest.starts_with('&') {
            let (decoded, consumed) = decode_entity(rest);
            match decoded {
                Some(character) => text.push(character),
                None => text.push('&'),
            }
            rest = rest.get(consumed..)?;
        } else {
            let next = rest.find(['<', '&']).unwrap_or(rest.len());
            text.push_str(rest.get(..next)?);
            rest = rest.get(next..)?;
        }
    }
    Some(text.trim().to_owned())
}

/// Decodes the entity at the start of `input` (which starts with `&`): the character and the
/// bytes consumed, or `(None, 1)` when it is not a well-formed entity.
fn decode_entity(input: &str) -> (Option<char>, usize) {
    // Entities are short; a `;` further away belongs to other text.
    let Some(semicolon) = input.bytes().take(12).position(|byte| byte == b';') else {
        return (None, 1);
    };
    let Some(name) = input.get(1..semicolon) else {
        return (None, 1);
    };
    let character = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                u32::from_str_radix(hex, 16).ok()
            } else if let Some(decimal) = name.strip_prefix('#') {
                decimal.parse::<u32>().ok()
            } else {
                None
            };
            code.and_then(char::from_u32)
        }
    };
    match character {
        Some(character) => (Some(character), semicolon + 1),
        None => (None, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLISH_BATCH: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <PublishBatchResult>
    <Successful>
      <member><Id>0</Id><MessageId>m-0</MessageId></member>
      <member><MessageId>m-1</MessageId><Id>1</Id></member>
    </Successful>
    <Failed>
      <member>
        <Id>2</Id><Code>InvalidParameter</Code><Message>a &lt;b&gt; &amp; c</Message><SenderFault>true</SenderFault>
      </member>
    </Failed>
  </PublishBatchResult>
  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>
</PublishBatchResponse>"#;

    #[test]
    fn finds_leaf_text_and_lists() {
        assert_eq!(first_text(PUBLISH_BATCH, "RequestId").as_deref(), Some("r-1"));
        let successful = first_element(PUBLISH_BATCH, "Successful").expect("Successful");
        let members = elements(successful, "member");
        assert_eq!(members.len(), 2);
        let ids: Vec<_> = members.iter().map(|member| first_text(member, "Id")).collect();
        assert_eq!(ids, vec![Some("0".to_owned()), Some("1".to_owned())]);
        assert_eq!(first_text(members[1], "MessageId").as_deref(), Some("m-1"));
        let failed = first_element(PUBLISH_BATCH, "Failed").expect("Failed");
        let failed_members = elements(failed, "member");
        assert_eq!(failed_members.len(), 1);
        assert_eq!(first_text(failed_members[0], "Message").as_deref(), Some("a <b> & c"));
        // An element with children is not text.
        assert_eq!(first_text(PUBLISH_BATCH, "Successful"), None);
        assert_eq!(first_text(PUBLISH_BATCH, "Missing"), None);
    }

    #[test]
    fn names_match_whole_local_names_only() {
        let document = "<r><TopicArnList>x</TopicArnList><sns:TopicArn a=\"1\">arn:1</sns:TopicArn></r>";
        assert_eq!(first_text(document, "TopicArn").as_deref(), Some("arn:1"));
        assert_eq!(first_text(document, "Topic"), None);
        assert_eq!(first_text("<a><Id/></a>", "Id").as_deref(), Some(""));
        assert_eq!(first_text("<a><Id attr='x' /></a>", "Id").as_deref(), Some(""));
    }

    #[test]
    fn nested_same_name_elements_stay_inside_their_parent() {
        let document = "<member><member>inner</member><Id>outer</Id></member><member><Id>2</Id></member>";
        let members = elements(document, "member");
        assert_eq!(members, vec!["<member>inner</member><Id>outer</Id>", "<Id>2</Id>"]);
    }

    #[test]
    fn comments_cdata_and_entities() {
        let document =
            "<!-- <Id>fake</Id> --><r><![CDATA[<Id>also fake</Id>]]><Id>a&#38;b&#x3C;<![CDATA[<raw>]]></Id></r>";
        assert_eq!(first_text(document, "Id").as_deref(), Some("a&b<<raw>"));
        assert_eq!(
            leaf_text("x &bogus; y & z &#xZZ; &#1114112;").as_deref(),
            Some("x &bogus; y & z &#xZZ; &#1114112;")
        );
        assert_eq!(leaf_text("  \n padded\t").as_deref(), Some("padded"));
        assert_eq!(leaf_text("&quot;&apos;&gt;").as_deref(), Some("\"'>"));
    }

    #[test]
    fn malformed_input_yields_nothing_instead_of_panicking() {
        let inputs = [
            "",
            "<",
            ">",
            "<<<>>>",
            "</Id>",
            "<Id>",
            "<Id>unclosed",
            "<Id>x</Id",
            "<Id",
            "<!-- never closed <Id>x</Id>",
            "<![CDATA[ never closed <Id>x</Id>",
            "<? <Id>x</Id>",
            "<Id>\u{e9}\u{1F600}&",
            "<Id>&#",
            "<Id>&#x",
            "<Id>&amp",
            "<Id><![CDATA[x</Id>",
            "<Id><!-- x</Id>",
            "< Id>x</ Id>",
            "<:>x</:>",
        ];
        for input in inputs {
            let _ = elements(input, "Id");
            let _ = first_text(input, "Id");
            let _ = leaf_text(input);
        }
        assert_eq!(first_text("<Id>unclosed", "Id"), None);
        assert_eq!(first_text("<Id>x</Id", "Id"), None);
        assert_eq!(first_text("<!-- never closed <Id>x</Id>", "Id"), None);
        assert_eq!(first_text("<Id>\u{e9}\u{1F600}&</Id>", "Id").as_deref(), Some("\u{e9}\u{1F600}&"));
        assert_eq!(first_text("<Id><![CDATA[x</Id>", "Id"), None);
        // A closed element before an unclosed one is still found.
        assert_eq!(elements("<Id>1</Id><Id>2", "Id"), vec!["1"]);
    }
}
