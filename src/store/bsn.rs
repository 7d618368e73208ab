//! Which current Patient holds each BSN (`patient_bsn`): at most one, race-free, because the
//! BSN is the table's key. The rule itself (which identifiers are BSNs, the eleven-test) is
//! the domain's, in `pzp::bsn`.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::schema::patient_bsn as pb;
use super::{Store, StoreError, Tx};

impl Tx<'_> {
    /// Gives `patient` exactly the BSNs `bsns` (none for a deleted Patient). Returns a BSN
    /// that another Patient holds, if any, and then changes nothing. A concurrent writer that
    /// claims the same BSN first makes this transaction run again, and then see it held.
    pub fn claim_bsns(
        &mut self,
        patient: &str,
        bsns: &[String],
    ) -> Result<Option<String>, StoreError> {
        let held: Vec<(String, String)> = pb::table
            .filter(pb::bsn.eq_any(bsns))
            .select((pb::bsn, pb::res_id))
            .load(&mut *self.conn)?;
        if let Some((bsn, _)) = held.iter().find(|(_, id)| id != patient) {
            return Ok(Some(bsn.clone()));
        }
        diesel::delete(
            pb::table
                .filter(pb::res_id.eq(patient))
                .filter(pb::bsn.ne_all(bsns)),
        )
        .execute(&mut *self.conn)?;
        for bsn in bsns.iter().filter(|b| !held.iter().any(|(h, _)| h == *b)) {
            let inserted = diesel::insert_into(pb::table)
                .values((pb::bsn.eq(bsn), pb::res_id.eq(patient)))
                .execute(&mut *self.conn);
            match inserted {
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                    self.collided = true;
                    return Err(StoreError::Contention(format!("BSN {bsn}")));
                }
                other => other?,
            };
        }
        Ok(None)
    }
}

impl Store {
    /// Every BSN (identifier of `system`) that more than one current Patient carries, with
    /// those Patients' ids: what was stored before one Patient per BSN was enforced.
    pub fn duplicate_bsns(&self, system: &str) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        use super::schema::{resources as r, search_token as t};
        self.read(|tx| {
            let rows: Vec<(Option<String>, String)> = t::table
                .inner_join(r::table.on(r::res_type.eq(t::res_type).and(r::res_id.eq(t::res_id))))
                .filter(t::res_type.eq("Patient"))
                .filter(t::param.eq("identifier"))
                .filter(t::system.eq(system))
                .filter(r::deleted.eq(false))
                .select((t::code, t::res_id))
                .order((t::code, t::res_id))
                .load(&mut *tx.conn)?;
            let mut out: Vec<(String, Vec<String>)> = Vec::new();
            for (code, id) in rows {
                let Some(code) = code else { continue };
                match out.last_mut() {
                    Some((last, ids)) if *last == code => ids.push(id),
                    _ => out.push((code, vec![id])),
                }
            }
            out.retain(|(_, ids)| ids.len() > 1);
            Ok(out)
        })
    }
}
