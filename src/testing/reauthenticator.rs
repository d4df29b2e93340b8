//! A reauthenticator that records its calls and returns scripted credentials.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::redrive::{BoxError, Credentials, ReauthContext, Reauthenticator};

#[derive(Clone)]
enum Answer {
    Token(String),
    Fail(String),
}

#[derive(Default)]
struct State {
    answers: VecDeque<Answer>,
    last: Option<Answer>,
    delay: Duration,
    contexts: Vec<ReauthContext>,
}

/// Records every `reauthenticate` call and answers from a script: the
/// queued answers in order, then the last one again. Clones share the
/// record.
#[derive(Clone, Default)]
pub struct RecordingReauthenticator {
    state: Arc<Mutex<State>>,
}

impl RecordingReauthenticator {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Always answers `Bearer <token>`.
    pub fn returning(token: &str) -> Self {
        Self::default().then_return(token)
    }

    /// Always fails with `message`.
    pub fn failing(message: &str) -> Self {
        Self::default().then_fail(message)
    }

    /// Queues an answer of `Bearer <token>`.
    pub fn then_return(self, token: &str) -> Self {
        self.state()
            .answers
            .push_back(Answer::Token(token.to_owned()));
        self
    }

    /// Queues a failure with `message`.
    pub fn then_fail(self, message: &str) -> Self {
        self.state()
            .answers
            .push_back(Answer::Fail(message.to_owned()));
        self
    }

    /// Takes `delay` before each answer (use paused tokio time in tests).
    pub fn with_delay(self, delay: Duration) -> Self {
        self.state().delay = delay;
        self
    }

    /// How many times it was called.
    pub fn calls(&self) -> usize {
        self.state().contexts.len()
    }

    /// The context of every call, in order.
    pub fn contexts(&self) -> Vec<ReauthContext> {
        self.state().contexts.clone()
    }
}

impl fmt::Debug for RecordingReauthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingReauthenticator")
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl Reauthenticator for RecordingReauthenticator {
    type Error = BoxError;

    async fn reauthenticate(&self, cx: ReauthContext) -> Result<Credentials, BoxError> {
        let (answer, delay) = {
            let mut state = self.state();
            state.contexts.push(cx);
            let answer = match state.answers.pop_front() {
                Some(answer) => {
                    state.last = Some(answer.clone());
                    Some(answer)
                }
                None => state.last.clone(),
            };
            (answer, state.delay)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match answer {
            Some(Answer::Token(token)) => Ok(Credentials::bearer(token)?),
            Some(Answer::Fail(message)) => Err(message.into()),
            None => Err("RecordingReauthenticator has no scripted answer".into()),
        }
    }
}
