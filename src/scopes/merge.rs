//! Merging scope lists without duplicates, in time linear in their size.

use std::collections::HashMap;

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
    let mut out = Vec::with_capacity(a.len() + b.len());
    merge_into(&mut out, a.iter().chain(b));
    out
}

/// Merges `scopes` into `into`, looking names up in a map built once per
/// list (a hostile list of thousands of scopes costs no quadratic time).
fn merge_into<'a>(into: &mut Vec<Scope>, scopes: impl Iterator<Item = &'a Scope>) {
    let mut index: HashMap<String, usize> = into
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect();
    for scope in scopes {
        match index.get(&scope.name) {
            Some(&i) => {
                let existing = &mut into[i];
                existing.optional &= scope.optional;
                merge_into(&mut existing.dependencies, scope.dependencies.iter());
            }
            None => {
                let mut fresh = Scope {
                    name: scope.name.clone(),
                    optional: scope.optional,
                    dependencies: Vec::with_capacity(scope.dependencies.len()),
                };
                merge_into(&mut fresh.dependencies, scope.dependencies.iter());
                index.insert(fresh.name.clone(), into.len());
                into.push(fresh);
            }
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
    let mut all = Vec::new();
    for string in strings {
        all.extend(parse(string)?);
    }
    let mut out = Vec::with_capacity(all.len());
    merge_into(&mut out, all.iter());
    Ok(serialize(&out))
}
