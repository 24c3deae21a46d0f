//! Helpers shared by the fuzz targets: reading a request written as HTTP/1.1 text, so that
//! seed inputs can be real requests (captures, spec vectors) that libFuzzer then mutates.

/// A request read from text: `METHOD /path[?query] [HTTP/1.1]`, header lines `Name: value`,
/// an empty line, the body. Line ends may be `\n` or `\r\n`.
#[derive(Debug)]
pub struct HttpText<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: Vec<(&'a str, &'a [u8])>,
    pub body: &'a [u8],
}

impl<'a> HttpText<'a> {
    /// `None` unless the first line is an upper-case method, a space and a target starting
    /// with `/` (inputs that are not requests go to the structured decoder instead).
    pub fn parse(data: &'a [u8]) -> Option<HttpText<'a>> {
        let (first, mut rest) = split_line(data);
        let first = std::str::from_utf8(first).ok()?;
        let mut words = first.splitn(3, ' ');
        let method = words.next()?;
        let target = words.next()?;
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return None;
        }
        if !target.starts_with('/') {
            return None;
        }
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let mut headers = Vec::new();
        loop {
            if rest.is_empty() {
                break;
            }
            let (line, after) = split_line(rest);
            rest = after;
            if line.is_empty() {
                break;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let Ok(name) = std::str::from_utf8(&line[..colon]) else {
                continue;
            };
            headers.push((name.trim(), line[colon + 1..].trim_ascii()));
        }
        Some(HttpText {
            method,
            path,
            query,
            headers,
            body: rest,
        })
    }

    /// Removes and returns the value of a pseudo-header the targets read their own settings
    /// from (e.g. `x-fuzz-secret`).
    pub fn take(&mut self, name: &str) -> Option<&'a [u8]> {
        let i = self
            .headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
        Some(self.headers.remove(i).1)
    }
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let line = &data[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, &data[i + 1..])
        }
        None => (data, &[]),
    }
}

/// True when `FUZZ_DEBUG` is set: the targets then print the input they decoded (to turn a
/// finding into a regression test: `FUZZ_DEBUG=1 cargo +nightly fuzz run <target> <input>`).
pub fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("FUZZ_DEBUG").is_some())
}
