//! The platform of an environment: its data lake, its model registry (with the stack's
//! promotion policy) and who is acting, built once from the [`Context`] for every verb, `serve`
//! and the console: local directories, S3 and DynamoDB on `aws`/`localstack`, blob containers on
//! `azurite`. Each is checked to exist, with the hint to run `up`.

use mlinfra_core::any::{AnyLake, AnyStore};
use mlinfra_core::lake::LocalLake;
use mlinfra_core::lake_s3::S3Lake;
use mlinfra_core::registry::local::LocalStore;
use mlinfra_core::registry::{Registry, RegistryError};

use super::settings::registry_policy;
use super::{Context, Failure};

/// Who acts on the registry.
pub enum Who {
    /// `--as` (or `MLINFRA_USER`): the local environment, and `localstack`, whose callers all
    /// share one test identity.
    Named(Option<String>),
    /// The caller's ARN from STS on `aws`: nobody can act as someone else by typing a name.
    Caller(String),
}

impl Who {
    pub fn get(&self) -> Result<String, Failure> {
        match self {
            Who::Named(n) => actor(n),
            Who::Caller(arn) => Ok(arn.clone()),
        }
    }
}

/// The local environment's registry; it exists once `mlinfra up` ran.
pub fn local_registry(cx: &Context) -> Result<Registry<LocalStore>, Failure> {
    let dir = cx.root.join("registry");
    if !dir.is_dir() {
        return Err(Failure::new(format!(
            "the model registry `{}` does not exist\nhint: run `mlinfra up` first",
            dir.display()
        )));
    }
    Ok(Registry::new(
        LocalStore::new(dir),
        registry_policy(&cx.loaded.stack),
    ))
}

/// The acting identity, required for anything that changes the registry.
pub fn actor(identity: &Option<String>) -> Result<String, Failure> {
    match identity.as_deref().map(str::trim) {
        Some(a) if !a.is_empty() => Ok(a.to_string()),
        _ => Err(Failure::new(RegistryError::NoIdentity.to_string())),
    }
}

/// The data lake, the registry and the acting person of this environment: the local
/// directories, on `aws`/`localstack` the S3 bucket and the DynamoDB table, on `azurite` the
/// lake's and the registry's blob containers (each checked to exist, with the hint to run `up`).
pub async fn platform(
    cx: &Context,
    named: &Option<String>,
) -> Result<(AnyLake, Registry<AnyStore>, Who), Failure> {
    use crate::providers::AnyProvider;
    if cx.env == crate::stack::EnvKind::Local {
        let dir = cx.root.join("lake");
        if !dir.join("raw").is_dir() {
            return Err(Failure::new(format!(
                "the data lake `{}` does not exist\nhint: run `mlinfra up` first",
                dir.display()
            )));
        }
        let reg = local_registry(cx)?;
        let reg = Registry::new(AnyStore::Local(reg.store), reg.policy);
        return Ok((
            AnyLake::Local(LocalLake::new(dir)),
            reg,
            Who::Named(named.clone()),
        ));
    }
    let (provider, store) = cx.infra().await?;
    // Infrastructure Terraform made has no mlinfra state: the resources are found by name.
    let terraform = cx.env == crate::stack::EnvKind::Aws
        && cx.loaded.stack.environments.aws.managed_by
            == crate::stack::schema::ManagedBy::Terraform;
    if let Some(holder) = store.holder()
        && !terraform
        && !store.exists().await?
    {
        return Err(Failure::new(format!(
            "{} does not exist on `{}`\nhint: run `mlinfra up --env {}` first",
            holder.description,
            cx.env.as_str(),
            cx.env.as_str()
        )));
    }
    let p = match provider {
        AnyProvider::Aws(p) => p,
        AnyProvider::Azurite(p) => {
            if !p
                .registry
                .container_exists()
                .await
                .map_err(|e| Failure::new(e.to_string()))?
            {
                return Err(Failure::new(format!(
                    "the registry container `{}` does not exist on `azurite`\nhint: run `mlinfra up --env azurite` first",
                    p.registry.container
                )));
            }
            let store = mlinfra_core::registry::blob::BlobStore::new(p.registry.clone());
            return Ok((
                AnyLake::Blob(p.lake.clone()),
                Registry::new(AnyStore::Blob(store), registry_policy(&cx.loaded.stack)),
                Who::Named(named.clone()),
            ));
        }
        AnyProvider::Local(_) => {
            return Err(Failure::new(
                "the cloud platform needs --env aws, localstack or azurite",
            ));
        }
    };
    let lake = AnyLake::S3(S3Lake::new(p.clients.s3.clone(), p.settings.bucket.clone()));
    let (store, who) = cloud_registry(cx, &p, named).await?;
    Ok((
        lake,
        Registry::new(AnyStore::DynamoDb(store), registry_policy(&cx.loaded.stack)),
        who,
    ))
}

/// The registry store of `--env aws|localstack` (the stack's DynamoDB table), and who is acting.
async fn cloud_registry(
    cx: &Context,
    p: &crate::providers::aws::AwsProvider,
    named: &Option<String>,
) -> Result<(mlinfra_core::registry::dynamodb::DynamoDbStore, Who), Failure> {
    let table = p.name("registry");
    match p
        .clients
        .dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Err(Failure::new(format!(
                "the registry table `{table}` does not exist on `{}`\nhint: run `mlinfra up --env {}` first",
                cx.env.as_str(),
                cx.env.as_str()
            )));
        }
        Err(e) => {
            let a = crate::providers::aws::AwsError::from_sdk(&e);
            return Err(Failure::new(format!(
                "dynamodb:DescribeTable `{table}`: {}",
                a.message
            )));
        }
    }
    let who = if cx.env == crate::stack::EnvKind::Aws {
        if named.as_deref().is_some_and(|n| !n.trim().is_empty()) {
            return Err(Failure::new(
                "on `aws` the acting identity is your AWS caller identity, not `--as`\nhint: drop `--as` (and `MLINFRA_USER`); act as another person with their credentials (`AWS_PROFILE`)",
            ));
        }
        Who::Caller(
            mlinfra_core::registry::dynamodb::caller_identity(&p.clients.sts)
                .await
                .map_err(|e| Failure::new(e.to_string()))?,
        )
    } else {
        Who::Named(named.clone())
    };
    let store =
        mlinfra_core::registry::dynamodb::DynamoDbStore::new(p.clients.dynamodb.clone(), table);
    Ok((store, who))
}
