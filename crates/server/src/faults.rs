//! Fault injection, for testing how clients cope with a flaky service: per operation or path
//! glob, a chance of 429, 500 or 503 answers, added latency and added database work. Each rule draws from its own
//! seeded generator in request order, so the same seed and the same sequence of matching
//! requests give the same faults. The rules live in memory, per instance: they come from the
//! config (`[[faults]]`) and the operator API replaces them.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use pbi_wire::operator::FaultRule;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Longest latency or jitter a rule may add, and longest `Retry-After` it may announce.
pub const MAX_DELAY_MS: u64 = 300_000;
pub const MAX_RETRY_AFTER_SECS: u64 = 86_400;

/// The fault rules in force. Cheap to read on every request.
#[derive(Debug, Default)]
pub struct Faults {
    rules: RwLock<Arc<Vec<Arc<Compiled>>>>,
}

#[derive(Debug)]
struct Compiled {
    spec: FaultRule,
    matcher: Matcher,
    rng: Mutex<StdRng>,
}

#[derive(Debug)]
enum Matcher {
    Operation(String),
    Path(Vec<char>),
}

/// A rule that matched a request, before its dice are thrown.
#[derive(Debug, Clone)]
pub struct Matched(Arc<Compiled>);

/// What a matching request suffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    pub delay: Duration,
    /// Database work to add (`statement_ms`).
    pub statement: Duration,
    pub answer: Option<Injected>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    TooManyRequests { retry_after_secs: u64 },
    InternalServerError,
    ServiceUnavailable,
}

impl Faults {
    /// Rules checked by [`validate`]; an invalid one refuses the whole list.
    pub fn new(rules: &[FaultRule]) -> Result<Faults, String> {
        let faults = Faults::default();
        faults.replace(rules)?;
        Ok(faults)
    }

    /// Replace every rule (their generators start again from their seeds).
    pub fn replace(&self, rules: &[FaultRule]) -> Result<(), String> {
        let compiled = rules.iter().enumerate().map(|(i, r)| compile(r).map_err(|e| format!("rule {i}: {e}"))).collect::<Result<_, _>>()?;
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(compiled);
        Ok(())
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        self.snapshot().iter().map(|c| c.spec.clone()).collect()
    }

    /// The first rule matching the operation or the (raw) request path.
    pub fn matching(&self, operation: &str, path: &str) -> Option<Matched> {
        let rules = self.snapshot();
        if rules.is_empty() {
            return None;
        }
        let path: Vec<char> = path.chars().collect();
        rules
            .iter()
            .find(|c| match &c.matcher {
                Matcher::Operation(op) => op.eq_ignore_ascii_case(operation),
                Matcher::Path(glob) => glob_matches(glob, &path),
            })
            .map(|c| Matched(c.clone()))
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Compiled>>> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Matched {
    /// Throw the rule's dice: one draw for the answer, one for the jitter (when there is any).
    pub fn draw(&self) -> Draw {
        let spec = &self.0.spec;
        let mut rng = self.0.rng.lock().unwrap_or_else(|e| e.into_inner());
        let roll: f64 = rng.gen();
        let jitter = if spec.jitter_ms > 0 { rng.gen_range(0..=spec.jitter_ms) } else { 0 };
        let answer = if roll < spec.probability_429 {
            Some(Injected::TooManyRequests { retry_after_secs: spec.retry_after_secs.unwrap_or(1).max(1) })
        } else if roll < spec.probability_429 + spec.probability_500 {
            Some(Injected::InternalServerError)
        } else if roll < spec.probability_429 + spec.probability_500 + spec.probability_503 {
            Some(Injected::ServiceUnavailable)
        } else {
            None
        };
        Draw { delay: Duration::from_millis(spec.latency_ms + jitter), statement: Duration::from_millis(spec.statement_ms), answer }
    }
}

fn compile(rule: &FaultRule) -> Result<Arc<Compiled>, String> {
    validate(rule)?;
    let matcher = match (&rule.operation, &rule.path) {
        (Some(op), None) => Matcher::Operation(op.clone()),
        (None, Some(path)) => Matcher::Path(path.chars().collect()),
        _ => unreachable!("validated"),
    };
    Ok(Arc::new(Compiled { spec: rule.clone(), matcher, rng: Mutex::new(StdRng::seed_from_u64(rule.seed)) }))
}

/// A rule names exactly one operation of the Power BI routing table or one path glob, its
/// probabilities lie in 0–1 and add up to at most 1, and its delays are bounded.
pub fn validate(rule: &FaultRule) -> Result<(), String> {
    match (&rule.operation, &rule.path) {
        (Some(op), None) => {
            if !pbi_wire::ops::powerbi::ALL.iter().any(|o| o.id.eq_ignore_ascii_case(op)) {
                return Err(format!("operation '{op}' is not a Power BI operation of pbi-access (see docs/compatibility.md)"));
            }
        }
        (None, Some(path)) => {
            if path.is_empty() || path.len() > 1024 || path.chars().any(char::is_control) {
                return Err("path must be a glob of 1 to 1024 characters without control characters".into());
            }
        }
        _ => return Err("give exactly one of operation or path".into()),
    }
    let probabilities =
        [("probability_429", rule.probability_429), ("probability_500", rule.probability_500), ("probability_503", rule.probability_503)];
    for (name, p) in probabilities {
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("{name} must be between 0 and 1"));
        }
    }
    if probabilities.iter().map(|(_, p)| p).sum::<f64>() > 1.0 + 1e-9 {
        return Err("the probabilities add up to more than 1".into());
    }
    if rule.latency_ms > MAX_DELAY_MS || rule.jitter_ms > MAX_DELAY_MS || rule.statement_ms > MAX_DELAY_MS {
        return Err(format!("latency_ms, jitter_ms and statement_ms may be at most {MAX_DELAY_MS}"));
    }
    if rule.retry_after_secs.is_some_and(|s| s > MAX_RETRY_AFTER_SECS) {
        return Err(format!("retry_after_secs may be at most {MAX_RETRY_AFTER_SECS}"));
    }
    Ok(())
}

/// `*` matches any run of characters (`/` included), `?` any one character.
fn glob_matches(glob: &[char], text: &[char]) -> bool {
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some('*') => {
                star = Some((g, t));
                g += 1;
            }
            Some(c) if *c == '?' || *c == text[t] => {
                g += 1;
                t += 1;
            }
            _ => match star {
                Some((sg, st)) => {
                    g = sg + 1;
                    t = st + 1;
                    star = Some((sg, st + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(g: &str, t: &str) -> bool {
        glob_matches(&g.chars().collect::<Vec<_>>(), &t.chars().collect::<Vec<_>>())
    }

    #[test]
    fn globs() {
        assert!(glob("/v1.0/myorg/admin/*", "/v1.0/myorg/admin/groups/x/users"));
        assert!(!glob("/v1.0/myorg/admin/*", "/v1.0/myorg/groups"));
        assert!(glob("*", ""));
        assert!(glob("*/users", "/v1.0/myorg/groups/1/users"));
        assert!(!glob("*/users", "/v1.0/myorg/groups/1/users/a"));
        assert!(glob("/v1.0/myorg/groups/????", "/v1.0/myorg/groups/abcd"));
        assert!(!glob("/v1.0/myorg/groups/????", "/v1.0/myorg/groups/abc"));
        assert!(glob("*a*b*", "xxaxxbxx"));
        assert!(!glob("*a*b", "xxbxxa"));
    }

    fn rule(p429: f64, p500: f64, p503: f64, seed: u64) -> FaultRule {
        FaultRule {
            path: Some("*".into()),
            probability_429: p429,
            probability_500: p500,
            probability_503: p503,
            seed,
            ..FaultRule::default()
        }
    }

    #[test]
    fn invalid_rules_are_refused() {
        assert!(Faults::new(&[rule(1.1, 0.0, 0.0, 0)]).is_err());
        assert!(Faults::new(&[rule(-0.1, 0.0, 0.0, 0)]).is_err());
        assert!(Faults::new(&[rule(f64::NAN, 0.0, 0.0, 0)]).is_err());
        assert!(Faults::new(&[rule(0.5, 0.4, 0.2, 0)]).unwrap_err().contains("add up"));
        assert!(Faults::new(&[FaultRule { operation: Some("Nope".into()), ..FaultRule::default() }]).is_err());
        assert!(Faults::new(&[FaultRule::default()]).unwrap_err().contains("exactly one"));
        assert!(Faults::new(&[FaultRule { operation: Some("groups_getgroups".into()), ..FaultRule::default() }]).is_ok());
        assert!(Faults::new(&[FaultRule { latency_ms: MAX_DELAY_MS + 1, ..rule(0.0, 0.0, 0.0, 0) }]).is_err());
        assert!(Faults::new(&[FaultRule { statement_ms: MAX_DELAY_MS + 1, ..rule(0.0, 0.0, 0.0, 0) }]).is_err());
    }

    #[test]
    fn same_seed_same_faults() {
        let draws = |seed| {
            let faults = Faults::new(&[rule(0.2, 0.2, 0.2, seed)]).unwrap();
            (0..200).map(|_| faults.matching("X", "/a").unwrap().draw().answer).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
    }

    #[test]
    fn first_matching_rule_decides() {
        let faults = Faults::new(&[
            FaultRule { operation: Some("Groups_GetGroups".into()), probability_500: 1.0, ..FaultRule::default() },
            rule(1.0, 0.0, 0.0, 0),
        ])
        .unwrap();
        assert_eq!(faults.matching("Groups_GetGroups", "/v1.0/myorg/groups").unwrap().draw().answer, Some(Injected::InternalServerError));
        assert_eq!(
            faults.matching("Groups_GetGroup", "/v1.0/myorg/groups/1").unwrap().draw().answer,
            Some(Injected::TooManyRequests { retry_after_secs: 1 })
        );
        faults.replace(&[]).unwrap();
        assert!(faults.matching("Groups_GetGroups", "/v1.0/myorg/groups").is_none());
    }
}
