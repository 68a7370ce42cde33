//! Sender and recipient strings (`"Name <addr>"` or a bare `addr`) parsed into a display name and an address.
//!
//! Deliberately stricter than RFC 5322 (no quoted local parts, comments or groups): every address here comes from
//! our own users table or configuration, and refusing an odd one before it reaches a header is cheaper than a
//! bounce or a header injection.
use super::MailError;

/// A parsed mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

/// Characters that end or restructure an address header, or hide in one.
fn is_forbidden_in_address(c: char) -> bool {
    c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '"' | '\\')
}

impl Mailbox {
    pub(crate) fn parse(input: &str) -> Result<Mailbox, MailError> {
        let invalid = |reason| MailError::InvalidAddress { address: input.to_owned(), reason };
        let trimmed = input.trim();
        let (name, address) = match trimmed.strip_suffix('>') {
            Some(rest) => {
                let (name, address) = rest.rsplit_once('<').ok_or_else(|| invalid("unbalanced angle brackets"))?;
                let name = name.trim();
                let name = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')).unwrap_or(name).trim();
                (Some(name).filter(|n| !n.is_empty()), address.trim())
            }
            None => (None, trimmed),
        };
        if let Some(name) = name {
            if name.chars().any(|c| c.is_control()) {
                return Err(invalid("the display name contains a control character"));
            }
        }
        if address.is_empty() {
            return Err(invalid("empty address"));
        }
        if address.chars().any(is_forbidden_in_address) {
            return Err(invalid("the address contains a space, control character or reserved character"));
        }
        let (local, domain) = address.rsplit_once('@').ok_or_else(|| invalid("missing @"))?;
        if local.is_empty() || local.contains('@') || local.len() > 64 {
            return Err(invalid("the part before @ must be 1 to 64 characters without another @"));
        }
        if domain.is_empty() || domain.len() > 253 || domain.split('.').any(str::is_empty) {
            return Err(invalid("the domain must be dot-separated non-empty labels"));
        }
        Ok(Mailbox { name: name.map(str::to_owned), address: address.to_owned() })
    }

    /// The domain part, used for our `Message-ID`s.
    pub(crate) fn domain(&self) -> &str {
        self.address.rsplit_once('@').map(|(_, d)| d).expect("a parsed address has an @")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_and_bare_addresses_parse() {
        let m = Mailbox::parse("Taskforge <no-reply@taskforge.example>").unwrap();
        assert_eq!(m.name.as_deref(), Some("Taskforge"));
        assert_eq!(m.address, "no-reply@taskforge.example");
        assert_eq!(m.domain(), "taskforge.example");
        let m = Mailbox::parse("\"Zoë O'Brien\" <zoe@example.com>").unwrap();
        assert_eq!(m.name.as_deref(), Some("Zoë O'Brien"));
        let m = Mailbox::parse(" bob@example.com ").unwrap();
        assert_eq!((m.name, m.address.as_str()), (None, "bob@example.com"));
        let m = Mailbox::parse("<bob@example.com>").unwrap();
        assert_eq!((m.name, m.address.as_str()), (None, "bob@example.com"));
    }

    #[test]
    fn malformed_addresses_are_refused_as_permanent() {
        for bad in [
            "",
            "bob",
            "@example.com",
            "bob@",
            "bob@example..com",
            "bob@@example.com",
            "bob smith@example.com",
            "Bob <bob@example.com",
            "bob@example.com\r\nBcc: eve@example.com",
            "Bo\r\nBcc: b <bob@example.com>",
            "a,b@example.com",
        ] {
            let err = Mailbox::parse(bad).expect_err(bad);
            assert!(err.is_permanent(), "{bad}: {err}");
        }
    }
}
