//! The MD5 digests SQS returns and SDKs verify: of the body, and of message attributes in AWS's
//! length-prefixed binary encoding.

use md5::{Digest, Md5};
use wharf_domain::{AttributeValue, MessageAttribute};

/// The raw digest of a body; kept with the message so delivery need not recompute it.
pub fn body_digest(body: &[u8]) -> [u8; 16] {
    Md5::digest(body).into()
}

/// Digest of attributes: names sorted bytewise; for each, length-prefixed name, data type,
/// a transport byte (1 string, 2 binary) and the length-prefixed value. `None` when empty, as
/// SDKs expect the field to be absent then.
pub fn of_attributes<'a>(attributes: impl IntoIterator<Item = &'a MessageAttribute>) -> Option<String> {
    let mut sorted: Vec<&MessageAttribute> = attributes.into_iter().collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let mut hasher = Md5::new();
    for attribute in sorted {
        update_prefixed(&mut hasher, attribute.name.as_bytes());
        update_prefixed(&mut hasher, attribute.data_type.as_bytes());
        match &attribute.value {
            AttributeValue::Text(text) => {
                hasher.update([1u8]);
                update_prefixed(&mut hasher, text.as_bytes());
            }
            AttributeValue::Binary(bytes) => {
                hasher.update([2u8]);
                update_prefixed(&mut hasher, bytes);
            }
        }
    }
    Some(hex(hasher.finalize().as_slice()))
}

fn update_prefixed(hasher: &mut Md5, bytes: &[u8]) {
    hasher.update((bytes.len() as u32).to_be_bytes());
    hasher.update(bytes);
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn text(name: &str, data_type: &str, value: &str) -> MessageAttribute {
        MessageAttribute { name: name.into(), data_type: data_type.into(), value: AttributeValue::Text(value.into()) }
    }

    #[test]
    fn aws_test_vectors() {
        let string = text("attribName1", "String", "attribValue 1");
        let number = text("customNumberTypeAttrib", "Number.float", "4563442423554324324264524243.32543234");
        let binary = MessageAttribute {
            name: "binaryAttribute".into(),
            data_type: "Binary".into(),
            value: AttributeValue::Binary(Bytes::from_static(b"Hello binary world!")),
        };
        assert_eq!(of_attributes([&string]).as_deref(), Some("19e27d4e946b072f3f58da80d94fd778"));
        assert_eq!(of_attributes([&number]).as_deref(), Some("9fe1b90bbd9965bdf77bac517c7d2495"));
        assert_eq!(of_attributes([&binary]).as_deref(), Some("31a92b15d92f8db860eda32aceb656c3"));
        assert_eq!(of_attributes([&binary, &string, &number]).as_deref(), Some("c932db14a896c663f83c260297d594ff"));
        assert_eq!(of_attributes([]), None);
        assert_eq!(hex(&body_digest(b"")), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
