//! Where alerts and training notifications go besides their record in the lake: an SNS topic on
//! AWS (feature `sns`), the function's log otherwise. People subscribe to the topic (e-mail,
//! chat, a pager), as the stack's `alerts` say.

/// Delivers a message to people.
#[allow(async_fn_in_trait)]
pub trait Notifier {
    /// Publish `message` with a one-line `subject`.
    async fn publish(&self, subject: &str, message: &str) -> Result<(), String>;

    /// Deliver an alert recorded in `lake`: by default its summary as the subject and its text
    /// (with where its evidence is) as the message. A notifier that sends the alert itself
    /// (a webhook's JSON) overrides this.
    async fn deliver(
        &self,
        alert: &crate::jobs::Alert,
        lake: &impl crate::lake::Lake,
    ) -> Result<(), String> {
        self.publish(&alert.summary, &alert.text(lake)).await
    }
}

/// The function's log (CloudWatch Logs on AWS, the terminal locally).
pub struct LogNotifier;

impl Notifier for LogNotifier {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), String> {
        eprintln!("alert: {subject}\n{message}");
        Ok(())
    }
}

/// The ARN of the topic named `topic` in the account and region of the function whose ARN is
/// `function_arn` (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:ALIAS]`).
///
/// ```
/// use mlinfra_core::notify::topic_arn;
///
/// assert_eq!(
///     topic_arn("arn:aws:lambda:eu-west-1:123456789012:function:hd-monitor:live", "hd-alerts"),
///     Some("arn:aws:sns:eu-west-1:123456789012:hd-alerts".to_string())
/// );
/// assert_eq!(topic_arn("not-an-arn", "hd-alerts"), None);
/// ```
pub fn topic_arn(function_arn: &str, topic: &str) -> Option<String> {
    let parts: Vec<&str> = function_arn.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "lambda", region, account, "function", ..]
            if !region.is_empty() && !account.is_empty() =>
        {
            Some(format!("arn:{partition}:sns:{region}:{account}:{topic}"))
        }
        _ => None,
    }
}

/// An SNS subject: one line of printable ASCII, at most 100 characters, as SNS requires.
pub fn subject(text: &str) -> String {
    let line: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if line.len() <= 100 {
        line
    } else {
        format!("{}...", &line[..97])
    }
}

/// An SNS topic.
#[cfg(feature = "sns")]
pub struct SnsNotifier {
    pub client: aws_sdk_sns::Client,
    pub topic_arn: String,
}

#[cfg(feature = "sns")]
impl Notifier for SnsNotifier {
    async fn publish(&self, subject_line: &str, message: &str) -> Result<(), String> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject(subject_line))
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::cloud_error::sdk_message("sns", "SNS", "Publish", &e))
    }
}

/// The notifier of a function's configuration: its SNS topic when it has one (and this build
/// has SNS), else the log.
pub enum AnyNotifier {
    Log(LogNotifier),
    #[cfg(feature = "sns")]
    Sns(SnsNotifier),
}

impl Notifier for AnyNotifier {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), String> {
        match self {
            AnyNotifier::Log(n) => n.publish(subject, message).await,
            #[cfg(feature = "sns")]
            AnyNotifier::Sns(n) => n.publish(subject, message).await,
        }
    }
}

impl AnyNotifier {
    /// For a function invoked as `function_arn` with `config`: its `alerts_topic` in SNS, or the
    /// log when it has none (a local environment).
    pub fn for_function(config: &crate::FunctionConfig, function_arn: &str) -> AnyNotifier {
        #[cfg(feature = "sns")]
        if let Some(arn) = config
            .alerts_topic
            .as_deref()
            .and_then(|t| topic_arn(function_arn, t))
        {
            match crate::aws_env::AwsEnv::from_env() {
                Ok(aws) => {
                    return AnyNotifier::Sns(SnsNotifier {
                        client: aws.sns(),
                        topic_arn: arn,
                    });
                }
                Err(e) => eprintln!("warning: alerts go to the log only: {e}"),
            }
        }
        let _ = (config, function_arn);
        AnyNotifier::Log(LogNotifier)
    }
}
