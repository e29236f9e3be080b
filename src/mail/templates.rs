//! The text of every message. Links are built from `public_origin`, never from request headers, so a
//! forged `Host` cannot point a reset link at another site.

use super::Message;

fn link(origin: &str, path: &str, token: &str) -> String {
    format!("{}/{path}?token={token}", origin.trim_end_matches('/'))
}

pub fn verify_email(origin: &str, to: &str, username: &str, token: &str, hours: u64) -> Message {
    Message {
        to: to.to_owned(),
        subject: "Confirm your email address".into(),
        text: format!(
            "Hello {username},\n\nConfirm this address for your Rampart account:\n\n{}\n\nThe link works once and expires in {hours} hours. If you did not create an account, ignore this message.\n",
            link(origin, "verify-email", token)
        ),
    }
}

pub fn reset_password(origin: &str, to: &str, username: &str, token: &str, minutes: u64) -> Message {
    Message {
        to: to.to_owned(),
        subject: "Reset your password".into(),
        text: format!(
            "Hello {username},\n\nSomeone asked to reset the password of your Rampart account. To choose a new one, open:\n\n{}\n\nThe link works once and expires in {minutes} minutes. If it was not you, ignore this message: your password has not changed.\n",
            link(origin, "reset-password", token)
        ),
    }
}

pub fn confirm_email_change(origin: &str, to: &str, username: &str, token: &str, hours: u64) -> Message {
    Message {
        to: to.to_owned(),
        subject: "Confirm your new email address".into(),
        text: format!(
            "Hello {username},\n\nConfirm that this becomes the address of your Rampart account:\n\n{}\n\nThe link works once and expires in {hours} hours.\n",
            link(origin, "confirm-email", token)
        ),
    }
}

pub fn email_change_notice(to: &str, username: &str, new_address: &str) -> Message {
    Message {
        to: to.to_owned(),
        subject: "Your email address is being changed".into(),
        text: format!(
            "Hello {username},\n\nA change of your Rampart account's address to {new_address} was requested. It takes effect only when confirmed from that address. If this was not you, change your password now.\n"
        ),
    }
}
