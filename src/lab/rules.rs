//! The values a lab writes, as types whose constructors hold the engine's and the protocols'
//! rules: a value that constructs is one the engine, DNS or HTTP will take. Each constructor
//! returns the reason in words when it refuses. Must not know where a value was written (the
//! validator locates it).

use std::time::Duration;

/// The longest a check may wait, hold, poll or time out: grading has a deadline anyway.
pub const MAX_WAIT: Duration = Duration::from_secs(3600);
/// The longest a lab may say it lasts.
pub const MAX_LAB_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The shortest poll interval of a `holds`.
pub const MIN_EVERY: Duration = Duration::from_millis(100);
/// The least memory the engine accepts for a container.
pub const MIN_MEMORY: i64 = 6 << 20;
/// The longest a DNS label (a service or network name) may be.
pub const MAX_NAME: usize = 63;

/// The longest a review's command may run, and how long it runs when the lab does not say.
pub const MAX_REVIEW_TIMEOUT: Duration = Duration::from_secs(300);
pub const REVIEW_TIMEOUT: Duration = Duration::from_secs(30);

/// A duration written with its unit ("30s", "2m"), at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl Span {
    pub fn parse(s: &str, max: Duration) -> Result<Span, String> {
        let t = s.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(format!(
                "`{s}` has no unit; write e.g. \"{t}s\" (seconds) or \"{t}ms\""
            ));
        }
        let d = humantime::parse_duration(t)
            .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. \"30s\", \"2m\""))?;
        if d > max {
            return Err(format!(
                "`{s}` is longer than {}",
                humantime::format_duration(max)
            ));
        }
        Ok(Span(d))
    }
}

/// A container port: 1 to 65535.
pub fn port(p: i64) -> Result<u16, String> {
    match u16::try_from(p) {
        Ok(0) | Err(_) => Err(format!("port {p} is not a port; ports are 1 to 65535")),
        Ok(p) => Ok(p),
    }
}

/// A memory size at least the engine's minimum.
pub fn memory(bytes: i64, written: &str) -> Result<i64, String> {
    if bytes < MIN_MEMORY {
        return Err(format!(
            "`{written}` is less than the 6 MiB the engine accepts for a container"
        ));
    }
    Ok(bytes)
}

/// A service or network name: a DNS label (1 to 63 lowercase letters, digits and dashes, not
/// starting or ending with a dash), since services find each other by name.
pub fn dns_label(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.len() > MAX_NAME {
        return Err(format!(
            "it has {} characters; DNS names have at most {MAX_NAME}",
            s.len()
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("DNS names are lowercase letters, digits and dashes".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("it starts or ends with a dash".into());
    }
    Ok(())
}

/// A name folded the way DNS and the engine compare them: case and separators ignored.
pub fn folded(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// An environment variable's name: not empty, no `=`, no NUL; its value has no NUL.
pub fn env_var(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("an environment variable needs a name".into());
    }
    if key.contains('=') {
        return Err(format!(
            "`{key}` contains `=`, which ends a variable's name"
        ));
    }
    if key.contains('\0') || value.contains('\0') {
        return Err(format!("`{}` contains a NUL byte", key.escape_debug()));
    }
    Ok(())
}

/// An HTTP status code: 100 to 599.
pub fn http_status(code: i64) -> Result<u16, String> {
    u16::try_from(code)
        .ok()
        .filter(|c| (100..=599).contains(c))
        .ok_or_else(|| format!("{code} is not an HTTP status; statuses are 100 to 599"))
}

/// The statuses an http expectation accepts: a number, a list of numbers or "200, 204".
pub fn http_statuses(v: &toml::Value) -> Result<Vec<u16>, String> {
    match v {
        toml::Value::Integer(i) => Ok(vec![http_status(*i)?]),
        toml::Value::Array(a) => a
            .iter()
            .map(|x| match x.as_integer() {
                Some(i) => http_status(i),
                None => Err(format!("{x} is not an HTTP status")),
            })
            .collect(),
        toml::Value::String(s) => s
            .split(',')
            .map(|x| match x.trim().parse::<i64>() {
                Ok(i) => http_status(i),
                Err(_) => Err(format!("`{}` is not an HTTP status", x.trim())),
            })
            .collect(),
        other => Err(format!("{other} is not an HTTP status")),
    }
}

/// RFC 9110's token characters (method and header names).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// An HTTP method: a token of at most 20 characters (GET, POST, PURGE...).
pub fn http_method(m: &str) -> Result<(), String> {
    if m.len() > 20 || !is_token(m) {
        return Err(format!(
            "`{}` is not an HTTP method",
            m.chars().take(40).collect::<String>().escape_debug()
        ));
    }
    Ok(())
}

/// A request header: a token name and a value without CR, LF or NUL (no header injection).
pub fn http_header(name: &str, value: &str) -> Result<(), String> {
    if !is_token(name) {
        return Err(format!("`{}` is not a header name", name.escape_debug()));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(format!(
            "the value of header `{name}` contains a line break or NUL"
        ));
    }
    Ok(())
}

/// `http://service:port/path` split into service, port (80 when unset) and path.
pub fn split_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match hostport.split_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (hostport, 80),
    };
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port, path))
}

/// A duration as written in a lab (kept for reports: "within 30s") and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delay {
    pub time: Duration,
    pub written: String,
}

impl Delay {
    /// A duration with its unit, at most `max`.
    pub fn parse(s: &str, max: Duration) -> Result<Delay, String> {
        Span::parse(s, max).map(|d| Delay {
            time: d.0,
            written: s.to_string(),
        })
    }

    /// The default a lab did not write, in seconds.
    pub fn secs(n: u64) -> Delay {
        Delay {
            time: Duration::from_secs(n),
            written: format!("{n}s"),
        }
    }
}

impl std::fmt::Display for Delay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.written)
    }
}

/// A container port: 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(pub u16);

impl Port {
    pub fn new(p: i64) -> Result<Port, String> {
        port(p).map(Port)
    }
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A memory size ("256m", "1g", "65536k" or bytes) the engine accepts, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory(pub i64);

impl Memory {
    /// Err((message, whether the size was read: the hint differs)).
    pub fn parse(s: &str) -> Result<Memory, (String, bool)> {
        let bytes = memory_size(s).map_err(|e| (e, false))?;
        memory(bytes, s).map(Memory).map_err(|e| (e, true))
    }
}

/// A size such as "256m" in bytes, however small.
pub fn memory_size(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t.as_str(), 1),
    };
    num.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("`{s}` is not a memory size; write e.g. \"256m\" or \"1g\""))
}

/// The most CPUs a lab may give one service.
pub const MAX_CPUS: i64 = 64;

/// A decimal number of CPUs ("0.5", "2") in billionths of a CPU, from 0.01 to `MAX_CPUS`.
/// Parsed as decimal digits, so that "0.1" is exactly 100000000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpus(pub i64);

impl Cpus {
    pub fn parse(s: &str) -> Result<Cpus, String> {
        let t = s.trim();
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) || frac.len() > 9 {
            return Err(format!(
                "`{s}` is not a number of CPUs; write e.g. \"0.5\" or \"2\""
            ));
        }
        let whole: Option<i64> = if int.is_empty() {
            Some(0)
        } else {
            int.parse().ok()
        };
        let part: i64 = format!("{frac:0<9}").parse().unwrap_or(0);
        let nano = whole
            .and_then(|w| w.checked_mul(1_000_000_000))
            .and_then(|w| w.checked_add(part))
            .unwrap_or(i64::MAX);
        if !(10_000_000..=MAX_CPUS * 1_000_000_000).contains(&nano) {
            return Err(format!("cpus is from 0.01 to {MAX_CPUS}, got `{s}`"));
        }
        Ok(Cpus(nano))
    }
}

/// A service or network name: a DNS label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(pub String);

impl Name {
    pub fn new(s: &str) -> Result<Name, String> {
        dns_label(s).map(|()| Name(s.to_string()))
    }
}

/// The statuses an http expectation accepts, and how they were written (for reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statuses {
    pub codes: Vec<u16>,
    pub written: String,
}

impl Statuses {
    pub fn new(v: &toml::Value) -> Result<Statuses, String> {
        Ok(Statuses {
            codes: http_statuses(v)?,
            written: v.to_string(),
        })
    }

    /// 200, what an http expectation wants unless told.
    pub fn ok() -> Statuses {
        Statuses {
            codes: vec![200],
            written: "200".into(),
        }
    }
}

/// An HTTP method as written (reports show it so); sent in capitals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method(pub String);

impl Method {
    pub fn new(m: &str) -> Result<Method, String> {
        http_method(m).map(|()| Method(m.to_string()))
    }

    pub fn get() -> Method {
        Method("GET".into())
    }

    pub fn sent(&self) -> String {
        self.0.to_uppercase()
    }
}

/// A file mode written in octal ("0644"), at most 7777.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Mode {
    pub fn parse(m: &str) -> Result<Mode, String> {
        u32::from_str_radix(m, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .map(Mode)
            .ok_or_else(|| format!("`{m}` is not an octal mode"))
    }
}

/// `http://service:port/path`: a lab service, a port and a path without spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUrl {
    pub host: String,
    pub port: u16,
    pub path: String,
    pub written: String,
}

impl ServiceUrl {
    /// Err(problems): the URL is unreadable (one problem), or its port or path are not right.
    pub fn parse(u: &str) -> Result<ServiceUrl, Vec<String>> {
        let Some((host, port, path)) = split_url(u) else {
            return Err(vec![format!(
                "`{u}` is not an http://service:port/path URL"
            )]);
        };
        let mut problems = Vec::new();
        if let Err(e) = self::port(i64::from(port)) {
            problems.push(e);
        }
        if path.contains(|c: char| c.is_whitespace() || c.is_control()) {
            problems.push(format!(
                "`{}` has spaces or control characters in its path",
                u.escape_debug()
            ));
        }
        let url = ServiceUrl {
            host,
            port,
            path,
            written: u.to_string(),
        };
        if problems.is_empty() {
            Ok(url)
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_a_bound() {
        assert!(Span::parse("30", MAX_WAIT).is_err_and(|e| e.contains("no unit")));
        assert!(Span::parse("11000y", MAX_WAIT).is_err_and(|e| e.contains("longer")));
        assert_eq!(
            Span::parse("2m", MAX_WAIT),
            Ok(Span(Duration::from_secs(120)))
        );
    }

    #[test]
    fn names_statuses_and_headers() {
        assert!(dns_label("-").is_err());
        assert!(dns_label("a b").is_err());
        assert!(dns_label(&"a".repeat(64)).is_err());
        assert!(dns_label("web-1").is_ok());
        assert_eq!(folded("My_Db"), folded("my-db"));
        assert!(http_statuses(&toml::Value::Integer(65736)).is_err());
        assert_eq!(
            http_statuses(&toml::Value::String("200, 204".into())),
            Ok(vec![200, 204])
        );
        assert!(http_method("GET\r\n").is_err());
        assert!(http_header("X-A", "a\r\nB: c").is_err());
        assert!(env_var("A=B", "").is_err());
        assert!(port(0).is_err());
        assert!(port(65536).is_err());
    }
}
