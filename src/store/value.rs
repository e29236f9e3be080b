//! Typed values across the store boundary, for both engines.
//!
//! Arguments go in as [`Arg`]s and rows come out through [`FromRow`], so a store function is written
//! once with `$n` placeholders and runs on SQLite (rusqlite) and PostgreSQL (sqlx) alike. Each type
//! says once how it is stored: ids are `uuid` on PostgreSQL and hyphenated TEXT on SQLite; instants
//! are `timestamptz` on PostgreSQL and Unix milliseconds on SQLite.

use rusqlite::types::ValueRef;
use sqlx::postgres::PgRow;
use sqlx::{Row as _, TypeInfo as _, ValueRef as _};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Error;
use crate::domain::Role;
use crate::domain::assurance::Amr;
pub use crate::domain::{from_unix_ms, unix_ms};

/// One bound argument. `None` is a typed NULL, which PostgreSQL needs.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Id(Option<Uuid>),
    Time(Option<OffsetDateTime>),
    Bool(Option<bool>),
}

/// A Rust value that can be bound as an argument.
pub trait ToArg {
    /// This type's NULL.
    const NULL: Arg<'static>;
    fn to_arg(&self) -> Arg<'_>;
}

impl ToArg for str {
    const NULL: Arg<'static> = Arg::Text(None);
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(Some(self))
    }
}

impl ToArg for String {
    const NULL: Arg<'static> = Arg::Text(None);
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(Some(self))
    }
}

impl ToArg for i64 {
    const NULL: Arg<'static> = Arg::Int(None);
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(Some(*self))
    }
}

impl ToArg for Uuid {
    const NULL: Arg<'static> = Arg::Id(None);
    fn to_arg(&self) -> Arg<'_> {
        Arg::Id(Some(*self))
    }
}

impl ToArg for OffsetDateTime {
    const NULL: Arg<'static> = Arg::Time(None);
    fn to_arg(&self) -> Arg<'_> {
        Arg::Time(Some(*self))
    }
}

impl ToArg for bool {
    const NULL: Arg<'static> = Arg::Bool(None);
    fn to_arg(&self) -> Arg<'_> {
        Arg::Bool(Some(*self))
    }
}

impl ToArg for Role {
    const NULL: Arg<'static> = Arg::Text(None);
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(Some(self.as_str()))
    }
}

impl<T: ToArg + ?Sized> ToArg for &T {
    const NULL: Arg<'static> = T::NULL;
    fn to_arg(&self) -> Arg<'_> {
        (**self).to_arg()
    }
}

impl<T: ToArg> ToArg for Option<T> {
    const NULL: Arg<'static> = T::NULL;
    fn to_arg(&self) -> Arg<'_> {
        match self {
            Some(v) => v.to_arg(),
            None => T::NULL,
        }
    }
}

/// `args![a, b, …]`: the arguments of a statement, in placeholder order.
#[macro_export]
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::value::ToArg::to_arg(&$value)),*]
    };
}

impl Arg<'_> {
    /// Adds this argument to a PostgreSQL argument list.
    pub(super) fn add_to(self, args: &mut sqlx::postgres::PgArguments) -> Result<(), Error> {
        use sqlx::Arguments as _;
        let added = match self {
            Arg::Text(v) => args.add(v),
            Arg::Int(v) => args.add(v),
            Arg::Id(v) => args.add(v),
            Arg::Time(v) => args.add(v),
            Arg::Bool(v) => args.add(v),
        };
        added.map_err(|e| Error::Other(anyhow::anyhow!("binding an argument: {e}")))
    }
}

/// One row of a result, from either engine.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Pg(&'r PgRow),
}

impl Row<'_> {
    /// Column `index`, which debug builds (the tests) check is named `name`: reading by position
    /// skips a name lookup per column per row, and the check keeps positions honest when a query changes.
    pub fn get<T: Column>(&self, index: usize, name: &'static str) -> Result<T, Error> {
        debug_assert_eq!(self.name(index).as_deref(), Some(name), "column {index}");
        let decoded = match self {
            Row::Sqlite(r) => {
                let value = r.get_ref(index).map_err(|e| decode(name, e))?;
                T::from_sqlite(value)
            }
            Row::Pg(r) => T::from_pg(r, index),
        };
        decoded.map_err(|detail| Error::Decode { column: name, detail })
    }

    /// How many columns the row has.
    pub fn len(&self) -> usize {
        match self {
            Row::Sqlite(r) => r.as_ref().column_count(),
            Row::Pg(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn name(&self, index: usize) -> Option<String> {
        match self {
            Row::Sqlite(r) => r.as_ref().column_name(index).ok().map(str::to_owned),
            Row::Pg(r) => {
                use sqlx::Column as _;
                r.columns().get(index).map(|c| c.name().to_owned())
            }
        }
    }
}

fn decode(column: &'static str, e: impl std::fmt::Display) -> Error {
    Error::Decode {
        column,
        detail: e.to_string(),
    }
}

/// A type that can be read from a column of either engine.
pub trait Column: Sized {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String>;
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, String>;
}

fn pg_get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r PgRow,
    index: usize,
) -> Result<T, String> {
    row.try_get(index).map_err(|e| e.to_string())
}

fn sqlite_text(value: ValueRef<'_>) -> Result<&str, String> {
    value.as_str().map_err(|e| e.to_string())
}

impl Column for String {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String> {
        sqlite_text(value).map(str::to_owned)
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, String> {
        pg_get(row, index)
    }
}

impl Column for i64 {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String> {
        value.as_i64().map_err(|e| e.to_string())
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, String> {
        pg_get(row, index)
    }
}

impl Column for bool {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String> {
        value.as_i64().map(|i| i != 0).map_err(|e| e.to_string())
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, String> {
        pg_get(row, index)
    }
}

impl Column for Uuid {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String> {
        Uuid::try_parse(sqlite_text(value)?).map_err(|e| e.to_string())
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, String> {
        pg_get(row, index)
    }
}

impl Column for OffsetDateTime {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String> {
        let ms = value.as_i64().map_err(|e| e.to_string())?;
        from_unix_ms(ms).ok_or_else(|| format!("{ms} ms is out of range"))
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, String> {
        pg_get(row, index)
    }
}

/// An unknown role is an error, never a silent demotion: the request that meets it fails closed.
impl Column for Role {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String> {
        let text = sqlite_text(value)?;
        Role::parse(text).ok_or_else(|| format!("unknown role {text:?}"))
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, String> {
        let text: String = pg_get(row, index)?;
        Role::parse(&text).ok_or_else(|| format!("unknown role {text:?}"))
    }
}

/// Read on every authenticated request, so SQLite's text is parsed in place, without a `String`.
impl Column for Amr {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String> {
        Ok(Amr::parse(sqlite_text(value)?))
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, String> {
        let text: &str = pg_get(row, index)?;
        Ok(Amr::parse(text))
    }
}

impl<T: Column> Column for Option<T> {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String> {
        match value {
            ValueRef::Null => Ok(None),
            other => T::from_sqlite(other).map(Some),
        }
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, String> {
        let raw = row.try_get_raw(index).map_err(|e| e.to_string())?;
        if raw.is_null() {
            return Ok(None);
        }
        T::from_pg(row, index).map(Some)
    }
}

/// A JSON document stored as TEXT, decoded at the store boundary.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T: serde::de::DeserializeOwned> Column for Json<T> {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String> {
        serde_json::from_str(sqlite_text(value)?)
            .map(Json)
            .map_err(|e| e.to_string())
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, String> {
        let text: String = pg_get(row, index)?;
        serde_json::from_str(&text).map(Json).map_err(|e| e.to_string())
    }
}

/// A value of any stored type, for code that copies rows it does not know (`migrate-data`, which
/// binds it with the column's kind: `transfer::typed`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Int(i64),
    Id(Uuid),
    Time(OffsetDateTime),
}

impl Column for Value {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String> {
        Ok(match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Text(_) => Value::Text(sqlite_text(value)?.to_owned()),
            other => return Err(format!("unexpected SQLite value {:?}", other.data_type())),
        })
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, String> {
        let raw = row.try_get_raw(index).map_err(|e| e.to_string())?;
        if raw.is_null() {
            return Ok(Value::Null);
        }
        let type_name = raw.type_info().name().to_owned();
        Ok(match type_name.as_str() {
            "TEXT" | "VARCHAR" => Value::Text(pg_get(row, index)?),
            "INT8" => Value::Int(pg_get(row, index)?),
            "INT4" => Value::Int(i64::from(pg_get::<i32>(row, index)?)),
            "UUID" => Value::Id(pg_get(row, index)?),
            "TIMESTAMPTZ" => Value::Time(pg_get(row, index)?),
            "BOOL" => Value::Int(i64::from(pg_get::<bool>(row, index)?)),
            other => return Err(format!("unexpected PostgreSQL type {other}")),
        })
    }
}

/// A row type: how one result row becomes a value.
pub trait FromRow: Sized {
    fn from_row(row: &Row<'_>) -> Result<Self, Error>;
}

macro_rules! tuple_rows {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Column),+> FromRow for ($($t,)+) {
            fn from_row(row: &Row<'_>) -> Result<Self, Error> {
                Ok(($(row.get_unnamed::<$t>($i)?,)+))
            }
        }
    };
}

tuple_rows!(A 0);
tuple_rows!(A 0, B 1);
tuple_rows!(A 0, B 1, C 2);
tuple_rows!(A 0, B 1, C 2, D 3);

impl Row<'_> {
    /// Column `index` of a tuple row, whose columns have no names to check.
    fn get_unnamed<T: Column>(&self, index: usize) -> Result<T, Error> {
        let decoded = match self {
            Row::Sqlite(r) => match r.get_ref(index) {
                Ok(value) => T::from_sqlite(value),
                Err(e) => Err(e.to_string()),
            },
            Row::Pg(r) => T::from_pg(r, index),
        };
        decoded.map_err(|detail| Error::Decode {
            column: "(unnamed)",
            detail,
        })
    }
}

/// Every column of a row as a [`Value`].
impl FromRow for Vec<Value> {
    fn from_row(row: &Row<'_>) -> Result<Self, Error> {
        (0..row.len()).map(|i| row.get_unnamed(i)).collect()
    }
}

/// Declares a row type whose fields are read in order from a `SELECT` of the listed expressions.
///
/// `row! { pub struct UserRow { id: Uuid = "id", … } }` gives the struct, its [`FromRow`] and
/// `UserRow::columns()`, the select list. Adding a column is one line here, the migration and the
/// query that writes it.
#[macro_export]
macro_rules! row {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty = $sql:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty),+ }

        impl $crate::store::value::FromRow for $name {
            fn from_row(row: &$crate::store::value::Row<'_>) -> Result<Self, $crate::store::Error> {
                let mut at = 0usize;
                let mut next = || { at += 1; at - 1 };
                Ok($name { $($field: row.get(next(), $crate::store::value::column_name($sql))?),+ })
            }
        }

        impl $name {
            /// The select list this type reads, in field order.
            pub fn columns() -> &'static str {
                static LIST: std::sync::LazyLock<String> =
                    std::sync::LazyLock::new(|| [$($sql),+].join(", "));
                &LIST
            }
        }
    };
}

/// The name a select expression gives its column: the alias after `AS`, or the column after a
/// table prefix (`u.username` → `username`).
pub const fn column_name(expr: &'static str) -> &'static str {
    let bytes = expr.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b' ' || bytes[i] == b'.' {
            start = i + 1;
        }
        i += 1;
    }
    let (_, name) = expr.split_at(start);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_select_expression_names_its_column_by_alias_or_bare_name() {
        assert_eq!(column_name("id"), "id");
        assert_eq!(column_name("p.caption"), "caption");
        assert_eq!(column_name("u.username AS author_username"), "author_username");
    }

    #[test]
    fn instants_round_trip_through_milliseconds() {
        let t = from_unix_ms(1_733_000_000_123).unwrap();
        assert_eq!(unix_ms(t), 1_733_000_000_123);
        assert_eq!(unix_ms(from_unix_ms(-5).unwrap()), -5);
        assert!(from_unix_ms(i64::MAX).is_none());
    }

    #[test]
    fn an_unknown_role_is_an_error_not_a_user() {
        let err = Role::from_sqlite(ValueRef::Text(b"root")).unwrap_err();
        assert!(err.contains("root"), "{err}");
        assert_eq!(Role::from_sqlite(ValueRef::Text(b"admin")), Ok(Role::Admin));
    }

    #[test]
    fn a_null_is_typed_by_the_argument_it_stands_for() {
        let none: Option<Uuid> = None;
        assert!(matches!(none.to_arg(), Arg::Id(None)));
        let none: Option<&str> = None;
        assert!(matches!(none.to_arg(), Arg::Text(None)));
    }
}
