//! Domain types: parsed at the edge, valid everywhere after.

mod address;
mod channel;
mod conversation;
mod envelope;
mod ids;
mod inbound;
mod media;
mod money;
mod owner_state;
mod phone;
pub mod pricing;
mod smart_encoding;
pub mod sms;
pub mod tenant;
pub mod voice;

pub use address::{Address, AddressError, EmailAddress, EmailAddressError};
pub use channel::{Channel, ChannelParseError};
pub use conversation::ConversationId;
pub use envelope::{Attachment, Author, EmailMeta, Envelope, EnvelopeError, Kind, KindDetail, Media};
pub use ids::{IdError, TenantRef, validate_id};
pub use media::{MAX_MEDIA, MediaHosts, TWILIO_MEDIA_HOSTS};
pub use money::Usd;
pub use owner_state::{OwnerMode, OwnerState};
pub use phone::{PhoneNumber, PhoneNumberError};
