//! Parquet: the text column (any string type), an optional id column, and metadata columns
//! (primitive types as JSON numbers, booleans or strings; anything else as its display string).
//! Local files are read with the synchronous reader; objects through `object_store`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use futures::StreamExt;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::{ArrowReaderBuilder, ParquetRecordBatchReaderBuilder};
// `ParquetObjectReader` is deprecated in favour of a hand-written `AsyncFileReader`; it still
// reads ranges through object_store correctly, and replacing it is tracked as a follow-up.
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use serde_json::{Map, Value};

use super::{Chunk, ChunkBody, ChunkLimits, InputError, InputErrorKind};
use crate::config::FileSourceSpec;
use crate::document::Document;
use crate::storage::{InputFile, Place, Span, runtime};

pub(super) fn read(
    source: usize,
    spec: &FileSourceSpec,
    file: &InputFile,
    name: Arc<str>,
    limits: ChunkLimits,
    emit: &mut dyn FnMut(Chunk) -> bool,
) {
    let error = |kind, line, message: String| InputError {
        kind,
        file: name.clone(),
        line,
        offset: None,
        message,
    };
    let fail = |emit: &mut dyn FnMut(Chunk) -> bool, e: InputError| {
        emit(Chunk {
            source,
            file: name.clone(),
            body: ChunkBody::Docs(vec![]),
            errors: vec![e],
            raw_bytes: file.size,
        });
    };
    // A unit of row groups: its first row's number, and its share of the stored bytes.
    let mut start = (0u64, file.size);
    let mut batches = match open_batches(file, limits, &mut start) {
        Ok(b) => b,
        Err((kind, message)) => return fail(emit, error(kind, None, message)),
    };
    let mut row = start.0;
    let mut first = true;
    let mut rows_total = 0u64;
    for batch in batches.by_ref() {
        let share = if first { start.1 } else { 0 };
        first = false;
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                fail(
                    emit,
                    error(
                        InputErrorKind::BadParquet,
                        Some(row + 1),
                        format!("cannot decode rows after row {row}: {e}"),
                    ),
                );
                return;
            }
        };
        let mut errors = Vec::new();
        let docs = match to_documents(spec, &name, &batch, row, &mut errors) {
            Ok(d) => d,
            Err(message) => return fail(emit, error(InputErrorKind::BadParquet, None, message)),
        };
        row += batch.num_rows() as u64;
        rows_total += batch.num_rows() as u64;
        if !emit(Chunk {
            source,
            file: name.clone(),
            body: ChunkBody::Docs(docs),
            errors,
            raw_bytes: share,
        }) {
            return;
        }
    }
    if rows_total == 0 {
        fail(emit, error(InputErrorKind::EmptyFile, None, "no rows".into()));
    }
}

/// Record batches of a file, local or in an object store.
type Batches = Box<dyn Iterator<Item = Result<RecordBatch, String>>>;

/// Opens the record batches of `file`'s unit (`limits.docs` rows each); sets `start` as
/// [`select_row_groups`] does. An error is its kind and message.
fn open_batches(
    file: &InputFile,
    limits: ChunkLimits,
    start: &mut (u64, u64),
) -> Result<Batches, (InputErrorKind, String)> {
    let bad = |e: &dyn std::fmt::Display| (InputErrorKind::BadParquet, e.to_string());
    match &file.place {
        Place::Local(path) => {
            let f = std::fs::File::open(path)
                .map_err(|e| (InputErrorKind::Unreadable, e.to_string()))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| bad(&e))?;
            let reader = select_row_groups(builder, file, start)
                .with_batch_size(limits.docs)
                .build()
                .map_err(|e| bad(&e))?;
            Ok(Box::new(reader.map(|b| b.map_err(|e| e.to_string()))))
        }
        Place::Object(store, path) => {
            #[allow(deprecated)]
            let reader =
                ParquetObjectReader::new(store.clone(), path.clone()).with_file_size(file.size);
            let mut stream = runtime()
                .block_on(async {
                    let b = ParquetRecordBatchStreamBuilder::new(reader).await?;
                    select_row_groups(b, file, start).with_batch_size(limits.docs).build()
                })
                .map_err(|e| bad(&e))?;
            Ok(Box::new(std::iter::from_fn(move || {
                runtime().block_on(stream.next()).map(|b| b.map_err(|e| e.to_string()))
            })))
        }
    }
}

/// Restricts a reader to a unit's row groups; sets `start` to the unit's first row number
/// and stored bytes.
fn select_row_groups<T>(
    b: ArrowReaderBuilder<T>,
    file: &InputFile,
    start: &mut (u64, u64),
) -> ArrowReaderBuilder<T> {
    let Some(Span::RowGroups { start: first, end, .. }) = file.span else { return b };
    let groups = b.metadata().row_groups();
    let end = end.min(groups.len());
    let first = first.min(end);
    let rows: i64 = groups[..first].iter().map(|g| g.num_rows()).sum();
    let bytes: i64 = groups[first..end].iter().map(|g| g.compressed_size()).sum();
    *start = (u64::try_from(rows).unwrap_or(0), u64::try_from(bytes).unwrap_or(0));
    b.with_row_groups((first..end).collect())
}

/// The row groups of a Parquet file cut into units of about `unit_bytes` stored bytes each.
pub(crate) fn row_group_units(
    file: &InputFile,
    unit_bytes: u64,
) -> Result<Vec<(std::ops::Range<usize>, u64)>, String> {
    let metadata = match &file.place {
        Place::Local(path) => {
            let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
            ParquetRecordBatchReaderBuilder::try_new(f)
                .map_err(|e| e.to_string())?
                .metadata()
                .clone()
        }
        Place::Object(store, path) => {
            #[allow(deprecated)]
            let reader =
                ParquetObjectReader::new(store.clone(), path.clone()).with_file_size(file.size);
            runtime()
                .block_on(async {
                    ParquetRecordBatchStreamBuilder::new(reader).await.map(|b| b.metadata().clone())
                })
                .map_err(|e| e.to_string())?
        }
    };
    let mut units = Vec::new();
    let (mut from, mut bytes) = (0usize, 0u64);
    for (i, g) in metadata.row_groups().iter().enumerate() {
        bytes += u64::try_from(g.compressed_size()).unwrap_or(0);
        if bytes >= unit_bytes {
            units.push((from..i + 1, bytes));
            (from, bytes) = (i + 1, 0);
        }
    }
    if from < metadata.num_row_groups() {
        units.push((from..metadata.num_row_groups(), bytes));
    }
    Ok(units)
}

/// Converts one record batch; `Err` means the whole file is unusable (no text column).
fn to_documents(
    spec: &FileSourceSpec,
    file: &Arc<str>,
    batch: &RecordBatch,
    first_row: u64,
    errors: &mut Vec<InputError>,
) -> Result<Vec<Document>, String> {
    let schema = batch.schema();
    let text = batch.column_by_name(&spec.text_field).ok_or_else(|| {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        format!("no column `{}` (columns: {})", spec.text_field, names.join(", "))
    })?;
    let text = arrow::compute::cast(text, &DataType::Utf8).map_err(|_| {
        format!("column `{}` is {}, not a string", spec.text_field, text.data_type())
    })?;
    let text = text.as_string::<i32>();
    let id = match &spec.id_field {
        Some(f) => match batch.column_by_name(f) {
            Some(c) => Some(
                arrow::compute::cast(c, &DataType::Utf8)
                    .map_err(|e| format!("id column `{f}`: {e}"))?,
            ),
            None => return Err(format!("no id column `{f}`")),
        },
        None => None,
    };
    let id = id.as_ref().map(|c| c.as_string::<i32>());
    let mut meta: Vec<(String, ArrayRef)> = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let name = field.name();
        let wanted = spec
            .metadata_fields
            .as_ref()
            .map_or(*name != spec.text_field && Some(name) != spec.id_field.as_ref(), |m| {
                m.contains(name)
            });
        if wanted {
            meta.push((name.clone(), normalize(batch.column(i))));
        }
    }
    let mut docs = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let row_no = first_row + r as u64 + 1;
        if text.is_null(r) {
            errors.push(InputError {
                kind: InputErrorKind::MissingText,
                file: file.clone(),
                line: Some(row_no),
                offset: None,
                message: format!("row {row_no}: `{}` is null", spec.text_field),
            });
            continue;
        }
        let doc_id = match id {
            Some(ids) if !ids.is_null(r) => ids.value(r).to_string(),
            _ => format!("{file}:{row_no}"),
        };
        let mut metadata = Map::new();
        for (name, col) in &meta {
            metadata.insert(name.clone(), cell(col, r));
        }
        docs.push(Document {
            id: doc_id,
            text: text.value(r).to_string(),
            metadata,
            rejected: None,
            derived: Default::default(),
        });
    }
    Ok(docs)
}

/// Casts a column to one of the types [`cell`] reads.
fn normalize(col: &ArrayRef) -> ArrayRef {
    let target = match col.data_type() {
        DataType::Boolean
        | DataType::Int64
        | DataType::UInt64
        | DataType::Float64
        | DataType::Utf8 => return col.clone(),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => DataType::Int64,
        DataType::Float16
        | DataType::Float32
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => DataType::Float64,
        _ => DataType::Utf8,
    };
    arrow::compute::cast(col, &target)
        .unwrap_or_else(|_| arrow::array::new_null_array(&DataType::Utf8, col.len()))
}

fn cell(col: &ArrayRef, r: usize) -> Value {
    if col.is_null(r) {
        return Value::Null;
    }
    match col.data_type() {
        DataType::Boolean => Value::Bool(col.as_boolean().value(r)),
        DataType::Int64 => Value::from(col.as_primitive::<Int64Type>().value(r)),
        DataType::UInt64 => Value::from(col.as_primitive::<UInt64Type>().value(r)),
        DataType::Float64 => {
            serde_json::Number::from_f64(col.as_primitive::<Float64Type>().value(r))
                .map_or(Value::Null, Value::Number)
        }
        DataType::Utf8 => Value::from(col.as_string::<i32>().value(r)),
        _ => Value::Null,
    }
}
