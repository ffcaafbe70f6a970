//! The OData subset Graph supports on directory objects without advanced queries: `$filter`
//! with `eq` and `startswith` joined by `and`/`or` (and parentheses), `$select`, `$top`, and
//! paging by an opaque `$skiptoken` in `@odata.nextLink`. Anything else that Graph accepts only as
//! an advanced query (`ne`, `not`, `endswith`, …) is `Request_UnsupportedQuery`, as Graph answers
//! without `ConsistencyLevel: eventual`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::error::GraphError;
use super::extract::GraphQuery;

#[derive(Debug, Clone, PartialEq)]
pub enum GraphFilter {
    Eq(&'static str, Value),
    StartsWith(&'static str, String),
    And(Box<GraphFilter>, Box<GraphFilter>),
    Or(Box<GraphFilter>, Box<GraphFilter>),
}

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
    fields: &'a [(&'static str, FieldKind)],
    type_name: &'static str,
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
        self.fields.iter().find(|(f, _)| f.eq_ignore_ascii_case(name)).copied().ok_or_else(|| {
            GraphError::unsupported_query(format!(
                "Unsupported or invalid query filter clause specified for property '{name}' of resource '{}'.",
                self.type_name
            ))
        })
    }

    fn or(&mut self, depth: usize) -> Result<GraphFilter, GraphError> {
        if depth > 32 {
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
                Ok(GraphFilter::StartsWith(field.0, prefix))
            }
            Some(Tok::Word(w)) if ["endswith", "contains", "not", "any", "in"].iter().any(|k| w.eq_ignore_ascii_case(k)) => {
                Err(GraphError::unsupported_query("Unsupported Query."))
            }
            Some(Tok::Word(name)) => {
                let field = self.field(&name)?;
                let op = match self.next() {
                    Some(Tok::Word(op)) => op.to_ascii_lowercase(),
                    _ => return Err(GraphError::odata(format!("Invalid filter clause: '{name}' must be followed by an operator."))),
                };
                match op.as_str() {
                    "eq" => {}
                    "ne" | "gt" | "ge" | "lt" | "le" => return Err(GraphError::unsupported_query("Unsupported Query.")),
                    other => return Err(GraphError::odata(format!("Invalid filter clause: '{other}' is not an operator."))),
                }
                let value = match (self.next(), field.1) {
                    (Some(Tok::Str(s)), FieldKind::Text) => Value::String(s),
                    (Some(Tok::Word(w)), FieldKind::Bool) if w == "true" || w == "false" => Value::Bool(w == "true"),
                    (Some(Tok::Word(w)), _) if w == "null" => Value::Null,
                    _ => {
                        return Err(GraphError::odata(format!(
                            "Invalid filter clause: the value compared with '{}' has the wrong type.",
                            field.0
                        )))
                    }
                };
                Ok(GraphFilter::Eq(field.0, value))
            }
            _ => Err(GraphError::odata("Invalid filter clause: an expression was expected.")),
        }
    }
}

pub fn parse_filter(text: &str, fields: &[(&'static str, FieldKind)], type_name: &'static str) -> Result<GraphFilter, GraphError> {
    let toks = tokenize(text)?;
    let mut p = Parser { toks, pos: 0, fields, type_name };
    let f = p.or(0)?;
    if p.pos < p.toks.len() {
        return Err(GraphError::odata("Invalid filter clause: unexpected text after the expression."));
    }
    Ok(f)
}

pub fn matches(filter: &GraphFilter, object: &Map<String, Value>) -> bool {
    match filter {
        GraphFilter::And(a, b) => matches(a, object) && matches(b, object),
        GraphFilter::Or(a, b) => matches(a, object) || matches(b, object),
        GraphFilter::Eq(field, expected) => match (object.get(*field).unwrap_or(&Value::Null), expected) {
            (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        },
        GraphFilter::StartsWith(field, prefix) => {
            object.get(*field).and_then(Value::as_str).is_some_and(|v| v.to_lowercase().starts_with(&prefix.to_lowercase()))
        }
    }
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

/// The page `[skip, skip + top)` of `items`, each cut to the `$select`ed properties.
pub fn select_page(items: Vec<Map<String, Value>>, selected: &Option<Vec<&'static str>>, top: usize, skip: usize) -> Vec<Value> {
    items.into_iter().skip(skip).take(top).map(|item| Value::Object(select(item, selected))).collect()
}

/// A collection response: `@odata.context`, the page as `value`, and an `@odata.nextLink`
/// (see [`next_link`]) while any of the `total` items come after it.
pub fn collection(context: String, page: Vec<Value>, link_base: &str, query: &GraphQuery, top: usize, skip: usize, total: usize) -> Value {
    let mut body = json!({ "@odata.context": context, "value": page });
    if let Some(next) = next_link(link_base, query, skip, top, total) {
        body["@odata.nextLink"] = json!(next);
    }
    body
}

/// `$top` (1–999, default 100) and the offset of a `$skiptoken`.
pub fn paging(query: &GraphQuery) -> Result<(usize, usize), GraphError> {
    let top = match query.get("$top") {
        None => 100,
        Some(t) => match t.trim().parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => n,
            _ => return Err(GraphError::odata(format!("Invalid page size specified: '{t}'. Must be between 1 and 999 inclusive."))),
        },
    };
    let skip = match query.get("$skiptoken") {
        None => 0,
        Some(token) => decode_skiptoken(token).ok_or_else(|| GraphError::odata("The $skiptoken is not valid."))?,
    };
    Ok((top, skip))
}

fn decode_skiptoken(token: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("pbi-access:offset:")?.parse().ok()
}

pub fn encode_skiptoken(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("pbi-access:offset:{offset}"))
}

/// The `@odata.nextLink` for the page after `[skip, skip + top)`, keeping the other options.
pub fn next_link(base_url: &str, query: &GraphQuery, skip: usize, top: usize, total: usize) -> Option<String> {
    if skip + top >= total {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    for name in ["$filter", "$select"] {
        if let Some(v) = query.get(name) {
            parts.push(format!("{name}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)));
        }
    }
    parts.push(format!("$top={top}"));
    parts.push(format!("$skiptoken={}", encode_skiptoken(skip + top)));
    Some(format!("{base_url}?{}", parts.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIELDS: &[(&str, FieldKind)] =
        &[("userPrincipalName", FieldKind::Text), ("displayName", FieldKind::Text), ("accountEnabled", FieldKind::Bool)];

    #[test]
    fn eq_startswith_and_or() {
        let u = json!({"userPrincipalName": "Ann@x.com", "displayName": "Ann O'Neil", "accountEnabled": true});
        let u = u.as_object().unwrap();
        let ok = |f: &str| matches(&parse_filter(f, FIELDS, "user").unwrap(), u);
        assert!(ok("userPrincipalName eq 'ann@x.com'"));
        assert!(ok("startswith(displayName,'ann o''')"));
        assert!(ok("accountEnabled eq true and (displayName eq 'x' or startswith(userPrincipalName, 'AN'))"));
        assert!(!ok("accountEnabled eq false"));
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
    fn skiptokens_round_trip_and_reject_garbage() {
        assert_eq!(decode_skiptoken(&encode_skiptoken(200)), Some(200));
        assert_eq!(decode_skiptoken("garbage!"), None);
    }
}
