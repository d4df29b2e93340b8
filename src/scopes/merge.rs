//! Merging scope lists without duplicates.

use super::{parse, serialize, Scope, ScopeParseError};

/// `a` then `b`, with each scope once: scopes of the same name are merged
/// (their dependencies merged the same way, recursively; the result is
/// optional only if every occurrence was). Order is first occurrence.
///
/// ```
/// use tower_gare::scopes::{merge, parse, serialize};
///
/// let a = parse("t:all[*d1] openid").unwrap();
/// let b = parse("openid t:all[d2] email").unwrap();
/// assert_eq!(serialize(&merge(&a, &b)), "t:all[*d1 d2] openid email");
/// ```
pub fn merge(a: &[Scope], b: &[Scope]) -> Vec<Scope> {
    let mut out: Vec<Scope> = Vec::with_capacity(a.len() + b.len());
    for scope in a.iter().chain(b) {
        absorb(&mut out, scope);
    }
    out
}

fn absorb(into: &mut Vec<Scope>, scope: &Scope) {
    match into.iter_mut().find(|s| s.name == scope.name) {
        Some(existing) => {
            existing.optional &= scope.optional;
            for dependency in &scope.dependencies {
                absorb(&mut existing.dependencies, dependency);
            }
        }
        None => {
            let mut fresh = Scope {
                name: scope.name.clone(),
                optional: scope.optional,
                dependencies: Vec::with_capacity(scope.dependencies.len()),
            };
            for dependency in &scope.dependencies {
                absorb(&mut fresh.dependencies, dependency);
            }
            into.push(fresh);
        }
    }
}

/// Merges scope strings (each may hold several scopes) into one scope
/// string, bracket-aware and without duplicates: what an authorize request's
/// `scope` parameter needs when a GARE's `required_scopes` meet the scopes an
/// application always asks for.
///
/// ```
/// use tower_gare::scopes::merge_strings;
///
/// let merged = merge_strings(["openid email", "t:all[*d]", "openid"]).unwrap();
/// assert_eq!(merged, "openid email t:all[*d]");
/// assert!(merge_strings(["a[b"]).is_err());
/// ```
pub fn merge_strings<'a>(
    strings: impl IntoIterator<Item = &'a str>,
) -> Result<String, ScopeParseError> {
    let mut out = Vec::new();
    for string in strings {
        out = merge(&out, &parse(string)?);
    }
    Ok(serialize(&out))
}
