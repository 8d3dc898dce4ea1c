//! SNS adapter: one message per handled event, Chatbot JSON for chat, plain text for e-mail.

use aws_sdk_sns::types::MessageAttributeValue;
use remediator_core::notify;
use remediator_core::ports::ApiError;
use remediator_core::Report;
use serde_json::json;

use crate::classify;

/// Publishes report summaries to `NOTIFICATION_TOPIC_ARN`.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    /// Sends the summary of `report` (the driver sends only those worth sending:
    /// [`notify::worth_sending`]). Returns the SNS message id.
    ///
    /// `MessageStructure=json`: the `default` message (what Chatbot, SQS, Lambda and HTTPS
    /// subscribers get) is the Chatbot custom notification; `email` subscribers get plain text.
    pub async fn publish(&self, report: &Report) -> Result<Option<String>, ApiError> {
        let message = json!({
            "default": notify::chatbot(report).to_string(),
            "email": notify::plain_text(report),
        });
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message_structure("json")
            .message(message.to_string())
            .subject(notify::subject(report))
            .message_attributes(
                "failed",
                MessageAttributeValue::builder()
                    .data_type("Number")
                    .string_value(report.summary.failed.to_string())
                    .build()
                    .map_err(|e| {
                        ApiError::new(
                            "Publish",
                            remediator_core::ports::ApiErrorKind::Rejected,
                            e.to_string(),
                        )
                    })?,
            )
            .send()
            .await
            .map_err(|e| classify("Publish", e))?;
        Ok(out.message_id().map(str::to_owned))
    }
}

impl remediator_core::ports::Notifier for SnsNotifier {
    async fn publish(&self, report: &Report) -> Result<Option<String>, ApiError> {
        SnsNotifier::publish(self, report).await
    }
}

impl SnsNotifier {
    /// Sends the scheduled preflight's summary: the Chatbot custom notification (top findings)
    /// as the `default` message, every finding as e-mail text. Returns the SNS message id.
    pub async fn publish_preflight(
        &self,
        preflight: &remediator_core::preflight::Preflight,
    ) -> Result<Option<String>, ApiError> {
        use remediator_core::preflight::report;
        let message = json!({
            "default": report::chatbot(preflight).to_string(),
            "email": report::plain_text(preflight),
        });
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message_structure("json")
            .message(message.to_string())
            .subject(report::subject(preflight))
            .send()
            .await
            .map_err(|e| classify("Publish", e))?;
        Ok(out.message_id().map(str::to_owned))
    }
}
