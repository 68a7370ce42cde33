//! The mail port end to end: every template renders (and refuses a missing field), the outbox writes messages a
//! mail parser reads back intact, and SES (against moto) receives the same MIME bytes.
mod outbox;
mod samples;
mod ses;
mod templates;
