//! `multipart/form-data` (RFC 7578) as Inbound Parse posts it: named fields, binary-safe.
//! Small on purpose: the body is already in memory (it was signature-checked whole), and
//! only a few text fields are read.

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormPart {
    /// The `name` of its `Content-Disposition`.
    pub name: String,
    /// The `filename`, if the part is a file.
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// Why a body is not a readable form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("Content-Type is not multipart/form-data with a boundary")]
    NotMultipart,
    #[error("the body has no closing boundary")]
    Unterminated,
    #[error("a part has no Content-Disposition form-data name")]
    UnnamedPart,
}

/// The boundary of a `multipart/form-data` Content-Type, unquoted.
pub fn boundary(content_type: &str) -> Result<String, FormError> {
    let mut params = content_type.split(';');
    let essence = params.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return Err(FormError::NotMultipart);
    }
    params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 200)
        .ok_or(FormError::NotMultipart)
}

/// The parts of `body`, in order.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<FormPart>, FormError> {
    let boundary = boundary(content_type)?;
    let delimiter = format!("--{boundary}");
    // The first delimiter may open the body; later ones follow a line break.
    let mut rest = match body.strip_prefix(delimiter.as_bytes()) {
        Some(after) => after,
        None => after(body, format!("\n{delimiter}").as_bytes()).ok_or(FormError::Unterminated)?,
    };
    let mut parts = Vec::new();
    let next = format!("\n{delimiter}");
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // The rest of the delimiter line (transport padding, then the line break).
        let line_end = find(rest, b"\n").ok_or(FormError::Unterminated)?;
        let content = &rest[line_end + 1..];
        let end = find(content, next.as_bytes()).ok_or(FormError::Unterminated)?;
        let part = content[..end].strip_suffix(b"\r").unwrap_or(&content[..end]);
        parts.push(read_part(part)?);
        rest = &content[end + next.len()..];
    }
}

/// The value of a text field (the first with that name), lossily decoded.
pub fn text<'a>(parts: &'a [FormPart], name: &str) -> Option<std::borrow::Cow<'a, str>> {
    parts.iter().find(|p| p.name == name).map(|p| String::from_utf8_lossy(&p.data))
}

fn read_part(part: &[u8]) -> Result<FormPart, FormError> {
    let (head, data) = if let Some(data) = part.strip_prefix(b"\r\n").or_else(|| part.strip_prefix(b"\n")) {
        (&b""[..], data)
    } else if let Some(i) = find(part, b"\r\n\r\n") {
        (&part[..i], &part[i + 4..])
    } else if let Some(i) = find(part, b"\n\n") {
        (&part[..i], &part[i + 2..])
    } else {
        (part, &b""[..])
    };
    let head = String::from_utf8_lossy(head);
    let disposition = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
        .map(|(_, v)| v.to_owned())
        .ok_or(FormError::UnnamedPart)?;
    let name = param(&disposition, "name").ok_or(FormError::UnnamedPart)?;
    Ok(FormPart { name, filename: param(&disposition, "filename"), data: data.to_vec() })
}

/// A `key="value"` (or bare `key=value`) parameter of a header value.
fn param(header: &str, key: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn after<'a>(haystack: &'a [u8], needle: &[u8]) -> Option<&'a [u8]> {
    find(haystack, needle).map(|i| &haystack[i + needle.len()..])
}

/// Builds a form as SendGrid posts one (text fields, CRLF line breaks): for
/// `comms webhook email` and tests.
pub fn encode(boundary: &str, fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes());
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=\"xYzZY\"";

    #[test]
    fn fields_round_trip_binary_safe() {
        let raw: &[u8] = b"line one\r\n--xYzZ not a boundary\r\n\xff\x00end";
        let body = encode("xYzZY", &[("to", b"shop@example.com"), ("email", raw), ("empty", b"")]);
        let parts = parse(CT, &body).unwrap();
        let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["to", "email", "empty"]);
        assert_eq!(parts[1].data, raw);
        assert_eq!(text(&parts, "to").as_deref(), Some("shop@example.com"));
        assert_eq!(text(&parts, "empty").as_deref(), Some(""));
        assert_eq!(text(&parts, "missing"), None);
    }

    #[test]
    fn a_preamble_filenames_and_bare_lf_are_read() {
        let body = b"preamble\r\n--b\r\nContent-Disposition: form-data; name=\"attachment1\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--b\nContent-Disposition: form-data; name=x\n\nv\n--b--";
        let parts = parse("multipart/form-data; boundary=b", body).unwrap();
        assert_eq!(parts[0].filename.as_deref(), Some("a.png"));
        assert_eq!(parts[0].data, b"PNG");
        assert_eq!((parts[1].name.as_str(), parts[1].data.as_slice()), ("x", &b"v"[..]));
    }

    #[test]
    fn what_is_not_a_form_is_refused() {
        assert_eq!(parse("application/json", b"{}"), Err(FormError::NotMultipart));
        assert_eq!(parse("multipart/form-data", b""), Err(FormError::NotMultipart));
        assert_eq!(
            parse(CT, b"--xYzZY\r\nContent-Disposition: form-data; name=a\r\n\r\nv"),
            Err(FormError::Unterminated)
        );
        assert_eq!(parse(CT, b"--xYzZY\r\nX: y\r\n\r\nv\r\n--xYzZY--"), Err(FormError::UnnamedPart));
        assert_eq!(parse(CT, b"nothing here"), Err(FormError::Unterminated));
    }
}
