//! API request records: idempotency keys with the body they came with and, once done,
//! the answer given.

use async_trait::async_trait;

use comms_core::ports::{RequestBegin, RequestLog, StoreError};

use super::{Attrs, DynamoStore, Item, Key, conditional_failed, invalid, n, s};

fn request_key(key: &str) -> Key {
    Key::new(format!("REQ#{key}"), "REQ")
}

/// A request item: `REQ#{key}` / `REQ`, the body's hash, the answer once there is one,
/// and the expiry.
struct RequestItem {
    body_hash: String,
    response: Option<serde_json::Value>,
}

impl TryFrom<&Item> for RequestItem {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let a = Attrs(item);
        Ok(Self { body_hash: a.s("body_hash")?.to_owned(), response: a.opt_json("response")? })
    }
}

/// A new request record under `key`, expiring at `expires_at`.
struct NewRequest<'a> {
    key: &'a str,
    body_hash: &'a str,
    expires_at: jiff::Timestamp,
}

impl From<NewRequest<'_>> for Item {
    fn from(r: NewRequest<'_>) -> Item {
        request_key(r.key).with([("body_hash", s(r.body_hash)), ("expires_at", n(r.expires_at.as_second()))])
    }
}

#[async_trait]
impl RequestLog for DynamoStore {
    async fn begin(
        &self,
        key: &str,
        body_hash: &str,
        expires_at: jiff::Timestamp,
    ) -> Result<RequestBegin, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(NewRequest { key, body_hash, expires_at }.into()))
            // An expired record (TTL deletion is lazy) counts as absent.
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", n(jiff::Timestamp::now().as_second()))
            .send()
            .await;
        match put {
            Ok(_) => return Ok(RequestBegin::New),
            Err(e) if conditional_failed(&e) => {}
            Err(e) => return Err(self.err(e)),
        }
        let RequestItem { body_hash, response } =
            self.get_as(&request_key(key)).await?.ok_or_else(|| invalid("request record vanished"))?;
        Ok(RequestBegin::Existing { body_hash, response })
    }

    async fn complete(&self, key: &str, response: &serde_json::Value) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(request_key(key).to_item()))
            .update_expression("SET #r = :r")
            .expression_attribute_names("#r", "response")
            .expression_attribute_values(":r", s(response.to_string()))
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
