//! One-time sign-in codes, as Jupyter does it: `serve` prints a dashboard URL carrying a code;
//! the page exchanges the code once for the session token, and the code is gone. The token
//! itself never appears in a URL, a browser history or a proxy log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

/// How long a printed code can be redeemed.
pub const CODE_TTL: Duration = Duration::from_secs(15 * 60);
/// Codes waiting at once; issuing more drops the oldest (a code is only for whoever started
/// the server, so there are few).
const MAX_PENDING: usize = 32;
/// Length of a code: 32 alphanumerics, about 190 bits, beyond guessing.
const CODE_LENGTH: usize = 32;

#[derive(Debug)]
struct Pending {
    token: String,
    issued: Instant,
}

/// Codes issued and not yet redeemed.
#[derive(Debug, Default)]
pub struct LoginCodes {
    pending: Mutex<HashMap<String, Pending>>,
}

impl LoginCodes {
    /// A new code that redeems once, within `CODE_TTL`, for `token`.
    pub fn issue(&self, token: String) -> String {
        let code: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(CODE_LENGTH)
            .map(char::from)
            .collect();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, p| p.issued.elapsed() < CODE_TTL);
        while pending.len() >= MAX_PENDING {
            let oldest = pending
                .iter()
                .min_by_key(|(_, p)| p.issued)
                .map(|(code, _)| code.clone())
                .expect("the map is not empty");
            pending.remove(&oldest);
        }
        pending.insert(
            code.clone(),
            Pending {
                token,
                issued: Instant::now(),
            },
        );
        code
    }

    /// The token of `code`, once: a used, unknown or expired code gives nothing.
    pub fn redeem(&self, code: &str) -> Option<String> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .remove(code)
            .filter(|p| p.issued.elapsed() < CODE_TTL)
            .map(|p| p.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_redeems_once_for_its_token() {
        let codes = LoginCodes::default();
        let code = codes.issue("token-a".into());
        assert_eq!(code.len(), CODE_LENGTH);
        assert_eq!(codes.redeem("unknown"), None);
        assert_eq!(codes.redeem(&code).as_deref(), Some("token-a"));
        assert_eq!(codes.redeem(&code), None);
    }

    #[test]
    fn pending_codes_are_bounded_and_the_oldest_go_first() {
        let codes = LoginCodes::default();
        let first = codes.issue("first".into());
        let later: Vec<String> = (0..MAX_PENDING)
            .map(|i| codes.issue(i.to_string()))
            .collect();
        assert_eq!(codes.redeem(&first), None);
        assert_eq!(codes.redeem(&later[0]).as_deref(), Some("0"));
        assert_eq!(
            codes.redeem(&later[MAX_PENDING - 1]).as_deref(),
            Some((MAX_PENDING - 1).to_string().as_str())
        );
    }
}
