//! Parquet files as the CSV text every reader takes: one header row of the column names, then
//! a row per record, each cell written as a CSV writer such as pandas' writes it.
//!
//! Cells: a null is an empty cell (missing); `DOUBLE`/`FLOAT` in Rust's round-trip form with a
//! decimal point (`63.0`, `2.3`), so a number converts back to the same `f64`; integers as
//! integers; `BOOLEAN` as `true`/`false`; UTF-8 strings as they are. Nested, binary, date, time
//! and decimal columns are refused, naming the column and its type, as are files with no
//! columns or no rows. Every reader of data detects Parquet by its magic bytes ([`to_csv`]), so
//! the same table as CSV and as Parquet gives the same rows, the same data hash and the same
//! model.
//!
//! [`Writer`] writes a flat table (batch predictions) as Parquet: one row group per batch,
//! Snappy pages, every column required.

use std::borrow::Cow;

use super::DataError;

/// The first and last four bytes of every Parquet file.
const MAGIC: &[u8] = b"PAR1";

/// Whether `bytes` claim to be a Parquet file (a truncated one then fails to convert, with
/// its reason).
pub fn is_parquet(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// `bytes` as CSV: converted when they are a Parquet file, else as they are.
pub fn to_csv(bytes: &[u8]) -> Result<Cow<'_, [u8]>, DataError> {
    if !is_parquet(bytes) {
        return Ok(Cow::Borrowed(bytes));
    }
    convert(bytes).map(Cow::Owned)
}

#[cfg(not(feature = "parquet"))]
fn convert(_: &[u8]) -> Result<Vec<u8>, DataError> {
    Err(DataError::Io(
        "this is a Parquet file, and this build of mlinfra reads CSV only (it was built without the `parquet` feature)".into(),
    ))
}

#[cfg(feature = "parquet")]
fn convert(bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    let bad = |e: parquet::errors::ParquetError| {
        DataError::Io(format!("not a readable Parquet file: {e}"))
    };
    let reader = SerializedFileReader::new(bytes::Bytes::copy_from_slice(bytes)).map_err(bad)?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let root = schema.root_schema();
    let fields = root.get_fields();
    if fields.is_empty() {
        return Err(DataError::Empty);
    }
    for f in fields {
        if f.is_group() {
            return Err(DataError::Io(format!(
                "Parquet column `{}` is nested (a struct, list or map); expected flat columns of numbers, booleans or strings",
                f.name()
            )));
        }
    }
    let mut out = csv::WriterBuilder::new().from_writer(Vec::new());
    let csv_err = |e: csv::Error| DataError::Io(e.to_string());
    out.write_record(fields.iter().map(|f| f.name()))
        .map_err(csv_err)?;
    let mut cells: Vec<String> = Vec::with_capacity(fields.len());
    let mut rows = 0usize;
    for row in reader.get_row_iter(None).map_err(bad)? {
        let row = row.map_err(bad)?;
        cells.clear();
        for (name, field) in row.get_column_iter() {
            let cell = match field {
                Field::Null => String::new(),
                Field::Bool(b) => b.to_string(),
                Field::Byte(x) => x.to_string(),
                Field::Short(x) => x.to_string(),
                Field::Int(x) => x.to_string(),
                Field::Long(x) => x.to_string(),
                Field::UByte(x) => x.to_string(),
                Field::UShort(x) => x.to_string(),
                Field::UInt(x) => x.to_string(),
                Field::ULong(x) => x.to_string(),
                Field::Float(x) => number(*x),
                Field::Double(x) => number(*x),
                Field::Str(s) => s.clone(),
                other => {
                    return Err(DataError::Io(format!(
                        "Parquet column `{name}` holds {}; expected numbers, booleans or strings",
                        kind(other)
                    )));
                }
            };
            cells.push(cell);
        }
        out.write_record(&cells).map_err(csv_err)?;
        rows += 1;
    }
    if rows == 0 {
        return Err(DataError::HeaderOnly);
    }
    out.into_inner().map_err(|e| DataError::Io(e.to_string()))
}

/// A float as a CSV writer writes its column's type: the shortest text that reads back as the
/// same `f32` or `f64` (`63.0`, `2.3`, not the `f64` of an `f32`'s `2.299999952316284`); NaN as
/// an empty (missing) cell.
#[cfg(feature = "parquet")]
fn number<T: std::fmt::Debug + Into<f64> + Copy>(x: T) -> String {
    if x.into().is_nan() {
        String::new()
    } else {
        format!("{x:?}")
    }
}

#[cfg(feature = "parquet")]
fn kind(f: &parquet::record::Field) -> &'static str {
    use parquet::record::Field;
    match f {
        Field::Bytes(_) => "binary values",
        Field::Decimal(_) => "decimals",
        Field::Date(_) => "dates",
        Field::TimestampMillis(_) | Field::TimestampMicros(_) => "timestamps",
        Field::Group(_) | Field::ListInternal(_) | Field::MapInternal(_) => "nested values",
        _ => "values of another type",
    }
}

/// A column of a table to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Int64(Vec<i64>),
    Double(Vec<f64>),
    Text(Vec<String>),
}

/// Writes a table as Parquet, a row group per [`Writer::write`].
#[cfg(feature = "parquet")]
pub struct Writer<W: std::io::Write + Send> {
    inner: parquet::file::writer::SerializedFileWriter<W>,
}

#[cfg(feature = "parquet")]
impl<W: std::io::Write + Send> Writer<W> {
    /// A table of the columns `names`, typed as `like`'s columns are (their values unused).
    pub fn new(out: W, names: &[String], like: &[Column]) -> Result<Self, DataError> {
        use parquet::basic::{LogicalType, Repetition, Type as Physical};
        use parquet::schema::types::Type;
        let err = |e: parquet::errors::ParquetError| DataError::Io(format!("Parquet: {e}"));
        let fields = names
            .iter()
            .zip(like)
            .map(|(name, c)| {
                let physical = match c {
                    Column::Int64(_) => Physical::INT64,
                    Column::Double(_) => Physical::DOUBLE,
                    Column::Text(_) => Physical::BYTE_ARRAY,
                };
                let mut b = Type::primitive_type_builder(name, physical)
                    .with_repetition(Repetition::REQUIRED);
                if matches!(c, Column::Text(_)) {
                    b = b.with_logical_type(Some(LogicalType::String));
                }
                b.build().map(std::sync::Arc::new).map_err(err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let schema = Type::group_type_builder("table")
            .with_fields(fields)
            .build()
            .map_err(err)?;
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build();
        let inner = parquet::file::writer::SerializedFileWriter::new(
            out,
            std::sync::Arc::new(schema),
            std::sync::Arc::new(props),
        )
        .map_err(err)?;
        Ok(Writer { inner })
    }

    /// Write one row group: the columns in the order of [`Writer::new`]'s names.
    pub fn write(&mut self, columns: &[Column]) -> Result<(), DataError> {
        use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
        let err = |e: parquet::errors::ParquetError| DataError::Io(format!("Parquet: {e}"));
        let mut group = self.inner.next_row_group().map_err(err)?;
        let mut values = columns.iter();
        while let Some(mut col) = group.next_column().map_err(err)? {
            let Some(c) = values.next() else {
                return Err(DataError::Io(
                    "Parquet: fewer columns than the schema".into(),
                ));
            };
            match c {
                Column::Int64(v) => col.typed::<Int64Type>().write_batch(v, None, None),
                Column::Double(v) => col.typed::<DoubleType>().write_batch(v, None, None),
                Column::Text(v) => {
                    let v: Vec<ByteArray> = v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                    col.typed::<ByteArrayType>().write_batch(&v, None, None)
                }
            }
            .map_err(err)?;
            col.close().map_err(err)?;
        }
        group.close().map_err(err)?;
        Ok(())
    }

    /// Write the footer; returns the output.
    pub fn finish(self) -> Result<W, DataError> {
        self.inner
            .into_inner()
            .map_err(|e| DataError::Io(format!("Parquet: {e}")))
    }
}

#[cfg(all(test, feature = "parquet"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn csv_bytes_pass_through_unchanged() {
        let csv = b"a,b\n1,x\n";
        assert!(matches!(to_csv(csv).unwrap(), Cow::Borrowed(_)));
        assert!(!is_parquet(b"PAR,x\n1,2\n"));
    }

    #[test]
    fn a_truncated_parquet_file_is_one_sentence() {
        let e = to_csv(b"PAR1 not really PAR1").unwrap_err().to_string();
        assert!(e.starts_with("not a readable Parquet file: "), "{e}");
    }

    #[test]
    fn a_written_table_reads_back_as_the_same_csv() {
        let names = ["row", "label", "p"].map(String::from);
        let batch = |rows: std::ops::Range<i64>| {
            vec![
                Column::Int64(rows.clone().collect()),
                Column::Text(rows.clone().map(|i| format!("c{i}, \"q\"")).collect()),
                Column::Double(rows.map(|i| i as f64 / 4.0).collect()),
            ]
        };
        let mut w = Writer::new(Vec::new(), &names, &batch(0..0)).unwrap();
        w.write(&batch(0..2)).unwrap();
        w.write(&batch(2..3)).unwrap();
        let bytes = w.finish().unwrap();
        let csv = to_csv(&bytes).unwrap();
        assert_eq!(
            std::str::from_utf8(&csv).unwrap(),
            "row,label,p\n0,\"c0, \"\"q\"\"\",0.0\n1,\"c1, \"\"q\"\"\",0.25\n2,\"c2, \"\"q\"\"\",0.5\n"
        );
    }

    #[test]
    fn floats_keep_their_decimal_point_and_round_trip() {
        for x in [63.0, 2.3, 0.1, -1.5e-7, 1e21] {
            let s = number(x);
            assert_eq!(s.parse::<f64>().unwrap(), x, "{s}");
        }
        assert_eq!(number(63.0), "63.0");
        assert_eq!(number(f64::NAN), "");
        // A `FLOAT` column's cell is the text of the `f32`, as a CSV of it has it.
        assert_eq!(number(2.3f32), "2.3");
        assert_eq!(number(f32::NAN), "");
    }
}
