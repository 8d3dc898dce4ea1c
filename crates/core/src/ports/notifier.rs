//! The notification port.

use std::future::Future;

use super::ApiError;

/// Where each event's summary goes for people (SNS: a Chatbot message, plain text by e-mail).
pub trait Notifier: Send + Sync {
    /// Sends the summary of `report`; the message id, when the service gives one.
    fn publish(
        &self,
        report: &crate::outcome::Report,
    ) -> impl Future<Output = Result<Option<String>, ApiError>> + Send;
}

/// No notifications (a deployment without `NOTIFICATION_TOPIC_ARN`, tests of other stages).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNotifier;

impl Notifier for NoNotifier {
    async fn publish(&self, _report: &crate::outcome::Report) -> Result<Option<String>, ApiError> {
        Ok(None)
    }
}
