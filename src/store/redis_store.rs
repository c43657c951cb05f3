//! Shared store on Redis (standalone, Cluster or Sentinel), for several gateway instances.
//!
//! Every key is prefixed with `key_prefix`. Every command, including (re)connecting, is
//! bounded by `command_timeout`; a Redis that is down gives `StoreError::Unavailable`
//! quickly and the store recovers by itself when Redis returns. Every operation touches a
//! single key, so it is Cluster-safe.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture,
    RedisResult, Script, ServerErrorKind, Value,
};

use super::{Store, StoreError};
use crate::config::{RedisConfig, RedisMode};

/// Creates a counter with its TTL if absent, adds to it, keeps an existing TTL.
const INCREMENT_SCRIPT: &str = r"
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
";

/// ARGV: expected present ('0'/'1'), expected, new present ('0'/'1'), new, ttl ms ('0' = none).
const COMPARE_AND_SET_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif (not current) or current ~= ARGV[2] then
  return 0
end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
return 1
";

/// The Redis backend.
pub struct RedisStore {
    connector: Connector,
    key_prefix: String,
    command_timeout: Duration,
    increment: Script,
    compare_and_set: Script,
}

impl RedisStore {
    /// Builds the client for the configured mode. Every mode connects on first use: a Redis
    /// that is down at start-up makes operations fail with `Unavailable`, not the gateway.
    pub async fn connect(config: &RedisConfig) -> Result<Self, StoreError> {
        if config.urls.is_empty() {
            return Err(StoreError::Config(
                "store.redis.urls must name at least one Redis server".into(),
            ));
        }
        let credentials = Credentials::load(config)?;
        let connector = match config.mode {
            RedisMode::Standalone => Connector::standalone(config, &credentials)?,
            RedisMode::Cluster => Connector::cluster(config, &credentials)?,
            RedisMode::Sentinel => Connector::sentinel(config, &credentials)?,
        };
        Ok(RedisStore {
            connector,
            key_prefix: config.key_prefix.clone(),
            command_timeout: config.command_timeout.get(),
            increment: Script::new(INCREMENT_SCRIPT),
            compare_and_set: Script::new(COMPARE_AND_SET_SCRIPT),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.key_prefix)
    }

    /// Runs `op` on a connection, bounded by the command timeout (connecting included).
    async fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(RedisConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let attempt = async {
            let connection = self.connector.connection().await?;
            op(connection).await
        };
        match tokio::time::timeout(self.command_timeout, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                let unavailable = is_unavailable(&error);
                if unavailable {
                    self.connector.forget_connection();
                }
                Err(map_error(what, &error, unavailable))
            }
            Err(_) => {
                self.connector.forget_connection();
                Err(StoreError::Unavailable(format!(
                    "redis {what}: no answer within {:?} (is Redis running and reachable?)",
                    self.command_timeout
                )))
            }
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(key));
        self.run("GET", |mut c| async move { cmd.query_async(&mut c).await })
            .await
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(ttl_millis(ttl));
        }
        self.run("SET", |mut c| async move { cmd.query_async(&mut c).await })
            .await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(key));
        let removed: i64 = self
            .run("DEL", |mut c| async move { cmd.query_async(&mut c).await })
            .await?;
        Ok(removed > 0)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.key(key));
        self.run(
            "GETDEL",
            |mut c| async move { cmd.query_async(&mut c).await },
        )
        .await
    }

    async fn increment(&self, key: &str, by: i64, ttl: Duration) -> Result<i64, StoreError> {
        let mut invocation = self.increment.key(self.key(key));
        invocation.arg(by).arg(ttl_millis(ttl));
        self.run("increment", |mut c| async move {
            invocation.invoke_async(&mut c).await
        })
        .await
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut invocation = self.compare_and_set.key(self.key(key));
        invocation
            .arg(presence(expected))
            .arg(expected.unwrap_or_default())
            .arg(presence(new))
            .arg(new.unwrap_or_default())
            .arg(ttl.map_or(0, ttl_millis));
        let swapped: i64 = self
            .run("compare_and_set", |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await?;
        Ok(swapped == 1)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let cmd = redis::cmd("PING");
        let _: String = self
            .run("PING", |mut c| async move { cmd.query_async(&mut c).await })
            .await?;
        Ok(())
    }

    fn backend_name(&self) -> &'static str {
        "redis"
    }
}

/// Username and password read from the configuration (the password from its file).
struct Credentials {
    username: Option<String>,
    password: Option<String>,
}

impl Credentials {
    fn load(config: &RedisConfig) -> Result<Self, StoreError> {
        let password = match &config.password_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    StoreError::Config(format!(
                        "cannot read Redis password file {}: {e}",
                        path.display()
                    ))
                })?;
                Some(text.trim_end_matches(['\r', '\n']).to_owned())
            }
        };
        Ok(Credentials {
            username: config.username.clone(),
            password,
        })
    }

    fn apply(&self, info: redis::RedisConnectionInfo) -> redis::RedisConnectionInfo {
        let info = match &self.username {
            Some(username) => info.set_username(username),
            None => info,
        };
        match &self.password {
            Some(password) => info.set_password(password),
            None => info,
        }
    }
}

/// Where connections come from, per mode.
enum Connector {
    /// Reconnects by itself (in the background, with backoff) after Redis returns.
    Standalone(ConnectionManager),
    /// Follows slot moves and reconnects to nodes by itself.
    Cluster(Box<ClusterConnector>),
    Sentinel(Box<SentinelConnector>),
}

impl Connector {
    fn standalone(config: &RedisConfig, credentials: &Credentials) -> Result<Self, StoreError> {
        let info = connection_info(&config.urls[0], credentials)?;
        let client = redis::Client::open(info).map_err(|e| invalid_url(&config.urls[0], &e))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout.get()))
            .set_response_timeout(Some(config.command_timeout.get()))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client, manager_config)
            .map_err(|e| StoreError::Config(format!("redis connection manager: {e}")))?;
        Ok(Connector::Standalone(manager))
    }

    fn cluster(config: &RedisConfig, credentials: &Credentials) -> Result<Self, StoreError> {
        let mut nodes = Vec::with_capacity(config.urls.len());
        for url in &config.urls {
            nodes.push(
                url.as_str()
                    .into_connection_info()
                    .map_err(|e| invalid_url(url, &e))?,
            );
        }
        let mut builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(config.connect_timeout.get())
            .response_timeout(config.command_timeout.get())
            .retries(2);
        if let Some(username) = &credentials.username {
            builder = builder.username(username);
        }
        if let Some(password) = &credentials.password {
            builder = builder.password(password);
        }
        let client = builder
            .build()
            .map_err(|e| StoreError::Config(format!("redis cluster client: {e}")))?;
        Ok(Connector::Cluster(Box::new(ClusterConnector {
            client,
            connection: tokio::sync::OnceCell::new(),
        })))
    }

    fn sentinel(config: &RedisConfig, credentials: &Credentials) -> Result<Self, StoreError> {
        let master_name = config.master_name.clone().ok_or_else(|| {
            StoreError::Config("store.redis.master_name is required in sentinel mode".into())
        })?;
        let sentinel = Sentinel::build(config.urls.clone())
            .map_err(|e| StoreError::Config(format!("redis sentinel urls: {e}")))?;
        let node_info = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(credentials.apply(redis::RedisConnectionInfo::default()));
        Ok(Connector::Sentinel(Box::new(SentinelConnector {
            sentinel: tokio::sync::Mutex::new(sentinel),
            master_name,
            node_info,
            connection_config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(config.connect_timeout.get()))
                .set_response_timeout(Some(config.command_timeout.get())),
            current: std::sync::Mutex::new(None),
        })))
    }

    async fn connection(&self) -> RedisResult<RedisConnection> {
        match self {
            Connector::Standalone(manager) => Ok(RedisConnection::Manager(manager.clone())),
            Connector::Cluster(cluster) => cluster.connection().await.map(RedisConnection::Cluster),
            Connector::Sentinel(sentinel) => sentinel
                .connection()
                .await
                .map(RedisConnection::Multiplexed),
        }
    }

    /// After a connection-level failure: Sentinel mode asks the sentinels for the
    /// (possibly new) master next time; the other modes reconnect by themselves.
    fn forget_connection(&self) {
        if let Connector::Sentinel(sentinel) = self {
            sentinel.forget();
        }
    }
}

/// The cluster connection, made on first use (so the gateway starts while Redis is down);
/// once made it follows slot moves and reconnects to nodes by itself.
struct ClusterConnector {
    client: ClusterClient,
    connection: tokio::sync::OnceCell<ClusterConnection>,
}

impl ClusterConnector {
    async fn connection(&self) -> RedisResult<ClusterConnection> {
        self.connection
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }
}

/// A connection to the master the sentinels name, re-resolved after failures.
struct SentinelConnector {
    sentinel: tokio::sync::Mutex<Sentinel>,
    master_name: String,
    node_info: SentinelNodeConnectionInfo,
    connection_config: AsyncConnectionConfig,
    current: std::sync::Mutex<Option<MultiplexedConnection>>,
}

impl SentinelConnector {
    async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(connection) = self.cached() {
            return Ok(connection);
        }
        let mut sentinel = self.sentinel.lock().await;
        // Another task may have connected while this one waited for the lock.
        if let Some(connection) = self.cached() {
            return Ok(connection);
        }
        let client = sentinel
            .async_master_for(&self.master_name, Some(&self.node_info))
            .await?;
        let connection = client
            .get_multiplexed_async_connection_with_config(&self.connection_config)
            .await?;
        if let Ok(mut current) = self.current.lock() {
            *current = Some(connection.clone());
        }
        Ok(connection)
    }

    fn cached(&self) -> Option<MultiplexedConnection> {
        self.current.lock().ok().and_then(|current| current.clone())
    }

    fn forget(&self) {
        if let Ok(mut current) = self.current.lock() {
            *current = None;
        }
    }
}

/// One connection of whichever mode, usable by commands and scripts.
#[derive(Clone)]
enum RedisConnection {
    Manager(ConnectionManager),
    Cluster(ClusterConnection),
    Multiplexed(MultiplexedConnection),
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Manager(c) => c.req_packed_command(cmd),
            RedisConnection::Cluster(c) => c.req_packed_command(cmd),
            RedisConnection::Multiplexed(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConnection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConnection::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Manager(c) => c.get_db(),
            RedisConnection::Cluster(c) => c.get_db(),
            RedisConnection::Multiplexed(c) => c.get_db(),
        }
    }
}

fn connection_info(
    url: &str,
    credentials: &Credentials,
) -> Result<redis::ConnectionInfo, StoreError> {
    let info = url
        .into_connection_info()
        .map_err(|e| invalid_url(url, &e))?;
    let redis_settings = credentials.apply(info.redis_settings().clone());
    Ok(info.set_redis_settings(redis_settings))
}

/// The error names the URL without its credentials.
fn invalid_url(url: &str, error: &RedisError) -> StoreError {
    let shown = match url.rsplit_once('@') {
        Some((scheme_and_userinfo, host)) => {
            let scheme = scheme_and_userinfo
                .split_once("://")
                .map_or("redis", |(scheme, _)| scheme);
            format!("{scheme}://…@{host}")
        }
        None => url.to_owned(),
    };
    StoreError::Config(format!("invalid Redis URL {shown}: {error}"))
}

/// Whether an error means "Redis cannot serve now" rather than "this request was wrong".
fn is_unavailable(error: &RedisError) -> bool {
    if error.is_io_error()
        || error.is_timeout()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
    {
        return true;
    }
    match error.kind() {
        ErrorKind::Server(kind) => matches!(
            kind,
            ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ReadOnly
                | ServerErrorKind::Moved
                | ServerErrorKind::Ask
        ),
        ErrorKind::MasterNameNotFoundBySentinel
        | ErrorKind::NoValidReplicasFoundBySentinel
        | ErrorKind::EmptySentinelList
        | ErrorKind::ClusterConnectionNotFound
        | ErrorKind::AuthenticationFailed => true,
        _ => false,
    }
}

fn map_error(what: &str, error: &RedisError, unavailable: bool) -> StoreError {
    if unavailable {
        StoreError::Unavailable(format!("redis {what}: {error}"))
    } else {
        StoreError::Backend(format!("redis {what}: {error}"))
    }
}

fn presence(value: Option<&[u8]>) -> &'static str {
    if value.is_some() {
        "1"
    } else {
        "0"
    }
}

/// Longest TTL sent to Redis (100 years); Redis rejects expiries past `i64` milliseconds.
const MAX_TTL_MILLIS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// Milliseconds for `PX`/`PEXPIRE`, at least 1 (Redis rejects 0) and at most `MAX_TTL_MILLIS`.
fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_TTL_MILLIS)
}
