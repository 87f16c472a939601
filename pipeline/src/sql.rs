//! SQL boolean expressions over documents, evaluated by DataFusion over a batch viewed as a
//! table: the `where` option of a source and the `where` stage. Below the config (which checks
//! the syntax) and the stages and sources (which run it).
//!
//! The table has `id` and `text` (strings) and one column per metadata field the expression
//! mentions. JSON metadata has no declared schema, so each column's type is taken from the
//! batch's values: all booleans give BOOLEAN, all integers BIGINT, all numbers DOUBLE, anything
//! else VARCHAR (non-strings as their JSON text); a field absent from the batch is a NULL
//! VARCHAR. Rows where the expression is NULL count as false, as in SQL's WHERE.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;
use serde_json::Value;

use crate::document::Document;

/// Checks that `sql` is one well-formed expression.
///
/// # Errors
/// The parser's message.
pub fn check_syntax(sql: &str) -> Result<(), String> {
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect).try_with_sql(sql).map_err(|e| e.to_string())?;
    parser.parse_expr().map_err(|e| e.to_string())?;
    match parser.peek_token().token {
        Token::EOF => Ok(()),
        t => Err(format!("unexpected `{t}` after the expression")),
    }
}

/// Column names and types of a batch: the cache key of a compiled expression.
type SchemaKey = Vec<(String, DataType)>;

/// A compiled `where` expression.
pub struct SqlFilter {
    sql: String,
    columns: Vec<String>,
    ctx: SessionContext,
    compiled: Mutex<HashMap<SchemaKey, Arc<dyn PhysicalExpr>>>,
}

impl std::fmt::Debug for SqlFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlFilter").field("sql", &self.sql).field("columns", &self.columns).finish()
    }
}

impl SqlFilter {
    /// Prepares `sql`.
    ///
    /// # Errors
    /// The expression does not parse.
    pub fn new(sql: &str) -> Result<Self, String> {
        check_syntax(sql)?;
        Ok(Self {
            sql: sql.into(),
            columns: identifiers(sql),
            ctx: SessionContext::new(),
            compiled: Mutex::new(HashMap::new()),
        })
    }

    /// Which documents the expression keeps.
    ///
    /// # Errors
    /// The expression does not type-check against this batch, or evaluation fails.
    pub fn evaluate(&self, docs: &[Document]) -> Result<Vec<bool>, String> {
        if docs.is_empty() {
            return Ok(vec![]);
        }
        let (schema, arrays) = self.table(docs);
        let key: SchemaKey =
            schema.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
        let expr = {
            let mut cache = self.compiled.lock().map_err(|_| "where cache poisoned".to_string())?;
            match cache.get(&key) {
                Some(e) => e.clone(),
                None => {
                    let df_schema =
                        DFSchema::try_from(schema.clone()).map_err(|e| e.to_string())?;
                    let logical = self
                        .ctx
                        .parse_sql_expr(&self.sql, &df_schema)
                        .map_err(|e| e.to_string())?;
                    let physical = self
                        .ctx
                        .create_physical_expr(logical, &df_schema)
                        .map_err(|e| e.to_string())?;
                    cache.insert(key, physical.clone());
                    physical
                }
            }
        };
        let batch = RecordBatch::try_new(Arc::new(schema), arrays).map_err(|e| e.to_string())?;
        let result = expr
            .evaluate(&batch)
            .and_then(|v| v.into_array(batch.num_rows()))
            .map_err(|e| e.to_string())?;
        let Some(bools) = result.as_boolean_opt() else {
            return Err(format!(
                "`where` must be a boolean expression, but gives {}",
                result.data_type()
            ));
        };
        Ok((0..bools.len()).map(|i| bools.is_valid(i) && bools.value(i)).collect())
    }

    fn table(&self, docs: &[Document]) -> (Schema, Vec<ArrayRef>) {
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for name in &self.columns {
            let array: ArrayRef = match name.as_str() {
                "id" => Arc::new(StringArray::from_iter_values(docs.iter().map(|d| d.id.as_str()))),
                "text" => {
                    Arc::new(StringArray::from_iter_values(docs.iter().map(|d| d.text.as_str())))
                }
                key => metadata_column(docs, key),
            };
            fields.push(Field::new(name, array.data_type().clone(), true));
            arrays.push(array);
        }
        (Schema::new(fields), arrays)
    }
}

fn metadata_column(docs: &[Document], key: &str) -> ArrayRef {
    let values: Vec<Option<&Value>> =
        docs.iter().map(|d| d.metadata.get(key).filter(|v| !v.is_null())).collect();
    let present = || values.iter().flatten();
    if present().next().is_none() {
        return Arc::new(StringArray::from(vec![None::<&str>; docs.len()]));
    }
    if present().all(|v| v.is_boolean()) {
        return Arc::new(BooleanArray::from(
            values.iter().map(|v| v.and_then(Value::as_bool)).collect::<Vec<_>>(),
        ));
    }
    if present().all(|v| v.is_i64()) {
        return Arc::new(Int64Array::from(
            values.iter().map(|v| v.and_then(Value::as_i64)).collect::<Vec<_>>(),
        ));
    }
    if present().all(|v| v.is_number()) {
        return Arc::new(Float64Array::from(
            values.iter().map(|v| v.and_then(Value::as_f64)).collect::<Vec<_>>(),
        ));
    }
    let strings: Vec<Option<String>> = values
        .iter()
        .map(|v| {
            v.map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        })
        .collect();
    Arc::new(StringArray::from(strings))
}

/// Column names the expression may mention: identifiers outside string literals, lowercased as
/// SQL does for unquoted names, plus double-quoted names as written. Keywords and function names
/// end up here too; as unused columns they cost nothing.
fn identifiers(sql: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => {
                for (_, c) in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                }
            }
            '"' => {
                let mut name = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    name.push(c);
                }
                out.push(name);
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, c)) = chars.peek() {
                    if !(c.is_alphanumeric() || c == '_') {
                        break;
                    }
                    end = j + c.len_utf8();
                    chars.next();
                }
                out.push(sql[i..end].to_lowercase());
            }
            c if c.is_ascii_digit() => {
                while chars
                    .peek()
                    .is_some_and(|&(_, c)| c.is_alphanumeric() || c == '.' || c == '_')
                {
                    chars.next();
                }
            }
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str, lang: Value, score: Value) -> Document {
        let mut d = Document::new("x", text);
        d.metadata.insert("lang".into(), lang);
        d.metadata.insert("score".into(), score);
        d
    }

    #[test]
    fn filters_on_metadata_and_text() {
        let docs = vec![
            doc("hello there", "en".into(), 0.9.into()),
            doc("bonjour", "fr".into(), 0.5.into()),
            doc("hi", "en".into(), Value::Null),
        ];
        let f = SqlFilter::new("lang = 'en' AND length(text) > 3").expect("parses");
        assert_eq!(f.evaluate(&docs).expect("runs"), [true, false, false]);
        let f = SqlFilter::new("score >= 0.5").expect("parses");
        assert_eq!(f.evaluate(&docs).expect("runs"), [true, true, false]);
        let f = SqlFilter::new("missing_field IS NULL").expect("parses");
        assert_eq!(f.evaluate(&docs).expect("runs"), [true, true, true]);
    }

    #[test]
    fn syntax_errors_are_caught() {
        assert!(check_syntax("lang = = 'en'").is_err());
        assert!(check_syntax("lang = 'en' garbage").is_err());
        assert!(check_syntax("lang IN ('en', 'de')").is_ok());
    }

    #[test]
    fn identifiers_skip_strings() {
        assert_eq!(
            identifiers("Lang = 'text with words' AND \"Score\" > 1.5e3"),
            ["Score", "and", "lang"]
        );
    }
}
