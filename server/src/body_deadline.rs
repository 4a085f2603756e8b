//! Request bodies arrive in bounded time: a client that declares a body and sends it a byte a
//! second would otherwise hold a connection and a worker's buffer for as long as it likes
//! (actix bounds the request head, not the body). Every body stream gets a deadline; a body
//! not complete by then ends with a timed-out error, which the extractors answer with 408.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures_util::Stream;

/// The message of the error a late body ends with (also how it is recognised).
pub const TIMED_OUT: &str = "the request body did not arrive in time";

/// Gives `request`'s body a deadline `limit` from now.
pub fn limit_body(request: &mut ServiceRequest, limit: Duration) {
    let inner = request.take_payload();
    let timed = Deadline {
        inner,
        timer: Box::pin(tokio::time::sleep(limit)),
        over: false,
    };
    request.set_payload(Payload::from(
        Box::pin(timed) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
    ));
}

/// Whether a payload error is the deadline's.
pub fn is_timeout(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

/// A body stream that fails once its timer fires.
struct Deadline {
    inner: Payload,
    timer: Pin<Box<tokio::time::Sleep>>,
    over: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.over {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.over = true;
            tracing::warn!("request body timed out");
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                TIMED_OUT,
            )))));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use futures_util::StreamExt;

    fn request_with(
        body: impl Stream<Item = Result<Bytes, PayloadError>> + 'static,
    ) -> ServiceRequest {
        let mut request = TestRequest::default().to_srv_request();
        request.set_payload(Payload::from(
            Box::pin(body) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
        ));
        limit_body(&mut request, Duration::from_secs(5));
        request
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_ends_times_out_and_a_prompt_one_passes() {
        // One byte, then nothing for ever.
        let stalled = futures_util::stream::iter([Ok(Bytes::from_static(b"{"))])
            .chain(futures_util::stream::pending());
        let mut body = request_with(stalled).take_payload();
        assert_eq!(
            body.next().await.unwrap().unwrap(),
            Bytes::from_static(b"{")
        );
        let error = body.next().await.unwrap().unwrap_err();
        assert!(is_timeout(&error), "{error}");
        assert!(body.next().await.is_none());

        let prompt = futures_util::stream::iter([Ok(Bytes::from_static(b"{}"))]);
        let mut body = request_with(prompt).take_payload();
        assert_eq!(
            body.next().await.unwrap().unwrap(),
            Bytes::from_static(b"{}")
        );
        assert!(body.next().await.is_none());
    }
}
