//! The OData subset Graph serves on directory objects, shared by every directory resource
//! (users, groups, members):
//!
//! - `$filter` with `eq`, `in (…)` and `startswith` joined by `and`/`or` (and parentheses), on the
//!   properties a resource declares filterable ([`Field`]: Graph property → the store's
//!   attribute, see `domain::dirquery`). It parses into a [`DirFilter`], which the store compiles
//!   into a parameterised condition over indexed columns. A property the resource does not index
//!   is `Request_UnsupportedQuery` naming it, as are the operators Graph keeps for advanced
//!   queries (`ne`, `not`, `endswith`, …): nothing scans a tenant.
//! - `$select` ([`parse_select`], [`select`]), everywhere.
//! - Keyset paging ([`ListRequest`]): `$top` 1–999 (default 100), an opaque `$skiptoken` holding
//!   the key of the last object served (base64url of `pbi-access:key:{key}`), and
//!   `@odata.nextLink` ([`keyset_collection`]) while more objects follow.
//! - `$count=true` (`@odata.count`) and `/$count`, only with `ConsistencyLevel: eventual`, as
//!   Graph; without the header, Graph's `Request_BadRequest`.
//!
//! A resource handler: `ListRequest::parse(&query, &headers, FIELDS, PROPERTIES, "user", "User")`,
//! then ask the store for `top + 1` objects after `after` matching `filter` (and `count` them if
//! `count`), keep `top`, then `keyset_collection(context, page, base, &query, &request, count, next_after)`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::error::GraphError;
use super::extract::GraphQuery;
pub use crate::domain::dirquery::DirFilter as GraphFilter;
use crate::domain::dirquery::{DirFilter, Lit, MAX_IN_VALUES};
use crate::domain::filter::{MAX_FILTER_DEPTH, MAX_FILTER_TERMS};

/// A filterable property: its Graph name, the store attribute it stands for, and its kind.
pub type Field = (&'static str, &'static str, FieldKind);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    LParen,
    RParen,
    Comma,
}

fn tokenize(text: &str) -> Result<Vec<Tok>, GraphError> {
    if text.len() > 4096 || text.chars().any(char::is_control) {
        return Err(GraphError::odata("Invalid filter clause: the filter is too long or contains control characters."));
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            ' ' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(GraphError::odata("Invalid filter clause: a string literal is not terminated.")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            s.push(*c);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], ' ' | '(' | ')' | ',' | '\'') {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    fields: &'a [Field],
    type_name: &'static str,
    /// Comparisons and function calls read so far.
    terms: usize,
}

/// What a filterable property holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Bool,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn field(&self, name: &str) -> Result<(&'static str, FieldKind), GraphError> {
        self.fields.iter().find(|(f, _, _)| f.eq_ignore_ascii_case(name)).map(|(_, a, k)| (*a, *k)).ok_or_else(|| {
            GraphError::unsupported_query(format!(
                "Unsupported or invalid query filter clause specified for property '{name}' of resource '{}'.",
                self.type_name
            ))
        })
    }

    fn literal(&mut self, field: (&'static str, FieldKind), name: &str) -> Result<Lit, GraphError> {
        match (self.next(), field.1) {
            (Some(Tok::Str(s)), FieldKind::Text) => Ok(Lit::Text(s)),
            (Some(Tok::Word(w)), FieldKind::Bool) if w == "true" || w == "false" => Ok(Lit::Bool(w == "true")),
            (Some(Tok::Word(w)), _) if w == "null" => Ok(Lit::Null),
            _ => Err(GraphError::odata(format!("Invalid filter clause: the value compared with '{name}' has the wrong type."))),
        }
    }

    fn or(&mut self, depth: usize) -> Result<GraphFilter, GraphError> {
        if depth > MAX_FILTER_DEPTH {
            return Err(GraphError::odata("Invalid filter clause: the filter is nested too deeply."));
        }
        let mut left = self.and(depth)?;
        while self.is_word("or") {
            self.pos += 1;
            left = GraphFilter::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<GraphFilter, GraphError> {
        let mut left = self.primary(depth)?;
        while self.is_word("and") {
            self.pos += 1;
            left = GraphFilter::And(Box::new(left), Box::new(self.primary(depth)?));
        }
        Ok(left)
    }

    fn primary(&mut self, depth: usize) -> Result<GraphFilter, GraphError> {
        if self.toks.get(self.pos) != Some(&Tok::LParen) {
            self.terms += 1;
            if self.terms > MAX_FILTER_TERMS {
                return Err(GraphError::odata(format!("Invalid filter clause: the filter has more than {MAX_FILTER_TERMS} conditions.")));
            }
        }
        match self.next() {
            Some(Tok::LParen) => {
                let inner = self.or(depth + 1)?;
                if self.next() != Some(Tok::RParen) {
                    return Err(GraphError::odata("Invalid filter clause: missing ')'."));
                }
                Ok(inner)
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("startswith") => {
                if self.next() != Some(Tok::LParen) {
                    return Err(GraphError::odata("Invalid filter clause: startswith needs '('."));
                }
                let field = match self.next() {
                    Some(Tok::Word(f)) => self.field(&f)?,
                    _ => return Err(GraphError::odata("Invalid filter clause: startswith needs a property.")),
                };
                if self.next() != Some(Tok::Comma) {
                    return Err(GraphError::odata("Invalid filter clause: startswith needs two arguments."));
                }
                let prefix = match self.next() {
                    Some(Tok::Str(s)) => s,
                    _ => return Err(GraphError::odata("Invalid filter clause: the second argument of startswith must be a string.")),
                };
                if self.next() != Some(Tok::RParen) {
                    return Err(GraphError::odata("Invalid filter clause: missing ')'."));
                }
                if field.1 != FieldKind::Text {
                    return Err(GraphError::unsupported_query(format!("startswith does not apply to '{}'.", field.0)));
                }
                Ok(DirFilter::StartsWith(field.0, prefix))
            }
            Some(Tok::Word(w)) if ["endswith", "contains", "not", "any", "all"].iter().any(|k| w.eq_ignore_ascii_case(k)) => {
                Err(GraphError::unsupported_query("Unsupported Query."))
            }
            Some(Tok::Word(name)) => {
                let field = self.field(&name)?;
                let op = match self.next() {
                    Some(Tok::Word(op)) => op.to_ascii_lowercase(),
                    _ => return Err(GraphError::odata(format!("Invalid filter clause: '{name}' must be followed by an operator."))),
                };
                match op.as_str() {
                    "eq" => Ok(DirFilter::Eq(field.0, self.literal(field, &name)?)),
                    "in" => {
                        if self.next() != Some(Tok::LParen) {
                            return Err(GraphError::odata("Invalid filter clause: 'in' needs a parenthesised list."));
                        }
                        let mut values = vec![self.literal(field, &name)?];
                        loop {
                            match self.next() {
                                Some(Tok::Comma) => values.push(self.literal(field, &name)?),
                                Some(Tok::RParen) => break,
                                _ => return Err(GraphError::odata("Invalid filter clause: missing ')'.")),
                            }
                        }
                        if values.len() > MAX_IN_VALUES {
                            return Err(GraphError::unsupported_query(format!(
                                "Too many values in the 'in' clause for property '{name}': at most {MAX_IN_VALUES}."
                            )));
                        }
                        Ok(DirFilter::In(field.0, values))
                    }
                    "ne" | "gt" | "ge" | "lt" | "le" => Err(GraphError::unsupported_query("Unsupported Query.")),
                    other => Err(GraphError::odata(format!("Invalid filter clause: '{other}' is not an operator."))),
                }
            }
            _ => Err(GraphError::odata("Invalid filter clause: an expression was expected.")),
        }
    }
}

/// `$filter` over properties that are their own attributes.
pub fn parse_filter(text: &str, fields: &[(&'static str, FieldKind)], type_name: &'static str) -> Result<GraphFilter, GraphError> {
    let fields: Vec<Field> = fields.iter().map(|(f, k)| (*f, *f, *k)).collect();
    parse_dir_filter(text, &fields, type_name)
}

/// `$filter` into a [`DirFilter`] over the attributes `fields` map the properties to.
pub fn parse_dir_filter(text: &str, fields: &[Field], type_name: &'static str) -> Result<DirFilter, GraphError> {
    let toks = tokenize(text)?;
    let mut p = Parser { toks, pos: 0, fields, type_name, terms: 0 };
    let f = p.or(0)?;
    if p.pos < p.toks.len() {
        return Err(GraphError::odata("Invalid filter clause: unexpected text after the expression."));
    }
    Ok(f)
}

/// `$select`: canonical property names, or `None` for the default set.
pub fn parse_select(query: &GraphQuery, properties: &[&'static str], type_name: &str) -> Result<Option<Vec<&'static str>>, GraphError> {
    let Some(list) = query.get("$select").filter(|s| !s.trim().is_empty()) else { return Ok(None) };
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let p = properties
            .iter()
            .find(|p| p.eq_ignore_ascii_case(name))
            .ok_or_else(|| GraphError::odata(format!("Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.")))?;
        if !out.contains(p) {
            out.push(*p);
        }
    }
    Ok(Some(out))
}

pub fn select(object: Map<String, Value>, selected: &Option<Vec<&'static str>>) -> Map<String, Value> {
    match selected {
        None => object,
        Some(keep) => object.into_iter().filter(|(k, _)| k.starts_with('@') || keep.contains(&k.as_str())).collect(),
    }
}

/// The `({properties})` a `$select` adds to an `@odata.context`; empty without one.
pub fn select_suffix(selected: &Option<Vec<&'static str>>) -> String {
    match selected {
        Some(s) => format!("({})", s.join(",")),
        None => String::new(),
    }
}

/// One object as a response: `@odata.context` first, then the object's properties.
pub fn with_context(context: String, mut object: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("@odata.context".into(), json!(context));
    out.append(&mut object);
    Value::Object(out)
}

/// A keyset-paged list request: everything [`keyset_collection`] and the store need.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub filter: Option<DirFilter>,
    pub selected: Option<Vec<&'static str>>,
    /// `$top`: objects per page.
    pub top: usize,
    /// The key of the last object served, from `$skiptoken`.
    pub after: Option<String>,
    /// `$count=true` (with `ConsistencyLevel: eventual`).
    pub count: bool,
}

impl ListRequest {
    /// Read `$filter` (over `fields`), `$select` (of `properties`), `$top`, `$skiptoken` and
    /// `$count` (which needs `ConsistencyLevel: eventual` in `headers`).
    pub fn parse(
        query: &GraphQuery,
        headers: &axum::http::HeaderMap,
        fields: &[Field],
        properties: &[&'static str],
        type_name: &'static str,
        resource: &'static str,
    ) -> Result<ListRequest, GraphError> {
        let filter = query.get("$filter").map(|f| parse_dir_filter(f, fields, resource)).transpose()?;
        let selected = parse_select(query, properties, type_name)?;
        let top = parse_top(query)?;
        let after = match query.get("$skiptoken") {
            None => None,
            Some(token) => Some(decode_key(token).ok_or_else(|| GraphError::odata("The $skiptoken is not valid."))?),
        };
        let count = match query.get("$count").map(str::trim) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) if v.eq_ignore_ascii_case("true") => {
                require_eventual(headers)?;
                true
            }
            Some(v) => return Err(GraphError::odata(format!("Invalid value '{v}' for $count: true or false."))),
        };
        Ok(ListRequest { filter, selected, top, after, count })
    }

    /// What to ask the store for: `top + 1` objects after the `$skiptoken`'s key, the extra one
    /// telling that more follow.
    pub fn page(&self) -> crate::domain::dirquery::Page {
        crate::domain::dirquery::Page { after: self.after.clone(), offset: 0, limit: self.top + 1 }
    }

    /// Cut what [`page`](Self::page) read to `$top`; the key of the last object kept when more
    /// follow, for the next link.
    pub fn cut<T>(&self, rows: &mut Vec<T>, key: impl Fn(&T) -> uuid::Uuid) -> Option<String> {
        let more = rows.len() > self.top;
        rows.truncate(self.top);
        rows.last().filter(|_| more).map(|r| key(r).to_string())
    }
}

/// `$count` and `/$count` are advanced queries: Graph refuses them without
/// `ConsistencyLevel: eventual`.
pub fn require_eventual(headers: &axum::http::HeaderMap) -> Result<(), GraphError> {
    let eventual = headers.get("consistencylevel").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"));
    if eventual {
        Ok(())
    } else {
        Err(GraphError::bad_request("$count is not currently supported."))
    }
}

pub fn parse_top(query: &GraphQuery) -> Result<usize, GraphError> {
    match query.get("$top") {
        None => Ok(100),
        Some(t) => match t.trim().parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => Ok(n),
            _ => Err(GraphError::odata(format!("Invalid page size specified: '{t}'. Must be between 1 and 999 inclusive."))),
        },
    }
}

const KEY_PREFIX: &str = "pbi-access:key:";

/// The `$skiptoken` that resumes after the object whose key is `key`.
pub fn encode_key(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{KEY_PREFIX}{key}"))
}

pub fn decode_key(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let key = text.strip_prefix(KEY_PREFIX)?;
    (!key.is_empty() && key.len() <= 256 && !key.chars().any(char::is_control)).then(|| key.to_string())
}

/// A keyset-paged collection: `@odata.context`, `@odata.count` when asked for, the page (cut
/// to the `$select`ed properties) as `value`, and an `@odata.nextLink` resuming after
/// `next_after` (the key of the page's last object, when more follow: ask the store for
/// `top + 1` objects and keep `top`).
pub fn keyset_collection(
    context: String,
    page: Vec<Map<String, Value>>,
    link_base: &str,
    query: &GraphQuery,
    request: &ListRequest,
    count: Option<i64>,
    next_after: Option<String>,
) -> Value {
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(context));
    if let Some(n) = count {
        body.insert("@odata.count".into(), json!(n));
    }
    if let Some(key) = next_after {
        let mut parts: Vec<String> = Vec::new();
        for name in ["$filter", "$select", "$count"] {
            if let Some(v) = query.get(name) {
                parts.push(format!("{name}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)));
            }
        }
        parts.push(format!("$top={}", request.top));
        parts.push(format!("$skiptoken={}", encode_key(&key)));
        body.insert("@odata.nextLink".into(), json!(format!("{link_base}?{}", parts.join("&"))));
    }
    let value: Vec<Value> = page.into_iter().map(|o| Value::Object(select(o, &request.selected))).collect();
    body.insert("value".into(), Value::Array(value));
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[(&str, FieldKind)] =
        &[("userPrincipalName", FieldKind::Text), ("displayName", FieldKind::Text), ("accountEnabled", FieldKind::Bool)];

    #[test]
    fn eq_startswith_and_or() {
        let f = parse_filter("accountEnabled eq true and (displayName eq 'x' or startswith(userPrincipalName, 'AN'))", FIELDS, "user");
        assert_eq!(
            f.unwrap(),
            DirFilter::And(
                Box::new(DirFilter::Eq("accountEnabled", Lit::Bool(true))),
                Box::new(DirFilter::Or(
                    Box::new(DirFilter::Eq("displayName", Lit::Text("x".into()))),
                    Box::new(DirFilter::StartsWith("userPrincipalName", "AN".into()))
                ))
            )
        );
        let escaped = parse_filter("startswith(displayName,'ann o''')", FIELDS, "user").unwrap();
        assert_eq!(escaped, DirFilter::StartsWith("displayName", "ann o'".into()));
        let code = |f: &str| parse_filter(f, FIELDS, "user").unwrap_err().code;
        assert_eq!(code("userPrincipalName ne 'a'"), "Request_UnsupportedQuery");
        assert_eq!(code("endswith(mail,'a')"), "Request_UnsupportedQuery");
        assert_eq!(code("city eq 'a'"), "Request_UnsupportedQuery");
        assert_eq!(code("userPrincipalName eq 'a"), "BadRequest");
        assert_eq!(code("accountEnabled eq 'yes'"), "BadRequest");
        assert_eq!(code("(displayName eq 'a'"), "BadRequest");
        assert_eq!(code(""), "BadRequest");
    }

    #[test]
    fn in_and_attributes() {
        let fields: &[Field] = &[("userPrincipalName", "upn", FieldKind::Text), ("accountEnabled", "accountEnabled", FieldKind::Bool)];
        let f = parse_dir_filter("userPrincipalName in ('a@x.com', 'B@x.com') and accountEnabled eq true", fields, "User").unwrap();
        assert_eq!(
            f,
            DirFilter::And(
                Box::new(DirFilter::In("upn", vec![Lit::Text("a@x.com".into()), Lit::Text("B@x.com".into())])),
                Box::new(DirFilter::Eq("accountEnabled", Lit::Bool(true)))
            )
        );
        let e = parse_dir_filter("givenName eq 'a'", fields, "User").unwrap_err();
        assert_eq!(e.code, "Request_UnsupportedQuery");
        assert!(e.message.contains("'givenName' of resource 'User'"), "{}", e.message);
        let many = format!("userPrincipalName in ({})", vec!["'a'"; 16].join(","));
        assert_eq!(parse_dir_filter(&many, fields, "User").unwrap_err().code, "Request_UnsupportedQuery");
        assert_eq!(parse_dir_filter("userPrincipalName in ('a'", fields, "User").unwrap_err().code, "BadRequest");
        assert_eq!(decode_key(&encode_key("abc")), Some("abc".into()));
        assert_eq!(decode_key(&URL_SAFE_NO_PAD.encode("pbi-access:offset:3")), None);
    }

    #[test]
    fn skiptokens_reject_garbage() {
        assert_eq!(decode_key("garbage!"), None);
        assert_eq!(decode_key(&URL_SAFE_NO_PAD.encode(KEY_PREFIX)), None);
    }
}
