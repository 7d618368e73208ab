//! Resource text as the database holds it: zstd-compressed JSON (about half the size of the
//! text, whose rows PostgreSQL would only compress above 2 kB). A value that starts with `{`
//! is plain JSON, as written before compression, and reads as it is.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::sql_types::{Binary, Nullable};

/// zstd's default level: higher levels save a few bytes more on a resource of 1 kB at several
/// times the CPU.
const LEVEL: i32 = 3;

/// The stored form of `text`.
pub fn pack(text: &str) -> Vec<u8> {
    zstd::bulk::compress(text.as_bytes(), LEVEL).expect("compressing into memory cannot fail")
}

/// The text of a stored value.
pub fn unpack(bytes: &[u8]) -> deserialize::Result<String> {
    if bytes.first() == Some(&b'{') {
        return Ok(String::from_utf8(bytes.to_vec())?);
    }
    Ok(String::from_utf8(zstd::stream::decode_all(bytes)?)?)
}

/// A nullable content column read as text: `deserialize_as` target of the row types.
#[derive(diesel::deserialize::FromSqlRow)]
pub struct Content(Option<String>);

impl From<Content> for Option<String> {
    fn from(c: Content) -> Self {
        c.0
    }
}

fn read<DB: Backend>(value: Option<DB::RawValue<'_>>) -> deserialize::Result<Content>
where
    Vec<u8>: FromSql<Binary, DB>,
{
    match value {
        None => Ok(Content(None)),
        Some(v) => Ok(Content(Some(unpack(&<Vec<u8>>::from_sql(v)?)?))),
    }
}

impl<DB: Backend> FromSql<Nullable<Binary>, DB> for Content
where
    Vec<u8>: FromSql<Binary, DB>,
{
    fn from_sql(value: DB::RawValue<'_>) -> deserialize::Result<Self> {
        read::<DB>(Some(value))
    }

    fn from_nullable_sql(value: Option<DB::RawValue<'_>>) -> deserialize::Result<Self> {
        read::<DB>(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_text_reads_back_and_plain_json_reads_as_it_is() {
        let text = r#"{"resourceType":"Patient","id":"p1","name":[{"family":"van der Sluijs","given":["Émile"]}],"text":"Ğürsel Ğürsel Ğürsel Ğürsel"}"#;
        let packed = pack(text);
        assert_ne!(packed.first(), Some(&b'{'));
        assert_eq!(unpack(&packed).unwrap(), text);
        assert_eq!(unpack(text.as_bytes()).unwrap(), text);
        assert!(unpack(b"\x28\xb5\x2f\xfd garbage").is_err());
    }
}
