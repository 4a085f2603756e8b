//! Standard Webhooks signatures (`server/specs/standard-webhooks.md`): HMAC-SHA256 over
//! `{id}.{timestamp}.{body}`, sent as `v1,<base64>`; secrets as `whsec_<base64 key>`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Key length bounds of the specification (24 to 64 bytes).
const MIN_KEY_BYTES: usize = 24;
const MAX_KEY_BYTES: usize = 64;

/// A signing key, decoded from its `whsec_…` serialisation.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// Parses `whsec_<base64>` (the prefix is optional, as in the reference libraries).
    ///
    /// # Errors
    /// When the text is not base64 of 24 to 64 bytes.
    pub fn parse(text: &str) -> Result<Secret, String> {
        let encoded = text.trim();
        let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| "a webhook secret is whsec_ followed by base64".to_owned())?;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(format!(
                "a webhook secret's key is {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes; this one \
                 has {}",
                key.len()
            ));
        }
        Ok(Secret(key))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value for one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Whether any `v1` signature of a `webhook-signature` header value matches, compared in
    /// constant time (what a receiver does; the tests use it as one).
    pub fn verify(&self, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        header.split(' ').any(|signature| {
            let Some(encoded) = signature.strip_prefix("v1,") else {
                return false;
            };
            let Ok(tag) = STANDARD.decode(encoded) else {
                return false;
            };
            self.mac(id, timestamp, body).verify_slice(&tag).is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn the_specifications_test_vector_reproduces() {
        let secret = Secret::parse(SECRET).unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let header = format!("v1,bm9wZQ== {signature}");
        assert!(secret.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body, &header));
        assert!(!secret.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_331, body, &header));
        assert!(!secret.verify(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            b"{}",
            &header
        ));
    }

    #[test]
    fn secrets_are_base64_keys_of_24_to_64_bytes() {
        assert!(Secret::parse(SECRET.trim_start_matches("whsec_")).is_ok());
        assert!(Secret::parse("whsec_not base64!").is_err());
        assert!(Secret::parse(&format!("whsec_{}", STANDARD.encode([7u8; 23]))).is_err());
        assert!(Secret::parse(&format!("whsec_{}", STANDARD.encode([7u8; 65]))).is_err());
        assert_eq!(format!("{:?}", Secret::parse(SECRET).unwrap()), "Secret(…)");
    }

    proptest! {
        /// A signature verifies for its own message only, and no header text panics.
        #[test]
        fn signatures_bind_id_timestamp_and_body(
            body in prop::collection::vec(any::<u8>(), 0..200),
            flip in 0usize..200,
            header in "\\PC{0,80}",
        ) {
            let secret = Secret::parse(SECRET).unwrap();
            let signature = secret.sign("msg_1", 5, &body);
            prop_assert!(secret.verify("msg_1", 5, &body, &signature));
            prop_assert!(!secret.verify("msg_2", 5, &body, &signature));
            if !body.is_empty() {
                let mut tampered = body.clone();
                tampered[flip % body.len()] ^= 1;
                prop_assert!(!secret.verify("msg_1", 5, &tampered, &signature));
            }
            let _ = secret.verify("msg_1", 5, &body, &header);
        }

        /// Any secret text parses into a key of the allowed length, or is refused; never a panic.
        #[test]
        fn any_secret_text_is_a_key_or_a_reason(text in "\\PC{0,120}") {
            if let Ok(secret) = Secret::parse(&text) {
                prop_assert!((MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&secret.0.len()));
            }
        }
    }
}
