//! The email processor Lambda: SQS batches from the email queue → turns → partial batch response.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    comms_processors::lambda::run(comms_core::domain::Channel::Email).await
}
