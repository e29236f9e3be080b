//! Queries on `passkeys` and `webauthn_ceremonies`.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Error, Exec, new_id};
use crate::domain::now;
use crate::{args, row};

row! {
    /// A registered passkey. `credential` is webauthn-rs's record (public key and counter) as JSON.
    pub struct PasskeyRow {
        id: Uuid = "id",
        user_id: Uuid = "user_id",
        credential_id: String = "credential_id",
        name: String = "name",
        credential: String = "credential",
        created_at: OffsetDateTime = "created_at",
        last_used_at: Option<OffsetDateTime> = "last_used_at",
    }
}

row! {
    /// A ceremony taken for finishing.
    pub struct CeremonyRow {
        user_id: Option<Uuid> = "user_id",
        state: String = "state",
        client_hash: String = "client_hash",
    }
}

/// What a ceremony is for; each is only ever finished by its own route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Register,
    SecondFactor,
    SignIn,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::SecondFactor => "second_factor",
            Purpose::SignIn => "sign_in",
        }
    }
}

/// Fields of a new passkey.
pub struct NewPasskey<'a> {
    pub user_id: Uuid,
    pub credential_id: &'a str,
    pub name: &'a str,
    pub credential: &'a str,
}

/// Stores a passkey; `None` when the credential is already registered (to anyone).
#[tracing::instrument(skip_all)]
pub async fn insert(mut ex: impl Exec, new: NewPasskey<'_>) -> Result<Option<PasskeyRow>, Error> {
    let sql = format!(
        "INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {}",
        PasskeyRow::columns()
    );
    let (id, now) = (new_id(), now());
    let args = args![id, new.user_id, new.credential_id, new.name, new.credential, now];
    match ex.write_returning(&sql, args).await {
        Ok(mut rows) => Ok(rows.pop()),
        Err(Error::Unique(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The account's passkeys, oldest first.
#[tracing::instrument(skip_all)]
pub async fn list(mut ex: impl Exec, user_id: Uuid) -> Result<Vec<PasskeyRow>, Error> {
    let sql = format!(
        "SELECT {} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
        PasskeyRow::columns()
    );
    ex.fetch_all(&sql, args![user_id]).await
}

/// The passkey with this credential id, whoever owns it.
#[tracing::instrument(skip_all)]
pub async fn by_credential_id(mut ex: impl Exec, credential_id: &str) -> Result<Option<PasskeyRow>, Error> {
    let sql = format!(
        "SELECT {} FROM passkeys WHERE credential_id = $1",
        PasskeyRow::columns()
    );
    ex.fetch_optional(&sql, args![credential_id]).await
}

/// Renames one of the account's passkeys; `None` when it has no such passkey.
#[tracing::instrument(skip_all)]
pub async fn rename(mut ex: impl Exec, user_id: Uuid, id: Uuid, name: &str) -> Result<Option<PasskeyRow>, Error> {
    let sql = format!(
        "UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2 RETURNING {}",
        PasskeyRow::columns()
    );
    Ok(ex.write_returning(&sql, args![id, user_id, name]).await?.pop())
}

/// Deletes one of the account's passkeys; `None` when it has no such passkey.
#[tracing::instrument(skip_all)]
pub async fn delete(mut ex: impl Exec, user_id: Uuid, id: Uuid) -> Result<Option<PasskeyRow>, Error> {
    let sql = format!(
        "DELETE FROM passkeys WHERE id = $1 AND user_id = $2 RETURNING {}",
        PasskeyRow::columns()
    );
    Ok(ex.write_returning(&sql, args![id, user_id]).await?.pop())
}

/// Deletes every passkey of the account; how many there were.
#[tracing::instrument(skip_all)]
pub async fn delete_all(mut ex: impl Exec, user_id: Uuid) -> Result<u64, Error> {
    ex.execute("DELETE FROM passkeys WHERE user_id = $1", args![user_id])
        .await
}

/// Records a use: the credential as updated (its counter) and the time.
#[tracing::instrument(skip_all)]
pub async fn used(mut ex: impl Exec, id: Uuid, credential: &str) -> Result<(), Error> {
    ex.execute(
        "UPDATE passkeys SET credential = $2, last_used_at = $3 WHERE id = $1",
        args![id, credential, now()],
    )
    .await?;
    Ok(())
}

/// Stores a ceremony's server state under the hash of the id handed to the client.
#[tracing::instrument(skip_all)]
pub async fn start_ceremony(
    mut ex: impl Exec,
    hash: &str,
    user_id: Option<Uuid>,
    purpose: Purpose,
    state: &str,
    client_hash: &str,
    ttl: Duration,
) -> Result<(), Error> {
    let now = now();
    ex.execute(
        "INSERT INTO webauthn_ceremonies (hash, user_id, purpose, state, client_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![hash, user_id, purpose.as_str(), state, client_hash, now, now + ttl],
    )
    .await?;
    Ok(())
}

/// Takes an unused, unexpired ceremony of `purpose` for finishing: exactly one caller gets it.
#[tracing::instrument(skip_all)]
pub async fn take_ceremony(mut ex: impl Exec, hash: &str, purpose: Purpose) -> Result<Option<CeremonyRow>, Error> {
    let sql = format!(
        "UPDATE webauthn_ceremonies SET used_at = $3 \
         WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 RETURNING {}",
        CeremonyRow::columns()
    );
    Ok(ex
        .write_returning(&sql, args![hash, purpose.as_str(), now()])
        .await?
        .pop())
}

/// Deletes ceremonies that expired before `expired_before`.
#[tracing::instrument(skip_all)]
pub async fn prune_ceremonies(mut ex: impl Exec, expired_before: OffsetDateTime) -> Result<u64, Error> {
    ex.execute(
        "DELETE FROM webauthn_ceremonies WHERE expires_at < $1",
        args![expired_before],
    )
    .await
}
