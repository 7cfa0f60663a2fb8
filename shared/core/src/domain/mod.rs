//! Domain types: parsed at the edge, valid everywhere after.

mod address;
mod channel;
mod conversation;
mod envelope;
mod ids;
mod inbound;
mod owner_state;
mod phone;
mod smart_encoding;
pub mod sms;
pub mod tenant;
pub mod voice;

pub use address::{Address, AddressError, EmailAddress, EmailAddressError};
pub use channel::{Channel, ChannelParseError};
pub use conversation::ConversationId;
pub use envelope::{Attachment, Author, EmailMeta, Envelope, EnvelopeError, Kind, KindDetail, Media};
pub use ids::{IdError, TenantRef, validate_id};
pub use owner_state::{OwnerMode, OwnerState};
pub use phone::{PhoneNumber, PhoneNumberError};
