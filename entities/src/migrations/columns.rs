//! Column and index builders shared by the migrations: the column types that differ per backend (`DATETIME(6)` on
//! MySQL for every time, `BINARY(16)` UUIDs) are chosen in one place.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Column builders that pick the right type per backend.
pub(super) struct Cols {
    pub(super) backend: DbBackend,
}

impl Cols {
    pub(super) fn uuid(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.uuid().not_null();
        c
    }
    pub(super) fn uuid_null(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.uuid().null();
        c
    }
    pub(super) fn pk(&self, name: &str) -> ColumnDef {
        let mut c = self.uuid(name);
        c.primary_key();
        c
    }
    pub(super) fn time_type(&self, c: &mut ColumnDef) {
        match self.backend {
            DbBackend::MySql => c.custom(Alias::new("DATETIME(6)")),
            _ => c.timestamp_with_time_zone(),
        };
    }
    pub(super) fn time(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        self.time_type(&mut c);
        c.not_null();
        c
    }
    pub(super) fn time_null(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        self.time_type(&mut c);
        c.null();
        c
    }
    pub(super) fn string(&self, name: &str, len: u32) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.string_len(len).not_null();
        c
    }
    pub(super) fn text(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.text().not_null();
        c
    }
    pub(super) fn string_null(&self, name: &str, len: u32) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.string_len(len).null();
        c
    }
    pub(super) fn text_null(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.text().null();
        c
    }
    pub(super) fn int(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.integer().not_null();
        c
    }
}

pub(super) fn table(name: &str) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(Alias::new(name)).if_not_exists();
    t
}

pub(super) fn index(table: &str, name: &str, cols: &[&str], unique: bool) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(Alias::new(table)).if_not_exists();
    for c in cols {
        i.col(Alias::new(*c));
    }
    if unique {
        i.unique();
    }
    i
}

pub(super) fn composite_pk(a: &str, b: &str) -> IndexCreateStatement {
    let mut i = Index::create();
    i.col(Alias::new(a)).col(Alias::new(b)).primary();
    i
}
