//! The voice processor Lambda: SQS batches of voice turns → answers spoken into the live
//! calls (Twilio call updates) → partial batch response.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    comms_processors::lambda::run(comms_core::domain::Channel::Voice).await
}
