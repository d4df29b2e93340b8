//! Finds the servers the end-to-end tests run against, so that a test whose
//! server is missing is counted as *ignored* in `cargo test`'s summary, not
//! as passed:
//!
//! - fauxbus (`FAUXBUS`: a path or a name on `PATH`; else `fauxbus` on
//!   `PATH`; else `target/ci-venv/bin/fauxbus`, where `.ci/run` installs it).
//!   Found: its path goes to the tests as `TOWER_GARE_FAUXBUS`. Missing:
//!   `cfg(fauxbus_missing)`, or a build error under `REQUIRE_FAUXBUS=1`.
//! - node-oidc-provider (`NODE` or `node` on `PATH`, and
//!   `tests/oidc/node_modules`). Missing: `cfg(oidc_missing)`, or a build
//!   error under `REQUIRE_OIDC=1`.
//!
//! Nothing is run: the lookup only reads the file system, so building the
//! crate as a dependency costs nothing. The library itself uses none of this.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(fauxbus_missing)");
    println!("cargo::rustc-check-cfg=cfg(oidc_missing)");
    println!("cargo::rerun-if-changed=build.rs");
    for var in ["FAUXBUS", "REQUIRE_FAUXBUS", "NODE", "REQUIRE_OIDC"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));

    match fauxbus(&root) {
        Ok(path) => {
            watch(&path);
            println!("cargo::rustc-env=TOWER_GARE_FAUXBUS={}", path.display());
        }
        Err(why) => {
            require("REQUIRE_FAUXBUS", &why);
            // Installing fauxbus where `.ci/run` does reruns this script.
            let venv = root.join("target/ci-venv/bin");
            if venv.is_dir() {
                watch(&venv);
            }
            println!("cargo::rustc-cfg=fauxbus_missing");
        }
    }

    let oidc = root.join("tests/oidc");
    let provider = oidc.join("node_modules/oidc-provider/package.json");
    // Watch what exists (a missing path would rerun this script on every
    // build): the package once installed, else the folder it installs into.
    if provider.is_file() {
        watch(&provider);
    } else if oidc.is_dir() {
        watch(&oidc);
    }
    let missing = match executable(&env::var("NODE").unwrap_or_else(|_| "node".into()), &root) {
        None => Some("node not found (set NODE=/path/to/node)".to_owned()),
        Some(_) if !provider.is_file() => Some(format!(
            "{} is missing (run `npm ci` in tests/oidc)",
            provider.display()
        )),
        Some(_) => None,
    };
    if let Some(why) = missing {
        require("REQUIRE_OIDC", &why);
        println!("cargo::rustc-cfg=oidc_missing");
    }
}

/// The fauxbus to test against, or why there is none.
fn fauxbus(root: &Path) -> Result<PathBuf, String> {
    if let Ok(named) = env::var("FAUXBUS") {
        return executable(&named, root)
            .ok_or_else(|| format!("FAUXBUS={named} is not an executable file"));
    }
    executable("fauxbus", root)
        .or_else(|| executable("target/ci-venv/bin/fauxbus", root))
        .ok_or_else(|| {
            "fauxbus not found: `pip install fauxbus==0.4.0` and put it on PATH, or set FAUXBUS=/path/to/fauxbus".to_owned()
        })
}

/// `name` as a command would find it: a path (relative to the package
/// root, where the tests run), or a bare name looked up on `PATH`.
fn executable(name: &str, root: &Path) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains(std::path::MAIN_SEPARATOR) || name.contains('/') {
        let path = root.join(name);
        return is_executable(&path).then_some(path);
    }
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

fn watch(path: &Path) {
    println!("cargo::rerun-if-changed={}", path.display());
}

/// With `{var}=1`, a missing server is a build error, so CI cannot pass
/// with its end-to-end tests skipped.
fn require(var: &str, why: &str) {
    if env::var(var).is_ok_and(|v| v == "1") {
        panic!("{var}=1, but {why}");
    }
}
