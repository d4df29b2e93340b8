//! One scope and its dependent scopes.

use std::fmt;

/// A scope: its name, whether it is optional (`*` prefix), and the scopes it
/// depends on (in brackets after it).
///
/// ```
/// use tower_gare::scopes::Scope;
///
/// let scope = Scope::new("a").with_dependency(Scope::new("b").optional());
/// assert_eq!(scope.to_string(), "a[*b]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// The scope string itself (a URN, a URL or a short name).
    pub name: String,
    /// Marked with `*`: may be declined without declining the rest.
    pub optional: bool,
    /// Dependent scopes, in the order written.
    pub dependencies: Vec<Scope>,
}

impl Scope {
    /// A required scope with no dependencies.
    ///
    /// ```
    /// assert_eq!(tower_gare::scopes::Scope::new("openid").to_string(), "openid");
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            optional: false,
            dependencies: Vec::new(),
        }
    }

    /// The same scope, marked optional.
    ///
    /// ```
    /// assert_eq!(tower_gare::scopes::Scope::new("x").optional().to_string(), "*x");
    /// ```
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The same scope with one more dependency.
    ///
    /// ```
    /// use tower_gare::scopes::Scope;
    /// assert_eq!(Scope::new("a").with_dependency(Scope::new("b")).to_string(), "a[b]");
    /// ```
    pub fn with_dependency(mut self, dependency: Scope) -> Self {
        self.dependencies.push(dependency);
        self
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.optional {
            f.write_str("*")?;
        }
        f.write_str(&self.name)?;
        if !self.dependencies.is_empty() {
            f.write_str("[")?;
            write_list(f, &self.dependencies)?;
            f.write_str("]")?;
        }
        Ok(())
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, scopes: &[Scope]) -> fmt::Result {
    for (i, scope) in scopes.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        fmt::Display::fmt(scope, f)?;
    }
    Ok(())
}

/// The scope string, so scopes go wherever scope strings do (the
/// login's `LoginBuilder::scope_requirements` takes any `Into<String>`).
///
/// ```
/// use tower_gare::scopes::Scope;
/// let scope: String = Scope::new("a").with_dependency(Scope::new("b")).into();
/// assert_eq!(scope, "a[b]");
/// ```
impl From<Scope> for String {
    fn from(scope: Scope) -> String {
        scope.to_string()
    }
}

/// Scopes as one space-separated scope string, ready for an authorize URL.
///
/// ```
/// use tower_gare::scopes::{serialize, Scope};
/// assert_eq!(serialize(&[Scope::new("a"), Scope::new("b")]), "a b");
/// assert_eq!(serialize(&[]), "");
/// ```
pub fn serialize(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(Scope::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}
