//! The registry in the stack's DynamoDB table (the `aws` and `localstack` environments).
//!
//! Items, with string keys `pk` and `sk`:
//! - `MODEL#<name>` / `DOC`: the model document (JSON in `doc`) and its revision `rev`;
//! - `MODEL#<name>` / `CURRENT`: the Production and Staging pointers, the one read serving needs;
//! - `MODEL#<name>` / `AUDIT#<seq, 10 digits>`: one audit event each.
//!
//! A commit is one `TransactWriteItems`: the document put on the condition that `rev` is still
//! the revision read (or that it does not exist), the pointer, and each audit event put on the
//! condition `attribute_not_exists(pk)`, so an entry can never be overwritten. Either all of it
//! is written or none; a lost race is a `ConditionalCheckFailed` cancellation, reported as
//! [`RegistryError::Conflict`].

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TransactWriteItem,
};

use super::{Current, Event, ModelDoc, RegistryError, Store};

#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A DynamoDB (or STS) call's failure: one sentence, the service's error code when it answered,
/// and whether a retry can help (throttling and no answer can; denied and missing credentials
/// cannot).
fn err<E>(what: &str, e: E) -> RegistryError
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
{
    use crate::cloud_error::{Cause, cause, retryable};
    let code = e.code().map(str::to_string);
    let (why, retryable) = match cause(&e) {
        Cause::NoCredentials => (
            "no AWS credentials found (set `AWS_PROFILE`, or run `aws configure`)".to_string(),
            false,
        ),
        Cause::Unreachable(reason) => (format!("cannot reach DynamoDB: {reason}"), true),
        // A code means the service answered: its code says whether to retry.
        Cause::Other(m) => (m, retryable(code.as_ref().map(|_| 400), code.as_deref())),
    };
    RegistryError::Service {
        message: format!("DynamoDB {what}: {why}"),
        code,
        retryable,
    }
}

/// A request the SDK could not build: no retry builds it differently.
fn build_err(what: &str, e: aws_sdk_dynamodb::error::BuildError) -> RegistryError {
    RegistryError::Store(format!("DynamoDB {what}: {e}"))
}

fn pk(model: &str) -> AttributeValue {
    s(format!("MODEL#{model}"))
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbStore {
            client,
            table: table.into(),
        }
    }

    /// Create the registry table (on-demand, `pk`/`sk`). The AWS provider does this for a stack;
    /// tests use it directly.
    pub async fn create_table(client: &Client, table: &str) -> Result<(), RegistryError> {
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| build_err("table definition", e))
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .map_err(|e| build_err("table definition", e))
        };
        client
            .create_table()
            .table_name(table)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| err("CreateTable", e))?;
        Ok(())
    }

    async fn get(
        &self,
        model: &str,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, RegistryError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk(model))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| err("GetItem", e))?;
        Ok(out.item)
    }

    fn json_attr<T: serde::de::DeserializeOwned>(
        item: &HashMap<String, AttributeValue>,
        name: &str,
    ) -> Result<T, RegistryError> {
        let text = item
            .get(name)
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| RegistryError::Store(format!("registry item without `{name}`")))?;
        serde_json::from_str(text)
            .map_err(|e| RegistryError::Store(format!("registry item `{name}` is not valid: {e}")))
    }

    fn put(
        &self,
        item: HashMap<String, AttributeValue>,
        condition: &str,
        values: Option<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, RegistryError> {
        let mut p = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        if let Some((k, v)) = values {
            p = p.expression_attribute_values(k, v);
        }
        Ok(TransactWriteItem::builder()
            .put(p.build().map_err(|e| build_err("Put", e))?)
            .build())
    }
}

impl Store for DynamoDbStore {
    async fn load(&self, model: &str) -> Result<Option<ModelDoc>, RegistryError> {
        match self.get(model, "DOC").await? {
            Some(item) => Self::json_attr(&item, "doc").map(Some),
            None => Ok(None),
        }
    }

    async fn commit(
        &self,
        doc: &ModelDoc,
        expected_rev: u64,
        events: &[Event],
    ) -> Result<(), RegistryError> {
        let text = |v: &dyn erased::Json| v.json();
        let mut items = Vec::with_capacity(events.len() + 2);
        let doc_item = HashMap::from([
            ("pk".to_string(), pk(&doc.model)),
            ("sk".to_string(), s("DOC")),
            ("rev".to_string(), AttributeValue::N(doc.rev.to_string())),
            ("doc".to_string(), s(text(doc)?)),
        ]);
        items.push(if expected_rev == 0 {
            self.put(doc_item, "attribute_not_exists(pk)", None)?
        } else {
            self.put(
                doc_item,
                "rev = :rev",
                Some((":rev", AttributeValue::N(expected_rev.to_string()))),
            )?
        });
        let current = HashMap::from([
            ("pk".to_string(), pk(&doc.model)),
            ("sk".to_string(), s("CURRENT")),
            ("rev".to_string(), AttributeValue::N(doc.rev.to_string())),
            ("current".to_string(), s(text(&doc.current())?)),
        ]);
        items.push(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(current))
                        .build()
                        .map_err(|e| build_err("Put", e))?,
                )
                .build(),
        );
        for e in events {
            let item = HashMap::from([
                ("pk".to_string(), pk(&doc.model)),
                ("sk".to_string(), s(format!("AUDIT#{:010}", e.seq))),
                ("event".to_string(), s(text(e)?)),
            ]);
            items.push(self.put(item, "attribute_not_exists(pk)", None)?);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let service = e.into_service_error();
                let conditional = match &service {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => c
                        .cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed")),
                    _ => false,
                };
                if conditional {
                    Err(RegistryError::Conflict(String::new()))
                } else {
                    Err(err("TransactWriteItems", service))
                }
            }
        }
    }

    async fn audit(&self, model: &str) -> Result<Vec<Event>, RegistryError> {
        if self.get(model, "DOC").await?.is_none() {
            return Err(RegistryError::UnknownModel(model.to_string()));
        }
        let mut events = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", pk(model))
                .expression_attribute_values(":prefix", s("AUDIT#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| err("Query", e))?;
            for item in out.items() {
                events.push(Self::json_attr::<Event>(item, "event")?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

    async fn models(&self) -> Result<Vec<String>, RegistryError> {
        let mut names = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :doc")
                .expression_attribute_values(":doc", s("DOC"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| err("Scan", e))?;
            for item in out.items() {
                if let Some(p) = item.get("pk").and_then(|v| v.as_s().ok()) {
                    names.push(p.trim_start_matches("MODEL#").to_string());
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        names.sort();
        Ok(names)
    }

    async fn current(&self, model: &str) -> Result<Option<Current>, RegistryError> {
        match self.get(model, "CURRENT").await? {
            Some(item) => Self::json_attr(&item, "current").map(Some),
            None => Ok(None),
        }
    }
}

/// The acting identity on AWS: the caller's ARN from STS `GetCallerIdentity`, so nobody can
/// approve their own request by changing a flag.
#[cfg(feature = "sts")]
pub async fn caller_identity(sts: &aws_sdk_sts::Client) -> Result<String, RegistryError> {
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| err("GetCallerIdentity", e))?;
    out.arn
        .filter(|a| !a.is_empty())
        .ok_or(RegistryError::NoIdentity)
}

mod erased {
    //! Serialise any of the registry records to JSON text for an attribute.
    use super::RegistryError;

    pub trait Json {
        fn json(&self) -> Result<String, RegistryError>;
    }

    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> Result<String, RegistryError> {
            serde_json::to_string(self).map_err(|e| RegistryError::Store(e.to_string()))
        }
    }
}
