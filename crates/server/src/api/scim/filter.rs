//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): parsed to a tree, evaluated over
//! the JSON representation of a resource. Attribute names ignore case; string comparisons
//! ignore case except for `id`, `externalId` and `meta.version` (caseExact in RFC 7643).

use serde_json::{Map, Value};

use super::error::ScimError;
use crate::domain::dirquery::{DirFilter, Lit};

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// `[uri:]attr[.sub]`. `uri` is kept only for extension schemas (core URIs are dropped); an
/// empty `attr` names the whole extension object.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub uri: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare(AttrPath, CompareOp, Value),
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some element of the multi-valued `attr` matches `filter`.
    ValuePath(AttrPath, Box<Filter>),
}

/// A PATCH `path`: `attrPath` or `valuePath [.subAttr]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Word(String),
    Str(String),
    Num(serde_json::Number),
}

const MAX_FILTER_LEN: usize = 4096;
use crate::domain::filter::{MAX_FILTER_DEPTH as MAX_DEPTH, MAX_FILTER_TERMS};

fn bad_filter(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidFilter", detail)
}

fn bad_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidPath", detail)
}

fn tokenize(text: &str, err: fn(String) -> ScimError) -> Result<Vec<Tok>, ScimError> {
    if text.len() > MAX_FILTER_LEN || text.chars().any(|c| c.is_control() && c != '\t') {
        return Err(err("the expression is longer than 4096 characters or contains control characters".into()));
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            '[' => {
                out.push(Tok::LBracket);
                i += 1
            }
            ']' => {
                out.push(Tok::RBracket);
                i += 1
            }
            '"' => {
                // A JSON string literal, escapes included.
                let start = i;
                i += 1;
                let mut escaped = false;
                while i < chars.len() && (escaped || chars[i] != '"') {
                    escaped = !escaped && chars[i] == '\\';
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(err("a string literal is not terminated".into()));
                }
                i += 1;
                let literal: String = chars[start..i].iter().collect();
                let s: String = serde_json::from_str(&literal).map_err(|_| err(format!("invalid string literal {literal}")))?;
                out.push(Tok::Str(s));
            }
            _ => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], ' ' | '\t' | '(' | ')' | '[' | ']' | '"') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                    let n: serde_json::Number = word.parse().map_err(|_| err(format!("'{word}' is not a number")))?;
                    out.push(Tok::Num(n));
                } else {
                    out.push(Tok::Word(word));
                }
            }
        }
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    name == "$ref"
        || (name.starts_with(|c: char| c.is_ascii_alphabetic()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
}

fn is_core(uri: &str) -> bool {
    uri.eq_ignore_ascii_case(CORE_USER) || uri.eq_ignore_ascii_case(CORE_GROUP)
}

/// Parse `[uri:]attr[.sub]`.
pub fn parse_attr_path(word: &str) -> Result<AttrPath, String> {
    if word.eq_ignore_ascii_case(ENTERPRISE_USER) {
        return Ok(AttrPath { uri: Some(ENTERPRISE_USER.into()), attr: String::new(), sub: None });
    }
    // `get`, not `[..4]`: the first four bytes may end inside a character.
    let (uri, rest) = if word.len() > 4 && word.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        let cut = word.rfind(':').ok_or_else(|| format!("'{word}' is not an attribute path"))?;
        (Some(&word[..cut]), &word[cut + 1..])
    } else {
        (None, word)
    };
    let uri = match uri {
        None => None,
        Some(u) if is_core(u) => None,
        Some(u) if u.eq_ignore_ascii_case(ENTERPRISE_USER) => Some(ENTERPRISE_USER.to_string()),
        Some(u) => return Err(format!("'{u}' is not a schema of this service provider")),
    };
    let mut parts = rest.split('.');
    let attr = parts.next().unwrap_or_default().to_string();
    let sub = parts.next().map(str::to_string);
    if parts.next().is_some() || !valid_name(&attr) || sub.as_deref().is_some_and(|s| !valid_name(s)) {
        return Err(format!("'{word}' is not a valid attribute path"));
    }
    Ok(AttrPath { uri, attr, sub })
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    /// Comparisons and presence tests read so far.
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(bad_filter("the filter is nested too deeply"));
        }
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        if self.keyword("not") {
            self.pos += 1;
            if self.next() != Some(Tok::LParen) {
                return Err(bad_filter("'not' must be followed by a parenthesised filter"));
            }
            let inner = self.or()?;
            if self.next() != Some(Tok::RParen) {
                return Err(bad_filter("missing ')'"));
            }
            return Ok(Filter::Not(Box::new(inner)));
        }
        match self.next() {
            Some(Tok::LParen) => {
                let inner = self.or()?;
                if self.next() != Some(Tok::RParen) {
                    return Err(bad_filter("missing ')'"));
                }
                Ok(inner)
            }
            Some(Tok::Word(w)) => self.attr_expr(&w),
            Some(other) => Err(bad_filter(format!("unexpected {other:?}: expected an attribute path"))),
            None => Err(bad_filter("the filter ends where an expression was expected")),
        }
    }

    fn attr_expr(&mut self, word: &str) -> Result<Filter, ScimError> {
        self.terms += 1;
        if self.terms > MAX_FILTER_TERMS {
            return Err(bad_filter(format!("the filter has more than {MAX_FILTER_TERMS} conditions")));
        }
        let path = parse_attr_path(word).map_err(bad_filter)?;
        if self.peek() == Some(&Tok::LBracket) {
            self.pos += 1;
            let inner = self.or()?;
            if self.next() != Some(Tok::RBracket) {
                return Err(bad_filter("missing ']'"));
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        let op = match self.next() {
            Some(Tok::Word(op)) => op.to_ascii_lowercase(),
            _ => return Err(bad_filter(format!("'{word}' must be followed by an operator"))),
        };
        let cmp = match op.as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            other => return Err(bad_filter(format!("'{other}' is not a SCIM operator"))),
        };
        let value = match self.next() {
            Some(Tok::Str(s)) => Value::String(s),
            Some(Tok::Num(n)) => Value::Number(n),
            Some(Tok::Word(w)) if w == "true" => Value::Bool(true),
            Some(Tok::Word(w)) if w == "false" => Value::Bool(false),
            Some(Tok::Word(w)) if w == "null" => Value::Null,
            _ => return Err(bad_filter(format!("'{word} {op}' must be followed by a value: a string, number, true, false or null"))),
        };
        match (&value, cmp) {
            (Value::Bool(_) | Value::Null, CompareOp::Eq | CompareOp::Ne) => {}
            (Value::Bool(_) | Value::Null, _) => return Err(bad_filter(format!("'{op}' cannot compare booleans or null"))),
            (Value::Number(_), CompareOp::Co | CompareOp::Sw | CompareOp::Ew) => {
                return Err(bad_filter(format!("'{op}' only compares strings")));
            }
            _ => {}
        }
        Ok(Filter::Compare(path, cmp, value))
    }
}

pub fn parse_filter(text: &str) -> Result<Filter, ScimError> {
    let toks = tokenize(text, bad_filter)?;
    if toks.is_empty() {
        return Err(bad_filter("the filter is empty"));
    }
    let mut p = Parser { toks, pos: 0, depth: 0, terms: 0 };
    let f = p.or()?;
    if p.pos < p.toks.len() {
        return Err(bad_filter(format!("unexpected {:?} after a complete filter", p.toks[p.pos])));
    }
    Ok(f)
}

pub fn parse_patch_path(text: &str) -> Result<PatchPath, ScimError> {
    let toks = tokenize(text, bad_path)?;
    let mut p = Parser { toks, pos: 0, depth: 0, terms: 0 };
    let attr = match p.next() {
        Some(Tok::Word(w)) => parse_attr_path(&w).map_err(bad_path)?,
        _ => return Err(bad_path(format!("'{text}' is not a valid path"))),
    };
    let mut path = PatchPath { attr, filter: None, sub: None };
    if p.peek() == Some(&Tok::LBracket) {
        if path.attr.sub.is_some() {
            return Err(bad_path(format!("'{text}': a value filter applies to an attribute, not a sub-attribute")));
        }
        p.pos += 1;
        path.filter = Some(p.or().map_err(|e| bad_path(e.detail))?);
        if p.next() != Some(Tok::RBracket) {
            return Err(bad_path(format!("'{text}': missing ']'")));
        }
        if let Some(Tok::Word(w)) = p.peek().cloned() {
            let sub = w.strip_prefix('.').filter(|s| valid_name(s)).ok_or_else(|| bad_path(format!("'{text}' is not a valid path")))?;
            path.sub = Some(sub.to_string());
            p.pos += 1;
        }
    }
    if p.pos < p.toks.len() {
        return Err(bad_path(format!("'{text}' is not a valid path")));
    }
    Ok(path)
}

/// Case-insensitive member lookup.
pub fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// The key under which `key` is stored in `obj` (any case), or `key` itself.
pub fn key_ci(obj: &Map<String, Value>, key: &str) -> String {
    obj.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned().unwrap_or_else(|| key.to_string())
}

/// The object an attribute path starts in: the resource, or its extension object.
fn base<'a>(resource: &'a Map<String, Value>, path: &AttrPath) -> Option<&'a Map<String, Value>> {
    match &path.uri {
        None => Some(resource),
        Some(uri) => get_ci(resource, uri).and_then(Value::as_object),
    }
}

/// Values at `path`: multi-valued attributes give one value per element (their `value` when
/// no sub-attribute is named).
fn values<'a>(resource: &'a Map<String, Value>, path: &AttrPath) -> Vec<&'a Value> {
    let Some(base) = base(resource, path) else { return Vec::new() };
    let Some(v) = get_ci(base, &path.attr) else { return Vec::new() };
    let elements: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for e in elements {
        match (&path.sub, e) {
            (Some(sub), Value::Object(o)) => out.extend(get_ci(o, sub)),
            (Some(_), _) => {}
            (None, Value::Object(o)) if matches!(v, Value::Array(_)) => out.extend(get_ci(o, "value")),
            (None, other) => out.push(other),
        }
    }
    out.into_iter().filter(|v| !v.is_null()).collect()
}

fn case_exact(path: &AttrPath) -> bool {
    let a = path.attr.to_ascii_lowercase();
    path.uri.is_none()
        && (a == "id" || a == "externalid" || (a == "meta" && path.sub.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("version"))))
}

fn compare(actual: &Value, op: CompareOp, expected: &Value, exact: bool) -> bool {
    use std::cmp::Ordering;
    match (actual, expected) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) = if exact { (a.clone(), b.clone()) } else { (a.to_lowercase(), b.to_lowercase()) };
            match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            let ord = a.as_f64().unwrap_or(f64::NAN).partial_cmp(&b.as_f64().unwrap_or(f64::NAN));
            match op {
                CompareOp::Eq => ord == Some(Ordering::Equal),
                CompareOp::Ne => ord != Some(Ordering::Equal),
                CompareOp::Gt => ord == Some(Ordering::Greater),
                CompareOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                CompareOp::Lt => ord == Some(Ordering::Less),
                CompareOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                _ => false,
            }
        }
        (Value::Bool(a), Value::Bool(b)) => match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            _ => false,
        },
        _ => op == CompareOp::Ne,
    }
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Does `resource` (or an element of a multi-valued attribute) match `filter`?
/// A filterable SCIM attribute: its name, the store attribute it stands for, and whether it
/// holds a boolean (else a string).
pub type IndexedAttr = (&'static str, &'static str, bool);

/// `filter` as a store query over `attrs`, the attributes the resource indexes: `eq` and `sw`
/// on them, joined by `and`/`or`. Anything else (`co`, `ne`, `not`, `pr`, value paths, other
/// attributes) is `invalidFilter` naming the attribute: the store never scans a tenant.
pub fn to_dir_filter(filter: &Filter, attrs: &[IndexedAttr]) -> Result<DirFilter, ScimError> {
    let unsupported = |path: &AttrPath| {
        let name = match &path.sub {
            Some(sub) => format!("{}.{sub}", path.attr),
            None => path.attr.clone(),
        };
        ScimError::bad_request("invalidFilter", format!("Filtering on '{name}' with this operator is not supported."))
    };
    Ok(match filter {
        Filter::And(a, b) => DirFilter::And(Box::new(to_dir_filter(a, attrs)?), Box::new(to_dir_filter(b, attrs)?)),
        Filter::Or(a, b) => DirFilter::Or(Box::new(to_dir_filter(a, attrs)?), Box::new(to_dir_filter(b, attrs)?)),
        Filter::Compare(path, op, value) => {
            let (_, attr, boolean) = attrs
                .iter()
                .find(|(name, _, _)| path.uri.is_none() && path.sub.is_none() && name.eq_ignore_ascii_case(&path.attr))
                .ok_or_else(|| unsupported(path))?;
            match (op, value, boolean) {
                (CompareOp::Eq, Value::String(v), false) => DirFilter::Eq(attr, Lit::Text(v.clone())),
                (CompareOp::Eq, Value::Bool(v), true) => DirFilter::Eq(attr, Lit::Bool(*v)),
                (CompareOp::Eq, Value::Null, _) => DirFilter::Eq(attr, Lit::Null),
                (CompareOp::Sw, Value::String(v), false) => DirFilter::StartsWith(attr, v.clone()),
                (CompareOp::Eq | CompareOp::Sw, _, _) => {
                    return Err(ScimError::bad_request(
                        "invalidFilter",
                        format!("The value compared with '{}' has the wrong type.", path.attr),
                    ))
                }
                _ => return Err(unsupported(path)),
            }
        }
        Filter::Present(path) | Filter::ValuePath(path, _) => return Err(unsupported(path)),
        Filter::Not(_) => return Err(ScimError::bad_request("invalidFilter", "The 'not' operator is not supported.")),
    })
}

pub fn matches(filter: &Filter, resource: &Map<String, Value>) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, resource) && matches(b, resource),
        Filter::Or(a, b) => matches(a, resource) || matches(b, resource),
        Filter::Not(a) => !matches(a, resource),
        Filter::Present(path) => values(resource, path).into_iter().any(present),
        Filter::Compare(path, op, Value::Null) => {
            let has = values(resource, path).into_iter().any(present);
            if *op == CompareOp::Eq {
                !has
            } else {
                has
            }
        }
        Filter::Compare(path, op, expected) => {
            let vals = values(resource, path);
            let exact = case_exact(path);
            if *op == CompareOp::Ne {
                !vals.iter().any(|v| compare(v, CompareOp::Eq, expected, exact))
            } else {
                vals.iter().any(|v| compare(v, *op, expected, exact))
            }
        }
        Filter::ValuePath(path, inner) => {
            let Some(base) = base(resource, path) else { return false };
            match get_ci(base, &path.attr) {
                Some(Value::Array(items)) => items.iter().any(|e| e.as_object().is_some_and(|o| matches(inner, o))),
                Some(Value::Object(o)) => matches(inner, o),
                _ => false,
            }
        }
    }
}

/// For a value filter made only of `attr eq value` joined by `and` (`type eq "work"`), the
/// pairs, so a PATCH can create the element it names.
pub fn equality_pairs(filter: &Filter) -> Option<Vec<(String, Value)>> {
    match filter {
        Filter::Compare(p, CompareOp::Eq, v) if p.uri.is_none() && p.sub.is_none() && !v.is_null() => {
            Some(vec![(p.attr.clone(), v.clone())])
        }
        Filter::And(a, b) => {
            let mut pairs = equality_pairs(a)?;
            pairs.extend(equality_pairs(b)?);
            Some(pairs)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Map<String, Value> {
        json!({
            "id": "ABC", "userName": "Alice@Contoso.com", "active": true, "title": "Analyst",
            "name": {"givenName": "Alice", "familyName": "Anders"},
            "emails": [{"value": "alice@contoso.com", "type": "work", "primary": true}, {"value": "a@home.net", "type": "home"}],
            "meta": {"lastModified": "2024-05-01T00:00:00Z", "version": "W/\"3\""},
            ENTERPRISE_USER: {"employeeNumber": "42", "department": "Sales"}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn ok(f: &str) -> bool {
        matches(&parse_filter(f).unwrap(), &user())
    }

    #[test]
    fn operators_and_case_rules() {
        assert!(ok(r#"userName eq "alice@contoso.com""#), "userName is not caseExact");
        assert!(ok(r#"USERNAME Eq "ALICE@CONTOSO.COM""#), "names and operators ignore case");
        assert!(!ok(r#"id eq "abc""#), "id is caseExact");
        assert!(ok(r#"userName sw "alice" and userName ew ".com" and userName co "@""#));
        assert!(ok(r#"title pr and not (title eq "Boss")"#));
        assert!(!ok(r#"nickName pr"#));
        assert!(ok(r#"nickName eq null"#));
        assert!(ok(r#"active eq true"#));
        assert!(ok(r#"meta.lastModified gt "2024-01-01T00:00:00Z""#));
        assert!(ok(r#"name.familyName eq "anders" or userName eq "x""#));
        assert!(ok(r#"emails[type eq "work" and value co "contoso"]"#));
        assert!(!ok(r#"emails[type eq "home" and value co "contoso"]"#));
        assert!(ok(r#"emails.value eq "a@home.net""#));
        assert!(ok(r#"emails eq "a@home.net""#), "a multi-valued attribute compares its values");
        assert!(ok(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42""#));
        assert!(ok(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ALI""#));
        assert!(ok(r#"(title eq "x" or title eq "analyst") and active eq true"#));
        assert!(ok(r#"title ne "x""#));
        assert!(ok(r#"userName eq "alice@contoso.com" or title eq "x" and active eq false"#), "and binds tighter than or");
    }

    #[test]
    fn bad_filters_are_invalid_filter_errors() {
        for f in [
            "",
            "userName",
            "userName eq",
            r#"userName xx "a""#,
            r#"(userName eq "a""#,
            r#"userName eq "a" and"#,
            r#"userName eq "unterminated"#,
            r#"active gt true"#,
            r#"emails[type eq "work""#,
            r#"urn:bogus:schema:attr eq "x""#,
            r#"not userName eq "a""#,
            r#"userName eq 'single'"#,
        ] {
            let e = parse_filter(f).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidFilter"), "{f}");
        }
    }

    #[test]
    fn a_path_starting_with_multibyte_characters_is_an_error_not_a_panic() {
        // Found by the property tests: slicing the first four bytes panicked (a 500).
        assert!(parse_filter("\u{1f43}\u{1f574} eq \"x\"").is_err());
        assert!(parse_patch_path("é\u{1f574}x").is_err());
        assert!(parse_attr_path("ab\u{e9}cd").is_err());
    }

    #[test]
    fn patch_paths() {
        let p = parse_patch_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr.attr, "emails");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert!(p.filter.is_some());
        let p = parse_patch_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber").unwrap();
        assert_eq!(p.attr.uri.as_deref(), Some(ENTERPRISE_USER));
        assert_eq!(p.attr.attr, "employeeNumber");
        let p = parse_patch_path("name.givenName").unwrap();
        assert_eq!((p.attr.attr.as_str(), p.attr.sub.as_deref()), ("name", Some("givenName")));
        let p = parse_patch_path(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#).unwrap();
        assert_eq!(equality_pairs(p.filter.as_ref().unwrap()).unwrap()[0].0, "value");
        for bad in ["", "emails[", "a.b.c", r#"emails[type eq "work"]x"#, "9lives"] {
            assert_eq!(parse_patch_path(bad).unwrap_err().scim_type, Some("invalidPath"), "{bad}");
        }
    }
}
