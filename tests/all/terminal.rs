//! What a person at a terminal sees: `examples/globus_api.rs` run under a
//! pseudo-terminal of the test's own (the child's controlling terminal, so
//! the line discipline echoes what is typed and turns Ctrl-C into SIGINT,
//! as a terminal emulator's does), its screen read back and answered as a
//! person would: reading the URL off the screen, signing in headlessly and
//! pasting the redirect.
//!
//! Unix only (`openpty`); the login story needs fauxbus (ignored without
//! it, as the other fauxbus tests), the Ctrl-C one does not.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::e2e_fauxbus::globus_api_binary;
use crate::support::fauxbus::*;

const MY_GROUPS: &str = "/v2/groups/my_groups";
const PROMPT: &str = "Enter the resulting Authorization Code here: ";

/// A child on a pseudo-terminal, and everything it has shown.
struct Terminal {
    master: File,
    child: Child,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    /// Runs `program args` with `envs` (and nothing else of this process's
    /// environment but `PATH`) as the session leader of a new pty, 200
    /// columns wide.
    fn run(program: &std::path::Path, args: &[&str], envs: &[(&str, String)]) -> Terminal {
        let mut master = -1;
        let mut slave = -1;
        let size = libc::winsize {
            ws_row: 50,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors it opened; the size is read.
        let opened = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors are open and owned here alone.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TERM", "xterm")
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe; between fork and
        // exec nothing else runs. The child leads a new session whose
        // controlling terminal is the pty (its standard input).
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                if libc::setsid() == -1 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        // The `Command` holds the last copies of the slave: dropped, the
        // master reads EOF (EIO) once the child and its children are gone.
        drop(command);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let shown = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shown.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Terminal {
            master,
            child,
            screen,
        }
    }

    /// The screen as text, its lines ended by `\n` (the pty's `\r\n`).
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).replace("\r\n", "\n")
    }

    /// Waits until the screen shows `what`; then the screen.
    fn wait_for(&mut self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = self.text();
            if text.contains(what) {
                return text;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the screen never showed {what:?}:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `keys` (a line ends with `\r`, the Enter key).
    fn type_keys(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// The exit code, once the program has ended (within 60 s).
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running after 60 s:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A folder removed when dropped.
struct TempHome(std::path::PathBuf);

impl TempHome {
    fn new(name: &str) -> TempHome {
        let dir = std::env::temp_dir().join(format!("tower-gare-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempHome(dir)
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `globus_api`'s environment against services at `base`.
fn environment(base: &str, home: &TempHome) -> Vec<(&'static str, String)> {
    vec![
        ("HOME", home.0.display().to_string()),
        ("GLOBUS_CLIENT_ID", CLIENT_ID.to_owned()),
        ("GLOBUS_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("GLOBUS_SDK_SERVICE_URL_AUTH", format!("{base}/")),
        ("GLOBUS_SDK_SERVICE_URL_GROUPS", format!("{base}/")),
    ]
}

/// The screen's lines from the one that starts with `first` on.
fn from<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .rposition(|l| l.starts_with(first))
        .unwrap_or_else(|| panic!("no line starts with {first:?}:\n{text}"));
    lines[at..].to_vec()
}

/// The login's screen, from the run of `globus_api groups GET
/// /v2/groups/my_groups` that meets a GARE asking for MFA, as a person
/// sees it; answered as a person would, by pasting what the browser came
/// back with.
#[test]
#[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
fn a_person_at_a_terminal_sees_the_services_message_what_is_asked_and_the_url() {
    let fauxbus = Fauxbus::start_with(|seed, base| {
        seed["clients"][CLIENT_ID]["redirect_uris"] = json!([format!("{base}/v2/web/auth-code")]);
    });
    let base = fauxbus.base.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let home = TempHome::new("terminal");
    let env = environment(&base, &home);
    let groups = ["groups", "GET", MY_GROUPS];
    let authorize = format!("{base}/v2/oauth2/authorize?");
    // Pastes the redirect the browser came back to for the URL on screen.
    let answer = |terminal: &mut Terminal, text: &str| {
        let url = from(text, &authorize)[0].to_owned();
        let redirect = runtime.block_on(sign_in(&base, &url));
        terminal.type_keys(&format!("{redirect}\r"));
        (url, redirect)
    };

    // The first run logs in for Groups' scope: no message from a service,
    // the consent it asks for.
    let mut terminal = Terminal::run(&globus_api_binary(), &groups, &env);
    let text = terminal.wait_for(PROMPT);
    let (url, _) = answer(&mut terminal, &text);
    assert_eq!(terminal.exit_code(), Some(0), "{}", terminal.text());
    assert_eq!(
        from(&text, "This login asks for:"),
        [
            "This login asks for:",
            "  consent to: urn:globus:auth:scope:groups.api.globus.org:all",
            "Please authenticate with Globus here:",
            "------------------------------------",
            url.as_str(),
            "------------------------------------",
            PROMPT,
        ]
    );
    assert!(!text.contains("Message from the service"), "{text}");

    // Groups now wants MFA for this group, and says so.
    let gare = json!({
        "code": "AuthorizationRequired",
        "authorization_parameters": {
            "session_message": "Access to this group requires MFA.\u{1b}[8m hidden",
            "session_required_mfa": true,
            "required_scopes": [GROUPS_SCOPE]
        }
    });
    runtime.block_on(
        fauxbus.arm(
            json!({"method": "GET", "path": MY_GROUPS, "status": 403, "body": gare, "times": 1}),
        ),
    );
    let mut terminal = Terminal::run(&globus_api_binary(), &groups, &env);
    let text = terminal.wait_for(PROMPT);
    let (url, redirect) = answer(&mut terminal, &text);
    assert_eq!(terminal.exit_code(), Some(0), "{}", terminal.text());
    let screen = terminal.text();
    // Straight to the terminal: `cargo test -- --nocapture` shows it, as
    // the README does.
    eprintln!("{screen}");
    assert_eq!(
        from(&screen, "Message from the service:"),
        [
            "Message from the service: Access to this group requires MFA. hidden",
            "This login asks for:",
            "  consent to: urn:globus:auth:scope:groups.api.globus.org:view_my_groups_and_memberships, \
             urn:globus:auth:scope:groups.api.globus.org:all",
            "  multi-factor authentication (MFA)",
            "Please authenticate with Globus here:",
            "------------------------------------",
            url.as_str(),
            "------------------------------------",
            // What was pasted, echoed by the terminal; the status on the
            // next line, with no blank line between.
            format!("{PROMPT}{redirect}").as_str(),
            "200 OK",
            "tower-gare: Redriven",
            screen.lines().last().unwrap(),
        ]
    );
    assert!(screen.contains("\"e2e-users\""), "the groups: {screen}");
    assert!(!screen.contains('\u{1b}'), "no escape reaches the terminal");
}

/// `globus_api --local-server` at a desktop: the browser `BROWSER` names is
/// started with the URL on the screen, and Ctrl-C at the terminal cancels
/// the login, cleanly: a line that says so, the login error, exit code 3.
#[test]
fn at_a_desktop_the_browser_opens_and_ctrl_c_cancels_the_login() {
    let home = TempHome::new("terminal-browser");
    // A browser that writes down the URL it was given.
    let opened = home.0.join("opened");
    let browser = home.0.join("browser");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" > '{0}.tmp' && mv '{0}.tmp' '{0}'\n",
            opened.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Nothing is asked of Auth before the person logs in: no server here.
    let mut env = environment("http://127.0.0.1:9", &home);
    env.push(("DISPLAY", ":99".to_owned()));
    env.push(("BROWSER", browser.display().to_string()));
    let mut terminal = Terminal::run(
        &globus_api_binary(),
        &["--local-server", "groups", "GET", MY_GROUPS],
        &env,
    );
    let text = terminal.wait_for("(Ctrl-C to cancel)");
    let lines = from(&text, "Please authenticate with Globus here:");
    let url = lines[2];
    assert!(
        url.starts_with("http://127.0.0.1:9/v2/oauth2/authorize?"),
        "{text}"
    );
    assert_eq!(
        lines[3..],
        [
            "------------------------------------",
            "Opening it in your browser (if none opens, copy the URL into one).",
            "Waiting for the login in your browser… (Ctrl-C to cancel)",
        ]
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !opened.exists() {
        assert!(
            Instant::now() < deadline,
            "the browser was not started:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::read_to_string(&opened).unwrap(),
        format!("{url}\n")
    );

    terminal.type_keys("\u{3}");
    assert_eq!(terminal.exit_code(), Some(3), "{}", terminal.text());
    let screen = terminal.text();
    let after: Vec<&str> = from(&screen, "Waiting for the login")[1..].to_vec();
    assert_eq!(
        after,
        [
            "^C",
            "Login cancelled.",
            "globus_api: login failed: the login was cancelled",
        ],
        "{screen}"
    );
}
