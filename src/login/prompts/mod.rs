//! Prompts: how a person is asked to log in (the command line, a loopback
//! listener, or your own).

mod cli;
mod loopback;
mod never;
mod prompt;
mod sanitize;
mod story;

pub use cli::CommandLinePrompt;
pub use loopback::LoopbackPrompt;
pub use never::NeverPrompt;
pub use prompt::{AuthorizationResponse, Prompt};
pub(crate) use sanitize::{sanitize_for_terminal, server_text, SERVER_LIST_CAP, SERVER_TEXT_CAP};
