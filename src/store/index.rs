//! Search index rows: replaced with every write of a resource, so they always describe its
//! current version, and removed when it is deleted.

use diesel::prelude::*;

use super::schema::{
    search_date, search_number, search_reference, search_string, search_token, search_uri,
};
use super::AnyConnection;
use crate::search::{IndexEntry, IndexValue};

/// Removes every index row of `res_type/res_id`.
pub fn clear(conn: &mut AnyConnection, res_type: &str, res_id: &str) -> QueryResult<()> {
    macro_rules! clear_table {
        ($t:ident) => {
            diesel::delete($t::table.filter($t::res_type.eq(res_type).and($t::res_id.eq(res_id))))
                .execute(conn)?;
        };
    }
    clear_table!(search_token);
    clear_table!(search_string);
    clear_table!(search_reference);
    clear_table!(search_date);
    clear_table!(search_number);
    clear_table!(search_uri);
    Ok(())
}

/// Writes the index rows of `res_type/res_id` (after [`clear`]).
pub fn insert(
    conn: &mut AnyConnection,
    res_type: &str,
    res_id: &str,
    entries: &[IndexEntry],
) -> QueryResult<()> {
    for e in entries {
        let param = e.code;
        match &e.value {
            IndexValue::Token {
                system,
                code,
                display,
            } => {
                diesel::insert_into(search_token::table)
                    .values((
                        search_token::res_type.eq(res_type),
                        search_token::res_id.eq(res_id),
                        search_token::param.eq(param),
                        search_token::system.eq(system.as_deref()),
                        search_token::code.eq(code.as_deref()),
                        search_token::display.eq(display.as_deref()),
                    ))
                    .execute(conn)?;
            }
            IndexValue::String { normalized, exact } => {
                diesel::insert_into(search_string::table)
                    .values((
                        search_string::res_type.eq(res_type),
                        search_string::res_id.eq(res_id),
                        search_string::param.eq(param),
                        search_string::normalized.eq(normalized),
                        search_string::exact.eq(exact),
                    ))
                    .execute(conn)?;
            }
            IndexValue::Reference {
                target_type,
                target_id,
                version,
                url,
                identifier_system,
                identifier_value,
            } => {
                diesel::insert_into(search_reference::table)
                    .values((
                        search_reference::res_type.eq(res_type),
                        search_reference::res_id.eq(res_id),
                        search_reference::param.eq(param),
                        search_reference::target_type.eq(target_type.as_deref()),
                        search_reference::target_id.eq(target_id.as_deref()),
                        search_reference::version.eq(version.as_deref()),
                        search_reference::url.eq(url.as_deref()),
                        search_reference::identifier_system.eq(identifier_system.as_deref()),
                        search_reference::identifier_value.eq(identifier_value.as_deref()),
                    ))
                    .execute(conn)?;
            }
            IndexValue::Date { low, high } => {
                diesel::insert_into(search_date::table)
                    .values((
                        search_date::res_type.eq(res_type),
                        search_date::res_id.eq(res_id),
                        search_date::param.eq(param),
                        search_date::low.eq(low),
                        search_date::high.eq(high),
                    ))
                    .execute(conn)?;
            }
            IndexValue::Number { value } => {
                number(conn, res_type, res_id, param, value, None, None, None)?;
            }
            IndexValue::Quantity {
                value,
                system,
                code,
                unit,
            } => {
                number(
                    conn,
                    res_type,
                    res_id,
                    param,
                    value,
                    system.as_deref(),
                    code.as_deref(),
                    unit.as_deref(),
                )?;
            }
            IndexValue::Uri { value } => {
                diesel::insert_into(search_uri::table)
                    .values((
                        search_uri::res_type.eq(res_type),
                        search_uri::res_id.eq(res_id),
                        search_uri::param.eq(param),
                        search_uri::value.eq(value),
                    ))
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

/// Numbers and quantities share one table; a value that is not a finite number is not indexed.
#[allow(clippy::too_many_arguments)]
fn number(
    conn: &mut AnyConnection,
    res_type: &str,
    res_id: &str,
    param: &str,
    value: &str,
    system: Option<&str>,
    code: Option<&str>,
    unit: Option<&str>,
) -> QueryResult<()> {
    let Some(value) = value.parse::<f64>().ok().filter(|v| v.is_finite()) else {
        return Ok(());
    };
    diesel::insert_into(search_number::table)
        .values((
            search_number::res_type.eq(res_type),
            search_number::res_id.eq(res_id),
            search_number::param.eq(param),
            search_number::value.eq(value),
            search_number::system.eq(system),
            search_number::code.eq(code),
            search_number::unit.eq(unit),
        ))
        .execute(conn)?;
    Ok(())
}
