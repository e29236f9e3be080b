//! The text of every message. Links are built from `public_origin`, never from request headers, so a
//! forged `Host` cannot point a reset link at another site.

use super::Message;

/// "45 minutes", "1 hour", "24 hours".
pub fn duration_words(secs: u64) -> String {
    let (n, unit) = if secs >= 3600 && secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else {
        (secs.div_ceil(60).max(1), "minute")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn link(origin: &str, path: &str, token: &str) -> String {
    format!("{}/{path}?token={token}", origin.trim_end_matches('/'))
}

pub fn verify_email(origin: &str, to: &str, username: &str, token: &str, ttl_secs: u64) -> Message {
    Message {
        to: to.to_owned(),
        subject: "Confirm your email address".into(),
        text: format!(
            "Hello {username},\n\nConfirm this address for your Rampart account:\n\n{}\n\nThe link works once and expires in {}. If you did not create an account, ignore this message.\n",
            link(origin, "verify-email", token),
            duration_words(ttl_secs)
        ),
    }
}

pub fn reset_password(origin: &str, to: &str, username: &str, token: &str, ttl_secs: u64) -> Message {
    Message {
        to: to.to_owned(),
        subject: "Reset your password".into(),
        text: format!(
            "Hello {username},\n\nSomeone asked to reset the password of your Rampart account. To choose a new one, open:\n\n{}\n\nThe link works once and expires in {}. If it was not you, ignore this message: your password has not changed.\n",
            link(origin, "reset-password", token),
            duration_words(ttl_secs)
        ),
    }
}

pub fn confirm_email_change(origin: &str, to: &str, username: &str, token: &str, ttl_secs: u64) -> Message {
    Message {
        to: to.to_owned(),
        subject: "Confirm your new email address".into(),
        text: format!(
            "Hello {username},\n\nConfirm that this becomes the address of your Rampart account:\n\n{}\n\nThe link works once and expires in {}.\n",
            link(origin, "confirm-email", token),
            duration_words(ttl_secs)
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

/// A second factor was added to the account; sent so that an intruder's enrolment does not go unseen.
pub fn factor_added(to: &str, username: &str, factor: &str) -> Message {
    Message {
        to: to.to_owned(),
        subject: "A second factor was added to your account".into(),
        text: format!(
            "Hello {username},\n\n{factor} was added to your Rampart account. Signing in now needs your password and then a code from it. If this was not you, reset your password and remove it now.\n"
        ),
    }
}

/// A second factor was removed from the account.
pub fn factor_removed(to: &str, username: &str, factor: &str) -> Message {
    Message {
        to: to.to_owned(),
        subject: "A second factor was removed from your account".into(),
        text: format!(
            "Hello {username},\n\n{factor} was removed from your Rampart account; signing in needs only your password now. If this was not you, reset your password now.\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::duration_words;

    #[test]
    fn lifetimes_read_naturally() {
        assert_eq!(duration_words(3600), "1 hour");
        assert_eq!(duration_words(86400), "24 hours");
        assert_eq!(duration_words(1800), "30 minutes");
        assert_eq!(duration_words(60), "1 minute");
        assert_eq!(duration_words(5), "1 minute");
    }
}
