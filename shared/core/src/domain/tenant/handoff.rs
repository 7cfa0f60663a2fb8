//! The `handoff` section: where the owner is told about a hand-off, and how long a
//! takeover lasts.

use super::check::Checker;
use super::raw::{Field, RawHandoff};
use super::{AiConfig, DEFAULT_TAKEOVER_HOURS, Handoff, ToolName};
use crate::domain::PhoneNumber;

impl Checker {
    /// The section (absent: the defaults). `ai` is the checked `ai` section, if valid:
    /// an enabled `request_human` needs a number to notify.
    pub fn handoff(&mut self, value: Field<RawHandoff>, ai: Option<&AiConfig>) -> Option<Handoff> {
        let wants_number = ai.is_some_and(|a| a.enabled_tools.contains(&ToolName::RequestHuman));
        let raw = match value {
            Field::Missing => {
                if wants_number {
                    self.err("handoff.notify_number", REQUIRED_FOR_TOOL);
                    return None;
                }
                return Some(Handoff::default());
            }
            value => self.section("handoff", value)?,
        };
        self.unknown("handoff", &raw.unknown, &["notify_number", "takeover_hours"]);
        let notify_number = match raw.notify_number {
            Field::Missing if wants_number => {
                self.err("handoff.notify_number", REQUIRED_FOR_TOOL);
                None
            }
            Field::Missing => Some(None),
            Field::Ok(s) => match PhoneNumber::parse(&s) {
                Ok(p) => Some(Some(p)),
                Err(e) => {
                    self.err("handoff.notify_number", e.to_string());
                    None
                }
            },
            Field::Bad => {
                self.err("handoff.notify_number", "must be a string");
                None
            }
        };
        let takeover_hours = match raw.takeover_hours {
            Field::Missing => Some(DEFAULT_TAKEOVER_HOURS),
            hours => self.uint("handoff.takeover_hours", hours, 1, 720).and_then(|h| u32::try_from(h).ok()),
        };
        Some(Handoff { notify_number: notify_number?, takeover_hours: takeover_hours? })
    }
}

const REQUIRED_FOR_TOOL: &str =
    "is required when ai.enabled_tools has request_human (the owner is notified there)";
