//! Merging scope lists without duplicates, in time linear in their size.

use std::collections::HashMap;

use super::{parse, serialize, Scope, ScopeParseError};

/// A scope being merged, with an index of its dependencies by name that
/// lives as long as it does: merging the same scope again costs its new
/// dependencies, not all the ones it has.
struct Node {
    name: String,
    optional: bool,
    children: Vec<Node>,
    index: HashMap<String, usize>,
}

fn absorb(nodes: &mut Vec<Node>, index: &mut HashMap<String, usize>, scope: &Scope) {
    let at = match index.get(&scope.name) {
        Some(&at) => {
            nodes[at].optional &= scope.optional;
            at
        }
        None => {
            index.insert(scope.name.clone(), nodes.len());
            nodes.push(Node {
                name: scope.name.clone(),
                optional: scope.optional,
                children: Vec::new(),
                index: HashMap::new(),
            });
            nodes.len() - 1
        }
    };
    let node = &mut nodes[at];
    for dependency in &scope.dependencies {
        absorb(&mut node.children, &mut node.index, dependency);
    }
}

fn into_scope(node: Node) -> Scope {
    Scope {
        name: node.name,
        optional: node.optional,
        dependencies: node.children.into_iter().map(into_scope).collect(),
    }
}

fn merge_all<'a>(scopes: impl Iterator<Item = &'a Scope>) -> Vec<Scope> {
    let mut nodes = Vec::new();
    let mut index = HashMap::new();
    for scope in scopes {
        absorb(&mut nodes, &mut index, scope);
    }
    nodes.into_iter().map(into_scope).collect()
}

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
    merge_all(a.iter().chain(b))
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
    Ok(serialize(&merge_all(all.iter())))
}
