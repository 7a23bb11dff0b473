//! The registry table: DynamoDB, on demand, point-in-time recovery, server-side encryption.
//! Its key schema is the one `mlinfra_core::registry::DynamoDbStore` reads and writes.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    BillingMode, PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, Select, TableStatus,
};
use mlinfra_core::registry::dynamodb::DynamoDbStore;
use serde_json::{Value, json};

use super::{AwsProvider, Ctx as _, invalid, prop_str, recorded_or, touched, wait_for};
use crate::engine::{Change, Resource};
use crate::providers::{DeleteOptions, Deleted, ProviderError};

fn table_name(p: &AwsProvider, live: &Value) -> String {
    recorded_or(live, "table", || p.name("registry"))
}

pub async fn read(
    p: &AwsProvider,
    addr: &str,
    mut live: Value,
) -> Result<Option<Value>, ProviderError> {
    let table = table_name(p, &live);
    let db = &p.clients.dynamodb;
    let Some(desc) = db
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .found(addr, "dynamodb:DescribeTable")?
        .and_then(|o| o.table)
    else {
        return Ok(None);
    };
    live["table"] = json!(table);
    let on_demand = desc
        .billing_mode_summary
        .and_then(|b| b.billing_mode)
        .is_some_and(|m| m == BillingMode::PayPerRequest);
    live["billing"] = json!(if on_demand {
        "on_demand"
    } else {
        "provisioned"
    });
    let pitr = db
        .describe_continuous_backups()
        .table_name(&table)
        .send()
        .await
        .ctx(addr, "dynamodb:DescribeContinuousBackups")?
        .continuous_backups_description
        .and_then(|c| c.point_in_time_recovery_description)
        .and_then(|d| d.point_in_time_recovery_status)
        .is_some_and(|s| s == PointInTimeRecoveryStatus::Enabled);
    live["point_in_time_recovery"] = json!(pitr);
    Ok(Some(live))
}

async fn wait_active(p: &AwsProvider, addr: &str, table: &str) -> Result<(), ProviderError> {
    wait_for(
        addr,
        "the table to become ACTIVE",
        Duration::from_secs(300),
        || async {
            let status = p
                .clients
                .dynamodb
                .describe_table()
                .table_name(table)
                .send()
                .await
                .ctx(addr, "dynamodb:DescribeTable")?
                .table
                .and_then(|t| t.table_status);
            Ok((status == Some(TableStatus::Active)).then_some(()))
        },
    )
    .await
}

pub async fn put(
    p: &AwsProvider,
    r: &Resource,
    changes: Option<&[Change]>,
) -> Result<Value, ProviderError> {
    let addr = r.addr.as_str();
    let table = prop_str(r, "table")?;
    let db = &p.clients.dynamodb;
    let touched = |f: &str| touched(changes, f);
    if touched("table") {
        DynamoDbStore::create_table(db, table)
            .await
            .map_err(|e| ProviderError::new(addr, "CreateTable", e.to_string()))?;
        wait_active(p, addr, table).await?;
    } else if touched("billing") {
        db.update_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .ctx(addr, "dynamodb:UpdateTable")?;
        wait_active(p, addr, table).await?;
    }
    if touched("point_in_time_recovery") {
        let spec = PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(r.props["point_in_time_recovery"] == json!(true))
            .build()
            .map_err(|e| invalid(addr, e.to_string()))?;
        db.update_continuous_backups()
            .table_name(table)
            .point_in_time_recovery_specification(spec)
            .send()
            .await
            .ctx(addr, "dynamodb:UpdateContinuousBackups")?;
    }
    Ok(json!({
        "uri": format!("dynamodb://{table}"),
        "table": table,
        "arn": p.arn("dynamodb", &format!("table/{table}")).await?,
    }))
}

pub async fn delete(
    p: &AwsProvider,
    addr: &str,
    props: &Value,
    opts: DeleteOptions,
) -> Result<Deleted, ProviderError> {
    let table = table_name(p, props);
    let db = &p.clients.dynamodb;
    let Some(scan) = db
        .scan()
        .table_name(&table)
        .select(Select::Count)
        .send()
        .await
        .found(addr, "dynamodb:Scan")?
    else {
        return Ok(Deleted::AlreadyGone);
    };
    let items = scan.count;
    if items > 0 && !opts.delete_data {
        return Ok(Deleted::Retained(format!(
            "kept the model registry table `{table}` ({items} item{}); `mlinfra down --delete-data` deletes it",
            if items == 1 { "" } else { "s" }
        )));
    }
    match db
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .found(addr, "dynamodb:DeleteTable")?
    {
        None => Ok(Deleted::AlreadyGone),
        Some(_) if items > 0 => Ok(Deleted::Emptied(format!(
            "deleted the model registry table `{table}` with its {items} item{}",
            if items == 1 { "" } else { "s" }
        ))),
        Some(_) => Ok(Deleted::Deleted),
    }
}
